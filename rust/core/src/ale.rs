//! Accumulated local effects: the model at the corners of each row's bin (or cell), summed over
//! only the trees whose decisions can differ inside that bin.
//!
//! A row in bin `(lo, hi]` of feature j is predicted at `x_j = lo` and `x_j = hi`. A tree none of
//! whose splits on j separates `lo` from `hi` reaches the same leaf for both (and for any value
//! in between, the row's own included): it adds exactly zero to the row's difference. With the
//! usual 20 bins, a tree's few thresholds on j fall in few bins, so each row walks a small share
//! of the trees: the cost is `rows x relevant trees x corners x depth`, not `rows x trees x ...`.

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::{bytes_of, ensure_fits, filled_vec};
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk_cancellable, items_per_chunk, pool};
use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

/// One feature's bins: its model column, increasing edges, and each row's bin.
pub struct Binned<'a> {
    pub column: usize,
    pub edges: ArrayView1<'a, f64>,
    pub bins: ArrayView1<'a, i64>,
}

/// Rows walked together (one cell's, tree by tree).
const TASK_ROWS: usize = 128;

/// For each bin of one feature, the trees (increasing) with a split on it that sends the bin's
/// two edges different ways.
fn relevant_trees(forest: &Forest, f: &Binned) -> Vec<Vec<u32>> {
    let k = f.edges.len() - 1;
    let mut out = vec![Vec::new(); k];
    for t in 0..forest.n_trees() {
        let mut hit = vec![false; k];
        for n in forest.tree_nodes(t) {
            if forest.is_leaf(n) || forest.feature(n) != f.column {
                continue;
            }
            for (b, h) in hit.iter_mut().enumerate() {
                if !*h && forest.goes_left(n, f.edges[b]) != forest.goes_left(n, f.edges[b + 1]) {
                    *h = true;
                }
            }
        }
        for (b, h) in hit.into_iter().enumerate() {
            if h {
                out[b].push(t as u32);
            }
        }
    }
    out
}

/// Union of two increasing lists into `out`.
fn merge(a: &[u32], b: &[u32], out: &mut Vec<u32>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (Some(_), Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, Some(&y)) => {
                j += 1;
                y
            }
            (None, None) => unreachable!("the loop condition"),
        };
        out.push(next);
    }
}

fn check(forest: &Forest, n: usize, features: &[Binned]) -> Result<()> {
    if features.is_empty() || features.len() > 2 {
        return Err(Error::InvalidInput(format!(
            "ALE takes one or two features, got {}",
            features.len()
        )));
    }
    for f in features {
        if f.column >= forest.n_features() {
            return Err(Error::InvalidInput(format!(
                "column {} is out of range for {} features",
                f.column,
                forest.n_features()
            )));
        }
        let e = &f.edges;
        if e.len() < 2
            || e.iter().any(|v| !v.is_finite())
            || e.windows(2).into_iter().any(|w| w[0] >= w[1])
        {
            return Err(Error::InvalidInput(
                "bin edges must be at least two finite, increasing values".into(),
            ));
        }
        if f.bins.len() != n {
            return Err(Error::InvalidInput(format!(
                "{} bins for {n} rows",
                f.bins.len()
            )));
        }
        if f.bins.iter().any(|&b| b < 0 || b as usize >= e.len() - 1) {
            return Err(Error::InvalidInput(format!(
                "a bin index is outside 0..{}",
                e.len() - 1
            )));
        }
    }
    if features.len() == 2 && features[0].column == features[1].column {
        return Err(Error::InvalidInput(
            "the two features are the same column".into(),
        ));
    }
    Ok(())
}

