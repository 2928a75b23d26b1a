//! Brute-force oracles for path-dependent TreeSHAP, and the tests that hold the fast algorithm
//! to them on random trees and forests.
//!
//! The oracle evaluates the definition directly: v(S) = E[f(x) | x_S] by the recursive
//! cover-weighted conditional expectation of each tree, then Shapley values and Shapley
//! interaction values by enumerating every subset of the features.

use super::plan::cover_ratio;
use super::{expected_value, shap_interaction_summary, shap_interaction_values, shap_values};
use crate::forest::{Forest, ForestParts};
use crate::monitor::Silent;
use ndarray::Array2;

/// Conditional expectation of tree `t` given the features in the bitmask `s`.
fn cond(forest: &Forest, n: usize, row: &[f64], s: u64, width: usize, out: &mut [f64], w: f64) {
    if forest.is_leaf(n) {
        for (o, v) in out.iter_mut().zip(forest.node_values(n, width)) {
            *o += w * v;
        }
        return;
    }
    let f = forest.feature(n);
    if s >> f & 1 == 1 {
        cond(forest, forest.next(n, row), row, s, width, out, w);
    } else {
        for c in [forest.left(n), forest.right(n)] {
            cond(forest, c, row, s, width, out, w * cover_ratio(forest, n, c));
        }
    }
}

/// v(S) for every subset S of the p features: `v[s * k + o]`.
fn game(forest: &Forest, row: &[f64]) -> Vec<f64> {
    let (p, k) = (forest.n_features(), forest.n_outputs());
    let mut v = vec![0.0; (1 << p) * k];
    for s in 0..(1u64 << p) {
        let vs = &mut v[s as usize * k..(s as usize + 1) * k];
        vs.copy_from_slice(forest.base_score());
        for t in 0..forest.n_trees() {
            let width = forest.tree_width(t);
            let mut tmp = vec![0.0; width];
            cond(forest, forest.root(t), row, s, width, &mut tmp, 1.0);
            let wt = forest.tree_weight(t);
            match forest.tree_output(t) {
                Some(o) => vs[o] += wt * tmp[0],
                None => vs.iter_mut().zip(&tmp).for_each(|(a, b)| *a += wt * b),
            }
        }
    }
    v
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|i| i as f64).product()
}

