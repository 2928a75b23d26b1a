//! Raw-output interventional SHAP values and interactions in time linear in rows + background.
//!
//! Trees are taken in groups (bounded memory). For each group the background is aggregated per
//! leaf ([`super::aggregate`]), in parallel over trees; then the explained rows, in parallel
//! blocks, each compute their pattern at every leaf (one pass over the tree's nodes) and look up
//! their attributions. Trees with a path of more than 64 distinct features fall back to
//! [`super::pairs`], which costs `O(rows x background x nodes)` for those trees only.

use super::aggregate::{accumulate, aggregate_tree, estimate_floats, FlatLeaves, TreeAggregate};
use super::columns::{Columns, WALK_ROWS};
use super::pairs::PairWalker;
use super::paths::TreePaths;
use super::sink::{finish_interactions, Sink};
use super::weights::Weights;
use super::Background;
use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::monitor::Monitor;
use crate::parallel::{items_per_chunk, watched, Cancel};
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Rows per parallel block, at most: a tree's tables (about 200 KB for depth 6) are fetched once
/// per block, so large blocks amortise them (512 rows: 1.5x faster than 64 on W1).
pub(crate) const MAX_BLOCK: usize = 512;
/// Floats of aggregated background built at once (2 MiB): a group's tables are still in the
/// cache when the explained rows read them (every block of rows reads every table of the
/// group), instead of being streamed from memory once per block. Groups are consecutive trees,
/// and each row adds its trees' contributions in tree order whatever the grouping, so the
/// values do not depend on it.
const GROUP_FLOATS: usize = 1 << 18;

/// How trees are handled (tests force the fallbacks to check them against each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Tables for shallow leaves, lists for deep ones, pair walks beyond 64 path features.
    Auto,
    /// Distinct-pattern lists for every leaf.
    Lists,
    /// Pair walks for every tree.
    Pairs,
}

pub(crate) enum Method {
    Patterns(TreePaths),
    Pairs(usize),
}

impl Method {
    /// The tree's index in the forest.
    pub(crate) fn tree(&self) -> usize {
        match self {
            Method::Patterns(paths) => paths.tree,
            Method::Pairs(t) => *t,
        }
    }
}

/// How the work is split between threads (tests force each to check they agree bit for bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Trees for few rows' SHAP values ([`super::few_rows`]), rows otherwise.
    Auto,
    /// Blocks of rows, against groups of trees.
    Rows,
    /// Parts of trees ([`super::few_rows`]; SHAP values only, interactions split rows).
    Trees,
}

