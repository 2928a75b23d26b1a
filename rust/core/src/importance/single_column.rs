//! The fast path of [`super::routing`]: units of one ranked column each, through a tabled tree.
//!
//! For each row of a filled [`LeafTable`], along its own leaf's ancestors: at each split the
//! repeats of the split's column (still on the path) that go the other way leave. Where the
//! column is not split on again below the other child, they all land on the row's own leaf from
//! there, one table lookup, and the difference of leaf values is added to them without branches
//! (to none when none leave). Otherwise they follow the row's path from there to the next split
//! on the column (a link of the ancestor list), part again, and so on.

use super::exact_sum::Fixed;
use super::leaf_table::LeafTable;
use super::tree_paths::{part, TreeView, NO_NEXT};

/// "No unit holds this column".
pub const NO_UNIT: u32 = u32::MAX;

/// Entries past the last row's ranks in [`SingleColumns::qrank`], so that ranks can be read
/// 16 at a time from any unit's first repeat.
pub const RANK_PAD: usize = 16;

/// What every row of a block shares.
pub struct SingleColumns<'a> {
    /// Per row of the block, per unit, per repeat: the rank of the permuted value; padded with
    /// [`RANK_PAD`] entries.
    pub qrank: &'a [u32],
    /// Per column: its unit, or [`NO_UNIT`].
    pub unit_of: &'a [u32],
    pub n_units: usize,
    pub n_repeats: usize,
    /// Outputs of the model.
    pub k: usize,
}

/// Per-thread buffers.
#[derive(Default)]
pub struct Buffers {
    /// Per position on the row's path: the repeats of its column still on the path there.
    carry: Vec<u64>,
    /// Repeats to land: (local node, position of its parent on ancestor lists, the node is a
    /// leaf, the repeats).
    stack: Vec<(usize, usize, bool, u64)>,
    /// The same for [`super::single_column_simd`].
    pub(super) stack16: Vec<(u16, u16, bool, u16)>,
}

/// One tree, one lane-block: the rows `li0..li0 + count` of the block (lane `l` is row
/// `li0 + l`). Adds each row's leaf values to `sums` (`(rows, k)`) and its repeats' output
/// changes to `acc` (`(rows, n_units, n_repeats, k)`); the tree feeds `output` (all outputs when
/// `None`).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn route_lanes(
    ctx: &SingleColumns,
    tree: TreeView,
    output: Option<usize>,
    table: &LeafTable,
    li0: usize,
    count: usize,
    acc: &mut [Fixed],
    sums: &mut [Fixed],
    buf: &mut Buffers,
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = super::single_column_simd::available(ctx.k, output) {
        // SAFETY: the CPU has the instruction set, and the tree has one output.
        return unsafe {
            super::single_column_simd::route_lanes(
                isa, ctx, tree, table, li0, count, acc, sums, buf,
            )
        };
    }
    let k = ctx.k;
    let per_row = ctx.n_units * ctx.n_repeats;
    for lane in 0..count {
        let li = li0 + lane;
        // A tree of one node is its root leaf, which has no table row.
        let leaf0 = if tree.nodes.len() == 1 {
            0
        } else {
            table.leaf(0, lane)
        };
        let v0 = tree.values(leaf0);
        add_leaf(&mut sums[li * k..(li + 1) * k], output, v0);
        let row = Row {
            ctx,
            tree,
            table,
            lane,
            qs: &ctx.qrank[li * per_row..],
            leaf0,
            v0,
            output,
        };
        row.route(&mut acc[li * per_row * k..(li + 1) * per_row * k], buf);
    }
}

/// One row in one tree.
struct Row<'a> {
    ctx: &'a SingleColumns<'a>,
    tree: TreeView<'a>,
    table: &'a LeafTable,
    lane: usize,
    /// The row's ranks: per unit, per repeat.
    qs: &'a [u32],
    leaf0: usize,
    v0: &'a [Fixed],
    output: Option<usize>,
}