/// Brute-force SHAP values (p, k) and interaction values (p, p, k) of one row.
pub fn brute(forest: &Forest, row: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (p, k) = (forest.n_features(), forest.n_outputs());
    let v = game(forest, row);
    let mut phi = vec![0.0; p * k];
    let mut inter = vec![0.0; p * p * k];
    for i in 0..p {
        for s in 0..(1u64 << p) {
            if s >> i & 1 == 1 {
                continue;
            }
            let size = s.count_ones() as usize;
            let w = factorial(size) * factorial(p - size - 1) / factorial(p);
            let si = (s | 1 << i) as usize;
            for o in 0..k {
                phi[i * k + o] += w * (v[si * k + o] - v[s as usize * k + o]);
            }
        }
    }
    for i in 0..p {
        for j in 0..p {
            if i == j {
                continue;
            }
            for s in 0..(1u64 << p) {
                if s >> i & 1 == 1 || s >> j & 1 == 1 {
                    continue;
                }
                let size = s.count_ones() as usize;
                let w = factorial(size) * factorial(p - size - 2) / factorial(p - 1);
                let (a, bi, bj, bij) = (
                    s as usize,
                    (s | 1 << i) as usize,
                    (s | 1 << j) as usize,
                    (s | 1 << i | 1 << j) as usize,
                );
                for o in 0..k {
                    let d = v[bij * k + o] - v[bi * k + o] - v[bj * k + o] + v[a * k + o];
                    inter[(i * p + j) * k + o] += 0.5 * w * d;
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

/// Small deterministic generator (xorshift64*).
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    pub fn unif(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Options for a random forest.
#[derive(Clone, Copy)]
pub struct Spec {
    pub p: usize,
    pub k: usize,
    pub trees: usize,
    pub max_depth: usize,
    pub leaf_prob: f64,
    pub average: bool,
    pub vector_leaves: bool,
    pub zero_covers: bool,
    pub categorical: bool,
}

/// Grows one random tree into `parts` (local child indices), depth-first.
fn grow(rng: &mut Rng, spec: &Spec, parts: &mut ForestParts, start: usize, width: usize) {
    // Nodes as (depth, cover) awaiting creation; create in BFS order so children follow parents.
    let mut queue = std::collections::VecDeque::new();
    queue.push_back((0usize, 100.0 * (1.0 + rng.unif())));
    let mut local = 0usize;
    while let Some((d, cover)) = queue.pop_front() {
        let leaf = d >= spec.max_depth || (d > 0 && rng.unif() < spec.leaf_prob);
        parts.cover.push(cover);
        parts.threshold.push(rng.unif());
        parts.default_left.push(rng.unif() < 0.5);
        parts.missing.push(0);
        for _ in 0..width {
            parts.values.push(rng.unif() * 4.0 - 2.0);
        }
        if leaf {
            parts.feature.push(-1);
            parts.left.push(-1);
            parts.right.push(-1);
            parts.category_set.push(-1);
        } else {
            let f = rng.below(spec.p);
            parts.feature.push(f as i64);
            let next = local + queue.len() + 1;
            parts.left.push(next as i64);
            parts.right.push(next as i64 + 1);
            if spec.categorical && rng.unif() < 0.3 {
                let set = parts.category_members_left.len();
                parts.category_set.push(set as i64);
                parts.category_words.push(rng.next() as u32 & 0xff);
                parts.category_offsets.push(parts.category_words.len());
                parts.category_members_left.push(rng.unif() < 0.5);
            } else {
                parts.category_set.push(-1);
            }
            let frac = if spec.zero_covers && rng.unif() < 0.15 {
                if rng.unif() < 0.5 {
                    0.0
                } else {
                    1.0
                }
            } else {
                0.05 + 0.9 * rng.unif()
            };
            queue.push_back((d + 1, cover * frac));
            queue.push_back((d + 1, cover * (1.0 - frac)));
        }
        local += 1;
    }
    let _ = start;
}

pub fn random_forest(rng: &mut Rng, spec: &Spec) -> Forest {
    let mut parts = ForestParts {
        n_features: spec.p,
        n_outputs: spec.k,
        base_score: (0..spec.k).map(|_| rng.unif() - 0.5).collect(),
        average: spec.average,
        less_equal: rng.unif() < 0.5,
        f32_inputs: rng.unif() < 0.5,
        tree_start: vec![0],
        category_offsets: vec![0],
        ..Default::default()
    };
    for t in 0..spec.trees {
        let vector = spec.vector_leaves && spec.k > 1;
        let width = if vector { spec.k } else { 1 };
        parts
            .tree_output
            .push(if vector { -1 } else { (t % spec.k) as i64 });
        let start = parts.feature.len();
        grow(rng, spec, &mut parts, start, width);
        parts.tree_start.push(parts.feature.len());
    }
    Forest::new(parts).expect("valid random forest")
}

/// Random rows: values in [0, 1) (the thresholds' range), small integers for categorical
/// splits, and some NaN.
pub fn random_rows(rng: &mut Rng, n: usize, p: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, p), |_| {
        let u = rng.unif();
        if u < 0.05 {
            f64::NAN
        } else if u < 0.08 {
            0.0
        } else if u < 0.15 {
            rng.below(10) as f64
        } else {
            rng.unif()
        }
    })
}

/// Sets some entries of `x` to split thresholds of `forest` (exact ties with the comparisons).
pub fn pin_to_thresholds(forest: &Forest, rng: &mut Rng, x: &mut Array2<f64>) {
    let internal: Vec<usize> = (0..forest.n_nodes())
        .filter(|&n| !forest.is_leaf(n) && !forest.is_categorical(n))
        .collect();
    if internal.is_empty() {
        return;
    }
    for r in 0..x.nrows() {
        if rng.unif() < 0.5 {
            let n = internal[rng.below(internal.len())];
            x[[r, forest.feature(n)]] = forest.threshold(n);
        }
    }
}

fn close(a: f64, b: f64, scale: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * scale.max(1.0)
}

fn check_forest(forest: &Forest, x: &Array2<f64>, threads: usize) {
    let (p, k) = (forest.n_features(), forest.n_outputs());
    let values = shap_values(forest, x.view(), threads, &Silent, None).unwrap();
    let inter = shap_interaction_values(forest, x.view(), threads, &Silent, None).unwrap();
    let ev = expected_value(forest).unwrap();
    let pred = crate::predict::predict(forest, x.view(), 1, &Silent).unwrap();
    let empty = game(forest, x.row(0).as_slice().unwrap());
    for o in 0..k {
        assert!(close(ev[o], empty[o], ev[o].abs(), 1e-12), "E {o}");
    }
    for r in 0..x.nrows() {
        let row = x.row(r).to_vec();
        let (bphi, binter) = brute(forest, &row);
        let scale = bphi.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        for i in 0..p {
            for o in 0..k {
                let got = values[[r, i, o]];
                let want = bphi[i * k + o];
                assert!(
                    close(got, want, scale, 1e-10),
                    "row {r} feature {i} output {o}: {got} vs brute force {want}"
                );
                assert!(close(
                    inter.slice(ndarray::s![r, i, .., o]).sum(),
                    got,
                    scale,
                    1e-10
                ));
                for j in 0..p {
                    let got = inter[[r, i, j, o]];
                    let want = binter[(i * p + j) * k + o];
                    assert!(
                        close(got, want, scale, 1e-10),
                        "row {r} pair ({i},{j}) output {o}: {got} vs brute force {want}"
                    );
                }
            }
        }
        for o in 0..k {
            let total: f64 = (0..p).map(|i| values[[r, i, o]]).sum::<f64>() + ev[o];
            assert!(
                close(total, pred[[r, o]], pred[[r, o]].abs(), 1e-12),
                "local accuracy"
            );
        }
    }
}

#[test]
fn single_trees_match_brute_force() {
    for seed in 0..60 {
        let mut rng = Rng::new(seed);
        let spec = Spec {
            p: 1 + rng.below(6),
            k: 1,
            trees: 1,
            max_depth: 1 + rng.below(7),
            leaf_prob: 0.2,
            average: false,
            vector_leaves: false,
            zero_covers: seed % 3 == 0,
            categorical: seed % 4 == 1,
        };
        let forest = random_forest(&mut rng, &spec);
        let nrows = 1 + rng.below(11);
        let mut x = random_rows(&mut rng, nrows, spec.p);
        pin_to_thresholds(&forest, &mut rng, &mut x);
        check_forest(&forest, &x, 1 + (seed as usize % 2));
    }
}

#[test]
fn forests_match_brute_force() {
    for seed in 100..140 {
        let mut rng = Rng::new(seed);
        let k = 1 + rng.below(3);
        let spec = Spec {
            p: 2 + rng.below(5),
            k,
            trees: 1 + rng.below(6),
            max_depth: 1 + rng.below(6),
            leaf_prob: 0.25,
            average: seed % 2 == 0,
            vector_leaves: seed % 3 == 0,
            zero_covers: seed % 5 == 0,
            categorical: seed % 4 == 0,
        };
        let forest = random_forest(&mut rng, &spec);
        let nrows = 1 + rng.below(20);
        let mut x = random_rows(&mut rng, nrows, spec.p);
        pin_to_thresholds(&forest, &mut rng, &mut x);
        check_forest(&forest, &x, 2);
    }
}

#[test]
fn deep_trees_with_repeated_features_match_brute_force() {
    // Depth up to 40 on few features: features repeat many times along each path.
    for seed in 200..212 {
        let mut rng = Rng::new(seed);
        let spec = Spec {
            p: 3 + rng.below(5),
            k: 1,
            trees: 1 + rng.below(3),
            max_depth: 40,
            leaf_prob: 0.45,
            average: true,
            vector_leaves: false,
            zero_covers: seed % 2 == 0,
            categorical: false,
        };
        let forest = random_forest(&mut rng, &spec);
        let x = random_rows(&mut rng, 5, spec.p);
        check_forest(&forest, &x, 2);
    }
}

/// Per-leaf oracle for many features: the leaf's product game has Shapley value
/// `value * (p_i - q_i) * int_0^1 prod_{j != i} (q_j + t (p_j - q_j)) dt`; expand the polynomial
/// and integrate its coefficients exactly. (The product-game reduction itself is checked against
/// subset enumeration by the tests above.)
fn leaf_oracle(forest: &Forest, row: &[f64]) -> Vec<f64> {
    let p = forest.n_features();
    let mut phi = vec![0.0; p];
    for t in 0..forest.n_trees() {
        let w = forest.tree_weight(t);
        // Walk every root-leaf path.
        let mut stack = vec![(forest.root(t), Vec::<(usize, f64, f64)>::new())];
        while let Some((n, path)) = stack.pop() {
            if forest.is_leaf(n) {
                let v = forest.node_values(n, 1)[0] * w;
                for (idx, &(i, pi, qi)) in path.iter().enumerate() {
                    // Polynomial coefficients of prod_{j != i}.
                    let mut poly = vec![1.0];
                    for (jdx, &(_, pj, qj)) in path.iter().enumerate() {
                        if jdx == idx {
                            continue;
                        }
                        let mut next = vec![0.0; poly.len() + 1];
                        for (d, c) in poly.iter().enumerate() {
                            next[d] += c * qj;
                            next[d + 1] += c * (pj - qj);
                        }
                        poly = next;
                    }
                    let integral: f64 = poly
                        .iter()
                        .enumerate()
                        .map(|(d, c)| c / (d as f64 + 1.0))
                        .sum();
                    phi[i] += v * (pi - qi) * integral;
                }
                continue;
            }
            let f = forest.feature(n);
            let goes = forest.next(n, row);
            for c in [forest.left(n), forest.right(n)] {
                let ind = if c == goes { 1.0 } else { 0.0 };
                let r = cover_ratio(forest, n, c);
                let mut path2 = path.clone();
                match path2.iter_mut().find(|e| e.0 == f) {
                    Some(e) => {
                        e.1 *= ind;
                        e.2 *= r;
                    }
                    None => path2.push((f, ind, r)),
                }
                stack.push((c, path2));
            }
        }
    }
    phi
}

#[test]
fn deep_trees_with_many_features_are_exact() {
    // Paths with up to ~35 distinct features: the quadrature needs ~18 points.
    let mut tested = 0;
    for seed in 300..400 {
        if tested == 4 {
            break;
        }
        let mut rng = Rng::new(seed);
        let spec = Spec {
            p: 60,
            k: 1,
            trees: 2,
            max_depth: 36,
            leaf_prob: 0.42,
            average: false,
            vector_leaves: false,
            zero_covers: seed % 2 == 0,
            categorical: false,
        };
        let forest = random_forest(&mut rng, &spec);
        let plan = super::plan::Plan::new(&forest).unwrap();
        if forest.max_depth() < 12 || plan.points.iter().all(|&m| m < 5) || forest.n_nodes() > 20000
        {
            continue;
        }
        tested += 1;
        let x = random_rows(&mut rng, 3, spec.p);
        let values = shap_values(&forest, x.view(), 2, &Silent, None).unwrap();
        let ev = expected_value(&forest).unwrap();
        let pred = crate::predict::predict(&forest, x.view(), 1, &Silent).unwrap();
        for r in 0..x.nrows() {
            let want = leaf_oracle(&forest, x.row(r).as_slice().unwrap());
            for i in 0..spec.p {
                assert!(
                    close(values[[r, i, 0]], want[i], 1.0, 1e-11),
                    "row {r} feature {i}: {} vs {}",
                    values[[r, i, 0]],
                    want[i]
                );
            }
            let total: f64 = values.slice(ndarray::s![r, .., 0]).sum() + ev[0];
            assert!(close(total, pred[[r, 0]], pred[[r, 0]].abs(), 1e-12));
        }
        let inter = shap_interaction_values(&forest, x.view(), 2, &Silent, None).unwrap();
        for r in 0..x.nrows() {
            for i in 0..spec.p {
                let s = inter.slice(ndarray::s![r, i, .., 0]).sum();
                assert!(close(s, values[[r, i, 0]], 1.0, 1e-11));
                for j in 0..spec.p {
                    assert_eq!(inter[[r, i, j, 0]], inter[[r, j, i, 0]]);
                }
            }
        }
    }
    assert_eq!(tested, 4);
}

#[test]
fn summary_equals_reduced_tensor() {
    let mut rng = Rng::new(7);
    let spec = Spec {
        p: 5,
        k: 2,
        trees: 4,
        max_depth: 5,
        leaf_prob: 0.2,
        average: false,
        vector_leaves: true,
        zero_covers: false,
        categorical: false,
    };
    let forest = random_forest(&mut rng, &spec);
    let x = random_rows(&mut rng, 37, spec.p);
    let full = shap_interaction_values(&forest, x.view(), 2, &Silent, None).unwrap();
    for (reduce, f) in [
        (super::Reduce::MeanAbs, f64::abs as fn(f64) -> f64),
        (super::Reduce::Mean, (|v| v) as fn(f64) -> f64),
    ] {
        let s = shap_interaction_summary(&forest, x.view(), reduce, 2, &Silent).unwrap();
        let want = full.mapv(f).mean_axis(ndarray::Axis(0)).unwrap();
        for (a, b) in s.iter().zip(want.iter()) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}

#[test]
fn refuses_outputs_that_do_not_fit() {
    let mut rng = Rng::new(9);
    let spec = Spec {
        p: 4,
        k: 1,
        trees: 1,
        max_depth: 3,
        leaf_prob: 0.0,
        average: false,
        vector_leaves: false,
        zero_covers: false,
        categorical: false,
    };
    let forest = random_forest(&mut rng, &spec);
    let x = random_rows(&mut rng, 10, 4);
    let err = shap_interaction_values(&forest, x.view(), 1, &Silent, Some(1000)).unwrap_err();
    match err {
        crate::Error::TooLarge { needed_bytes, .. } => assert_eq!(needed_bytes, 10 * 16 * 8),
        e => panic!("unexpected {e:?}"),
    }
    assert!(err_text(&forest, &x).contains("mean_abs"));
    let bad = Array2::<f64>::zeros((2, 3));
    assert!(shap_values(&forest, bad.view(), 1, &Silent, None).is_err());
}

fn err_text(forest: &Forest, x: &Array2<f64>) -> String {
    shap_interaction_values(forest, x.view(), 1, &Silent, Some(8))
        .unwrap_err()
        .to_string()
}

#[test]
fn data_covers_count_the_rows_reaching_each_node() {
    for seed in 400..420 {
        let mut rng = Rng::new(seed);
        let spec = Spec {
            p: 1 + rng.below(5),
            k: 1 + rng.below(2),
            trees: 1 + rng.below(4),
            max_depth: 1 + rng.below(6),
            leaf_prob: 0.2,
            average: seed % 2 == 0,
            vector_leaves: false,
            zero_covers: false,
            categorical: seed % 3 == 0,
        };
        let forest = random_forest(&mut rng, &spec);
        let nrows = 1 + rng.below(30);
        let mut x = random_rows(&mut rng, nrows, spec.p);
        pin_to_thresholds(&forest, &mut rng, &mut x);
        let w: Vec<f64> = (0..nrows).map(|_| rng.unif() * 3.0).collect();
        let covers =
            super::data_covers(&forest, x.view(), Some(&w), 2, &crate::monitor::Silent).unwrap();
        let total: f64 = w.iter().sum();
        for t in 0..forest.n_trees() {
            assert!(close(covers[forest.root(t)], total, total, 1e-12));
            for n in forest.tree_nodes(t) {
                if forest.is_leaf(n) {
                    let reach: f64 = (0..nrows)
                        .filter(|&r| forest.leaf(t, x.row(r).as_slice().unwrap()) == n)
                        .map(|r| w[r])
                        .sum();
                    assert_eq!(covers[n], reach);
                } else {
                    let sum = covers[forest.left(n)] + covers[forest.right(n)];
                    assert!(close(covers[n], sum, sum, 1e-12));
                }
            }
        }
        let unweighted =
            super::data_covers(&forest, x.view(), None, 2, &crate::monitor::Silent).unwrap();
        assert_eq!(unweighted[forest.root(0)], nrows as f64);
        assert!(super::data_covers(
            &forest,
            x.view(),
            Some(&w[..nrows - 1]),
            1,
            &crate::monitor::Silent
        )
        .is_err());
    }
}