/// Fills `out` (`n` blocks of `per_row` floats, laid out as in [`Sink`]).
#[allow(clippy::too_many_arguments)]
pub fn raw(
    forest: &Forest,
    x: &ArrayView2<f64>,
    bg: &Background,
    interactions: bool,
    strategy: Strategy,
    split: Split,
    out: &mut [f64],
    pool: &rayon::ThreadPool,
    monitor: &dyn Monitor,
) -> Result<()> {
    let n = x.nrows();
    let p = forest.n_features();
    let k = forest.n_outputs();
    let per_row = if interactions { p * p * k } else { p * k };
    let weights = Weights::for_forest(forest)?;
    let methods: Vec<Method> = watched(pool, monitor, |_| {
        Ok((0..forest.n_trees())
            .into_par_iter()
            .map(|t| match TreePaths::new(forest, t) {
                Some(paths) if strategy != Strategy::Pairs => Method::Patterns(paths),
                _ => Method::Pairs(t),
            })
            .collect())
    })?;
    let by_trees = match split {
        Split::Auto => super::few_rows::applies(n, per_row),
        Split::Rows => false,
        Split::Trees => true,
    };
    // Every pattern walk reads the rows transposed in blocks.
    let columns = Columns::new(forest, x)?;
    let bg_columns = Columns::new(forest, &bg.data.view())?;
    if !interactions && by_trees {
        return super::few_rows::values(
            forest,
            x,
            &columns,
            bg,
            &bg_columns,
            &methods,
            &weights,
            strategy == Strategy::Lists,
            out,
            per_row,
            pool,
            monitor,
        );
    }
    // Groups of consecutive trees whose aggregates fit the memory budget, made of whole parts
    // (see [`part_len`]).
    let part = part_len(methods.len());
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut floats = 0usize;
    let mut largest = 0usize;
    for (t, m) in methods.iter().enumerate() {
        let size = match m {
            Method::Patterns(paths) => estimate_floats(paths, bg.rows(), interactions),
            Method::Pairs(_) => 0,
        };
        if t > start && t % part == 0 && floats + size > GROUP_FLOATS {
            groups.push(start..t);
            start = t;
            floats = 0;
        }
        floats += size;
        largest = largest.max(floats);
    }
    groups.push(start..methods.len());
    crate::memory::ensure_fits(
        "the background's aggregates for a group of trees",
        crate::memory::bytes_of::<f64>(&[largest]),
        "use a smaller background (data)",
    )?;

    let total = groups.len() * n;
    monitor.checkpoint(0, total)?;
    let threads = pool.current_num_threads();
    // What one explained row costs: a pass over each pattern tree's nodes and leaves, a walk
    // per background row for the pair trees.
    let row_cost: f64 = methods
        .iter()
        .map(|m| match m {
            Method::Patterns(paths) => (paths.n_nodes() + paths.leaves.len()) as f64,
            Method::Pairs(t) => (forest.tree_nodes(*t).len() * bg.rows()) as f64,
        })
        .sum();
    // Enough blocks for every thread, as large as possible, and no more work per chunk than
    // a fraction of a second (two blocks per thread at most).
    let work_rows = items_per_chunk(row_cost, threads, threads);
    let block_len = (n / (threads * 4))
        .clamp(16, MAX_BLOCK)
        .min(work_rows.div_ceil(threads))
        .max(1);
    let chunk_rows = (block_len * threads * 2)
        .min(work_rows.max(block_len))
        .max(block_len);
    for (g, range) in groups.iter().enumerate() {
        let aggregates: Vec<Option<TreeAggregate>> = watched(pool, monitor, |cancel| {
            let built: Vec<Option<Option<TreeAggregate>>> = methods[range.clone()]
                .par_iter()
                .map(|m| match m {
                    Method::Patterns(paths) => aggregate_tree(
                        forest,
                        paths,
                        &bg_columns,
                        &bg.weights,
                        &weights,
                        interactions,
                        n,
                        strategy == Strategy::Lists,
                        Some(&columns),
                        cancel,
                    )
                    .map(Some),
                    Method::Pairs(_) => Some(None),
                })
                .collect();
            built
                .into_iter()
                .map(|a| a.ok_or(Error::Interrupted))
                .collect()
        })?;
        let group_methods = &methods[range.clone()];
        let mut done = 0;
        while done < n {
            let end = (done + chunk_rows).min(n);
            let out = &mut *out;
            watched(pool, monitor, |cancel| {
                out[done * per_row..end * per_row]
                    .par_chunks_mut(block_len * per_row)
                    .enumerate()
                    .for_each(|(b, block)| {
                        let r0 = done + b * block_len;
                        explain_block(
                            forest,
                            x,
                            &columns,
                            r0,
                            block,
                            per_row,
                            group_methods,
                            &aggregates,
                            bg,
                            &weights,
                            interactions,
                            cancel,
                        );
                    });
                cancel.check()
            })?;
            done = end;
            monitor.checkpoint(g * n + done, total)?;
        }
    }
    if interactions {
        pool.install(|| {
            out.par_chunks_mut(per_row)
                .for_each(|row| finish_interactions(row, p, k))
        });
    }
    Ok(())
}

