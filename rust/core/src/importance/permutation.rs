//! The permutation driver: the scores of the model on rows whose columns (or groups of columns)
//! are permuted, for many permutations, without re-evaluating whole trees.
//!
//! Rows are processed in blocks in parallel; [`Chunk::block`] routes a block's repeats through
//! the forest (trees outer and rows inner, so a tree stays in cache) and yields each row's own
//! output and each repeat's change of it. The scores then come from those sums, in parallel over
//! (unit, repeat).

use super::column_function::ColumnRanks;
use super::exact_sum::{exact_margins_with, margin as exact_margin, Fixed, FixedValues};
use super::float_order::FloatOrder;
use super::leaf_table::{LeafTables, LANES};
use super::metrics::{check_metrics, evaluate, Metric, Scratch, Target, Task};
use super::routing::Chunk;
use super::tree_paths::{prefetch, TreePaths};
use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::{bytes_of, ensure_fits, filled_vec};
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk_cancellable, items_per_chunk, pool, watched};
use ndarray::{Array2, Array3, ArrayView2};
use rayon::prelude::*;

/// Rows per block.
const BLOCK: usize = 256;
/// (unit, repeat) pairs scored together: 8 changes of one output fill a cache line.
const PAIR_BLOCK: usize = 8;

/// Bytes of per-row routing data (output changes, permuted ranks, source rows) one block of rows
/// may hold: every tree of the forest reads and writes all of it at random, so it is sized to
/// stay in a core's second-level cache next to a tree's data. Blocks are whole lane-blocks
/// ([`LANES`] rows: a leaf table is filled for all of them) of no fewer than [`LANES`] rows.
/// (W1, 50 columns x 5 repeats: 160 rows; a binary forest classifier: 96.)
const BLOCK_BYTES: usize = 1 << 19;

/// Fewest blocks per thread in a step of the routing (see [`rows_per_step`]).
const BLOCKS_PER_THREAD: usize = 32;

/// A repeat pass of the single-column routing ([`super::single_column_simd`]'s widest).
const PASS: usize = 16;

/// How many rows ahead the scoring asks for a row's changes.
const PREFETCH_ROWS: usize = 16;

const FIXED_BYTES: usize = std::mem::size_of::<Fixed>();

/// Most bytes the per-repeat output changes of one chunk of units may take (less when the
/// memory budget is smaller).
const MEMORY_BUDGET: u64 = 1 << 30;

/// What is permuted: the rows, the permutations, and the units (columns moved together).
pub struct Permutations<'a> {
    /// The rows to permute, `(m, p)`.
    pub x: ArrayView2<'a, f64>,
    /// `(n_repeats, m)`: in repeat `r`, row `i` takes the unit's values of row `perms[r, i]`.
    pub perms: ArrayView2<'a, u32>,
    /// Each unit is a non-empty list of column indices permuted together.
    pub units: &'a [Vec<usize>],
}

/// Scores of the model on `x` (no permutation), one per metric.
#[allow(clippy::too_many_arguments)]
pub fn baseline_scores(
    forest: &Forest,
    x: ArrayView2<f64>,
    task: &Task,
    metrics: &[Metric],
    target: &Target,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    if target.n_rows != x.nrows() {
        return Err(Error::InvalidInput(format!(
            "y has {} rows, X has {}",
            target.n_rows,
            x.nrows()
        )));
    }
    check_metrics(task, metrics, target, forest.n_outputs())?;
    let fixed = FixedValues::new(forest)?;
    let mut margin = exact_margins_with(forest, &fixed, x, threads, monitor)?;
    if let Some(ranking) = settles_ties(task, metrics) {
        let x = x.as_standard_layout();
        FloatOrder::new(forest, &fixed, ranking).settle(forest, x.view(), None, &mut margin);
    }
    let mut out = vec![0.0; metrics.len()];
    evaluate(
        task,
        metrics,
        margin.view(),
        target,
        &mut Scratch::default(),
        &mut out,
    );
    Ok(out)
}