impl Row<'_> {
    /// Adds the output changes of every repeat of the row to `acc` (its `(n_units, n_repeats,
    /// k)` slice).
    #[inline(always)]
    fn route(&self, acc: &mut [Fixed], buf: &mut Buffers) {
        let (ctx, tree) = (self.ctx, self.tree);
        let path = tree.ancestors(self.leaf0);
        let depth = path.len();
        let n_repeats = ctx.n_repeats;
        let mut base = 0;
        while base < n_repeats {
            let batch = (n_repeats - base).min(64);
            let full = batch_mask(batch);
            // All repeats start on the path; those that stay at a split are carried to the next
            // split on the same column (or, when none follows, to a spare last slot).
            buf.carry.clear();
            buf.carry.resize(depth + 1, full);
            for (d, &[n, next_same]) in path.iter().enumerate() {
                let node = tree.nodes[n as usize];
                let u = ctx.unit_of[node.feature as usize];
                if u == NO_UNIT {
                    continue;
                }
                let at = u as usize * n_repeats + base;
                let qs = &self.qs[at..];
                let set = buf.carry[d];
                let left = rank_mask(qs, batch, node.shift(), node.cut) & set;
                let next = path.get(d + 1).map_or(self.leaf0, |e| e[0] as usize);
                let (went_left, other) = node.other(next);
                let (stay, leave) = part(set, left, went_left);
                buf.carry[(next_same as usize).min(depth)] = stay;
                let acc_unit = &mut acc[at * ctx.k..(at + batch) * ctx.k];
                if !other.again {
                    let leaf = self.land_at(other.node, other.leaf);
                    self.add_masked(tree.values(leaf), leave, acc_unit);
                } else if leave != 0 {
                    buf.stack.clear();
                    buf.stack.push((other.node, d, other.leaf, leave));
                    self.land(qs, batch, acc_unit, &mut buf.stack);
                }
            }
            base += batch;
        }
    }

    /// Lands the repeats on `stack`, each at a node whose parent splits on their column: along
    /// the path of the row's own leaf from there, from one split on the column to the next,
    /// those going the other way start again from the other child.
    fn land(
        &self,
        qs: &[u32],
        batch: usize,
        acc_unit: &mut [Fixed],
        stack: &mut Vec<(usize, usize, bool, u64)>,
    ) {
        let tree = self.tree;
        while let Some((n, parent, is_leaf, mut set)) = stack.pop() {
            let leaf = self.land_at(n, is_leaf);
            let path = tree.ancestors(leaf);
            let mut e = path[parent][1];
            while e != NO_NEXT {
                let at = e as usize;
                let node = tree.nodes[path[at][0] as usize];
                let left = rank_mask(qs, batch, node.shift(), node.cut) & set;
                let next = path.get(at + 1).map_or(leaf, |a| a[0] as usize);
                let (went_left, other) = node.other(next);
                let (same, apart) = part(set, left, went_left);
                if apart != 0 {
                    stack.push((other.node, at, other.leaf, apart));
                }
                set = same;
                e = if same == 0 { NO_NEXT } else { path[at][1] };
            }
            if set != 0 && leaf != self.leaf0 {
                self.add_bits(tree.values(leaf), set, acc_unit);
            }
        }
    }

    /// The row's own leaf from node `n` (a leaf when `is_leaf`): without a branch, a leaf reads
    /// an entry that is not its own and drops it.
    #[inline(always)]
    fn land_at(&self, n: usize, is_leaf: bool) -> usize {
        let looked_up = self.table.leaf(n, self.lane);
        let mask = (is_leaf as usize).wrapping_sub(1);
        (looked_up & mask) | (n & !mask)
    }

    /// Adds `v - v0` to the changes of the batch's repeats in `set`, without branches (a zero
    /// mask for the others). `acc_unit` holds the batch's `(repeat, k)` changes of one unit.
    #[inline(always)]
    fn add_masked(&self, v: &[Fixed], set: u64, acc_unit: &mut [Fixed]) {
        let k = self.ctx.k;
        match self.output {
            Some(o) => {
                let diff = v[0] - self.v0[0];
                for (r, a) in acc_unit.chunks_exact_mut(k).enumerate() {
                    a[o] += diff & 0i64.wrapping_sub(((set >> r) & 1) as i64);
                }
            }
            None => {
                for (r, a) in acc_unit.chunks_exact_mut(k).enumerate() {
                    let mask = 0i64.wrapping_sub(((set >> r) & 1) as i64);
                    for o in 0..k {
                        a[o] += (v[o] - self.v0[o]) & mask;
                    }
                }
            }
        }
    }

    /// Adds `v - v0` to the changes of the batch's repeats in `set`, one by one.
    #[inline(always)]
    fn add_bits(&self, v: &[Fixed], set: u64, acc_unit: &mut [Fixed]) {
        add_difference(acc_unit, self.ctx.k, self.output, v, self.v0, set);
    }
}

