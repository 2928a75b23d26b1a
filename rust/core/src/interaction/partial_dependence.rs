//! Exact data-based partial dependence and individual conditional expectation on a grid.
//!
//! `PD_S(v) = wmean_i f(v, x_i,notS)`. Each tree is walked once with all data rows and all grid
//! points together: at a node splitting on a feature of `S` the grid points choose their side
//! and the rows follow both; at any other node the rows choose and the grid points follow both.
//! At a leaf, the grid points that reached it get the leaf value times the weight share of the
//! rows that reached it: no model call on replicated data.

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::{bytes_of, ensure_fits, filled_vec};
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk_cancellable, pool, Cancel};
use ndarray::{Array2, Array3, ArrayView2};
use rayon::prelude::*;

struct PdWalk<'a> {
    forest: &'a Forest,
    /// Column-major data.
    columns: &'a [Vec<f64>],
    /// Position of each model feature in `S`, or `usize::MAX`.
    in_s: &'a [usize],
    /// Grid points, row-major `g x |S|`.
    grid: &'a [f64],
    s_len: usize,
}

/// Reusable buffers of one walk: the rows and grid points (partitioned in place, each node's
/// share a contiguous range), a buffer for stable partitions, and the explicit stack.
#[derive(Default)]
struct PdScratch {
    rows: Vec<u32>,
    points: Vec<u32>,
    spill: Vec<u32>,
    /// Pending nodes: (node, rows range, points range).
    stack: Vec<(usize, usize, usize, usize, usize)>,
}

/// Moves the items of `items` for which `left` holds to the front, keeping both sides in
/// order; returns the number moved to the front.
fn partition(items: &mut [u32], spill: &mut Vec<u32>, mut left: impl FnMut(u32) -> bool) -> usize {
    spill.clear();
    let mut front = 0;
    for i in 0..items.len() {
        let v = items[i];
        if left(v) {
            items[front] = v;
            front += 1;
        } else {
            spill.push(v);
        }
    }
    items[front..].copy_from_slice(spill);
    front
}

/// Rows and points passed between two looks at the cancel flag.
const CANCEL_STEPS: usize = 1 << 16;

impl PdWalk<'_> {
    /// Calls `leaf(node, rows, points)` with the rows and grid points reaching each leaf of the
    /// tree rooted at `root`, depth-first, left before right, with an explicit stack (trees of
    /// any depth). Returns `false` when stopped by `cancel`.
    fn visit<F: FnMut(usize, &[u32], &[u32])>(
        &self,
        root: usize,
        rows: &[u32],
        points: &[u32],
        scratch: &mut PdScratch,
        cancel: &Cancel,
        leaf: &mut F,
    ) -> bool {
        let forest = self.forest;
        let PdScratch {
            rows: rs,
            points: ps,
            spill,
            stack,
        } = scratch;
        rs.clear();
        rs.extend_from_slice(rows);
        ps.clear();
        ps.extend_from_slice(points);
        stack.clear();
        stack.push((root, 0, rs.len(), 0, ps.len()));
        let mut steps = 0usize;
        while let Some((node, r0, r1, p0, p1)) = stack.pop() {
            if r0 == r1 || p0 == p1 {
                continue;
            }
            // Each node costs a pass over its rows or points.
            steps += (r1 - r0) + (p1 - p0);
            if steps >= CANCEL_STEPS {
                steps = 0;
                if cancel.is_set() {
                    return false;
                }
            }
            if forest.is_leaf(node) {
                leaf(node, &rs[r0..r1], &ps[p0..p1]);
                continue;
            }
            let a = forest.feature(node);
            let s = self.in_s[a];
            // At a split on S the grid points choose and the rows follow both sides; elsewhere
            // the rows choose. Ranges shared by both children are only reordered within.
            if s != usize::MAX {
                let at = partition(&mut ps[p0..p1], spill, |g| {
                    forest.goes_left(node, self.grid[g as usize * self.s_len + s])
                });
                stack.push((forest.right(node), r0, r1, p0 + at, p1));
                stack.push((forest.left(node), r0, r1, p0, p0 + at));
            } else {
                let column = &self.columns[a];
                let at = partition(&mut rs[r0..r1], spill, |i| {
                    forest.goes_left(node, column[i as usize])
                });
                stack.push((forest.right(node), r0 + at, r1, p0, p1));
                stack.push((forest.left(node), r0, r0 + at, p0, p1));
            }
        }
        true
    }
}

