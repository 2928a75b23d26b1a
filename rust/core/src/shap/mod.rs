//! Exact path-dependent TreeSHAP (Lundberg et al. 2020): SHAP values and SHAP interaction
//! values of the cover-weighted conditional-expectation game, for trees of any depth.
//!
//! - [`quadrature`]: Gauss-Legendre rules on [0, 1].
//! - [`plan`]: row-independent pre-order layout of each tree (edges, cover products).
//! - [`kernel`]: the per-tree walk over a block of rows in SIMD lanes.
//! - this file: expected values, the parallel drivers and the output-size checks.

pub mod decisions;
pub mod kernel;
pub mod plan;
pub mod quadrature;
pub mod saabas;

#[cfg(test)]
mod brute_force;

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::{bytes_of, ensure_fits, ensure_fits_within, human_bytes, try_vec};
use crate::monitor::Monitor;
use crate::parallel::{
    for_each_chunk_cancellable, items_per_chunk, pool, Cancel, STEPS_PER_THREAD_CHUNK,
};
use decisions::Splits;
use kernel::{tree_block, tree_tables, BlockCuts, Lane, TreeJob, Work, L};
use ndarray::{Array3, Array4, ArrayView2};
use plan::Plan;
use quadrature::{gauss_legendre, Rule};
use rayon::prelude::*;

/// How to summarise interaction values over rows without materialising the (n, p, p, k) tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Mean over rows of |phi_ij|.
    MeanAbs,
    /// Mean over rows of phi_ij.
    Mean,
}

/// Everything row-independent: the plan, a quadrature rule per point count and the split ranks.
/// (Each task builds the edge tables of the tree at hand: rebuilding them in cache was measured
/// faster than streaming precomputed tables of all trees from memory.)
struct Prepared {
    plan: Plan,
    rules: Vec<Rule>,
    max_depth: usize,
    max_points: usize,
    /// Whether the tables fold in the quadrature weights (SHAP values) or not (interactions).
    weighted: bool,
    splits: Splits,
}

impl Prepared {
    /// Elementary steps one row costs over all trees (to size chunks by work): every tree's
    /// positions times its quadrature points, times the distinct path features for
    /// interactions (each closed edge pairs with them).
    fn row_cost(&self, inter: bool) -> f64 {
        let plan = &self.plan;
        // Deep trees walk scratch far larger than the caches: each step then costs a miss.
        let arrays = if inter { 5 } else { 2 };
        let scratch = (self.max_depth + 1) * self.max_points.max(1) * L * 8 * arrays;
        let misses = 1.0 + scratch as f64 / (1u64 << 20) as f64;
        misses
            * (0..plan.n_trees())
                .map(|t| {
                    let positions = (plan.tree_start[t + 1] - plan.tree_start[t]) as f64;
                    let pairs = if inter {
                        (2 * plan.points[t]) as f64
                    } else {
                        1.0
                    };
                    positions * plan.points[t] as f64 * pairs
                })
                .sum::<f64>()
    }

    fn new(forest: &Forest, weighted: bool) -> Result<Prepared> {
        let plan = Plan::new(forest)?;
        let max_points = plan.points.iter().copied().max().unwrap_or(1);
        let max_depth = plan.max_depth.iter().copied().max().unwrap_or(0);
        let rules: Vec<Rule> = (0..=max_points).map(gauss_legendre).collect();
        let splits = Splits::new(forest);
        Ok(Prepared {
            splits,
            plan,
            rules,
            max_depth,
            max_points,
            weighted,
        })
    }
}

