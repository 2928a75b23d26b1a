//! Saabas values: the attribution shap computes with `approximate=True` (and XGBoost with
//! `approx_contribs=True`). Along the path a row takes through a tree, each split moves the
//! tree's expected value from the node's to the child's; that change is credited to the split
//! feature. The expectation of a node is the cover-weighted mean of its leaves (the same cover
//! ratios as the path-dependent game), so a row's values sum to its prediction minus the
//! path-dependent expected value. One ordering of the features only: not Shapley values.

use crate::error::Result;
use crate::forest::Forest;
use crate::memory::filled_vec;
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk, items_per_chunk, pool};
use crate::shap::plan::{cover_ratio, Plan};
use ndarray::{Array3, ArrayView2, Axis};
use rayon::prelude::*;

/// Per node, the expected value of its subtree (`width` values per node of a tree of that
/// width), and where each node's values start.
struct Expectations {
    at: Vec<usize>,
    values: Vec<f64>,
}

impl Expectations {
    /// Children before parents: positions of the pre-order plan in reverse (no recursion).
    fn new(forest: &Forest) -> Result<Expectations> {
        let n = forest.n_nodes();
        let mut at = Vec::with_capacity(n);
        let mut total = 0usize;
        for t in 0..forest.n_trees() {
            let width = forest.tree_width(t);
            for _ in forest.tree_nodes(t) {
                at.push(total);
                total += width;
            }
        }
        let mut values = filled_vec(
            total,
            0.0,
            "the node expectations of the Saabas values",
            "use the exact values (approximate=False)",
        )?;
        let plan = Plan::new(forest)?;
        for t in 0..forest.n_trees() {
            let width = forest.tree_width(t);
            for i in (plan.tree_start[t]..plan.tree_start[t + 1]).rev() {
                let nd = plan.node[i] as usize;
                if forest.is_leaf(nd) {
                    let v = forest.node_values(nd, width);
                    values[at[nd]..at[nd] + width].copy_from_slice(v);
                } else {
                    let (l, r) = (forest.left(nd), forest.right(nd));
                    let (wl, wr) = (cover_ratio(forest, nd, l), cover_ratio(forest, nd, r));
                    for j in 0..width {
                        values[at[nd] + j] = wl * values[at[l] + j] + wr * values[at[r] + j];
                    }
                }
            }
        }
        Ok(Expectations { at, values })
    }

    fn of(&self, node: usize, width: usize) -> &[f64] {
        &self.values[self.at[node]..self.at[node] + width]
    }
}

/// Saabas values of the rows of `x`, shape `(n_rows, n_features, n_outputs)`. Each row's values
/// plus the path-dependent expected value ([`crate::shap::expected_value`]) equal its raw
/// margin, up to rounding.
pub fn saabas_values(
    forest: &Forest,
    x: ArrayView2<f64>,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Array3<f64>> {
    forest.check_columns(x.ncols())?;
    let (n, p, k) = (x.nrows(), forest.n_features(), forest.n_outputs());
    let values = filled_vec(
        n * p * k,
        0.0,
        &format!("the Saabas values ({n} x {p} x {k} float64)"),
        "explain fewer rows at a time",
    )?;
    let mut out = Array3::from_shape_vec((n, p, k), values).expect("n * p * k values");
    let expect = Expectations::new(forest)?;
    let pool = pool(threads)?;
    let x = x.as_standard_layout();
    let chunk = items_per_chunk(crate::predict::row_cost(forest), threads, threads);
    for_each_chunk(&pool, n, chunk, monitor, |start, end| {
        out.slice_mut(ndarray::s![start..end, .., ..])
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut phi)| {
                let row = x.row(start + i);
                let row = row.as_slice().expect("standard layout");
                for t in 0..forest.n_trees() {
                    let width = forest.tree_width(t);
                    let scale = forest.tree_weight(t);
                    let first = forest.tree_output(t).unwrap_or(0);
                    let mut nd = forest.root(t);
                    while !forest.is_leaf(nd) {
                        let child = forest.next(nd, row);
                        let f = forest.feature(nd);
                        let (before, after) = (expect.of(nd, width), expect.of(child, width));
                        for j in 0..width {
                            phi[[f, first + j]] += scale * (after[j] - before[j]);
                        }
                        nd = child;
                    }
                }
            });
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Silent;
    use crate::shap::brute_force::{random_forest, random_rows, Rng, Spec};

    /// The expectation of node `nd` by its definition: every leaf below it, weighted by the
    /// product of the cover ratios from `nd` down to the leaf (an explicit stack).
    fn expectation(forest: &Forest, nd: usize, width: usize) -> Vec<f64> {
        let mut sum = vec![0.0; width];
        let mut stack = vec![(nd, 1.0)];
        while let Some((n, w)) = stack.pop() {
            if forest.is_leaf(n) {
                for (s, v) in sum.iter_mut().zip(forest.node_values(n, width)) {
                    *s += w * v;
                }
            } else {
                for c in [forest.left(n), forest.right(n)] {
                    stack.push((c, w * cover_ratio(forest, n, c)));
                }
            }
        }
        sum
    }

    /// Against the definition (each split's change of expectation credited to its feature),
    /// and values plus the expected value against the prediction.
    #[test]
    fn saabas_matches_its_definition_and_sums_to_the_prediction() {
        for seed in 0..40u64 {
            let mut rng = Rng::new(seed);
            let k = if seed % 3 == 0 { 1 + rng.below(3) } else { 1 };
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
            let x = random_rows(&mut rng, 9, spec.p);
            let phi = saabas_values(&forest, x.view(), 2, &Silent).unwrap();
            let ev = crate::shap::expected_value(&forest).unwrap();
            let pred = crate::predict::predict(&forest, x.view(), 1, &Silent).unwrap();
            let (p, k) = (forest.n_features(), forest.n_outputs());
            for r in 0..x.nrows() {
                let row = x.row(r).to_vec();
                let mut want = vec![0.0; p * k];
                for t in 0..forest.n_trees() {
                    let width = forest.tree_width(t);
                    let first = forest.tree_output(t).unwrap_or(0);
                    let mut nd = forest.root(t);
                    while !forest.is_leaf(nd) {
                        let child = forest.next(nd, &row);
                        let (a, b) = (
                            expectation(&forest, nd, width),
                            expectation(&forest, child, width),
                        );
                        for j in 0..width {
                            want[forest.feature(nd) * k + first + j] +=
                                forest.tree_weight(t) * (b[j] - a[j]);
                        }
                        nd = child;
                    }
                }
                for f in 0..p {
                    for o in 0..k {
                        let (got, w) = (phi[[r, f, o]], want[f * k + o]);
                        assert!((got - w).abs() <= 1e-12 * (1.0 + w.abs()), "{got} vs {w}");
                    }
                }
                for o in 0..k {
                    let total: f64 = (0..p).map(|f| phi[[r, f, o]]).sum::<f64>() + ev[o];
                    let want = pred[[r, o]];
                    assert!(
                        (total - want).abs() <= 1e-9 * (1.0 + want.abs()),
                        "{total} vs {want}"
                    );
                }
            }
        }
    }
}