/// Elementary steps (see [`items_per_chunk`]) routing one row's repeats costs. Through the
/// general routing, a row's repeats cost about its path lengths per repeat and unit. On the
/// single-column path of a tabled tree, a split of the row's path costs a few steps per pass of
/// [`PASS`] repeats, and the table's fill a fraction of a step per node.
fn routing_cost(
    forest: &Forest,
    tables: &LeafTables,
    single_column: bool,
    n_repeats: usize,
    n_units: usize,
) -> f64 {
    (0..forest.n_trees())
        .map(|t| {
            let deepest = forest
                .tree_nodes(t)
                .map(|n| forest.depth(n))
                .max()
                .unwrap_or(0);
            let path = (deepest + 1) as f64;
            if single_column && tables.tabled(t) {
                // Measured on W1 and a deep binary forest classifier (a step is about 1.5 ns).
                forest.tree_nodes(t).len() as f64 / 4.0
                    + 4.0 * path * n_repeats.div_ceil(PASS) as f64
            } else {
                path * (1 + n_repeats * n_units) as f64
            }
        })
        .sum()
}

/// Rows per step of the routing (the progress is reported between steps): whole blocks, as
/// few steps of equal size as hold at most [`BLOCKS_PER_THREAD`] blocks per thread or, when
/// more, about a chunk's work (see [`items_per_chunk`]) per thread. Each step ends when its last block
/// does, with the other threads idle meanwhile: few long steps keep both busy.
fn rows_per_step(m: usize, block: usize, row_cost: f64, threads: usize) -> usize {
    let blocks = items_per_chunk(
        row_cost * block as f64,
        threads,
        threads * BLOCKS_PER_THREAD,
    );
    let n_steps = m.div_ceil(blocks * block).max(1);
    (m.div_ceil(n_steps).div_ceil(block) * block).max(block)
}

/// How margins are settled to the library's float sums: None when no score can see their last
/// bit (regression and log loss, or float32 probabilities, which round far coarser); otherwise
/// whether a score ranks rows (ROC AUC) besides classifying them.
fn settles_ties(task: &Task, metrics: &[Metric]) -> Option<bool> {
    let classifies = metrics
        .iter()
        .any(|m| matches!(m, Metric::Accuracy | Metric::BalancedAccuracy));
    let ranks = metrics
        .iter()
        .any(|m| matches!(m, Metric::RocAuc | Metric::RocAucOvr));
    let float64 = matches!(
        task,
        Task::Classification {
            proba_f32: false,
            ..
        }
    );
    (float64 && (classifies || ranks)).then_some(ranks)
}

fn check(forest: &Forest, p: &Permutations, target: &Target) -> Result<()> {
    forest.check_columns(p.x.ncols())?;
    let m = p.x.nrows();
    if p.perms.ncols() != m {
        return Err(Error::InvalidInput(format!(
            "permutations cover {} rows, X has {m}",
            p.perms.ncols()
        )));
    }
    if p.perms.nrows() == 0 {
        return Err(Error::InvalidInput("n_repeats must be at least 1".into()));
    }
    if p.perms.iter().any(|&s| s as usize >= m) {
        return Err(Error::InvalidInput(
            "a permutation refers to a row outside X".into(),
        ));
    }
    if target.n_rows != m {
        return Err(Error::InvalidInput(format!(
            "y has {} rows, X has {m}",
            target.n_rows
        )));
    }
    for (u, unit) in p.units.iter().enumerate() {
        if unit.is_empty() {
            return Err(Error::InvalidInput(format!("group {u} is empty")));
        }
        if let Some(&c) = unit.iter().find(|&&c| c >= forest.n_features()) {
            return Err(Error::InvalidInput(format!(
                "group {u} names column {c}, but the model has {} features",
                forest.n_features()
            )));
        }
    }
    Ok(())
}