fn add_leaf(forest: &Forest, t: usize, node: usize, scale: f64, out: &mut [f64]) {
    let weight = forest.tree_weight(t) * scale;
    let width = forest.tree_width(t);
    let vals = forest.node_values(node, width);
    match forest.tree_output(t) {
        Some(o) => out[o] += vals[0] * weight,
        None => {
            for (o, v) in vals.iter().enumerate() {
                out[o] += v * weight;
            }
        }
    }
}

/// Partial dependence of the model's raw margin on `features` at each grid point (rows of
/// `grid`, one column per feature), shape `(g, n_outputs)`; and, if `individual`, the
/// individual curves `f(v, x_i,notS)`, shape `(n, g, n_outputs)`.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn partial_dependence(
    forest: &Forest,
    x: ArrayView2<f64>,
    w: &[f64],
    features: &[usize],
    grid: ArrayView2<f64>,
    individual: bool,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<(Array2<f64>, Option<Array3<f64>>)> {
    forest.check_columns(x.ncols())?;
    let n = x.nrows();
    let p = forest.n_features();
    let k = forest.n_outputs();
    let g = grid.nrows();
    if grid.ncols() != features.len() {
        return Err(Error::InvalidInput(format!(
            "the grid has {} columns for {} features",
            grid.ncols(),
            features.len()
        )));
    }
    if w.len() != n {
        return Err(Error::InvalidInput(format!(
            "sample_weight has {} entries for {n} rows",
            w.len()
        )));
    }
    if n == 0 {
        return Err(Error::InvalidInput("X has no rows".into()));
    }
    if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(Error::InvalidInput(
            "sample_weight must be finite and non-negative".into(),
        ));
    }
    let w_total: f64 = w.iter().sum();
    if w_total <= 0.0 {
        return Err(Error::InvalidInput(
            "sample_weight must have a positive sum".into(),
        ));
    }
    let mut in_s = vec![usize::MAX; p];
    for (s, &f) in features.iter().enumerate() {
        if f >= p || in_s[f] != usize::MAX {
            return Err(Error::InvalidInput(format!(
                "feature index {f} is out of range or repeated (the model has {p} features)"
            )));
        }
        in_s[f] = s;
    }
    let threads = threads.max(1);
    // One sum per tree of a chunk (4 trees per thread), and the total; the individual curves;
    // the columns' copy and the row and point lists.
    let acc_bytes = bytes_of::<f64>(&[4 * threads + 1, g, k]);
    let ice_bytes = if individual {
        bytes_of::<f64>(&[n, g, k])
    } else {
        0
    };
    let data_bytes =
        bytes_of::<f64>(&[p + 1, n]).saturating_add(bytes_of::<f64>(&[g + 1, features.len()]));
    let way_out = "use a coarser grid, fewer rows for individual curves, or kind=\"average\"";
    ensure_fits(
        &format!(
            "partial dependence on {g} grid points for {n} rows and {k} outputs{}",
            if individual {
                " with individual curves"
            } else {
                ""
            }
        ),
        acc_bytes
            .saturating_add(ice_bytes)
            .saturating_add(data_bytes),
        way_out,
    )?;
    let pool = pool(threads)?;
    let x = x.as_standard_layout();
    let columns: Vec<Vec<f64>> = (0..p).map(|j| x.column(j).to_vec()).collect();
    let grid = grid.as_standard_layout();
    let grid_flat: Vec<f64> = grid.iter().copied().collect();
    let walk = PdWalk {
        forest,
        columns: &columns,
        in_s: &in_s,
        grid: &grid_flat,
        s_len: features.len(),
    };
    let all_points: Vec<u32> = (0..g as u32).collect();
    let n_trees = forest.n_trees();

    // Averages: parallel over trees, one sum per tree, added in tree order (the same result
    // for any number of threads).
    let mut total = vec![0.0; g * k];
    let all_rows: Vec<u32> = (0..n as u32).collect();
    let trees_per_chunk = (threads * 4).max(1);
    for_each_chunk_cancellable(
        &pool,
        n_trees,
        trees_per_chunk,
        monitor,
        |start, end, cancel| {
            let sums: Vec<Option<Vec<f64>>> = (start..end)
                .into_par_iter()
                .map_init(PdScratch::default, |scratch, t| {
                    let mut acc = vec![0.0; g * k];
                    let finished = walk.visit(
                        forest.root(t),
                        &all_rows,
                        &all_points,
                        scratch,
                        cancel,
                        &mut |node, rows, points| {
                            let share: f64 =
                                rows.iter().map(|&i| w[i as usize]).sum::<f64>() / w_total;
                            for &pt in points {
                                add_leaf(
                                    forest,
                                    t,
                                    node,
                                    share,
                                    &mut acc[pt as usize * k..(pt as usize + 1) * k],
                                );
                            }
                        },
                    );
                    finished.then_some(acc)
                })
                .collect();
            for acc in sums {
                let acc = acc.ok_or(Error::Interrupted)?;
                total.iter_mut().zip(&acc).for_each(|(s, v)| *s += v);
            }
            Ok(())
        },
    )?;
    let mut average = Array2::<f64>::zeros((g, k));
    for pt in 0..g {
        for o in 0..k {
            average[[pt, o]] = total[pt * k + o];
        }
    }
    let base = forest.base_score();
    for pt in 0..g {
        for o in 0..k {
            average[[pt, o]] += base[o];
        }
    }

    // Individual curves: parallel over blocks of rows, all trees per block.
    let ice = if individual {
        let values = filled_vec(n * g * k, 0.0, "the individual curves", way_out)?;
        let mut ice = Array3::from_shape_vec((n, g, k), values).expect("n * g * k values");
        let block = 64usize;
        {
            let flat = ice.as_slice_mut().expect("standard layout");
            let per_chunk = block * threads * 4;
            for_each_chunk_cancellable(&pool, n, per_chunk, monitor, |start, end, cancel| {
                let slice = &mut flat[start * g * k..end * g * k];
                let stopped = slice
                    .par_chunks_mut(block * g * k)
                    .enumerate()
                    .map_init(PdScratch::default, |scratch, (b, out)| {
                        let r0 = start + b * block;
                        let rows: Vec<u32> =
                            (r0 as u32..(r0 + out.len() / (g * k)) as u32).collect();
                        for t in 0..n_trees {
                            let finished = walk.visit(
                                forest.root(t),
                                &rows,
                                &all_points,
                                scratch,
                                cancel,
                                &mut |node, rows, points| {
                                    for &i in rows {
                                        for &pt in points {
                                            let at = ((i as usize - r0) * g + pt as usize) * k;
                                            add_leaf(forest, t, node, 1.0, &mut out[at..at + k]);
                                        }
                                    }
                                },
                            );
                            if !finished {
                                return true;
                            }
                        }
                        for (ix, v) in out.iter_mut().enumerate() {
                            *v += base[ix % k];
                        }
                        false
                    })
                    .reduce(|| false, |a, b| a || b);
                if stopped {
                    return Err(Error::Interrupted);
                }
                Ok(())
            })?;
        }
        Some(ice)
    } else {
        None
    };
    Ok((average, ice))
}