/// Explains rows `r0..` (as many as `block` holds) against a group of trees.
///
/// SHAP values are summed per part of trees ([`part_len`]): each part's trees are added into a
/// zeroed scratch, which is then added to the rows' values, as [`super::few_rows`] does (the same
/// bits). Interactions are added straight into the rows' values.
#[allow(clippy::too_many_arguments)]
fn explain_block(
    forest: &Forest,
    x: &ArrayView2<f64>,
    columns: &Columns,
    r0: usize,
    block: &mut [f64],
    per_row: usize,
    methods: &[Method],
    aggregates: &[Option<TreeAggregate>],
    bg: &Background,
    weights: &Weights,
    interactions: bool,
    cancel: &Cancel,
) {
    let part = part_len(forest.n_trees());
    let mut scratch = if interactions {
        Vec::new()
    } else {
        vec![0.0; block.len()]
    };
    let mut work = TreeWork::new(forest.n_features());
    for (m, agg) in methods.iter().zip(aggregates) {
        if cancel.is_set() {
            return;
        }
        if interactions {
            add_tree(
                forest,
                x,
                columns,
                r0,
                block,
                per_row,
                m,
                agg.as_ref(),
                bg,
                weights,
                true,
                &mut work,
                cancel,
            );
            continue;
        }
        add_tree(
            forest,
            x,
            columns,
            r0,
            &mut scratch,
            per_row,
            m,
            agg.as_ref(),
            bg,
            weights,
            false,
            &mut work,
            cancel,
        );
        let t = m.tree();
        if (t + 1) % part == 0 || t + 1 == forest.n_trees() {
            add_part(block, &scratch);
            scratch.fill(0.0);
        }
    }
}

/// Adds a part's sums to the rows' values.
#[inline]
pub(crate) fn add_part(values: &mut [f64], sums: &[f64]) {
    for (v, s) in values.iter_mut().zip(sums) {
        *v += *s;
    }
}

/// Trees summed together before their sum is added to a row's values: `ceil(trees / 64)`,
/// fixed by the forest alone, so that a row's values never depend on the threads or on the rows
/// explained with it, whether the rows ([`raw`]) or the parts ([`super::few_rows`]) are split
/// between threads.
pub(crate) fn part_len(n_trees: usize) -> usize {
    n_trees.div_ceil(MAX_PARTS).max(1)
}

/// One single-output flat leaf of `D` features for the rows of `pats`: the same additions, in the
/// same order, as the general loop of [`add_flat`].
#[inline(always)]
fn add_leaf<const D: usize>(
    table: &[f64],
    feats: &[u32],
    pats: &[u32],
    block: &mut [f64],
    per_row: usize,
    k: usize,
    o: usize,
) {
    let at: [usize; D] = std::array::from_fn(|j| feats[j] as usize * k + o);
    let mask = (1usize << D) - 1;
    for (r, &pat) in pats.iter().enumerate() {
        let s = pat as usize & mask;
        let coef: &[f64; D] = table[s * D..s * D + D].try_into().expect("an entry");
        let out = &mut block[r * per_row..(r + 1) * per_row];
        for j in 0..D {
            out[at[j]] += coef[j];
        }
    }
}

/// Rows whose values the flat leaves of a tree are added to at once (see [`add_tree`]).
const FLAT_ROWS: usize = 32;

/// Most parts of trees (see [`part_len`]).
pub(crate) const MAX_PARTS: usize = 64;

/// Reusable buffers of [`add_tree`].
pub(crate) struct TreeWork {
    buf: Vec<u64>,
    leaf_patterns: Vec<u32>,
    other_patterns: Vec<u64>,
    walker: PairWalker,
}

impl TreeWork {
    pub(crate) fn new(p: usize) -> Self {
        TreeWork {
            buf: Vec::new(),
            leaf_patterns: Vec::new(),
            other_patterns: Vec::new(),
            walker: PairWalker::new(p),
        }
    }
}