/// Node covers measured on data: the total weight of the rows of `data` (weight 1 each by
/// default) that reach each node, in the forest's node order. With these covers in place of the
/// training ones, the path-dependent game takes its expectations over `data` (what
/// shap.TreeExplainer does when given data with `feature_perturbation="tree_path_dependent"`).
pub fn data_covers(
    forest: &Forest,
    data: ArrayView2<f64>,
    weights: Option<&[f64]>,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    forest.check_columns(data.ncols())?;
    if let Some(w) = weights {
        if w.len() != data.nrows() {
            return Err(Error::InvalidInput(format!(
                "{} weights for {} rows of data",
                w.len(),
                data.nrows()
            )));
        }
        if w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(Error::InvalidInput(
                "data weights must be finite and non-negative".into(),
            ));
        }
    }
    let n = data.nrows();
    let nodes = forest.n_nodes();
    let pool = pool(threads)?;
    let data = data.as_standard_layout();
    // Fixed blocks of rows (sized by the model's path lengths, never by the thread count), each
    // counted on its own and added in block order: the same sums for any number of threads.
    let path_cost = crate::predict::row_cost(forest);
    let block = items_per_chunk(path_cost, 1, 64).min(1 << 16);
    let n_blocks = n.div_ceil(block);
    let mut covers = vec![0.0; nodes];
    for_each_chunk_cancellable(
        &pool,
        n_blocks,
        threads.max(1),
        monitor,
        |start, end, cancel| {
            let parts: Vec<Option<Vec<f64>>> = (start..end)
                .into_par_iter()
                .map(|b| {
                    let mut part = vec![0.0; nodes];
                    let mut row = vec![0.0; data.ncols()];
                    for r in b * block..((b + 1) * block).min(n) {
                        if r % 256 == 0 && cancel.is_set() {
                            return None;
                        }
                        let w = weights.map_or(1.0, |w| w[r]);
                        row.iter_mut()
                            .zip(data.row(r).iter())
                            .for_each(|(d, v)| *d = *v);
                        for t in 0..forest.n_trees() {
                            let mut nd = forest.root(t);
                            loop {
                                part[nd] += w;
                                if forest.is_leaf(nd) {
                                    break;
                                }
                                nd = forest.next(nd, &row);
                            }
                        }
                    }
                    Some(part)
                })
                .collect();
            for part in parts {
                let part = part.ok_or(Error::Interrupted)?;
                covers.iter_mut().zip(&part).for_each(|(c, v)| *c += v);
            }
            Ok(())
        },
    )?;
    Ok(covers)
}

/// The expected value of each output under the path-dependent game with no feature known:
/// `base_score[o] + sum_t tree_weight(t) * sum_leaves value * prod(cover ratios on the path)`.
pub fn expected_value(forest: &Forest) -> Result<Vec<f64>> {
    let plan = Plan::new(forest)?;
    let mut ev = forest.base_score().to_vec();
    let mut prod: Vec<f64> = Vec::new();
    for t in 0..forest.n_trees() {
        let width = forest.tree_width(t);
        let scale = forest.tree_weight(t);
        let mut sums = vec![0.0; width];
        for i in plan.tree_start[t]..plan.tree_start[t + 1] {
            let d = plan.depth[i] as usize;
            prod.truncate(d);
            let above = if d == 0 { 1.0 } else { prod[d - 1] };
            prod.push(above * plan.ratio[i]);
            let nd = plan.node[i] as usize;
            if forest.is_leaf(nd) {
                for (s, v) in sums.iter_mut().zip(forest.node_values(nd, width)) {
                    *s += v * prod[d];
                }
            }
        }
        match forest.tree_output(t) {
            Some(o) => ev[o] += scale * sums[0],
            None => {
                for (e, s) in ev.iter_mut().zip(&sums) {
                    *e += scale * s;
                }
            }
        }
    }
    Ok(ev)
}

