//! Brute force: every feature subset's value `E_z f(x_U, z_notU)` over the weighted background,
//! then inclusion-exclusion, on small random forests.
#![allow(clippy::needless_range_loop)]

use super::*;
use crate::monitor::Silent;
use crate::test_support::{margin, random_forest, random_rows, Rng};
use ndarray::{Array1, Array2};

/// `m_S(x)` for every subset S of the `p` features (bit masks), per output.
fn brute(forest: &Forest, x: &[f64], bg: &Array2<f64>, w: &[f64]) -> Vec<Vec<f64>> {
    let p = x.len();
    let k = forest.n_outputs();
    let total: f64 = w.iter().sum();
    let value: Vec<Vec<f64>> = (0..1usize << p)
        .map(|u| {
            let mut acc = vec![0.0; k];
            for (z, wz) in bg.rows().into_iter().zip(w) {
                let row: Vec<f64> = (0..p)
                    .map(|j| if u >> j & 1 == 1 { x[j] } else { z[j] })
                    .collect();
                for (a, m) in acc.iter_mut().zip(margin(forest, &row)) {
                    *a += wz * m / total;
                }
            }
            acc
        })
        .collect();
    (0..1usize << p)
        .map(|s| {
            let mut m = vec![0.0; k];
            // Subsets u of s.
            let mut u = s;
            loop {
                let sign = if (s ^ u).count_ones() % 2 == 0 {
                    1.0
                } else {
                    -1.0
                };
                for o in 0..k {
                    m[o] += sign * value[u][o];
                }
                if u == 0 {
                    break;
                }
                u = (u - 1) & s;
            }
            m
        })
        .collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-10 * (1.0 + b.abs()),
        "{what}: {a} vs brute force {b}"
    );
}

fn check(forest: &Forest, x: &Array2<f64>, bg: &Array2<f64>, w: &[f64], order: Option<usize>) {
    let (n, p, k) = (x.nrows(), x.ncols(), forest.n_outputs());
    let wv = Array1::from(w.to_vec());
    let dec = decompose(
        forest,
        x.view(),
        bg.view(),
        Some(wv.view()),
        order,
        2,
        &Silent,
    )
    .unwrap();
    let max = order.unwrap_or(p);
    let listed: BTreeMap<Vec<u32>, usize> = dec
        .sets
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i))
        .collect();
    for i in 0..n {
        let m = brute(forest, x.row(i).as_slice().unwrap(), bg, w);
        for o in 0..k {
            close(dec.intercept[o], m[0][o], "intercept");
        }
        let mut sum = dec.intercept.clone();
        for s in 1..1usize << p {
            let feats: Vec<u32> = (0..p as u32).filter(|&j| s >> j & 1 == 1).collect();
            for o in 0..k {
                let got = match feats.len() {
                    1 => dec.main[(i * p + feats[0] as usize) * k + o],
                    2 if max >= 2 => {
                        let (a, b) = (feats[0] as usize, feats[1] as usize);
                        let v = dec.pairwise[((i * p + a) * p + b) * k + o];
                        assert_eq!(v, dec.pairwise[((i * p + b) * p + a) * k + o]);
                        v
                    }
                    len if len <= max && len >= 3 => match listed.get(&feats) {
                        Some(&at) => dec.higher[(i * dec.sets.len() + at) * k + o],
                        None => 0.0,
                    },
                    _ => continue,
                };
                close(got, m[s][o], &format!("m_{feats:?} of row {i}, output {o}"));
                sum[o] += got;
            }
        }
        if order.is_none() {
            let f = margin(forest, x.row(i).as_slice().unwrap());
            for o in 0..k {
                close(sum[o], f[o], "sum of all components");
            }
        }
        if max >= 2 {
            for a in 0..p {
                for o in 0..k {
                    assert_eq!(dec.pairwise[((i * p + a) * p + a) * k + o], 0.0);
                }
            }
        }
    }
}