/// A set holding every repeat of a batch of `batch` (at most 64).
#[inline(always)]
pub fn batch_mask(batch: usize) -> u64 {
    if batch == 64 {
        u64::MAX
    } else {
        (1u64 << batch) - 1
    }
}

/// Adds a row's leaf values `v` to its output sums (`k` of them); a tree that feeds one output
/// (`output`) has one value per leaf.
#[inline(always)]
pub fn add_leaf(sums: &mut [Fixed], output: Option<usize>, v: &[Fixed]) {
    match output {
        Some(o) => sums[o] += v[0],
        None => {
            for (s, v) in sums.iter_mut().zip(v) {
                *s += v;
            }
        }
    }
}

/// Adds `v - v0` to the changes (`(repeat, k)` in `acc`) of the repeats whose bit is set in
/// `set`, one by one; a tree that feeds one output (`output`) has one value per leaf.
#[inline(always)]
pub fn add_difference(
    acc: &mut [Fixed],
    k: usize,
    output: Option<usize>,
    v: &[Fixed],
    v0: &[Fixed],
    set: u64,
) {
    let mut bits = set;
    while bits != 0 {
        let r = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let a = &mut acc[r * k..(r + 1) * k];
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

/// Bit r set when rank `qs[r]` (r < `batch`) goes left at a split of shifted cut
/// `(shift, cut)` (see [`super::column_function::Node::shifted_cut`]); branch-free, 4 ranks at
/// a time (`qs` is padded: ranks past `batch` are read and their bits are garbage).
#[inline(always)]
pub fn rank_mask(qs: &[u32], batch: usize, shift: u32, cut: u32) -> u64 {
    let qs = &qs[..batch.div_ceil(8) * 8];
    let mut left = 0u64;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SSE2 is part of x86_64. Unsigned `q + shift < cut` as a signed compare of both sides
        // with the sign bit flipped; one bit per lane from the sign of each compare.
        // SAFETY: every load reads 4 ranks inside `qs`, whose length is a multiple of 8.
        unsafe {
            let sign = _mm_set1_epi32(i32::MIN);
            let shift = _mm_set1_epi32(shift as i32);
            let cut = _mm_set1_epi32((cut ^ 0x8000_0000) as i32);
            for (c, chunk) in qs.chunks_exact(4).enumerate() {
                let q = _mm_add_epi32(_mm_loadu_si128(chunk.as_ptr().cast()), shift);
                let goes_left = _mm_cmpgt_epi32(cut, _mm_xor_si128(q, sign));
                let bits = _mm_movemask_ps(_mm_castsi128_ps(goes_left)) as u64;
                left |= bits << (4 * c);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (r, &q) in qs.iter().enumerate() {
        left |= ((q.wrapping_add(shift) < cut) as u64) << r;
    }
    left
}
