//! Brute force: all feature subsets, all background rows, on small random hand-built forests.
#![allow(clippy::needless_range_loop)]

use super::linear::{Split, Strategy};
use super::*;
use crate::forest::ForestParts;
use crate::monitor::Silent;
use crate::test_support::{margin, random_forest, random_rows, Rng};
use ndarray::{Array1, Array2, ArrayView2};

fn fact(n: usize) -> f64 {
    (1..=n).map(|k| k as f64).product()
}

/// (values (p, k), interactions (p, p, k) in shap's convention) by enumeration.
fn brute(
    forest: &Forest,
    x: &[f64],
    bg: &Array2<f64>,
    w: &[f64],
    g: &dyn Fn(&[f64], &[f64]) -> f64,
    k: usize,
) -> (Vec<f64>, Vec<f64>) {
    let p = x.len();
    let total: f64 = w.iter().sum();
    let mut phi = vec![0.0; p * k];
    let mut inter = vec![0.0; p * p * k];
    for (zi, z) in bg.rows().into_iter().enumerate() {
        let z = z.to_vec();
        let mut v = vec![vec![0.0; k]; 1 << p];
        for s in 0..(1usize << p) {
            let h: Vec<f64> = (0..p)
                .map(|j| if s >> j & 1 == 1 { x[j] } else { z[j] })
                .collect();
            let m = margin(forest, &h);
            v[s][..k].copy_from_slice(&m[..k]);
        }
        let mx = margin(forest, x);
        let mz = margin(forest, &z);
        let wz = w[zi] / total;
        for o in 0..k {
            let scale = if mx[o] == mz[o] {
                1.0
            } else {
                (g(&mx, &[o as f64]) - g(&mz, &[o as f64])) / (mx[o] - mz[o])
            };
            for i in 0..p {
                let mut s_i = 0.0;
                for s in 0..(1usize << p) {
                    if s >> i & 1 == 1 {
                        continue;
                    }
                    let c = (s as u64).count_ones() as usize;
                    s_i += fact(c) * fact(p - c - 1) / fact(p) * (v[s | 1 << i][o] - v[s][o]);
                }
                phi[i * k + o] += wz * scale * s_i;
                for j in 0..p {
                    if j == i {
                        continue;
                    }
                    let mut idx = 0.0;
                    for s in 0..(1usize << p) {
                        if s >> i & 1 == 1 || s >> j & 1 == 1 {
                            continue;
                        }
                        let c = (s as u64).count_ones() as usize;
                        idx += fact(c) * fact(p - c - 2) / fact(p - 1)
                            * (v[s | 1 << i | 1 << j][o] - v[s | 1 << i][o] - v[s | 1 << j][o]
                                + v[s][o]);
                    }
                    inter[(i * p + j) * k + o] += wz * scale * idx / 2.0;
                }
            }
        }
    }
    for i in 0..p {
        for o in 0..k {
            let off: f64 = (0..p)
                .filter(|&j| j != i)
                .map(|j| inter[(i * p + j) * k + o])
                .sum();
            inter[(i * p + i) * k + o] = phi[i * k + o] - off;
        }
    }
    (phi, inter)
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "entry {i}: {x} vs {y}"
        );
    }
}

fn identity(m: &[f64], o: &[f64]) -> f64 {
    m[o[0] as usize]
}

