//! [`super::single_column`] on AVX-512, for trees with one output: the repeats of a pass (up
//! to 8) are a mask register. One vector compare parts them at a split, and one masked add
//! gives the output change to those that leave; the scalar path does both repeat by repeat.
//! Repeats whose column is split on again below the side they leave to are landed by the
//! scalar path's [`Row::land`].

use std::arch::x86_64::*;

use super::exact_sum::Fixed;
use super::leaf_table::LeafTable;
use super::single_column::{Buffers, Row, SingleColumns, NO_UNIT};
use super::tree_paths::{TreeView, NO_NEXT};

/// Repeats per pass along a row's path.
const PASS: usize = 8;

/// Whether [`route_lanes`] can route a tree: one output, and AVX-512 F, VL and BW.
#[inline(always)]
pub fn available(k: usize) -> bool {
    k == 1
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

/// [`super::single_column::route_lanes`] for a tree with one output (`ctx.k == 1`).
///
/// # Safety
/// The CPU has AVX-512 F, VL and BW ([`available`]); `ctx.k == 1`; `table` is filled for the
/// tree and the lanes `0..count`; `ctx.qrank` is padded with 8 entries.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512vl,avx512bw")]
pub unsafe fn route_lanes(
    ctx: &SingleColumns,
    tree: TreeView,
    table: &LeafTable,
    li0: usize,
    count: usize,
    acc: &mut [Fixed],
    sums: &mut [Fixed],
    buf: &mut Buffers,
) {
    debug_assert_eq!(ctx.k, 1);
    let per_row = ctx.n_units * ctx.n_repeats;
    let n_repeats = ctx.n_repeats;
    assert!(acc.len() >= (li0 + count) * per_row && sums.len() >= li0 + count);
    assert!(ctx.qrank.len() >= (li0 + count) * per_row + PASS);
    let single = tree.nodes.len() == 1;
    for lane in 0..count {
        let li = li0 + lane;
        // A tree of one node is its root leaf, which has no table row.
        let leaf0 = if single { 0 } else { table.leaf(0, lane) };
        let v0 = tree.values(leaf0);
        sums[li] += v0[0];
        let row = Row {
            ctx,
            tree,
            table,
            lane,
            qs: &ctx.qrank[li * per_row..],
            leaf0,
            v0,
            output: Some(0),
        };
        let path = tree.ancestors(leaf0);
        let depth = path.len();
        if buf.carry8.len() <= depth {
            buf.carry8.resize(depth + 1, 0);
        }
        let acc_row = &mut acc[li * per_row..(li + 1) * per_row];
        let mut base = 0;
        while base < n_repeats {
            let batch = (n_repeats - base).min(PASS);
            // SAFETY: the features are the function's; the row's ranks and changes span
            // `per_row` entries (ranks padded with 8 more) and every unit's `at + batch` is
            // within them.
            unsafe { route_pass(&row, path, base, batch, acc_row, buf) };
            base += batch;
        }
    }
}

/// One pass of `batch` repeats (from `base`) along the row's path.
#[target_feature(enable = "avx512f,avx512vl,avx512bw")]
unsafe fn route_pass(
    row: &Row,
    path: &[[u16; 2]],
    base: usize,
    batch: usize,
    acc_row: &mut [Fixed],
    buf: &mut Buffers,
) {
    let (ctx, tree) = (row.ctx, row.tree);
    let n_repeats = ctx.n_repeats;
    let depth = path.len();
    let full = ((1u16 << batch) - 1) as u8;
    let carry = &mut buf.carry8[..=depth];
    carry.fill(full);
    let qs = row.qs.as_ptr();
    let v0 = row.v0[0];
    for d in 0..depth {
        // SAFETY: positions, nodes and columns come from the tree's own lists.
        let [n, next_same] = unsafe { *path.get_unchecked(d) };
        let node = unsafe { *tree.nodes.get_unchecked(n as usize) };
        let u = unsafe { *ctx.unit_of.get_unchecked(node.feature as usize) };
        if u == NO_UNIT {
            continue;
        }
        let at = u as usize * n_repeats + base;
        // SAFETY: `at + 8` is within the row's ranks and their padding.
        let q = unsafe { _mm256_loadu_si256(qs.add(at).cast()) };
        let shifted = _mm256_add_epi32(q, _mm256_set1_epi32(node.shift() as i32));
        let left = _mm256_cmplt_epu32_mask(shifted, _mm256_set1_epi32(node.cut as i32));
        let next = if d + 1 < depth {
            unsafe { path.get_unchecked(d + 1)[0] as usize }
        } else {
            row.leaf0
        };
        let (went_left, other) = node.other(next);
        let set = unsafe { *carry.get_unchecked(d) };
        // Those that go the row's way stay; `flip` inverts `left` when the row went right.
        let flip = (went_left as u8).wrapping_sub(1);
        let stay = set & (left ^ flip);
        let leave = set & !stay;
        let to = if next_same == NO_NEXT {
            depth
        } else {
            next_same as usize
        };
        unsafe { *carry.get_unchecked_mut(to) = stay };
        if !other.again {
            // SAFETY: a leaf reads an entry of its own, which it drops (see `land_at`); the
            // tree has one value per node.
            let looked_up = unsafe { row.table.leaf_unchecked(other.node, row.lane) };
            let mask = (other.leaf as usize).wrapping_sub(1);
            let leaf = (looked_up & mask) | (other.node & !mask);
            let diff = unsafe { tree.value_unchecked(leaf) } - v0;
            // SAFETY: the lanes of `leave` are repeats of this pass, inside the row's changes.
            unsafe {
                let p = acc_row.as_mut_ptr().add(at);
                let a = _mm512_maskz_loadu_epi64(leave, p.cast());
                let sum = _mm512_add_epi64(a, _mm512_set1_epi64(diff));
                _mm512_mask_storeu_epi64(p.cast(), leave, sum);
            }
        } else if leave != 0 {
            buf.stack.clear();
            buf.stack.push((other.node, d, other.leaf, leave as u64));
            let qs = &row.qs[at..];
            row.land(qs, batch, &mut acc_row[at..at + batch], &mut buf.stack);
        }
    }
}