/// What one task writes.
enum Sink<'a> {
    Values(&'a mut [f64]),
    Interactions(&'a mut [f64]),
    Summary(&'a mut [f64], Reduce),
}

/// Explains rows `r0..r1` of `x` over all trees (trees outer, blocks of rows inner).
#[inline(always)]
fn task_generic<const INTER: bool, const FMA: bool>(
    forest: &Forest,
    prep: &Prepared,
    x: &ArrayView2<f64>,
    r0: usize,
    r1: usize,
    sink: Sink,
    cancel: &Cancel,
) -> Result<()> {
    let p = forest.n_features();
    let k = forest.n_outputs();
    let rows = r1 - r0;
    let nb = rows.div_ceil(L);
    let vstride = p * k;
    let istride = if INTER { p * p * k } else { 0 };
    // The driver checked these per-task buffers (times the threads) against the budget; they
    // are still reserved fallibly, so that a budget overtaken meanwhile is an error, not an abort.
    let mut vacc: Vec<Lane> = zeroed_lanes(nb * vstride)?;
    let mut iacc: Vec<Lane> = zeroed_lanes(nb * istride)?;
    let mut work = Work::with_slots(prep.max_depth, prep.max_points, k, p, INTER);
    let mut scratch = Vec::new();
    let all_outputs: Vec<usize> = (0..k).collect();
    let row = |r: usize| -> &[f64] {
        let r = r.min(r1 - 1);
        x.row(r).to_slice().expect("standard layout")
    };
    let blocks: Vec<[&[f64]; L]> = (0..nb)
        .map(|b| std::array::from_fn(|l| row(r0 + b * L + l)))
        .collect();
    let cuts: Vec<BlockCuts> = blocks
        .iter()
        .map(|rows| BlockCuts::new(forest, &prep.splits, rows))
        .collect();
    for t in 0..forest.n_trees() {
        // Tasks of deep forests run long: a stop request is honoured between trees.
        cancel.check()?;
        let m = prep.plan.points[t];
        let rule = &prep.rules[m];
        tree_tables(forest, &prep.plan, t, rule, prep.weighted, &mut scratch);
        let tab: &[f64] = &scratch;
        let single = forest.tree_output(t).map(|o| [o]);
        let outputs: &[usize] = match &single {
            Some(o) => o,
            None => &all_outputs,
        };
        let job = TreeJob {
            forest,
            plan: &prep.plan,
            t,
            rule,
            tab,
            outputs,
            n_outputs: k,
            n_features: p,
            splits: &prep.splits,
        };
        // Each arm inlines its own copy of the kernel (into the caller's target features).
        macro_rules! blocks_with {
            ($mc:literal) => {
                for (b, lanes) in blocks.iter().enumerate() {
                    tree_block::<INTER, $mc, FMA>(
                        &job,
                        lanes,
                        &cuts[b],
                        &mut work,
                        &mut vacc[b * vstride..(b + 1) * vstride],
                        &mut iacc[b * istride..(b + 1) * istride],
                    );
                }
            };
        }
        match m {
            1 => blocks_with!(1),
            2 => blocks_with!(2),
            3 => blocks_with!(3),
            4 => blocks_with!(4),
            5 => blocks_with!(5),
            6 => blocks_with!(6),
            7 => blocks_with!(7),
            8 => blocks_with!(8),
            _ => blocks_with!(0),
        }
    }
    match sink {
        Sink::Values(out) => {
            for r in 0..rows {
                let (b, l) = (r / L, r % L);
                let dst = &mut out[r * vstride..(r + 1) * vstride];
                for (d, src) in dst.iter_mut().zip(&vacc[b * vstride..(b + 1) * vstride]) {
                    *d = src[l];
                }
            }
        }
        Sink::Interactions(out) => {
            for r in 0..rows {
                let (b, l) = (r / L, r % L);
                let dst = &mut out[r * istride..(r + 1) * istride];
                interaction_row(
                    &vacc[b * vstride..(b + 1) * vstride],
                    &iacc[b * istride..(b + 1) * istride],
                    l,
                    p,
                    k,
                    dst,
                );
            }
        }
        Sink::Summary(total, reduce) => {
            let mut one = try_vec(istride, "one row's interaction matrix", TOO_MANY_THREADS)?;
            one.resize(istride, 0.0);
            for r in 0..rows {
                let (b, l) = (r / L, r % L);
                interaction_row(
                    &vacc[b * vstride..(b + 1) * vstride],
                    &iacc[b * istride..(b + 1) * istride],
                    l,
                    p,
                    k,
                    &mut one,
                );
                match reduce {
                    Reduce::MeanAbs => total.iter_mut().zip(&one).for_each(|(s, v)| *s += v.abs()),
                    Reduce::Mean => total.iter_mut().zip(&one).for_each(|(s, v)| *s += v),
                }
            }
        }
    }
    Ok(())
}

/// What to do when per-thread buffers do not fit after all.
const TOO_MANY_THREADS: &str = "use fewer threads (n_jobs)";

/// `count` zeroed lanes, reserved fallibly.
fn zeroed_lanes(count: usize) -> Result<Vec<Lane>> {
    let mut v = try_vec(count, "the per-thread accumulators", TOO_MANY_THREADS)?;
    v.resize(count, [0.0; L]);
    Ok(v)
}

/// One row's (p, p, k) interaction matrix: off-diagonal from the pair sums, diagonal so that
/// each row of the matrix sums to the SHAP value.
fn interaction_row(vacc: &[Lane], iacc: &[Lane], l: usize, p: usize, k: usize, dst: &mut [f64]) {
    for (d, src) in dst.iter_mut().zip(iacc) {
        *d = src[l];
    }
    for i in 0..p {
        for o in 0..k {
            let mut off = 0.0;
            for j in 0..p {
                if j != i {
                    off += dst[(i * p + j) * k + o];
                }
            }
            dst[(i * p + i) * k + o] = vacc[i * k + o][l] - off;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn task_avx512<const INTER: bool>(
    forest: &Forest,
    prep: &Prepared,
    x: &ArrayView2<f64>,
    r0: usize,
    r1: usize,
    sink: Sink,
    cancel: &Cancel,
) -> Result<()> {
    task_generic::<INTER, false>(forest, prep, x, r0, r1, sink, cancel)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn task_avx2<const INTER: bool>(
    forest: &Forest,
    prep: &Prepared,
    x: &ArrayView2<f64>,
    r0: usize,
    r1: usize,
    sink: Sink,
    cancel: &Cancel,
) -> Result<()> {
    task_generic::<INTER, false>(forest, prep, x, r0, r1, sink, cancel)
}

/// Runs the best compiled version of the kernel this CPU supports.
fn task<const INTER: bool>(
    forest: &Forest,
    prep: &Prepared,
    x: &ArrayView2<f64>,
    r0: usize,
    r1: usize,
    sink: Sink,
    cancel: &Cancel,
) -> Result<()> {
    match crate::simd::kernel() {
        // SAFETY: `kernel()` only returns kernels whose features this CPU supports.
        #[cfg(target_arch = "x86_64")]
        crate::simd::Kernel::Avx512 => unsafe {
            task_avx512::<INTER>(forest, prep, x, r0, r1, sink, cancel)
        },
        #[cfg(target_arch = "x86_64")]
        crate::simd::Kernel::Avx2 => unsafe {
            task_avx2::<INTER>(forest, prep, x, r0, r1, sink, cancel)
        },
        _ => task_generic::<INTER, false>(forest, prep, x, r0, r1, sink, cancel),
    }
}

fn check_rows(forest: &Forest, x: &ArrayView2<f64>) -> Result<()> {
    forest.check_columns(x.ncols())?;
    if forest.n_features() == 0 {
        return Err(Error::InvalidInput("the model has no features".into()));
    }
    Ok(())
}

/// Threads that can be busy at once on `n` rows in tasks of `task_rows` rows.
fn busy_threads(threads: usize, n: usize, task_rows: usize) -> usize {
    threads.min(n.div_ceil(task_rows.max(1))).max(1)
}

/// Bytes one task of `rows` rows holds besides the output: its accumulators (`p x k` lanes per
/// block of `L` rows, plus `p x p x k` for interactions) and, for summaries, one row's matrix
/// and the task's partial sum.
fn task_bytes(rows: usize, p: usize, k: usize, inter: bool, summary: bool) -> u64 {
    let blocks = rows.div_ceil(L);
    let values = bytes_of::<Lane>(&[blocks, p, k]);
    let pairs = if inter {
        bytes_of::<Lane>(&[blocks, p, p, k])
    } else {
        0
    };
    let summary = if summary {
        bytes_of::<f64>(&[3, p, p, k])
    } else {
        0
    };
    values.saturating_add(pairs).saturating_add(summary)
}

/// The total of `threads` tasks' buffers.
fn threads_bytes(per_task: u64, threads: usize) -> u64 {
    per_task.saturating_mul(threads as u64)
}

/// The way out when the per-thread buffers do not fit: fewer threads if one would do.
fn thread_way_out(per_task: u64, threads: usize, other: &str) -> String {
    let fits_one = crate::memory::budget().is_none_or(|b| per_task <= b.bytes);
    if threads > 1 && fits_one {
        format!(
            "use fewer threads (n_jobs; each needs {})",
            human_bytes(per_task)
        )
    } else {
        other.to_string()
    }
}

/// SHAP values, shape `(n_rows, n_features, n_outputs)`. `limit` (the caller's `max_bytes`)
/// caps the output's size besides the memory budget.
pub fn shap_values(
    forest: &Forest,
    x: ArrayView2<f64>,
    threads: usize,
    monitor: &dyn Monitor,
    limit: Option<u64>,
) -> Result<Array3<f64>> {
    check_rows(forest, &x)?;
    let (n, p, k) = (x.nrows(), forest.n_features(), forest.n_outputs());
    // Large tasks reuse each tree's tables over many blocks; small inputs still use all threads.
    let task_rows = (n.div_ceil(threads * 4)).div_ceil(L).clamp(1, 8) * L;
    let busy = busy_threads(threads, n, task_rows);
    let output = bytes_of::<f64>(&[n, p, k]);
    let per_task = task_bytes(task_rows.min(n.max(1)), p, k, false, false);
    ensure_fits_within(
        &format!("the SHAP values ({n} x {p} x {k} float64)"),
        output,
        "explain fewer rows at a time (or dtype=numpy.float32 to store them in half the memory)",
        limit,
    )?;
    ensure_fits(
        &format!("the SHAP values ({n} x {p} x {k} float64) with the buffers of {busy} threads"),
        output.saturating_add(threads_bytes(per_task, busy)),
        &thread_way_out(per_task, busy, "explain fewer rows at a time"),
    )?;
    let pool = pool(threads)?;
    let prep = Prepared::new(forest, true)?;
    check_scratch(&prep, k, threads, false, limit)?;
    let x = x.as_standard_layout();
    let xv = x.view();
    let mut out = zeroed_output(&[n, p, k], "the SHAP values")?;
    // Large tasks reuse each tree's tables over many blocks; small inputs still use all
    // threads. Blocks costlier than a chunk's budget (deep or large trees) get tasks of up to
    // 8 blocks, one per thread and chunk: building a deep tree's tables costs about as much
    // as walking one block through it, so one block per task spent half the time on tables
    // (a stop request is still honoured between trees, see `task_generic`).
    let block_cost = prep.row_cost(false) * L as f64;
    let costly = block_cost > STEPS_PER_THREAD_CHUNK;
    let (task_rows, tasks) = if costly {
        (n.div_ceil(threads).div_ceil(L).clamp(1, 8) * L, threads)
    } else {
        (task_rows, threads * 4)
    };
    fill_rows(
        &pool,
        monitor,
        &mut out,
        n,
        task_rows,
        tasks,
        |r0, r1, sl, cancel| task::<false>(forest, &prep, &xv, r0, r1, Sink::Values(sl), cancel),
    )?;
    Ok(Array3::from_shape_vec((n, p, k), out).expect("n * p * k values"))
}

/// The zeroed output of these dimensions, reserved fallibly (its size was checked).
fn zeroed_output(dims: &[usize], what: &str) -> Result<Vec<f64>> {
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    let mut v = try_vec(count, what, "explain fewer rows at a time")?;
    v.resize(count, 0.0);
    Ok(v)
}

/// Fills `data` (`n` rows of equal length, row-major) in parallel tasks of `task_rows` rows,
/// `tasks_per_chunk` tasks between two monitor checkpoints; `work(r0, r1, rows)` fills rows
/// `r0..r1` (and may stop early, with an error, once `cancel` is set).
fn fill_rows<F>(
    pool: &rayon::ThreadPool,
    monitor: &dyn Monitor,
    data: &mut [f64],
    n: usize,
    task_rows: usize,
    tasks_per_chunk: usize,
    work: F,
) -> Result<()>
where
    F: Fn(usize, usize, &mut [f64], &Cancel) -> Result<()> + Sync,
{
    let row_len = data.len().checked_div(n).unwrap_or(0);
    for_each_chunk_cancellable(
        pool,
        n,
        task_rows * tasks_per_chunk,
        monitor,
        |start, end, cancel| {
            data[start * row_len..end * row_len]
                .par_chunks_mut((task_rows * row_len).max(1))
                .enumerate()
                .try_for_each(|(ti, rows)| {
                    let r0 = start + ti * task_rows;
                    work(r0, (r0 + task_rows).min(end), rows, cancel)
                })
        },
    )
}

/// Refuses work whose per-thread walk scratch (per depth and quadrature point: prefix products,
/// subtree sums per output, and for interactions coefficient changes and per-feature sums, each
/// `L` lanes) would not fit in memory: linear in depth, but deep trees with many distinct path
/// features can need a lot.
fn check_scratch(
    prep: &Prepared,
    k: usize,
    threads: usize,
    inter: bool,
    limit: Option<u64>,
) -> Result<()> {
    let d = prep.max_depth + 1;
    let m = prep.max_points.max(1);
    let arrays = 1 + k + if inter { 3 } else { 0 };
    let per_thread = bytes_of::<Lane>(&[d, m, arrays]);
    ensure_fits_within(
        &format!(
            "the TreeSHAP scratch of {threads} thread{} ({} each) for trees {} deep with {m} \
             quadrature points",
            if threads == 1 { "" } else { "s" },
            human_bytes(per_thread),
            prep.max_depth
        ),
        threads_bytes(per_thread, threads),
        "use fewer threads (n_jobs)",
        limit,
    )
}

/// Refuses interaction work whose output plus per-thread buffers (`busy` tasks of `task_rows`
/// rows at once) would not fit in the budget.
#[allow(clippy::too_many_arguments)]
fn check_interaction_memory(
    what: &str,
    output: u64,
    n: usize,
    p: usize,
    k: usize,
    task_rows: usize,
    busy: usize,
    summary: bool,
    way_out: &str,
) -> Result<()> {
    let per_task = task_bytes(task_rows.min(n.max(1)), p, k, true, summary);
    ensure_fits(
        &format!(
            "{what} with the accumulators of {busy} thread{} ({} each: {p} x {p} x {k} values \
             for each of {L} rows)",
            if busy == 1 { "" } else { "s" },
            human_bytes(per_task)
        ),
        output.saturating_add(threads_bytes(per_task, busy)),
        &thread_way_out(per_task, busy, way_out),
    )
}

/// SHAP interaction values, shape `(n_rows, n_features, n_features, n_outputs)`.
pub fn shap_interaction_values(
    forest: &Forest,
    x: ArrayView2<f64>,
    threads: usize,
    monitor: &dyn Monitor,
    limit: Option<u64>,
) -> Result<Array4<f64>> {
    check_rows(forest, &x)?;
    let (n, p, k) = (x.nrows(), forest.n_features(), forest.n_outputs());
    let what = format!("the SHAP interaction values ({n} x {p} x {p} x {k} float64)");
    let way_out = "use reduce=\"mean_abs\" for the (p, p) mean |interaction| over rows, or \
                   explain fewer rows at a time";
    let output = bytes_of::<f64>(&[n, p, p, k]);
    ensure_fits_within(&what, output, way_out, limit)?;
    // One block per task: the (p, p, k) accumulator of a block is the large part.
    let busy = busy_threads(threads, n, L);
    check_interaction_memory(&what, output, n, p, k, L, busy, false, way_out)?;
    let pool = pool(threads)?;
    let prep = Prepared::new(forest, false)?;
    check_scratch(&prep, k, threads, true, limit)?;
    let x = x.as_standard_layout();
    let xv = x.view();
    let mut out = zeroed_output(&[n, p, p, k], "the SHAP interaction values")?;
    // One block per task: the (p, p, k) accumulator of a block is the large part.
    let block_cost = prep.row_cost(true) * L as f64;
    let tasks = if block_cost > STEPS_PER_THREAD_CHUNK {
        items_per_chunk(block_cost, threads, threads)
    } else {
        threads * 8
    };
    fill_rows(
        &pool,
        monitor,
        &mut out,
        n,
        L,
        tasks,
        |r0, r1, sl, cancel| {
            task::<true>(forest, &prep, &xv, r0, r1, Sink::Interactions(sl), cancel)
        },
    )?;
    Ok(Array4::from_shape_vec((n, p, p, k), out).expect("n * p * p * k values"))
}

/// Interaction values summarised over rows, shape `(n_features, n_features, n_outputs)`,
/// computed without materialising the per-row tensor.
pub fn shap_interaction_summary(
    forest: &Forest,
    x: ArrayView2<f64>,
    reduce: Reduce,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Array3<f64>> {
    check_rows(forest, &x)?;
    let (n, p, k) = (x.nrows(), forest.n_features(), forest.n_outputs());
    if n == 0 {
        return Err(Error::InvalidInput(
            "X has no rows: a mean over rows needs at least one".into(),
        ));
    }
    // One block per task, as for the full tensor.
    let task_rows = L;
    let busy = busy_threads(threads, n, task_rows);
    let len = p * p * k;
    check_interaction_memory(
        &format!("the interaction summary over rows ({p} x {p} x {k} float64)"),
        bytes_of::<f64>(&[len]),
        n,
        p,
        k,
        task_rows,
        busy,
        true,
        "the path-dependent kernel holds a (p, p) matrix for each of 64 rows at once: explain \
         a subset of the features' interactions with a smaller model, or use shap_values",
    )?;
    let pool = pool(threads)?;
    let prep = Prepared::new(forest, false)?;
    check_scratch(&prep, k, threads, true, None)?;
    let x = x.as_standard_layout();
    let xv = x.view();
    let mut total = zeroed_output(&[len], "the interaction summary")?;
    // Two blocks per thread at most between checkpoints: each holds a (p, p, k) sum.
    let tasks = items_per_chunk(prep.row_cost(true) * L as f64, threads, threads).min(2 * threads);
    for_each_chunk_cancellable(
        &pool,
        n,
        task_rows * tasks,
        monitor,
        |start, end, cancel| {
            let starts: Vec<usize> = (start..end).step_by(task_rows).collect();
            // One sum per block of L rows (blocks start at multiples of L whatever the thread
            // count), added in row order: the same result for any number of threads.
            let parts: Vec<Vec<f64>> = starts
                .into_par_iter()
                .map(|r0| -> Result<Vec<f64>> {
                    let r1 = (r0 + task_rows).min(end);
                    let mut s = zeroed_output(&[len], "a thread's partial interaction sum")?;
                    task::<true>(
                        forest,
                        &prep,
                        &xv,
                        r0,
                        r1,
                        Sink::Summary(&mut s, reduce),
                        cancel,
                    )?;
                    Ok(s)
                })
                .collect::<Result<_>>()?;
            for part in parts {
                total.iter_mut().zip(&part).for_each(|(x, y)| *x += y);
            }
            Ok(())
        },
    )?;
    let inv = 1.0 / n as f64;
    total.iter_mut().for_each(|v| *v *= inv);
    Ok(Array3::from_shape_vec((p, p, k), total).expect("p * p * k values"))
}