#[test]
fn raw_values_and_interactions_match_brute_force() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    for case in 0..40 {
        let p = 2 + rng.below(4);
        let k = 1 + rng.below(3);
        let (nt, depth) = (1 + rng.below(4), 1 + rng.below(5));
        let forest = random_forest(&mut rng, p, k, nt, depth);
        let x = random_rows(&mut rng, 3, p);
        let nb = 1 + rng.below(6);
        let bg = random_rows(&mut rng, nb, p);
        let w = Array1::from_shape_fn(bg.nrows(), |i| {
            if case % 2 == 0 {
                1.0
            } else if i == 0 && nb > 1 {
                0.0
            } else {
                rng.unit() + 0.1
            }
        });
        let splits = [Split::Rows, Split::Trees];
        for (strategy, split) in [Strategy::Auto, Strategy::Lists, Strategy::Pairs]
            .into_iter()
            .flat_map(|s| splits.map(|t| (s, t)))
        {
            let values = raw(
                &forest,
                x.view(),
                bg.view(),
                Some(w.view()),
                false,
                strategy,
                split,
                2,
                &Silent,
            )
            .unwrap();
            let inter = raw(
                &forest,
                x.view(),
                bg.view(),
                Some(w.view()),
                true,
                strategy,
                split,
                2,
                &Silent,
            )
            .unwrap();
            for r in 0..x.nrows() {
                let row = x.row(r).to_vec();
                let (phi, iv) = brute(&forest, &row, &bg, w.as_slice().unwrap(), &identity, k);
                let got: Vec<f64> = values
                    .index_axis(ndarray::Axis(0), r)
                    .iter()
                    .copied()
                    .collect();
                close(&got, &phi, 1e-12);
                let got: Vec<f64> = inter
                    .index_axis(ndarray::Axis(0), r)
                    .iter()
                    .copied()
                    .collect();
                close(&got, &iv, 1e-12);
            }
        }
    }
}

#[test]
fn logistic_and_log_loss_match_brute_force() {
    let mut rng = Rng(12345);
    for _ in 0..20 {
        let p = 2 + rng.below(3);
        let (nt, depth) = (1 + rng.below(4), 1 + rng.below(4));
        let forest = random_forest(&mut rng, p, 1, nt, depth);
        let x = random_rows(&mut rng, 3, p);
        let nb = 1 + rng.below(5);
        let bg = random_rows(&mut rng, nb, p);
        let w = vec![1.0; bg.nrows()];
        let got = transformed_values(
            &forest,
            x.view(),
            bg.view(),
            None,
            &Transform::Logistic { scale: 1.0 },
            false,
            2,
            &Silent,
        )
        .unwrap();
        let sig = |m: &[f64], _o: &[f64]| 1.0 / (1.0 + (-m[0]).exp());
        for r in 0..x.nrows() {
            let (phi, _) = brute(&forest, &x.row(r).to_vec(), &bg, &w, &sig, 1);
            let g: Vec<f64> = got
                .index_axis(ndarray::Axis(0), r)
                .iter()
                .copied()
                .collect();
            close(&g, &phi, 1e-12);
        }
        let y: Vec<f64> = (0..x.nrows()).map(|i| (i % 2) as f64).collect();
        let got = transformed_values(
            &forest,
            x.view(),
            bg.view(),
            None,
            &Transform::LogisticLoss {
                y: y.clone(),
                scale: 1.0,
            },
            true,
            2,
            &Silent,
        )
        .unwrap();
        for r in 0..x.nrows() {
            let yr = y[r];
            let loss = move |m: &[f64], _o: &[f64]| (1.0 + m[0].exp()).ln() - yr * m[0];
            let (_, iv) = brute(&forest, &x.row(r).to_vec(), &bg, &w, &loss, 1);
            let g: Vec<f64> = got
                .index_axis(ndarray::Axis(0), r)
                .iter()
                .copied()
                .collect();
            close(&g, &iv, 1e-12);
        }
    }
}