/// Adds one tree's contributions to rows `r0..` (as many as `target` holds, `per_row` floats
/// each), leaf by leaf in a fixed order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_tree(
    forest: &Forest,
    x: &ArrayView2<f64>,
    columns: &Columns,
    r0: usize,
    target: &mut [f64],
    per_row: usize,
    method: &Method,
    agg: Option<&TreeAggregate>,
    bg: &Background,
    weights: &Weights,
    interactions: bool,
    work: &mut TreeWork,
    cancel: &Cancel,
) {
    let p = forest.n_features();
    let k = forest.n_outputs();
    let rows = target.len() / per_row;
    let TreeWork {
        buf,
        leaf_patterns,
        other_patterns,
        walker,
    } = work;
    match (method, agg) {
        (Method::Patterns(paths), Some(agg)) => {
            let output = forest.tree_output(paths.tree);
            buf.resize(paths.n_nodes() * WALK_ROWS, 0u64);
            leaf_patterns.resize(agg.flat.len() * rows, 0u32);
            other_patterns.resize(agg.leaves.len() * rows, 0u64);
            if let Some(stored) = &agg.row_patterns {
                // Walked once already, to find the table entries the rows need.
                let n = x.nrows();
                for (l, &leaf) in agg.flat.leaf.iter().enumerate() {
                    let from = &stored[leaf as usize * n + r0..][..rows];
                    for (dst, &pat) in leaf_patterns[l * rows..(l + 1) * rows].iter_mut().zip(from)
                    {
                        *dst = pat as u32;
                    }
                }
                for (l, &leaf) in agg.leaf_index.iter().enumerate() {
                    other_patterns[l * rows..(l + 1) * rows]
                        .copy_from_slice(&stored[leaf * n + r0..][..rows]);
                }
            } else {
                for b in r0 / WALK_ROWS..(r0 + rows).div_ceil(WALK_ROWS) {
                    paths.block_patterns(forest, columns.block(b), columns.nan(b), buf);
                    // The block's rows among r0..r0 + rows, as offsets in the block and in r0...
                    let lo = (b * WALK_ROWS).max(r0);
                    let hi = ((b + 1) * WALK_ROWS).min(r0 + rows);
                    let (from, to) = (lo - b * WALK_ROWS, lo - r0);
                    let count = hi - lo;
                    for (l, &leaf) in agg.flat.leaf.iter().enumerate() {
                        let local = paths.leaves[leaf as usize].local;
                        let src = &buf[local * WALK_ROWS + from..][..count];
                        for (dst, &pat) in
                            leaf_patterns[l * rows + to..][..count].iter_mut().zip(src)
                        {
                            *dst = pat as u32;
                        }
                    }
                    for (l, &leaf) in agg.leaf_index.iter().enumerate() {
                        let local = paths.leaves[leaf].local;
                        other_patterns[l * rows + to..][..count]
                            .copy_from_slice(&buf[local * WALK_ROWS + from..][..count]);
                    }
                }
            }
            // Leaf-major, as for the flat tables: a deep leaf's list (or an interaction
            // table) is read once per block of rows, not once per row. Each row still
            // adds its leaves in the same order (these, then the flat ones).
            for (l, leaf) in agg.leaves.iter().enumerate() {
                if cancel.is_set() {
                    return;
                }
                let full = super::paths::full_mask(leaf.features.len());
                for i in 0..rows {
                    let mut sink = Sink {
                        out: &mut target[i * per_row..(i + 1) * per_row],
                        p,
                        k,
                        interactions,
                    };
                    let s = other_patterns[l * rows + i] & full;
                    accumulate(leaf, s, &leaf.value, output, weights, &mut sink);
                }
            }
            // In blocks of rows whose values stay in the first-level cache while the leaves'
            // tables are read (the rows' order of leaves is unchanged).
            let mut r = 0;
            while r < rows {
                let end = (r + FLAT_ROWS).min(rows);
                add_flat(
                    &agg.flat,
                    leaf_patterns,
                    rows,
                    r..end,
                    output,
                    target,
                    per_row,
                    k,
                );
                r = end;
            }
        }
        (Method::Pairs(t), _) => {
            for i in 0..rows {
                if cancel.is_set() {
                    return;
                }
                let row = x.row(r0 + i);
                let row = row.as_slice().expect("standard layout");
                let mut sink = Sink {
                    out: &mut target[i * per_row..(i + 1) * per_row],
                    p,
                    k,
                    interactions,
                };
                for (z, &w) in bg.data.rows().into_iter().zip(&bg.weights) {
                    if w == 0.0 {
                        continue;
                    }
                    let z = z.as_slice().expect("standard layout");
                    walker.add_tree(forest, *t, row, z, w, weights, &mut sink);
                }
            }
        }
        _ => {}
    }
}

