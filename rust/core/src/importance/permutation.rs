//! The permutation driver: the scores of the model on rows whose columns (or groups of columns)
//! are permuted, for many permutations, without re-evaluating whole trees.
//!
//! Only trees whose path for a row splits on a permuted column can change that row's output, and
//! only below the first such split. For each row and tree the driver walks the row's own path
//! once; at the first node on it that splits on a unit's column, it sends all repeats of the row
//! down from there together, splitting the set only where the tree splits on the unit (ranks of
//! [`ColumnRanks`] for ranked columns, [`Forest::goes_left`] on the permuted values otherwise).
//! Each repeat that reaches another leaf adds the difference of leaf values to its row's output.
//! Rows are processed in blocks, trees outer and rows inner so a tree stays in cache.
//!
//! Fast walks: when every unit is one ranked column and the forest is shallow (boosted trees),
//! leaves are made their own children, so a walk of a subtree's height reaches the row's leaf
//! without a data-dependent branch; each repeat that leaves the path walks the other side alone.

use super::column_function::{ColumnRanks, Node, NAN_RANK};
use super::exact_sum::{exact_margins_with, margin as exact_margin, Fixed, FixedValues};
use super::float_order::FloatOrder;
use super::metrics::{check_metrics, evaluate, Metric, Scratch, Target, Task};
use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk, pool};
use ndarray::{Array2, Array3, ArrayView2};
use rayon::prelude::*;

/// Rows per block.
const BLOCK: usize = 256;

/// Bytes of per-repeat output changes one block of rows may hold (kept in cache); blocks shrink
/// to no fewer than [`MIN_BLOCK`] rows when there are many units or repeats.
const BLOCK_BYTES: usize = 1 << 20;
const MIN_BLOCK: usize = 32;

const FIXED_BYTES: usize = std::mem::size_of::<Fixed>();