#[test]
fn local_accuracy_and_fallbacks_on_deeper_trees() {
    let mut rng = Rng(777);
    let p = 12;
    let forest = random_forest(&mut rng, p, 2, 6, 14);
    let x = random_rows(&mut rng, 20, p);
    let bg = random_rows(&mut rng, 50, p);
    let auto = raw(
        &forest,
        x.view(),
        bg.view(),
        None,
        false,
        Strategy::Auto,
        Split::Auto,
        2,
        &Silent,
    )
    .unwrap();
    let pairs = raw(
        &forest,
        x.view(),
        bg.view(),
        None,
        false,
        Strategy::Pairs,
        Split::Auto,
        2,
        &Silent,
    )
    .unwrap();
    let lists = raw(
        &forest,
        x.view(),
        bg.view(),
        None,
        false,
        Strategy::Lists,
        Split::Auto,
        2,
        &Silent,
    )
    .unwrap();
    close(auto.as_slice().unwrap(), pairs.as_slice().unwrap(), 1e-12);
    close(lists.as_slice().unwrap(), pairs.as_slice().unwrap(), 1e-12);
    let fx = crate::predict::predict(&forest, x.view(), 1, &Silent).unwrap();
    let fz = crate::predict::predict(&forest, bg.view(), 1, &Silent).unwrap();
    let ev = fz.mean_axis(ndarray::Axis(0)).unwrap();
    for r in 0..x.nrows() {
        for o in 0..2 {
            let s: f64 = (0..p).map(|j| auto[[r, j, o]]).sum();
            assert!((s + ev[o] - fx[[r, o]]).abs() < 1e-9);
        }
    }
}

#[test]
fn rejects_bad_background() {
    let mut rng = Rng(5);
    let forest = random_forest(&mut rng, 3, 1, 2, 2);
    let x = random_rows(&mut rng, 2, 3);
    let empty = Array2::<f64>::zeros((0, 3));
    assert!(shap_values(&forest, x.view(), empty.view(), None, 1, &Silent).is_err());
    let bg = random_rows(&mut rng, 2, 3);
    let w = Array1::from(vec![0.0, 0.0]);
    assert!(shap_values(&forest, x.view(), bg.view(), Some(w.view()), 1, &Silent).is_err());
    let w = Array1::from(vec![1.0, -1.0]);
    assert!(shap_values(&forest, x.view(), bg.view(), Some(w.view()), 1, &Silent).is_err());
    let w = Array1::from(vec![1.0]);
    assert!(shap_values(&forest, x.view(), bg.view(), Some(w.view()), 1, &Silent).is_err());
}

/// A chain tree testing 70 distinct features on one path: more than a pattern's 64 bits, so the
/// tree falls back to pair walks; checked against a shallow copy's brute force on the features
/// that matter and by local accuracy.
#[test]
fn paths_with_more_than_64_features_fall_back_to_pair_walks() {
    let p = 70;
    let mut parts = ForestParts {
        n_features: p,
        n_outputs: 1,
        base_score: vec![0.25],
        less_equal: true,
        tree_start: vec![0],
        tree_output: vec![0],
        category_offsets: vec![0],
        ..Default::default()
    };
    // Node 2i tests feature i (left: continue the chain, right: a leaf); the last node is a leaf.
    for i in 0..p {
        let base = parts.feature.len() as i64;
        parts.feature.extend([i as i64, -1]);
        parts.threshold.extend([0.5, 0.0]);
        parts.left.extend([base + 2, -1]);
        parts.right.extend([base + 1, -1]);
        parts.values.extend([0.0, (i as f64 + 1.0) * 0.1]);
    }
    parts.feature.push(-1);
    parts.threshold.push(0.0);
    parts.left.push(-1);
    parts.right.push(-1);
    parts.values.push(-3.0);
    let n = parts.feature.len();
    parts.default_left = vec![true; n];
    parts.missing = vec![0; n];
    parts.cover = vec![1.0; n];
    parts.category_set = vec![-1; n];
    parts.tree_start.push(n);
    let forest = Forest::new(parts).unwrap();
    assert!(paths::TreePaths::new(&forest, 0).is_none());
    let mut rng = Rng(99);
    // Mostly zeros so that rows travel deep into the chain.
    let rows = |rng: &mut Rng, n: usize| {
        Array2::from_shape_fn((n, p), |_| if rng.below(40) == 0 { 1.0 } else { 0.0 })
    };
    let x = rows(&mut rng, 6);
    let bg = rows(&mut rng, 7);
    let auto = shap_values(&forest, x.view(), bg.view(), None, 2, &Silent).unwrap();
    let fx = crate::predict::predict(&forest, x.view(), 1, &Silent).unwrap();
    let fz = crate::predict::predict(&forest, bg.view(), 1, &Silent).unwrap();
    let ev = fz.mean_axis(ndarray::Axis(0)).unwrap()[0];
    for r in 0..x.nrows() {
        let s: f64 = (0..p).map(|j| auto[[r, j, 0]]).sum();
        assert!((s + ev - fx[[r, 0]]).abs() < 1e-12);
    }
    // Brute force per pair on the features where x and z differ (the others are null players).
    for r in 0..x.nrows() {
        let mut phi = vec![0.0; p];
        for z in bg.rows() {
            let diff: Vec<usize> = (0..p).filter(|&j| x[[r, j]] != z[j]).collect();
            let m = diff.len();
            assert!(m <= 12, "too many differing features for brute force");
            for (a, &i) in diff.iter().enumerate() {
                for s in 0..(1usize << m) {
                    if s >> a & 1 == 1 {
                        continue;
                    }
                    let hybrid = |s: usize| {
                        let mut h: Vec<f64> = z.to_vec();
                        for (b, &j) in diff.iter().enumerate() {
                            if s >> b & 1 == 1 {
                                h[j] = x[[r, j]];
                            }
                        }
                        margin(&forest, &h)[0]
                    };
                    let c = (s as u64).count_ones() as usize;
                    let w = fact(c) * fact(m - c - 1) / fact(m);
                    phi[i] += w * (hybrid(s | 1 << a) - hybrid(s)) / bg.nrows() as f64;
                }
            }
        }
        for j in 0..p {
            assert!((auto[[r, j, 0]] - phi[j]).abs() < 1e-12, "feature {j}");
        }
    }
}