#[test]
fn components_equal_inclusion_exclusion_over_the_background() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..40 {
        let p = 2 + case % 4;
        let k = 1 + case % 3;
        let forest = random_forest(&mut rng, p, k, 1 + case % 4, 2 + case % 3);
        let x = random_rows(&mut rng, 5, p);
        let bg = random_rows(&mut rng, 1 + case % 7, p);
        let w: Vec<f64> = (0..bg.nrows())
            .map(|i| if i == 1 { 0.0 } else { 0.25 + rng.unit() })
            .collect();
        for order in [Some(1), Some(2), Some(3), None] {
            check(&forest, &x, &bg, &w, order);
        }
    }
}

#[test]
fn deep_leaves_use_sparse_tables_and_stay_exact() {
    // Paths with more than DENSE_BITS distinct features.
    let mut rng = Rng(77);
    let p = 12;
    let forest = random_forest(&mut rng, p, 1, 2, 14);
    let x = random_rows(&mut rng, 2, p);
    let bg = random_rows(&mut rng, 6, p);
    let w = vec![1.0; 6];
    let dec = decompose(&forest, x.view(), bg.view(), None, Some(2), 1, &Silent).unwrap();
    // Against brute force on main effects (2^12 subsets is still cheap).
    for i in 0..2 {
        let m = brute(&forest, x.row(i).as_slice().unwrap(), &bg, &w);
        for j in 0..p {
            close(dec.main[i * p + j], m[1 << j][0], "main effect");
        }
        for a in 0..p {
            for b in a + 1..p {
                close(
                    dec.pairwise[(i * p + a) * p + b],
                    m[(1 << a) | (1 << b)][0],
                    "pair",
                );
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_threads() {
    let mut rng = Rng(5);
    let forest = random_forest(&mut rng, 6, 2, 8, 5);
    let x = random_rows(&mut rng, 101, 6);
    let bg = random_rows(&mut rng, 37, 6);
    let one = decompose(&forest, x.view(), bg.view(), None, None, 1, &Silent).unwrap();
    let two = decompose(&forest, x.view(), bg.view(), None, None, 3, &Silent).unwrap();
    assert_eq!(one.main, two.main);
    assert_eq!(one.pairwise, two.pairwise);
    assert_eq!(one.higher, two.higher);
    assert_eq!(one.sets, two.sets);
    assert_eq!(one.intercept, two.intercept);
}

#[test]
fn subsets_are_counted_and_enumerated_in_order() {
    for d in 0..12 {
        for lo in 0..4 {
            for hi in lo..d + 2 {
                let mut seen = Vec::new();
                for_each_subset(d, lo, hi, |s| seen.push(s));
                let expected: Vec<u64> = {
                    let mut v: Vec<u64> = (0..1u64 << d)
                        .filter(|s| {
                            let c = s.count_ones() as usize;
                            c >= lo.max(1) && c <= hi
                        })
                        .collect();
                    v.sort_by_key(|s| (s.count_ones(), *s));
                    v
                };
                assert_eq!(seen, expected, "d={d} lo={lo} hi={hi}");
                let count = subsets_between(d, lo.max(1), hi);
                assert_eq!(count, expected.len());
            }
        }
    }
    assert_eq!(subsets_between(64, 0, 64), usize::MAX);
    let mut n = 0;
    for_each_subset(64, 63, 64, |_| n += 1);
    assert_eq!(n, 65);
}

#[test]
fn refuses_order_zero_and_bad_background() {
    let mut rng = Rng(3);
    let forest = random_forest(&mut rng, 3, 1, 2, 3);
    let x = random_rows(&mut rng, 2, 3);
    let bg = random_rows(&mut rng, 2, 3);
    let err = decompose(&forest, x.view(), bg.view(), None, Some(0), 1, &Silent).unwrap_err();
    assert!(err.to_string().contains("max_order"));
    let empty = Array2::<f64>::zeros((0, 3));
    assert!(decompose(&forest, x.view(), empty.view(), None, None, 1, &Silent).is_err());
    let wrong = Array2::<f64>::zeros((2, 4));
    assert!(decompose(&forest, wrong.view(), bg.view(), None, None, 1, &Silent).is_err());
}
