//! SHAP values of few rows (shap's usual hundreds): the trees, not the rows, are split between
//! threads.
//!
//! With few rows, splitting them between threads leaves each thread a sliver of every group of
//! trees and a wait at every group's end, and the background's aggregates of a group are built
//! apart from their use. Here each task takes one part of consecutive trees ([`part_len`]) and,
//! tree by tree, aggregates the background, builds the table entries the rows' patterns need and
//! adds the tree's contributions for all rows into the part's own sums, while the tree's
//! aggregate is still in the cache; the parts' sums are then added to the rows' values in order.
//! A row gets the same bits as from [`super::linear::raw`], which sums the same parts in the
//! same order.

use super::aggregate::aggregate_tree;
use super::columns::Columns;
use super::linear::{add_part, add_tree, part_len, Method, TreeWork};
use super::weights::Weights;
use super::Background;
use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::{bytes_of, ensure_fits};
use crate::monitor::Monitor;
use crate::parallel::watched;
use ndarray::ArrayView2;
use rayon::prelude::*;
use std::ops::Range;

/// Floats of one part's sums (all rows' values) up to which the trees are split between
/// threads: 512 KiB, so that a part's sums stay in the second-level cache while its trees add
/// to them.
const MAX_PART_FLOATS: usize = 1 << 16;

/// Floats of parts' sums held at once (16 MiB), at least two parts per thread.
const WINDOW_FLOATS: usize = 1 << 21;

/// Whether `n` rows of `per_row` values are few enough for this method.
pub(crate) fn applies(n: usize, per_row: usize) -> bool {
    n.saturating_mul(per_row) <= MAX_PART_FLOATS
}

/// Fills `out` (`n` rows of `per_row` floats) with the rows' SHAP values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn values(
    forest: &Forest,
    x: &ArrayView2<f64>,
    columns: &Columns,
    bg: &Background,
    bg_columns: &Columns,
    methods: &[Method],
    weights: &Weights,
    force_lists: bool,
    out: &mut [f64],
    per_row: usize,
    pool: &rayon::ThreadPool,
    monitor: &dyn Monitor,
) -> Result<()> {
    let n = x.nrows();
    let floats = n * per_row;
    let part = part_len(methods.len());
    let parts: Vec<Range<usize>> = (0..methods.len())
        .step_by(part)
        .map(|s| s..(s + part).min(methods.len()))
        .collect();
    let threads = pool.current_num_threads();
    let window = (WINDOW_FLOATS / floats.max(1))
        .max(2 * threads)
        .clamp(1, parts.len().max(1));
    ensure_fits(
        "the sums of the parts of trees explained at once",
        bytes_of::<f64>(&[window, floats]),
        "explain fewer rows at a time",
    )?;
    // Allocated (and zeroed) by the tasks, in parallel, once; reused by the next windows.
    let mut sums: Vec<Vec<f64>> = (0..window).map(|_| Vec::new()).collect();
    monitor.checkpoint(0, parts.len())?;
    let mut done = 0;
    for batch in parts.chunks(window) {
        let in_flight = &mut sums[..batch.len()];
        watched(pool, monitor, |cancel| {
            in_flight
                .par_iter_mut()
                .zip(batch)
                .try_for_each(|(part_sums, trees)| {
                    if part_sums.len() == floats {
                        part_sums.fill(0.0);
                    } else {
                        *part_sums = vec![0.0; floats];
                    }
                    let mut work = TreeWork::new(forest.n_features());
                    for method in &methods[trees.clone()] {
                        let agg = match method {
                            Method::Patterns(paths) => Some(
                                aggregate_tree(
                                    forest,
                                    paths,
                                    bg_columns,
                                    &bg.weights,
                                    weights,
                                    false,
                                    n,
                                    force_lists,
                                    Some(columns),
                                    cancel,
                                )
                                .ok_or(Error::Interrupted)?,
                            ),
                            Method::Pairs(_) => None,
                        };
                        add_tree(
                            forest,
                            x,
                            columns,
                            0,
                            part_sums,
                            per_row,
                            method,
                            agg.as_ref(),
                            bg,
                            weights,
                            false,
                            &mut work,
                            cancel,
                        );
                        cancel.check()?;
                    }
                    Ok(())
                })
        })?;
        // The parts in order, rows in parallel.
        let in_flight = &sums[..batch.len()];
        let rows_per_task = (4096 / per_row.max(1)).max(1);
        pool.install(|| {
            out.par_chunks_mut(rows_per_task * per_row)
                .enumerate()
                .for_each(|(i, values)| {
                    let at = i * rows_per_task * per_row;
                    for part_sums in in_flight {
                        add_part(values, &part_sums[at..at + values.len()]);
                    }
                })
        });
        done += batch.len();
        monitor.checkpoint(done, parts.len())?;
    }
    Ok(())
}