#[test]
fn flat_tables_by_ranked_transform_equal_subset_enumeration_and_zeta_transforms() {
    let mut rng = Rng(4242);
    let weights = weights::Weights::new(12);
    for d in 1..=9 {
        let h: Vec<f64> = (0..1usize << d)
            .map(|_| if rng.below(3) == 0 { 0.0 } else { rng.unit() })
            .collect();
        let direct = aggregate::flat_by(&h, d, &weights, true);
        let zeta = aggregate::flat_by(&h, d, &weights, false);
        close(&direct, &zeta, 1e-13);
        let ranked = ranked::flat_ranked(&h, d, &weights, None);
        close(&ranked, &direct, 1e-13);
        // Some entries only: those, bit for bit, and zeros elsewhere.
        let only: Vec<u64> = (0..(1usize << d).div_ceil(64))
            .map(|_| rng.next() & rng.next())
            .collect();
        let some = ranked::flat_ranked(&h, d, &weights, Some(&only));
        for s in 0..1usize << d {
            let inside = only[s / 64] >> (s % 64) & 1 == 1;
            for j in 0..d {
                let want = if inside { ranked[s * d + j] } else { 0.0 };
                assert_eq!(
                    some[s * d + j].to_bits(),
                    want.to_bits(),
                    "d={d} s={s} j={j}"
                );
            }
        }
    }
}

#[test]
fn refuses_outputs_that_do_not_fit() {
    let mut rng = Rng(3);
    let p = 200_000;
    let mut forest_parts = ForestParts {
        n_features: p,
        n_outputs: 1,
        base_score: vec![0.0],
        tree_start: vec![0, 3],
        tree_output: vec![0],
        feature: vec![7, -1, -1],
        threshold: vec![0.5, 0.0, 0.0],
        left: vec![1, -1, -1],
        right: vec![2, -1, -1],
        default_left: vec![true; 3],
        missing: vec![0; 3],
        cover: vec![1.0; 3],
        values: vec![0.0, 1.0, -1.0],
        category_set: vec![-1; 3],
        category_offsets: vec![0],
        ..Default::default()
    };
    forest_parts.less_equal = rng.below(2) == 0;
    let forest = Forest::new(forest_parts).unwrap();
    let one = Array2::<f64>::zeros((1, p));
    // 100,000 rows (a broadcast view, no memory) x 200,000^2 features: far beyond any memory.
    let x = one.broadcast((100_000, p)).unwrap();
    match interaction_values(&forest, x, one.view(), None, 1, &Silent) {
        Err(Error::TooLarge { needed_bytes, .. }) => assert!(needed_bytes > 1 << 40),
        other => panic!(
            "expected TooLarge, got {:?}",
            other.map(|a| a.shape().to_vec())
        ),
    }
}