/// For each row and corner of its bin (1 feature: `lo`, `hi`; 2 features: `(lo, lo)`,
/// `(lo, hi)`, `(hi, lo)`, `(hi, hi)`), the sum over the row's relevant trees (the union of its
/// features' bins' relevant trees) of the tree's weighted leaf values, per output; with
/// `reference`, one more entry: the same trees at the row itself. Shape `(n, corners[+1], k)`.
///
/// Trees outside the row's relevant set reach the same leaf at every corner and at the row, so
/// differences between corners (and `margin(row) - reference + corner`) are the model's.
pub fn corner_sums(
    forest: &Forest,
    x: ArrayView2<f64>,
    features: &[Binned],
    reference: bool,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    forest.check_columns(x.ncols())?;
    let (n, p, k) = (x.nrows(), x.ncols(), forest.n_outputs());
    check(forest, n, features)?;
    let corners = 1usize << features.len();
    let width = corners + usize::from(reference);
    let what = format!("ALE corner predictions ({n} rows x {width} x {k} float64)");
    ensure_fits(
        &what,
        bytes_of::<f64>(&[n, width, k]),
        "compute the ALE on fewer rows",
    )?;
    let mut out = filled_vec(n * width * k, 0.0, &what, "compute the ALE on fewer rows")?;
    let relevant: Vec<Vec<Vec<u32>>> = features.iter().map(|f| relevant_trees(forest, f)).collect();
    let x = x.as_standard_layout();
    let pool = pool(threads)?;
    // Rows of one cell share their relevant trees: sorted by cell, in tasks of at most
    // TASK_ROWS rows of one cell, each walked tree by tree in lockstep
    // (`Forest::leaves_of_prepared`).
    let cells_1 = features.get(1).map_or(1, |f| f.edges.len() - 1);
    let cell_of = |r: usize| -> usize {
        let b0 = features[0].bins[r] as usize;
        match features.get(1) {
            Some(f) => b0 * cells_1 + f.bins[r] as usize,
            None => b0,
        }
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&r| cell_of(r as usize));
    let mut tasks: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    for i in 1..=n {
        if i == n
            || cell_of(order[i] as usize) != cell_of(order[start] as usize)
            || i - start == TASK_ROWS
        {
            if i > start {
                tasks.push(start..i);
            }
            start = i;
        }
    }
    let mean_relevant = relevant
        .iter()
        .map(|r| r.iter().map(Vec::len).sum::<usize>() as f64 / r.len().max(1) as f64)
        .sum::<f64>();
    let task_cost = (mean_relevant * (width * TASK_ROWS) as f64 * 8.0).max(1.0);
    let threads_used = pool.current_num_threads();
    let chunk = items_per_chunk(task_cost, threads_used, threads_used * 4);
    for_each_chunk_cancellable(&pool, tasks.len(), chunk, monitor, |t0, t1, cancel| {
        let done: Vec<(std::ops::Range<usize>, Vec<f64>)> = tasks[t0..t1]
            .par_iter()
            .map(|range| {
                if cancel.is_set() {
                    return (range.clone(), Vec::new());
                }
                let rows = &order[range.clone()];
                let m = rows.len();
                let first = rows[0] as usize;
                let bins: Vec<usize> = features.iter().map(|f| f.bins[first] as usize).collect();
                let mut trees = Vec::new();
                match bins.len() {
                    1 => trees.extend_from_slice(&relevant[0][bins[0]]),
                    _ => merge(&relevant[0][bins[0]], &relevant[1][bins[1]], &mut trees),
                }
                let mut sums = vec![0.0; m * width * k];
                let mut raw = vec![0.0; p];
                let mut mat = vec![0.0; m * p];
                let mut leaves = vec![0usize; m];
                for c in 0..width {
                    for (i, &r) in rows.iter().enumerate() {
                        raw.copy_from_slice(x.row(r as usize).as_slice().expect("standard layout"));
                        if c < corners {
                            for (q, f) in features.iter().enumerate() {
                                let upper = (c >> (features.len() - 1 - q)) & 1;
                                raw[f.column] = f.edges[bins[q] + upper];
                            }
                        }
                        forest.prepare_row(&raw, &mut mat[i * p..(i + 1) * p]);
                    }
                    for &t in &trees {
                        let t = t as usize;
                        forest.leaves_of_prepared(t, &mat, p, &mut leaves);
                        let tw = forest.tree_weight(t);
                        let tree_width = forest.tree_width(t);
                        let output = forest.tree_output(t);
                        for (i, &leaf) in leaves.iter().enumerate() {
                            let values = forest.node_values(leaf, tree_width);
                            let slot = &mut sums[(i * width + c) * k..(i * width + c + 1) * k];
                            match output {
                                Some(o) => slot[o] += tw * values[0],
                                None => {
                                    for (s, v) in slot.iter_mut().zip(values) {
                                        *s += tw * v;
                                    }
                                }
                            }
                        }
                    }
                }
                (range.clone(), sums)
            })
            .collect();
        cancel.check()?;
        for (range, sums) in done {
            for (i, &r) in order[range].iter().enumerate() {
                let r = r as usize;
                out[r * width * k..(r + 1) * width * k]
                    .copy_from_slice(&sums[i * width * k..(i + 1) * width * k]);
            }
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Silent;
    use crate::test_support::{margin, random_forest, random_rows, Rng};
    use ndarray::Array1;

    #[test]
    fn corner_differences_equal_full_predictions() {
        let mut rng = Rng(11);
        for case in 0..30 {
            let p = 2 + case % 3;
            let k = 1 + case % 2;
            let forest = random_forest(&mut rng, p, k, 6, 4);
            // Rows without NaN in the binned features (their bins are defined).
            let mut x = random_rows(&mut rng, 40, p);
            x.column_mut(0)
                .mapv_inplace(|v| if v.is_nan() { 1.0 } else { v });
            x.column_mut(1)
                .mapv_inplace(|v| if v.is_nan() { 2.0 } else { v });
            let edges = Array1::from(vec![-0.5, 0.5, 1.5, 2.5, 3.5]);
            let bin_of = |v: f64| (edges.iter().filter(|&&e| e < v).count().max(1) - 1) as i64;
            let bins0: Array1<i64> = x.column(0).mapv(bin_of);
            let bins1: Array1<i64> = x.column(1).mapv(bin_of);
            for two in [false, true] {
                let mut feats = vec![Binned {
                    column: 0,
                    edges: edges.view(),
                    bins: bins0.view(),
                }];
                if two {
                    feats.push(Binned {
                        column: 1,
                        edges: edges.view(),
                        bins: bins1.view(),
                    });
                }
                let sums = corner_sums(&forest, x.view(), &feats, true, 2, &Silent).unwrap();
                let width = (1 << feats.len()) + 1;
                for r in 0..x.nrows() {
                    let row = x.row(r).to_vec();
                    let own = margin(&forest, &row);
                    for c in 0..width - 1 {
                        let mut z = row.clone();
                        for (q, f) in feats.iter().enumerate() {
                            let upper = (c >> (feats.len() - 1 - q)) & 1;
                            z[f.column] = edges[f.bins[r] as usize + upper];
                        }
                        let full = margin(&forest, &z);
                        for o in 0..k {
                            let via = own[o] - sums[(r * width + width - 1) * k + o]
                                + sums[(r * width + c) * k + o];
                            assert!((via - full[o]).abs() < 1e-12, "{via} vs {}", full[o]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        let mut rng = Rng(2);
        let forest = random_forest(&mut rng, 3, 1, 2, 3);
        let x = random_rows(&mut rng, 3, 3);
        let good = Array1::from(vec![0.0, 1.0, 2.0]);
        let bins = Array1::from(vec![0i64, 1, 1]);
        let bad_edges = Array1::from(vec![0.0, 0.0]);
        let bad_bins = Array1::from(vec![0i64, 2, 1]);
        for (edges, bins, column) in [
            (bad_edges.view(), bins.view(), 0),
            (good.view(), bad_bins.view(), 0),
            (good.view(), bins.view(), 3),
        ] {
            let f = [Binned {
                column,
                edges,
                bins,
            }];
            assert!(corner_sums(&forest, x.view(), &f, false, 1, &Silent).is_err());
        }
        assert!(corner_sums(&forest, x.view(), &[], false, 1, &Silent).is_err());
    }
}
