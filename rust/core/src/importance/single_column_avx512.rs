//! [`super::single_column`] on AVX-512, for trees with one output: the repeats of a pass (up
//! to 16) are a mask register. One vector compare parts them at a split, and one masked add
//! per 8 gives the output change to those that leave; the scalar path does both repeat by
//! repeat, and walks 64 repeats a pass.

use std::arch::x86_64::*;

use super::column_function::NAN_RANK;
use super::exact_sum::Fixed;
use super::leaf_table::LeafTable;
use super::single_column::{Buffers, SingleColumns, NO_UNIT, RANK_PAD};
use super::tree_paths::{PathStep, TreeView, STEP_NO_NEXT};

/// Repeats per pass along a row's path.
const PASS: usize = 16;
const _: () = assert!(RANK_PAD >= PASS);

/// Tests set this to check the scalar path on machines with AVX-512 too.
#[cfg(test)]
pub static SCALAR_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`route_lanes`] can route a tree: one output, and AVX-512 F, VL and BW.
#[inline(always)]
pub fn available(k: usize) -> bool {
    #[cfg(test)]
    if SCALAR_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    k == 1
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

/// [`super::single_column::route_lanes`] for a tree with one output (`ctx.k == 1`).
///
/// # Safety
/// The CPU has AVX-512 F, VL and BW ([`available`]); `ctx.k == 1`; `table` is filled for the
/// tree and the lanes `0..count`.
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
    // The bounds every unchecked access below relies on.
    assert!(acc.len() >= (li0 + count) * per_row && sums.len() >= li0 + count);
    assert!(ctx.qrank.len() >= (li0 + count) * per_row + RANK_PAD);
    let single = tree.nodes.len() == 1;
    for lane in 0..count {
        let li = li0 + lane;
        // A tree of one node is its root leaf, which has no table row.
        let leaf0 = if single { 0 } else { table.leaf(0, lane) };
        let v0 = tree.values(leaf0)[0];
        sums[li] += v0;
        let row = Lane {
            ctx,
            tree,
            table,
            lane,
            qs: ctx.qrank[li * per_row..].as_ptr(),
            acc: acc[li * per_row..].as_mut_ptr(),
            steps: tree.steps(leaf0),
            v0,
        };
        // SAFETY: the features are the function's; every unit's `at + PASS` is within the
        // row's ranks and their padding, and its `at + batch` within the row's changes.
        unsafe {
            if ctx.n_repeats <= PASS {
                row.route::<true>(&mut buf.stack16)
            } else {
                row.route::<false>(&mut buf.stack16)
            }
        };
    }
}

/// The repeats of a pass of `remaining` or more: the first [`PASS`] at most.
#[inline(always)]
fn batch_mask16(remaining: usize) -> u16 {
    if remaining >= PASS {
        u16::MAX
    } else {
        ((1u32 << remaining) - 1) as u16
    }
}

/// One row in one tree.
struct Lane<'a> {
    ctx: &'a SingleColumns<'a>,
    tree: TreeView<'a>,
    table: &'a LeafTable,
    lane: usize,
    /// The row's ranks (per unit, per repeat), and its changes.
    qs: *const u32,
    acc: *mut Fixed,
    /// The path to the row's own leaf.
    steps: &'a [PathStep],
    v0: Fixed,
}