/// The hot loop of SHAP values, leaf-major so that a leaf's table (`2^d x d` floats) stays in
/// the first-level cache while the block's rows look up their coefficients.
/// `leaf_patterns[l * rows + r]` is row `r`'s pattern at flat leaf `l` (unmasked).
#[inline]
#[allow(clippy::too_many_arguments)]
fn add_flat(
    flat: &FlatLeaves,
    leaf_patterns: &[u32],
    rows: usize,
    range: std::ops::Range<usize>,
    output: Option<usize>,
    block: &mut [f64],
    per_row: usize,
    k: usize,
) {
    let block = &mut block[range.start * per_row..range.end * per_row];
    for l in 0..flat.len() {
        let d = flat.d[l] as usize;
        let mask = ((1u64 << d) - 1) as u32;
        let table = &flat.tables[flat.table_at[l]..flat.table_at[l] + (d << d)];
        let fa = flat.feature_at[l] as usize;
        let feats = &flat.features[fa..fa + d];
        let pats = &leaf_patterns[l * rows + range.start..l * rows + range.end];
        match output {
            Some(o) => {
                let (block, per_row) = (&mut *block, per_row);
                // Shallow leaves with their size known to the compiler (unrolled).
                match d {
                    1 => add_leaf::<1>(table, feats, pats, block, per_row, k, o),
                    2 => add_leaf::<2>(table, feats, pats, block, per_row, k, o),
                    3 => add_leaf::<3>(table, feats, pats, block, per_row, k, o),
                    4 => add_leaf::<4>(table, feats, pats, block, per_row, k, o),
                    5 => add_leaf::<5>(table, feats, pats, block, per_row, k, o),
                    6 => add_leaf::<6>(table, feats, pats, block, per_row, k, o),
                    7 => add_leaf::<7>(table, feats, pats, block, per_row, k, o),
                    8 => add_leaf::<8>(table, feats, pats, block, per_row, k, o),
                    _ => {
                        for (r, &pat) in pats.iter().enumerate() {
                            let s = (pat & mask) as usize;
                            let coef = &table[s * d..s * d + d];
                            let out = &mut block[r * per_row..(r + 1) * per_row];
                            for (&f, &c) in feats.iter().zip(coef) {
                                out[f as usize * k + o] += c;
                            }
                        }
                    }
                }
            }
            None => {
                let v = &flat.values[l * flat.width..(l + 1) * flat.width];
                for (r, &pat) in pats.iter().enumerate() {
                    let s = (pat & mask) as usize;
                    let coef = &table[s * d..s * d + d];
                    let out = &mut block[r * per_row..(r + 1) * per_row];
                    for (&f, &c) in feats.iter().zip(coef) {
                        let dst = &mut out[f as usize * k..f as usize * k + k];
                        for (d, &vo) in dst.iter_mut().zip(v) {
                            *d += c * vo;
                        }
                    }
                }
            }
        }
    }
}