/// Most bytes the per-repeat output changes of one chunk of units may take.
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
    let per_unit = (m as u64) * (n_repeats as u64) * (k as u64) * FIXED_BYTES as u64;
    if per_unit > MEMORY_BUDGET {
        return Err(Error::TooLarge {
            what: "the permuted outputs of one column".into(),
            needed_bytes: per_unit,
            alternative: "use max_samples to score on fewer rows, or fewer n_repeats".into(),
        });
    }
    let units_per_chunk = ((MEMORY_BUDGET / per_unit.max(1)) as usize).clamp(1, n_units.max(1));

    let x = perm.x.as_standard_layout();
    let mut ranks = ColumnRanks::new(forest, x.view());
    let fixed = FixedValues::new(forest)?;
    if !ranks.set_leaf_offsets(|n| fixed.offset(n)) {
        return Err(Error::TooLarge {
            what: "the leaf value table".into(),
            needed_bytes: (fixed.values().len() * FIXED_BYTES) as u64,
            alternative: "use a model with fewer than 2^32 leaf values".into(),
        });
    }

    let fast = FastTrees::new(forest, &ranks);
    let float_order =
        settles_ties(task, metrics).map(|ranking| FloatOrder::new(forest, &fixed, ranking));

    let pool = pool(threads)?;
    let mut out = Array3::<f64>::zeros((n_units, n_repeats, metrics.len()));
    let mut unpermuted = vec![0.0; metrics.len()];
    let mut u0 = 0;
    while u0 < n_units {
        let u1 = (u0 + units_per_chunk).min(n_units);
        let chunk = Chunk::new(forest, &perm.units[u0..u1], &ranks, &fixed);
        let stride = chunk.member.len() * n_repeats * k;
        let mut acc = vec![0 as Fixed; m * stride];
        let mut sums = vec![0 as Fixed; m * k];
        let block = (BLOCK_BYTES / (stride * FIXED_BYTES).max(1)).clamp(MIN_BLOCK, BLOCK);
        let rows_per_step = (block * threads * 8).max(block);
        let xv = x.view();
        let perms = perm.perms;
        for_each_chunk(&pool, m, rows_per_step, monitor, |start, end| {
            acc[start * stride..end * stride]
                .par_chunks_mut(block * stride)
                .zip(sums[start * k..end * k].par_chunks_mut(block * k))
                .enumerate()
                .for_each(|(b, (acc_block, sum_block))| {
                    let r0 = start + b * block;
                    match (&fast, &chunk.unit_of) {
                        (Some(fast), Some(unit_of)) => {
                            chunk.block_fast(forest, fast, unit_of, perms, r0, acc_block, sum_block)
                        }
                        _ => chunk.block(forest, xv, perms, r0, acc_block, sum_block),
                    }
                });
            Ok(())
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
        // Score every (unit, repeat) of the chunk.
        let n_pairs = (u1 - u0) * n_repeats;
        let units_here = u1 - u0;
        let scores: Vec<Vec<f64>> = pool.install(|| {
            (0..n_pairs)
                .into_par_iter()
                .map_init(
                    || (Scratch::default(), Array2::<f64>::zeros((m, k))),
                    |(scratch, margin), pair| {
                        let (u, r) = (pair / n_repeats, pair % n_repeats);
                        for i in 0..m {
                            let a = &acc[i * stride + (u * n_repeats + r) * k..][..k];
                            for o in 0..k {
                                margin[[i, o]] =
                                    exact_margin(forest, &fixed, o, sums[i * k + o] + a[o]);
                            }
                        }
                        if let Some(order) = &float_order {
                            let unit = &perm.units[u0 + u];
                            order.settle(forest, x.view(), Some((perm.perms.row(r), unit)), margin);
                        }
                        let mut s = vec![0.0; metrics.len()];
                        evaluate(task, metrics, margin.view(), target, scratch, &mut s);
                        s
                    },
                )
                .collect()
        });
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

/// A chunk of units being scored together.
struct Chunk<'a> {
    /// Per unit: `member[f]`, whether column f is in the unit.
    member: Vec<Vec<bool>>,
    /// Per unit: its column when it has one ranked column (its repeats route by rank).
    single: Vec<Option<usize>>,
    /// Per feature: the units (local indices) that hold it.
    units_of: Vec<Vec<u32>>,
    /// When every unit is one ranked column and no column is in two units: per feature, its
    /// unit ([`NO_UNIT`] for none).
    unit_of: Option<Vec<u32>>,
    ranks: &'a ColumnRanks,
    fixed: &'a FixedValues,
}

/// Per-thread buffers for one block of rows.
struct Walk {
    n_repeats: usize,
    /// The repeats being routed are `base..base + batch` (at most 64, one bit each).
    base: usize,
    batch: usize,
    path: Vec<usize>,
    stamp: Vec<u32>,
    /// Per unit: the repeats of the batch still on the row's path.
    onset: Vec<u64>,
    stack: Vec<(usize, u64)>,
    /// Per row of the block, per unit, per repeat: the rank of the permuted value (single
    /// ranked columns).
    qrank: Vec<u32>,
    /// Per row of the block, per repeat: the source row.
    src: Vec<u32>,
}

/// Where one row, unit and tree are being routed.
struct Site<'r> {
    li: usize,
    u: usize,
    /// The unit's column when it is a single ranked column.
    single: Option<usize>,
    /// Where the unit's repeat ranks of this row start in [`Walk::qrank`].
    qrank_at: usize,
    row: &'r [f64],
    rank_row: &'r [u32],
    leaf0: usize,
    width: usize,
    output: Option<usize>,
}

impl<'a> Chunk<'a> {
    fn new(
        forest: &Forest,
        units: &[Vec<usize>],
        ranks: &'a ColumnRanks,
        fixed: &'a FixedValues,
    ) -> Self {
        let p = forest.n_features();
        let mut units_of: Vec<Vec<u32>> = vec![Vec::new(); p];
        let mut member = Vec::with_capacity(units.len());
        let mut single = Vec::with_capacity(units.len());
        for (u, cols) in units.iter().enumerate() {
            let mut m = vec![false; p];
            for &c in cols {
                if !m[c] {
                    m[c] = true;
                    units_of[c].push(u as u32);
                }
            }
            member.push(m);
            single.push((cols.len() == 1 && ranks.ranked[cols[0]]).then_some(cols[0]));
        }
        let unit_of = (single.iter().all(|s| s.is_some()) && units_of.iter().all(|u| u.len() <= 1))
            .then(|| {
                units_of
                    .iter()
                    .map(|u| u.first().copied().unwrap_or(NO_UNIT))
                    .collect()
            });
        Chunk {
            member,
            single,
            units_of,
            unit_of,
            ranks,
            fixed,
        }
    }

    fn block(
        &self,
        forest: &Forest,
        x: ArrayView2<f64>,
        perms: ArrayView2<u32>,
        r0: usize,
        acc: &mut [Fixed],
        sums: &mut [Fixed],
    ) {
        let k = forest.n_outputs();
        let n_repeats = perms.nrows();
        let n_units = self.member.len();
        let stride = n_units * n_repeats * k;
        let rows = sums.len() / k;
        let mut w = Walk {
            n_repeats,
            base: 0,
            batch: 0,
            path: Vec::with_capacity(64),
            stamp: vec![0; n_units],
            onset: vec![0; n_units],
            stack: Vec::with_capacity(64),
            qrank: vec![0; rows * n_units * n_repeats],
            src: vec![0; rows * n_repeats],
        };
        for li in 0..rows {
            for r in 0..n_repeats {
                w.src[li * n_repeats + r] = perms[[r, r0 + li]];
            }
            for (u, single) in self.single.iter().enumerate() {
                if let Some(j) = single {
                    for r in 0..n_repeats {
                        let src = w.src[li * n_repeats + r] as usize;
                        w.qrank[(li * n_units + u) * n_repeats + r] = self.ranks.row(src)[*j];
                    }
                }
            }
        }
        let nodes = &self.ranks.nodes;
        let mut counter = 0u32;
        for t in 0..forest.n_trees() {
            let width = forest.tree_width(t);
            let output = forest.tree_output(t);
            let root = forest.root(t);
            for li in 0..rows {
                let row = x.row(r0 + li);
                let row = row.as_slice().expect("standard layout");
                let rank_row = self.ranks.row(r0 + li);
                w.path.clear();
                let mut n = root;
                while !nodes[n].is_leaf() {
                    w.path.push(n);
                    n = self.ranks.child(forest, n, rank_row, row);
                }
                let leaf0 = n;
                let v0 = self.leaf_values(leaf0, width);
                match output {
                    Some(o) => sums[li * k + o] += v0[0],
                    None => {
                        for (o, v) in v0.iter().enumerate() {
                            sums[li * k + o] += v;
                        }
                    }
                }
                if w.path.is_empty() || n_units == 0 {
                    continue;
                }
                let acc_row = &mut acc[li * stride..(li + 1) * stride];
                // One pass down the row's path per batch of repeats: at each split, the repeats
                // of the split's unit(s) still on the path either stay or leave through the
                // other child (routed from there); `onset[u]` holds those still on the path.
                w.base = 0;
                while w.base < n_repeats {
                    w.batch = (n_repeats - w.base).min(64);
                    let full = if w.batch == 64 {
                        u64::MAX
                    } else {
                        (1u64 << w.batch) - 1
                    };
                    counter = counter.wrapping_add(1);
                    if counter == 0 {
                        w.stamp.iter_mut().for_each(|s| *s = u32::MAX);
                        counter = 1;
                    }
                    for pi in 0..w.path.len() {
                        let n = w.path[pi];
                        let node = nodes[n];
                        let next = if pi + 1 < w.path.len() {
                            w.path[pi + 1]
                        } else {
                            leaf0
                        };
                        for &u in &self.units_of[node.feature()] {
                            let u = u as usize;
                            if w.stamp[u] != counter {
                                w.stamp[u] = counter;
                                w.onset[u] = full;
                            }
                            let set = w.onset[u];
                            if set == 0 {
                                continue;
                            }
                            let site = Site {
                                li,
                                u,
                                single: self.single[u],
                                qrank_at: (li * n_units + u) * n_repeats,
                                row,
                                rank_row,
                                leaf0,
                                width,
                                output,
                            };
                            let left = self.left_mask(forest, x, &site, &w, n, set);
                            let (stay, leave, other) = if node.left as usize == next {
                                (left, set & !left, node.right)
                            } else {
                                (set & !left, left, node.left)
                            };
                            if leave != 0 {
                                self.route(
                                    forest,
                                    x,
                                    &site,
                                    other as usize,
                                    leave,
                                    &mut w,
                                    acc_row,
                                );
                            }
                            w.onset[u] = stay;
                        }
                    }
                    w.base += w.batch;
                }
            }
        }
    }

    /// The fixed-point values of leaf `n`.
    #[inline(always)]
    fn leaf_values(&self, n: usize, width: usize) -> &[Fixed] {
        let at = self.ranks.nodes[n].cut as usize;
        &self.fixed.values()[at..at + width]
    }

    /// Whether column `f` belongs to the site's unit.
    #[inline(always)]
    fn is_member(member: &[bool], site: &Site, f: usize) -> bool {
        match site.single {
            Some(j) => j == f,
            None => member[f],
        }
    }

    /// The repeats of `set` (bit r: repeat `base + r`) that go left at node `n`, a split on one
    /// of the unit's columns.
    #[inline(always)]
    fn left_mask(
        &self,
        forest: &Forest,
        x: ArrayView2<f64>,
        site: &Site,
        w: &Walk,
        n: usize,
        set: u64,
    ) -> u64 {
        let node = &self.ranks.nodes[n];
        let mut left = 0u64;
        if site.single.is_some() {
            // Branch-free over the whole batch: one comparison per repeat.
            let at = site.qrank_at + w.base;
            let qs = &w.qrank[at..at + w.batch];
            let cut = node.cut;
            let nan_left = node.rank_goes_left(NAN_RANK);
            for (r, &q) in qs.iter().enumerate() {
                let l = (q < cut) | (nan_left & (q == NAN_RANK));
                left |= (l as u64) << r;
            }
            return left & set;
        }
        let f = node.feature();
        let mut bits = set;
        while bits != 0 {
            let r = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let src = w.src[site.li * w.n_repeats + w.base + r] as usize;
            let l = if node.ranked() {
                node.rank_goes_left(self.ranks.row(src)[f])
            } else {
                forest.goes_left(n, x[[src, f]])
            };
            left |= (l as u64) << r;
        }
        left
    }

    /// Routes the repeats of `set` down from `start`, adding leaf differences.
    #[allow(clippy::too_many_arguments)]
    fn route(
        &self,
        forest: &Forest,
        x: ArrayView2<f64>,
        site: &Site,
        start: usize,
        set: u64,
        w: &mut Walk,
        acc_row: &mut [Fixed],
    ) {
        let nodes = &self.ranks.nodes;
        let member = &self.member[site.u];
        let k = forest.n_outputs();
        let v0 = self.leaf_values(site.leaf0, site.width);
        let unit_base = site.u * w.n_repeats * k;
        let mut stack = std::mem::take(&mut w.stack);
        stack.clear();
        stack.push((start, set));
        while let Some((mut n, mut set)) = stack.pop() {
            loop {
                let node = nodes[n];
                if node.is_leaf() {
                    if n != site.leaf0 {
                        let v = self.leaf_values(n, site.width);
                        let mut bits = set;
                        while bits != 0 {
                            let r = w.base + bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            let a = &mut acc_row[unit_base + r * k..][..k];
                            match site.output {
                                Some(o) => a[o] += v[0] - v0[0],
                                None => {
                                    for o in 0..k {
                                        a[o] += v[o] - v0[o];
                                    }
                                }
                            }
                        }
                    }
                    break;
                }
                if !Self::is_member(member, site, node.feature()) {
                    n = self.ranks.child(forest, n, site.rank_row, site.row);
                    continue;
                }
                let left = self.left_mask(forest, x, site, w, n, set);
                let right = set & !left;
                if right == 0 {
                    n = node.left as usize;
                } else if left == 0 {
                    n = node.right as usize;
                } else {
                    stack.push((node.right as usize, right));
                    n = node.left as usize;
                    set = left;
                }
            }
        }
        w.stack = stack;
    }
}

/// Local unit index meaning "no unit holds this column".
const NO_UNIT: u32 = u32::MAX;

/// Deepest forest routed by fixed-length walks: below this depth a walk of a subtree's height
/// (leaves loop onto themselves) costs less than the mispredicted branches of an early exit.
const FAST_DEPTH: usize = 12;

/// The forest as routing nodes whose leaves are their own children, so that a walk of fixed
/// length from any node ends at the leaf a row reaches, without branches; only for forests of
/// depth at most [`FAST_DEPTH`] whose every split is on a ranked column.
struct FastTrees {
    nodes: Vec<Node>,
    /// Per node: the longest walk from it to a leaf.
    height: Vec<u8>,
    /// Per leaf: where its values start in the leaf value table.
    value_at: Vec<u32>,
    /// Per node: bit `f % 64` set when a split on column `f` is in the node's subtree.
    below: Vec<u64>,
}

impl FastTrees {
    fn new(forest: &Forest, ranks: &ColumnRanks) -> Option<Self> {
        if forest.max_depth() > FAST_DEPTH
            || ranks.nodes.iter().any(|n| !n.is_leaf() && !n.ranked())
        {
            return None;
        }
        let n_nodes = ranks.nodes.len();
        let mut nodes = ranks.nodes.clone();
        let mut height = vec![0u8; n_nodes];
        let mut value_at = vec![0u32; n_nodes];
        let mut below = vec![0u64; n_nodes];
        for n in (0..n_nodes).rev() {
            let node = ranks.nodes[n];
            if node.is_leaf() {
                value_at[n] = node.cut;
                nodes[n] = Node {
                    feature: 0,
                    left: n as u32,
                    right: n as u32,
                    cut: 0,
                };
            } else {
                let (l, r) = (node.left as usize, node.right as usize);
                height[n] = 1 + height[l].max(height[r]);
                below[n] = (1u64 << (node.feature() % 64)) | below[l] | below[r];
            }
        }
        Some(FastTrees {
            nodes,
            height,
            value_at,
            below,
        })
    }

    /// The leaf reached from `n` by a row of ranks `rank_row` whose column `f` has rank `q`.
    #[inline(always)]
    fn walk(&self, mut n: usize, rank_row: &[u32], f: usize, q: u32) -> usize {
        for _ in 0..self.height[n] {
            let node = self.nodes[n];
            let g = node.feature();
            // A select without a branch: the permuted column is rarely split on below.
            let own = rank_row[g];
            let mask = 0u32.wrapping_sub((g == f) as u32);
            n = node.rank_child((q & mask) | (own & !mask));
        }
        n
    }
}

impl Chunk<'_> {
    /// [`Chunk::block`] for units of one ranked column each over a [`FastTrees`] forest: each
    /// repeat that leaves the row's path at a split on its column walks the other side alone,
    /// without branches, to its leaf.
    #[allow(clippy::too_many_arguments)]
    fn block_fast(
        &self,
        forest: &Forest,
        fast: &FastTrees,
        unit_of: &[u32],
        perms: ArrayView2<u32>,
        r0: usize,
        acc: &mut [Fixed],
        sums: &mut [Fixed],
    ) {
        let k = forest.n_outputs();
        let n_repeats = perms.nrows();
        let n_units = self.member.len();
        let stride = n_units * n_repeats * k;
        let rows = sums.len() / k;
        let p = forest.n_features();
        let values = self.fixed.values();
        // Per row of the block, per unit, per repeat: the rank of the permuted value.
        let mut qrank = vec![0u32; rows * n_units * n_repeats];
        for li in 0..rows {
            for (u, single) in self.single.iter().enumerate() {
                let j = single.expect("single ranked units");
                for r in 0..n_repeats {
                    let src = perms[[r, r0 + li]] as usize;
                    qrank[(li * n_units + u) * n_repeats + r] = self.ranks.row(src)[j];
                }
            }
        }
        let mut onset = vec![0u64; p];
        // Per row of the block: its path down the current tree (root first, then its leaf).
        const SPAN: usize = FAST_DEPTH + 1;
        let mut paths = vec![0u32; rows * SPAN];
        for t in 0..forest.n_trees() {
            let width = forest.tree_width(t);
            let output = forest.tree_output(t);
            let root = forest.root(t);
            let depth = fast.height[root] as usize;
            // All paths first: independent branch-free walks that overlap in the pipeline.
            for (li, path) in paths.chunks_exact_mut(SPAN).enumerate() {
                let rank_row = self.ranks.row(r0 + li);
                let mut n = root;
                for slot in path.iter_mut().take(depth) {
                    *slot = n as u32;
                    let node = fast.nodes[n];
                    n = node.rank_child(rank_row[node.feature()]);
                }
                path[depth] = n as u32;
                let at0 = fast.value_at[n] as usize;
                let v0 = &values[at0..at0 + width];
                match output {
                    Some(o) => sums[li * k + o] += v0[0],
                    None => {
                        for (o, v) in v0.iter().enumerate() {
                            sums[li * k + o] += v;
                        }
                    }
                }
            }
            for li in 0..rows {
                let rank_row = self.ranks.row(r0 + li);
                let path = &paths[li * SPAN..li * SPAN + depth + 1];
                let leaf0 = path[depth] as usize;
                let at0 = fast.value_at[leaf0] as usize;
                let v0 = &values[at0..at0 + width];
                let acc_row = &mut acc[li * stride..(li + 1) * stride];
                let mut base = 0;
                while base < n_repeats {
                    let batch = (n_repeats - base).min(64);
                    let full = if batch == 64 {
                        u64::MAX
                    } else {
                        (1u64 << batch) - 1
                    };
                    // The repeats of each column on the path start on it.
                    for &n in &path[..depth] {
                        onset[fast.nodes[n as usize].feature()] = full;
                    }
                    for d in 0..depth {
                        let n = path[d] as usize;
                        if n == leaf0 {
                            break;
                        }
                        let node = fast.nodes[n];
                        let f = node.feature();
                        let u = unit_of[f];
                        if u == NO_UNIT {
                            continue;
                        }
                        let set = onset[f];
                        let at = (li * n_units + u as usize) * n_repeats + base;
                        let qs = &qrank[at..at + batch];
                        let mut left = 0u64;
                        for (r, &q) in qs.iter().enumerate() {
                            left |= (node.rank_goes_left(q) as u64) << r;
                        }
                        let went_left = path[d + 1] == node.left;
                        let (stay, other) = if went_left {
                            (left & set, node.right as usize)
                        } else {
                            (set & !left, node.left as usize)
                        };
                        onset[f] = stay;
                        let mut leave = set & !stay;
                        let unit_base = u as usize * n_repeats * k;
                        if fast.below[other] & (1u64 << (f % 64)) == 0 {
                            // No split on the column below: every leaving repeat reaches the
                            // leaf the row's own values reach from there. Walked and added
                            // without branches (masked), whether or not a repeat leaves.
                            let leaf = fast.walk(other, rank_row, usize::MAX, 0);
                            let at = fast.value_at[leaf] as usize;
                            let v = &values[at..at + width];
                            let a = &mut acc_row[unit_base + base * k..][..batch * k];
                            match output {
                                Some(o) => {
                                    let diff = v[0] - v0[0];
                                    for (r, a) in a.chunks_exact_mut(k).enumerate() {
                                        let mask = 0i64.wrapping_sub(((leave >> r) & 1) as i64);
                                        a[o] += diff & mask;
                                    }
                                }
                                None => {
                                    for (r, a) in a.chunks_exact_mut(k).enumerate() {
                                        let mask = 0i64.wrapping_sub(((leave >> r) & 1) as i64);
                                        for o in 0..k {
                                            a[o] += (v[o] - v0[o]) & mask;
                                        }
                                    }
                                }
                            }
                            continue;
                        }
                        while leave != 0 {
                            let r = leave.trailing_zeros() as usize;
                            leave &= leave - 1;
                            let leaf = fast.walk(other, rank_row, f, qs[r]);
                            let at = fast.value_at[leaf] as usize;
                            let v = &values[at..at + width];
                            let a = &mut acc_row[unit_base + (base + r) * k..][..k];
                            match output {
                                Some(o) => a[o] += v[0] - v0[0],
                                None => {
                                    for o in 0..k {
                                        a[o] += v[o] - v0[o];
                                    }
                                }
                            }
                        }
                    }
                    base += batch;
                }
            }
        }
    }
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

    /// Random full trees of depth 3 on `p` features with vector leaves of width `k`; some
    /// splits categorical when `categorical`.
    fn random_forest(rng: &mut Lcg, p: usize, k: usize, trees: usize, categorical: bool) -> Forest {
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
        for _ in 0..trees {
            let n_nodes = 15;
            for local in 0..n_nodes {
                if local < 7 {
                    let f = (rng.next() % p as u64) as i64;
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
                parts.default_left.push(rng.next() % 2 == 0);
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
    fn matches_direct_evaluation() {
        let mut rng = Lcg(7);
        for case in 0..6 {
            let reps = if case == 2 || case == 5 { 70 } else { 3 };
            let (p, k, m) = (4, 1 + case % 2, 40);
            let forest = random_forest(&mut rng, p, k, 6, case >= 3);
            let mut x = Array2::<f64>::zeros((m, p));
            for v in x.iter_mut() {
                *v = (rng.unif() * 6.0).floor() / 2.0;
                if rng.next() % 10 == 0 {
                    *v = f64::NAN;
                }
            }
            let mut perms = Array2::<u32>::zeros((reps, m));
            for v in perms.iter_mut() {
                *v = (rng.next() % m as u64) as u32;
            }
            // Single distinct columns take the fast walks (numeric models); groups do not.
            let units = if case % 3 == 0 {
                vec![vec![0], vec![1], vec![2, 3], vec![3]]
            } else {
                vec![vec![2], vec![0], vec![3]]
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