impl Lane<'_> {
    /// The row's repeats along its path: at each split on a unit's column, 16 repeats at a
    /// time, those whose rank is in the split's leaving interval (see [`PathStep`]) leave and
    /// land.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw")]
    unsafe fn route<const ONE_PASS: bool>(&self, stack: &mut Vec<(u16, u16, bool, u16)>) {
        let ctx = self.ctx;
        let n_repeats = ctx.n_repeats;
        debug_assert!(!ONE_PASS || n_repeats <= PASS);
        for (d, step) in self.steps.iter().enumerate() {
            // SAFETY: columns come from the tree's own lists.
            let u = unsafe { *ctx.unit_of.get_unchecked(step.feature as usize) };
            if u == NO_UNIT {
                continue;
            }
            let other = step.other as usize;
            // Where the repeats land when the column is not split on again below.
            let leaf = unsafe { self.land_at(other, step.other_leaf()) };
            let mut base = 0;
            while base < n_repeats {
                let at = u as usize * n_repeats + base;
                // SAFETY: `at + PASS` is within the row's ranks and their padding.
                let q = unsafe { _mm512_loadu_si512(self.qs.add(at).cast()) };
                let leave = leaving(q, step, batch_mask16(n_repeats - base));
                if !step.again() {
                    unsafe { self.add(at, leave, leaf) };
                } else if leave != 0 {
                    unsafe { self.land(q, at, other, d, step.other_leaf(), leave, stack) };
                }
                base += PASS;
                if ONE_PASS {
                    break;
                }
            }
        }
    }

    /// Lands the repeats `set` (ranks `q`, changes at `at`), which leave the path at ancestor
    /// `parent` to node `n` (a leaf when `is_leaf`), below which their column is split on
    /// again: along the path of the row's own leaf from there, from one split on the column
    /// to the next, those going the other way start again from the other child.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    #[target_feature(enable = "avx512f,avx512vl,avx512bw")]
    unsafe fn land(
        &self,
        q: __m512i,
        at: usize,
        n: usize,
        parent: usize,
        is_leaf: bool,
        set: u16,
        stack: &mut Vec<(u16, u16, bool, u16)>,
    ) {
        let tree = self.tree;
        stack.clear();
        stack.push((n as u16, parent as u16, is_leaf, set));
        while let Some((n, parent, is_leaf, mut set)) = stack.pop() {
            let leaf = unsafe { self.land_at(n as usize, is_leaf) };
            let steps = tree.steps(leaf);
            let mut e = steps[parent as usize].next_same();
            while e != STEP_NO_NEXT && set != 0 {
                let step = &steps[e];
                let leave = leaving(q, step, set);
                if step.again() {
                    if leave != 0 {
                        stack.push((step.other, e as u16, step.other_leaf(), leave));
                    }
                } else {
                    let other = unsafe { self.land_at(step.other as usize, step.other_leaf()) };
                    unsafe { self.add(at, leave, other) };
                }
                set &= !leave;
                e = step.next_same();
            }
            unsafe { self.add(at, set, leaf) };
        }
    }

    /// The row's own leaf from node `n` (a leaf when `is_leaf`): without a branch, a leaf reads
    /// an entry that is not its own and drops it.
    ///
    /// # Safety
    /// `n` is a node of the tree.
    #[inline(always)]
    unsafe fn land_at(&self, n: usize, is_leaf: bool) -> usize {
        // SAFETY: every node of the tree has a table entry.
        let looked_up = unsafe { self.table.leaf_unchecked(n, self.lane) };
        let mask = (is_leaf as usize).wrapping_sub(1);
        (looked_up & mask) | (n & !mask)
    }

    /// Adds `v(leaf) - v0` to the changes at `at` of the repeats in `set`, 8 at a time with a
    /// mask (none when `set` is empty).
    ///
    /// # Safety
    /// `leaf` is a node of the tree; the repeats of `set` are within the row's changes.
    #[inline(always)]
    unsafe fn add(&self, at: usize, set: u16, leaf: usize) {
        // SAFETY: the caller's contract.
        let diff = _mm512_set1_epi64(unsafe { self.tree.value_unchecked(leaf) } - self.v0);
        let p = unsafe { self.acc.add(at) };
        for half in 0..2 {
            let mask = (set >> (8 * half)) as u8;
            if half == 1 && mask == 0 {
                break;
            }
            // SAFETY: masked lanes are not read or written.
            unsafe {
                let p = p.add(8 * half).cast();
                let a = _mm512_maskz_loadu_epi64(mask, p);
                _mm512_mask_storeu_epi64(p, mask, _mm512_add_epi64(a, diff));
            }
        }
    }
}

/// Of the repeats `set` (ranks `q`), those that leave the path at `step`: rank in the step's
/// leaving interval, or NaN where NaN leaves.
#[inline(always)]
fn leaving(q: __m512i, step: &PathStep, set: u16) -> u16 {
    // SAFETY: the callers run with AVX-512 F.
    unsafe {
        let from = _mm512_mask_cmpge_epu32_mask(set, q, _mm512_set1_epi32(step.lo as i32));
        let inside = _mm512_mask_cmplt_epu32_mask(from, q, _mm512_set1_epi32(step.hi as i32));
        let nan_set = set & 0u16.wrapping_sub(step.nan_leaves() as u16);
        inside | _mm512_mask_cmpeq_epi32_mask(nan_set, q, _mm512_set1_epi32(NAN_RANK as i32))
    }
}