/// Scores with each unit permuted, shape `(n_units, n_repeats, n_metrics)`, and the scores of
/// the unpermuted rows (one per metric, from the same order-free sums).
#[allow(clippy::too_many_arguments)]
pub fn permutation_scores(
    forest: &Forest,
    perm: &Permutations,
    task: &Task,
    metrics: &[Metric],
    target: &Target,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<(Array3<f64>, Vec<f64>)> {
    check(forest, perm, target)?;
    check_metrics(task, metrics, target, forest.n_outputs())?;
    let m = perm.x.nrows();
    let n_repeats = perm.perms.nrows();
    let k = forest.n_outputs();
    let n_units = perm.units.len();
    // Memory: the scores; the rows' ranks and exact sums; per thread, the margins of a block of
    // pairs; and, per chunk of units, the per-repeat output changes of every row (the chunk is
    // sized to fit both the fixed cap and what the budget leaves).
    let per_unit = bytes_of::<Fixed>(&[m, n_repeats, k]);
    let fixed_bytes = bytes_of::<f64>(&[n_units, n_repeats, metrics.len()])
        .saturating_add(bytes_of::<u32>(&[m, forest.n_features()]))
        .saturating_add(bytes_of::<Fixed>(&[m, k]))
        .saturating_add(bytes_of::<f64>(&[threads, PAIR_BLOCK + 2, m, k]));
    let way_out =
        "score on fewer rows (max_samples), use fewer n_repeats or fewer threads (n_jobs)";
    ensure_fits(
        &format!(
            "permutation importance of {n_units} columns with {n_repeats} repeats on {m} rows \
             ({threads} threads)"
        ),
        fixed_bytes.saturating_add(per_unit),
        way_out,
    )?;
    let room = crate::memory::budget().map_or(MEMORY_BUDGET, |b| {
        (b.bytes.saturating_sub(fixed_bytes) / 2).clamp(per_unit.min(MEMORY_BUDGET), MEMORY_BUDGET)
    });
    let units_per_chunk = ((room / per_unit.max(1)) as usize).clamp(1, n_units.max(1));

    let pool = pool(threads)?;
    let x = perm.x.as_standard_layout();
    // The setup, watched: ranking the columns sorts all rows, seconds for millions of them.
    let (ranks, fixed, tables, paths, float_order) = watched(&pool, monitor, |cancel| {
        let mut ranks = ColumnRanks::new(forest, x.view(), cancel)?;
        let fixed = FixedValues::new(forest)?;
        if !ranks.set_leaf_offsets(|n| fixed.offset(n)) {
            return Err(Error::InvalidInput(format!(
                "the model has {} leaf values; permutation importance handles fewer than 2^32",
                fixed.values().len()
            )));
        }
        cancel.check()?;
        let tables = LeafTables::new(forest, &ranks);
        cancel.check()?;
        let paths = TreePaths::new(forest, &ranks, &fixed, &tables);
        cancel.check()?;
        let float_order =
            settles_ties(task, metrics).map(|ranking| FloatOrder::new(forest, &fixed, ranking));
        Ok((ranks, fixed, tables, paths, float_order))
    })?;

    let mut out = Array3::<f64>::zeros((n_units, n_repeats, metrics.len()));
    let mut unpermuted = vec![0.0; metrics.len()];
    let mut u0 = 0;
    while u0 < n_units {
        let u1 = (u0 + units_per_chunk).min(n_units);
        let chunk = Chunk::new(forest, &perm.units[u0..u1], &ranks, &fixed, &tables, &paths);
        let stride = chunk.n_units() * n_repeats * k;
        let mut acc = filled_vec(
            m * stride,
            0 as Fixed,
            "the per-repeat output changes of a chunk of columns",
            way_out,
        )?;
        let mut sums = vec![0 as Fixed; m * k];
        let row_bytes = stride * FIXED_BYTES + (chunk.n_units() + 1) * n_repeats * 4;
        let block = (BLOCK_BYTES / row_bytes.max(1) / LANES * LANES).clamp(LANES, BLOCK);
        // Chunks sized by work.
        let row_cost = routing_cost(
            forest,
            &tables,
            chunk.single_column(),
            n_repeats,
            stride / k,
        );
        // Blocks of fewer rows when rows are costly (deep trees), so that a chunk stays short;
        // whole lane-blocks while that leaves at least one.
        let cap = items_per_chunk(row_cost, 1, 1);
        let block = if cap >= LANES {
            block.min(cap / LANES * LANES)
        } else {
            cap
        };
        let rows_per_step = rows_per_step(m, block, row_cost, threads);
        let xv = x.view();
        let perms = perm.perms;
        for_each_chunk_cancellable(&pool, m, rows_per_step, monitor, |start, end, cancel| {
            acc[start * stride..end * stride]
                .par_chunks_mut(block * stride)
                .zip(sums[start * k..end * k].par_chunks_mut(block * k))
                .enumerate()
                .for_each_init(
                    || chunk.scratch(n_repeats),
                    |scratch, (b, (acc_block, sum_block))| {
                        // Steps are long (see `rows_per_step`): a stop skips the blocks left.
                        if cancel.is_set() {
                            return;
                        }
                        let r0 = start + b * block;
                        chunk.block(scratch, forest, xv, perms, r0, acc_block, sum_block);
                    },
                );
            cancel.check()
        })?;
        if u0 == 0 {
            let mut margin = Array2::<f64>::zeros((m, k));
            for i in 0..m {
                for o in 0..k {
                    margin[[i, o]] = exact_margin(forest, &fixed, o, sums[i * k + o]);
                }
            }
            if let Some(order) = &float_order {
                order.settle(forest, x.view(), None, &mut margin);
            }
            let mut scratch = Scratch::default();
            evaluate(
                task,
                metrics,
                margin.view(),
                target,
                &mut scratch,
                &mut unpermuted,
            );
        }
        // Score every (unit, repeat) of the chunk. The changes of a row are laid out pair by
        // pair, so the margins of PAIR_BLOCK consecutive pairs are built together: each row's
        // changes are read a cache line at a time, not one value per line.
        let n_pairs = (u1 - u0) * n_repeats;
        let units_here = u1 - u0;
        let scores: Vec<Vec<Vec<f64>>> = watched(&pool, monitor, |cancel| {
            (0..n_pairs.div_ceil(PAIR_BLOCK))
                .into_par_iter()
                .map_init(
                    || (Scratch::default(), Vec::<Array2<f64>>::new()),
                    |(scratch, margins), block| {
                        // A block of pairs reads every row: seconds for millions of rows.
                        cancel.check()?;
                        let pairs = block * PAIR_BLOCK..((block + 1) * PAIR_BLOCK).min(n_pairs);
                        margins.resize_with(pairs.len(), || Array2::zeros((m, k)));
                        for i in 0..m {
                            // Rows are a stride apart, a pattern the hardware does not
                            // prefetch: ask for the line of a row some way ahead.
                            let ahead = (i + PREFETCH_ROWS) * stride + pairs.start * k;
                            prefetch(acc.as_ptr().wrapping_add(ahead));
                            let row = &acc[i * stride..(i + 1) * stride];
                            for (margin, pair) in margins.iter_mut().zip(pairs.clone()) {
                                let a = &row[pair * k..(pair + 1) * k];
                                for o in 0..k {
                                    margin[[i, o]] =
                                        exact_margin(forest, &fixed, o, sums[i * k + o] + a[o]);
                                }
                            }
                        }
                        let mut block_scores = Vec::with_capacity(pairs.len());
                        for (margin, pair) in margins.iter_mut().zip(pairs.clone()) {
                            let (u, r) = (pair / n_repeats, pair % n_repeats);
                            if let Some(order) = &float_order {
                                let unit = &perm.units[u0 + u];
                                let permuted = Some((perm.perms.row(r), unit.as_slice()));
                                order.settle(forest, x.view(), permuted, margin);
                            }
                            let mut s = vec![0.0; metrics.len()];
                            evaluate(task, metrics, margin.view(), target, scratch, &mut s);
                            block_scores.push(s);
                        }
                        Ok(block_scores)
                    },
                )
                .collect::<Result<_>>()
        })?;
        let scores: Vec<Vec<f64>> = scores.into_iter().flatten().collect();
        debug_assert_eq!(scores.len(), units_here * n_repeats);
        for (pair, s) in scores.into_iter().enumerate() {
            let (u, r) = (pair / n_repeats, pair % n_repeats);
            for (q, v) in s.into_iter().enumerate() {
                out[[u0 + u, r, q]] = v;
            }
        }
        if u1 < n_units {
            monitor.checkpoint(m, m)?;
        }
        u0 = u1;
    }
    Ok((out, unpermuted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::ForestParts;
    use crate::importance::exact_sum::exact_margins;
    use crate::importance::metrics::Link;
    use crate::monitor::Silent;
    use ndarray::Array2;

    /// A small deterministic pseudo-random generator for the tests.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn unif(&mut self) -> f64 {
            (self.next() % 1_000_000) as f64 / 1_000_000.0
        }
    }

    /// Random full trees of the given depths on `p` features (all but the last split on) with
    /// vector leaves of width `k`; some splits categorical when `categorical`.
    fn random_forest(
        rng: &mut Lcg,
        p: usize,
        k: usize,
        depths: &[usize],
        categorical: bool,
    ) -> Forest {
        let mut parts = ForestParts {
            n_features: p,
            n_outputs: k,
            base_score: vec![0.25; k],
            average: false,
            less_equal: true,
            f32_inputs: true,
            category_offsets: vec![0],
            ..Default::default()
        };
        parts.tree_start.push(0);
        for &depth in depths {
            let n_nodes = (1 << (depth + 1)) - 1;
            for local in 0..n_nodes {
                if local < n_nodes / 2 {
                    // The last column is never split on.
                    let f = (rng.next() % (p as u64 - 1)) as i64;
                    parts.feature.push(f);
                    parts.threshold.push((rng.unif() * 4.0).floor() / 2.0);
                    parts.left.push(2 * local as i64 + 1);
                    parts.right.push(2 * local as i64 + 2);
                    if categorical && f == 0 {
                        let s = parts.category_members_left.len();
                        parts.category_words.push((rng.next() & 0xF) as u32);
                        parts.category_offsets.push(parts.category_words.len());
                        parts.category_members_left.push(true);
                        parts.category_set.push(s as i64);
                    } else {
                        parts.category_set.push(-1);
                    }
                } else {
                    parts.feature.push(-1);
                    parts.threshold.push(0.0);
                    parts.left.push(-1);
                    parts.right.push(-1);
                    parts.category_set.push(-1);
                }
                parts.default_left.push(rng.next().is_multiple_of(2));
                parts.missing.push(0);
                parts.cover.push(1.0);
                for _ in 0..k {
                    parts.values.push(rng.unif() - 0.5);
                }
            }
            parts.tree_output.push(-1);
            parts.tree_start.push(parts.feature.len());
        }
        Forest::new(parts).unwrap()
    }

    #[test]
    fn steps_are_whole_blocks_of_equal_size() {
        for (m, block, cost, threads) in [
            (10_000, 160, 3.0e4, 2),
            (10_000, 96, 1.05e5, 2),
            (1_000_000, 128, 1.0e6, 4),
            (7, 32, 1.0, 1),
            (0, 32, 1.0, 2),
        ] {
            let step = rows_per_step(m, block, cost, threads);
            assert!(step > 0 && step.is_multiple_of(block), "{m} {block}");
            let n_steps = m.div_ceil(step);
            // Equal steps: the last one is short by less than a block per step.
            assert!(n_steps * step - m < block * n_steps.max(1), "{m} {block}");
            // As few steps as hold at most the fewest blocks per thread (cheap rows): steps
            // made equal keep at least half as many, unless the rows end first.
            let most = threads * BLOCKS_PER_THREAD;
            assert_eq!(n_steps.max(1), m.div_ceil(most * block).max(1), "{m}");
            assert!(2 * (step / block) >= most.min(m.div_ceil(block)), "{m}");
        }
    }

    #[test]
    fn matches_direct_evaluation() {
        // Every single-column kernel the CPU can run: the widest vectors, AVX2, scalar (the
        // other tests may briefly take a narrower one too, which is as exact).
        #[cfg(target_arch = "x86_64")]
        {
            use crate::importance::single_column_simd::NARROWER;
            use std::sync::atomic::Ordering;
            for narrower in [0, 1, 2] {
                NARROWER.store(narrower, Ordering::Relaxed);
                check_direct_evaluation();
            }
            NARROWER.store(0, Ordering::Relaxed);
        }
        #[cfg(not(target_arch = "x86_64"))]
        check_direct_evaluation();
    }

    fn check_direct_evaluation() {
        let mut rng = Lcg(7);
        // Cases 6 and 7 take the single-column path with one and two outputs, many repeats.
        for case in 0..8 {
            let reps = if case == 2 || case >= 5 { 70 } else { 3 };
            let (p, k, m) = (4, 1 + case % 2, 40);
            // Small trees get leaf tables; one tree of depth 12 (8,191 nodes) is walked instead.
            let depths = if case % 2 == 0 {
                vec![3, 2, 12, 3, 1, 3]
            } else {
                vec![3; 6]
            };
            const { assert!((1 << 13) - 1 > super::super::leaf_table::MAX_TABLE_NODES) };
            let forest = random_forest(&mut rng, p, k, &depths, (3..6).contains(&case));
            let mut x = Array2::<f64>::zeros((m, p));
            for v in x.iter_mut() {
                *v = (rng.unif() * 6.0).floor() / 2.0;
                if rng.next().is_multiple_of(10) {
                    *v = f64::NAN;
                }
            }
            let mut perms = Array2::<u32>::zeros((reps, m));
            for v in perms.iter_mut() {
                *v = (rng.next() % m as u64) as u32;
            }
            // Single distinct ranked columns (or unused, as column 3) take the single-column
            // path; groups do not.
            let units = if case % 3 == 0 {
                vec![vec![0], vec![1], vec![2, 3], vec![3]]
            } else {
                vec![vec![2], vec![0], vec![3], vec![1]]
            };
            let y: Vec<f64> = (0..m * k).map(|_| rng.unif()).collect();
            let target = Target {
                n_rows: m,
                values: y,
                classes: vec![],
                weight: None,
            };
            let task = Task::Regression {
                link: Link::Identity,
            };
            let metrics = [Metric::NegMeanSquaredError, Metric::NegMeanAbsoluteError];
            let p_ = Permutations {
                x: x.view(),
                perms: perms.view(),
                units: &units,
            };
            let (got, unpermuted) =
                permutation_scores(&forest, &p_, &task, &metrics, &target, 2, &Silent).unwrap();
            let base =
                baseline_scores(&forest, x.view(), &task, &metrics, &target, 1, &Silent).unwrap();
            assert_eq!(base, unpermuted);
            for (u, unit) in units.iter().enumerate() {
                for r in 0..reps {
                    let mut xp = x.clone();
                    for i in 0..m {
                        for &c in unit {
                            xp[[i, c]] = x[[perms[[r, i]] as usize, c]];
                        }
                    }
                    let margin = exact_margins(&forest, xp.view(), 1, &Silent).unwrap();
                    let mut want = vec![0.0; 2];
                    evaluate(
                        &task,
                        &metrics,
                        margin.view(),
                        &target,
                        &mut Scratch::default(),
                        &mut want,
                    );
                    for q in 0..2 {
                        assert!(
                            (got[[u, r, q]] - want[q]).abs() < 1e-12,
                            "case {case} unit {u} r {r}"
                        );
                    }
                }
            }
        }
    }
}
