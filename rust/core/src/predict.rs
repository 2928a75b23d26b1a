//! Native prediction: the raw margin of the ensemble, parallel over blocks of rows.

use crate::error::Result;
use crate::forest::Forest;
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk, items_per_chunk, pool};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Rows per block: each tree is walked for the whole block while its nodes are in cache.
const BLOCK: usize = 256;

/// Raw margin per row and output, shape `(n_rows, n_outputs)`.
pub fn predict(
    forest: &Forest,
    x: ArrayView2<f64>,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Array2<f64>> {
    forest.check_columns(x.ncols())?;
    let n = x.nrows();
    let k = forest.n_outputs();
    let values = crate::memory::filled_vec(
        n * k,
        0.0,
        &format!("the predictions ({n} x {k} float64)"),
        "predict fewer rows at a time",
    )?;
    let mut out = Array2::from_shape_vec((n, k), values).expect("n * k values");
    let pool = pool(threads)?;
    // Chunks sized by work (rows times path lengths), so that deep trees still check often.
    let chunk = items_per_chunk(row_cost(forest) * BLOCK as f64, threads, threads) * BLOCK;
    let x = x.as_standard_layout();
    for_each_chunk(&pool, n, chunk, monitor, |start, end| {
        out.slice_mut(ndarray::s![start..end, ..])
            .axis_chunks_iter_mut(Axis(0), BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(b, mut block)| {
                let r0 = start + b * BLOCK;
                predict_block(forest, &x, r0, &mut block);
            });
        Ok(())
    })?;
    Ok(out)
}

/// Nodes one row visits at most over all trees: the sum of the trees' depths plus one each.
pub fn row_cost(forest: &Forest) -> f64 {
    let mut deepest = vec![0usize; forest.n_trees()];
    for (t, d) in deepest.iter_mut().enumerate() {
        *d = forest
            .tree_nodes(t)
            .map(|n| forest.depth(n))
            .max()
            .unwrap_or(0);
    }
    deepest.iter().map(|&d| d as f64 + 1.0).sum()
}

fn predict_block(
    forest: &Forest,
    x: &ndarray::CowArray<f64, ndarray::Ix2>,
    r0: usize,
    out: &mut ndarray::ArrayViewMut2<f64>,
) {
    let k = forest.n_outputs();
    let p = forest.n_features();
    let rows = out.nrows();
    // The block's rows, rounded once to the model's precision.
    let mut block = vec![0.0; rows * p];
    for i in 0..rows {
        let row = x.row(r0 + i);
        let row = row.as_slice().expect("standard layout");
        forest.prepare_row(row, &mut block[i * p..(i + 1) * p]);
    }
    let mut leaves = vec![0usize; rows];
    for t in 0..forest.n_trees() {
        let width = forest.tree_width(t);
        let output = forest.tree_output(t);
        forest.leaves_of_prepared(t, &block, p, &mut leaves);
        for (i, &leaf) in leaves.iter().enumerate() {
            let v = forest.node_values(leaf, width);
            match output {
                Some(o) => out[[i, o]] += v[0],
                None => {
                    for (j, vj) in v.iter().enumerate() {
                        out[[i, j]] += vj;
                    }
                }
            }
        }
    }
    let base = forest.base_score();
    let div = forest.output_divisor();
    for i in 0..rows {
        for j in 0..k {
            out[[i, j]] = out[[i, j]] / div[j] + base[j];
        }
    }
}