#[test]
fn few_rows_get_the_bits_they_get_among_many() {
    // A few rows get tables limited to their patterns (and many rows full tables): a row's
    // values must not depend on which, nor on the rows explained with it.
    let mut rng = Rng(0x51ED_2701_B3C4_D5E6);
    for _ in 0..4 {
        let (p, k) = (5, 1 + rng.below(2));
        let forest = random_forest(&mut rng, p, k, 12, 5);
        let many = random_rows(&mut rng, 3000, p);
        let bg = random_rows(&mut rng, 40, p);
        let all = shap_values(&forest, many.view(), bg.view(), None, 2, &Silent).unwrap();
        for rows in [1, 7, 100] {
            let few = many.slice(ndarray::s![..rows, ..]);
            let alone = shap_values(&forest, few, bg.view(), None, 2, &Silent).unwrap();
            let among = all.slice(ndarray::s![..rows, .., ..]);
            assert!(
                alone
                    .iter()
                    .zip(among.iter())
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{rows} rows"
            );
        }
    }
}

#[test]
fn list_search_visits_exactly_the_entries_inside_the_row_pattern() {
    use super::pattern_list::PatternList;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..300 {
        let d = case % 65;
        let full = super::paths::full_mask(d);
        let len = rng.below(3000);
        // Entries biased towards few bits set (as a background failing few path features).
        let mut list: Vec<(u64, f64)> = (0..len)
            .map(|_| (rng.next() & rng.next() & full, rng.unit()))
            .collect();
        list.sort_by_key(|e| e.0);
        list.dedup_by_key(|e| e.0);
        let searchable = PatternList::new(&list, d);
        for _ in 0..20 {
            let missing = rng.next() & rng.next() & full;
            let want: Vec<(u64, f64, usize)> = list
                .iter()
                .filter(|e| e.0 & missing == 0)
                .map(|e| (e.0, e.1, e.0.count_ones() as usize))
                .collect();
            let mut got = Vec::new();
            searchable.for_each_inside(missing, |q, w, a| got.push((q, w, a)));
            assert_eq!(got, want, "d={d} len={len} missing={missing:#x}");
        }
    }
}

#[test]
fn rows_split_between_threads_and_trees_split_between_threads_agree_bit_for_bit() {
    // More than 64 trees, so that parts hold several trees; lists and pair walks too. Any
    // thread count, either split and any company of rows must give the same bits.
    let mut rng = Rng(0x7A3B_91C2_0D4E_5F60);
    for case in 0..3 {
        let (p, k) = (6, 1 + case % 2);
        let forest = random_forest(&mut rng, p, k, 150, 4 + case);
        let many = random_rows(&mut rng, 200, p);
        let bg = random_rows(&mut rng, 30, p);
        let run = |x: ArrayView2<f64>, strategy, split, threads| {
            raw(
                &forest,
                x,
                bg.view(),
                None,
                false,
                strategy,
                split,
                threads,
                &Silent,
            )
            .unwrap()
        };
        for strategy in [Strategy::Auto, Strategy::Lists, Strategy::Pairs] {
            let reference = run(many.view(), strategy, Split::Rows, 1);
            for (split, threads) in [
                (Split::Rows, 3),
                (Split::Trees, 1),
                (Split::Trees, 2),
                (Split::Trees, 5),
                (Split::Auto, 2),
            ] {
                for rows in [1, 3, 200] {
                    let got = run(
                        many.slice(ndarray::s![..rows, ..]),
                        strategy,
                        split,
                        threads,
                    );
                    let want = reference.slice(ndarray::s![..rows, .., ..]);
                    assert!(
                        got.iter()
                            .zip(want.iter())
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "case {case} {strategy:?} {split:?} {threads} threads, {rows} rows"
                    );
                }
            }
        }
    }
}
