//! [`super::single_column`] with vector instructions (AVX-512, else AVX2), for trees with a
//! value per output, of one or two outputs: the repeats of a pass (16, or 8) are a mask. Per leaf, each step of the path carries
//! the interval of ranks that leave there ([`PathStep`]): two vector compares give the repeats
//! that leave, and one masked add per 8 (4) changes gives them the output change. The scalar path parts
//! repeats bit by bit, carrying per column the ones still on the path.

use std::arch::x86_64::*;

use super::column_function::NAN_RANK;
use super::exact_sum::Fixed;
use super::leaf_table::LeafTable;
use super::single_column::{batch_mask, Buffers, SingleColumns, NO_UNIT, RANK_PAD};
use super::tree_paths::{PathStep, TreeView, STEP_NO_NEXT};
use crate::simd::Kernel;

/// Tests set this to check the narrower paths on machines with wider vector units too: 0 for
/// the widest the CPU has, 1 for AVX2 at most, 2 for the scalar path.
#[cfg(test)]
pub static NARROWER: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// The instruction sets [`route_lanes`] can use here, for a model with `k` outputs (1 or 2)
/// whose tree feeds `output` (all of them when `None`).
#[inline(always)]
pub fn available(k: usize, output: Option<usize>) -> Option<Isa> {
    #[cfg(test)]
    let narrower = NARROWER.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(test))]
    let narrower = 0;
    let leaf_width = if output.is_some() { 1 } else { k };
    if leaf_width != k || k > 2 || narrower >= 2 {
        return None;
    }
    match crate::simd::kernel() {
        Kernel::Avx512 if narrower == 0 => Some(Isa::Avx512),
        Kernel::Avx512 | Kernel::Avx2 => Some(Isa::Avx2),
        Kernel::Portable => None,
    }
}

/// An instruction set found by [`available`].
#[derive(Clone, Copy)]
pub enum Isa {
    Avx512,
    Avx2,
}

/// [`super::single_column::route_lanes`] for a tree with a value per output (`ctx.k` of 1 or
/// 2).
///
/// # Safety
/// `isa` comes from [`available`] for `ctx.k` and the tree's output; `table` is filled for the
/// tree and the lanes `0..count`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn route_lanes(
    isa: Isa,
    ctx: &SingleColumns,
    tree: TreeView,
    table: &LeafTable,
    li0: usize,
    count: usize,
    acc: &mut [Fixed],
    sums: &mut [Fixed],
    buf: &mut Buffers,
) {
    assert!(tree.width == ctx.k && ctx.k <= 2);
    let per_row = ctx.n_units * ctx.n_repeats;
    // The bounds every unchecked access below relies on.
    let k = ctx.k;
    assert!(acc.len() >= (li0 + count) * per_row * k && sums.len() >= (li0 + count) * k);
    assert!(ctx.qrank.len() >= (li0 + count) * per_row + RANK_PAD);
    // SAFETY: the CPU has the instruction set (the caller's contract).
    unsafe {
        match isa {
            Isa::Avx512 if k == 1 => {
                Avx512::lanes::<1>(ctx, tree, table, li0, count, acc, sums, buf)
            }
            Isa::Avx512 => Avx512::lanes::<2>(ctx, tree, table, li0, count, acc, sums, buf),
            Isa::Avx2 if k == 1 => Avx2::lanes::<1>(ctx, tree, table, li0, count, acc, sums, buf),
            Isa::Avx2 => Avx2::lanes::<2>(ctx, tree, table, li0, count, acc, sums, buf),
        }
    }
}

/// The lanes of [`route_lanes`], with the instructions of `V`; inlined into a function with
/// `V`'s features.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lanes<V: Vector, const K: usize>(
    ctx: &SingleColumns,
    tree: TreeView,
    table: &LeafTable,
    li0: usize,
    count: usize,
    acc: &mut [Fixed],
    sums: &mut [Fixed],
    buf: &mut Buffers,
) {
    let per_row = ctx.n_units * ctx.n_repeats;
    let single = tree.nodes.len() == 1;
    // A tree of one node is its root leaf, which has no table row.
    let leaf_of = |lane: usize| if single { 0 } else { table.leaf(0, lane) };
    // Each row's path steps are a chain of dependent loads (leaf, where its steps start, the
    // steps): fetched in a pipeline, two rows and one row ahead.
    let lines = std::mem::size_of_val(tree.steps(leaf_of(0))).div_ceil(64);
    for ahead in 0..2.min(count) {
        tree.prefetch_leaf(leaf_of(ahead));
    }
    for lane in 0..count {
        let li = li0 + lane;
        if lane + 2 < count {
            tree.prefetch_leaf(leaf_of(lane + 2));
        }
        if lane + 1 < count {
            tree.prefetch_steps(leaf_of(lane + 1), lines.min(4));
        }
        let leaf0 = leaf_of(lane);
        let v0: [Fixed; K] = tree.values(leaf0).try_into().expect("K values per leaf");
        for (s, v) in sums[li * K..(li + 1) * K].iter_mut().zip(v0) {
            *s += v;
        }
        let row = Lane {
            ctx,
            tree: &tree,
            table,
            lane,
            qs: ctx.qrank[li * per_row..].as_ptr(),
            acc: acc[li * per_row * K..].as_mut_ptr(),
            steps: tree.steps(leaf0),
            v0,
        };
        // SAFETY: every unit's `at + V::PASS` is within the row's ranks and their padding,
        // and the repeats of a pass within the row's changes.
        unsafe {
            if ctx.n_repeats <= V::PASS {
                row.route::<V, true>(&mut buf.stack16)
            } else {
                row.route::<V, false>(&mut buf.stack16)
            }
        };
    }
}

/// What the kernel needs of an instruction set. Its functions are inlined into callers with
/// the set's features.
trait Vector {
    /// Ranks of one pass of repeats.
    type Ranks: Copy;
    /// Repeats per pass (at most 16, the bits of a set).
    const PASS: usize;
    /// Reads `PASS` ranks.
    unsafe fn load(p: *const u32) -> Self::Ranks;
    /// Of the repeats `set` (ranks `q`), those that leave the path at `step`: rank in the
    /// step's leaving interval, or NaN where NaN leaves.
    unsafe fn leaving(q: Self::Ranks, step: &PathStep, set: u16) -> u16;
    /// Adds `diff` to the changes `p[r * K..(r + 1) * K]` of the repeats `r` in `set` (K of
    /// 1 or 2); reads and writes no other.
    unsafe fn add<const K: usize>(p: *mut Fixed, set: u16, diff: [Fixed; K]);
    /// [`lanes`] with the set's features (see [`compiled_with`]).
    #[allow(clippy::too_many_arguments)]
    unsafe fn lanes<const K: usize>(
        ctx: &SingleColumns,
        tree: TreeView,
        table: &LeafTable,
        li0: usize,
        count: usize,
        acc: &mut [Fixed],
        sums: &mut [Fixed],
        buf: &mut Buffers,
    );
    /// [`Lane::land`] out of line, with the set's features (see [`compiled_with`]).
    #[allow(clippy::too_many_arguments)]
    unsafe fn land<const K: usize>(
        lane: &Lane<K>,
        q: Self::Ranks,
        at: usize,
        n: usize,
        parent: usize,
        is_leaf: bool,
        set: u16,
        stack: &mut Vec<(u16, u16, bool, u16)>,
    );
}

/// The entry points of a [`Vector`] impl: the generic [`lanes`] and [`Lane::land`], compiled
/// with the instruction set's `features`. Rust gives a function target features only by
/// attribute, so each set needs its own two functions; their bodies are the generic ones.
macro_rules! compiled_with {
    ($features:literal) => {
        #[target_feature(enable = $features)]
        unsafe fn lanes<const K: usize>(
            ctx: &SingleColumns,
            tree: TreeView,
            table: &LeafTable,
            li0: usize,
            count: usize,
            acc: &mut [Fixed],
            sums: &mut [Fixed],
            buf: &mut Buffers,
        ) {
            lanes::<Self, K>(ctx, tree, table, li0, count, acc, sums, buf)
        }

        #[inline(never)]
        #[target_feature(enable = $features)]
        unsafe fn land<const K: usize>(
            lane: &Lane<K>,
            q: Self::Ranks,
            at: usize,
            n: usize,
            parent: usize,
            is_leaf: bool,
            set: u16,
            stack: &mut Vec<(u16, u16, bool, u16)>,
        ) {
            unsafe { lane.land::<Self>(q, at, n, parent, is_leaf, set, stack) }
        }
    };
}

struct Avx512;
struct Avx2;

impl Vector for Avx512 {
    type Ranks = __m512i;
    const PASS: usize = 16;

    #[inline(always)]
    unsafe fn load(p: *const u32) -> __m512i {
        unsafe { _mm512_loadu_si512(p.cast()) }
    }

    #[inline(always)]
    unsafe fn leaving(q: __m512i, step: &PathStep, set: u16) -> u16 {
        unsafe {
            let from = _mm512_mask_cmpge_epu32_mask(set, q, _mm512_set1_epi32(step.lo as i32));
            let inside = _mm512_mask_cmplt_epu32_mask(from, q, _mm512_set1_epi32(step.hi as i32));
            let nan_set = set & 0u16.wrapping_sub(step.nan_leaves() as u16);
            inside | _mm512_mask_cmpeq_epi32_mask(nan_set, q, _mm512_set1_epi32(NAN_RANK as i32))
        }
    }

    #[inline(always)]
    unsafe fn add<const K: usize>(p: *mut Fixed, set: u16, diff: [Fixed; K]) {
        // 8 changes a register: 8 repeats of one output, or 4 of two (outputs alternate).
        let per = 8 / K;
        let diff = unsafe {
            if K == 1 {
                _mm512_set1_epi64(diff[0])
            } else {
                let (a, b) = (diff[0], diff[K - 1]);
                _mm512_setr_epi64(a, b, a, b, a, b, a, b)
            }
        };
        for part in 0..16 / per {
            let bits = (set >> (per * part)) as u32 & ((1 << per) - 1);
            if part > 0 && set >> (per * part) == 0 {
                break;
            }
            // Each repeat's bit, once per output.
            let mask = if K == 1 { bits } else { spread_pairs(bits) } as u8;
            // SAFETY: masked lanes are not read or written.
            unsafe {
                let p = p.add(8 * part).cast();
                let a = _mm512_maskz_loadu_epi64(mask, p);
                _mm512_mask_storeu_epi64(p, mask, _mm512_add_epi64(a, diff));
            }
        }
    }

    compiled_with!("avx512f,avx512vl,avx512bw");
}

impl Vector for Avx2 {
    type Ranks = __m256i;
    const PASS: usize = 8;

    #[inline(always)]
    unsafe fn load(p: *const u32) -> __m256i {
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    #[inline(always)]
    unsafe fn leaving(q: __m256i, step: &PathStep, set: u16) -> u16 {
        // Unsigned compares as signed ones with the sign bits flipped.
        unsafe {
            let sign = _mm256_set1_epi32(i32::MIN);
            let flipped = _mm256_xor_si256(q, sign);
            let lo = _mm256_set1_epi32((step.lo ^ 0x8000_0000) as i32);
            let hi = _mm256_set1_epi32((step.hi ^ 0x8000_0000) as i32);
            let below_lo = _mm256_cmpgt_epi32(lo, flipped);
            let below_hi = _mm256_cmpgt_epi32(hi, flipped);
            let inside = _mm256_andnot_si256(below_lo, below_hi);
            let nan = _mm256_and_si256(
                _mm256_cmpeq_epi32(q, _mm256_set1_epi32(NAN_RANK as i32)),
                _mm256_set1_epi32(-(step.nan_leaves() as i32)),
            );
            let bits = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_or_si256(inside, nan)));
            bits as u16 & set
        }
    }

    #[inline(always)]
    unsafe fn add<const K: usize>(p: *mut Fixed, set: u16, diff: [Fixed; K]) {
        // 4 changes a register: 4 repeats of one output, or 2 of two (outputs alternate).
        let per = 4 / K;
        unsafe {
            let diff = if K == 1 {
                _mm256_set1_epi64x(diff[0])
            } else {
                _mm256_setr_epi64x(diff[0], diff[K - 1], diff[0], diff[K - 1])
            };
            for quarter in 0..8 / per {
                let repeats = (set >> (per * quarter)) as u32 & ((1 << per) - 1);
                if quarter > 0 && set >> (per * quarter) == 0 {
                    break;
                }
                // Each repeat's bit, once per output.
                let bits = if K == 1 {
                    repeats
                } else {
                    spread_pairs(repeats)
                } as i64;
                // One lane per change: all ones where its bit is set.
                let lane_bits = _mm256_setr_epi64x(1, 2, 4, 8);
                let mask = _mm256_cmpeq_epi64(
                    _mm256_and_si256(_mm256_set1_epi64x(bits), lane_bits),
                    lane_bits,
                );
                // SAFETY: masked lanes are not read or written.
                let p = p.add(4 * quarter).cast::<i64>();
                let a = _mm256_maskload_epi64(p, mask);
                _mm256_maskstore_epi64(p, mask, _mm256_add_epi64(a, diff));
            }
        }
    }

    compiled_with!("avx2");
}

/// Each bit `r` of `bits` (below 8) as bits `2r` and `2r + 1`: a repeat's two outputs.
#[inline(always)]
fn spread_pairs(bits: u32) -> u32 {
    let mut out = 0;
    for r in 0..8 {
        out |= ((bits >> r) & 1) * (3 << (2 * r));
    }
    out
}

/// One row in one tree, with `K` outputs.
struct Lane<'a, const K: usize> {
    ctx: &'a SingleColumns<'a>,
    /// By reference: a copy per row is a wide store read back field by field, which the CPU
    /// cannot forward (a stall on every row).
    tree: &'a TreeView<'a>,
    table: &'a LeafTable,
    lane: usize,
    /// The row's ranks (per unit, per repeat), and its changes.
    qs: *const u32,
    acc: *mut Fixed,
    /// The path to the row's own leaf.
    steps: &'a [PathStep],
    v0: [Fixed; K],
}

impl<const K: usize> Lane<'_, K> {
    /// The row's repeats along its path: at each split on a unit's column, a pass of repeats
    /// at a time, those whose rank is in the split's leaving interval (see [`PathStep`]) leave
    /// and land.
    #[inline(always)]
    unsafe fn route<V: Vector, const ONE_PASS: bool>(
        &self,
        stack: &mut Vec<(u16, u16, bool, u16)>,
    ) {
        let ctx = self.ctx;
        let n_repeats = ctx.n_repeats;
        debug_assert!(!ONE_PASS || n_repeats <= V::PASS);
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
                // SAFETY: `at + V::PASS` is within the row's ranks and their padding.
                let q = unsafe { V::load(self.qs.add(at)) };
                let pass = batch_mask((n_repeats - base).min(V::PASS)) as u16;
                let leave = unsafe { V::leaving(q, step, pass) };
                if !step.again() {
                    unsafe { self.add::<V>(at, leave, leaf) };
                } else if leave != 0 {
                    unsafe { V::land::<K>(self, q, at, other, d, step.other_leaf(), leave, stack) };
                }
                base += V::PASS;
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
    #[inline(always)]
    unsafe fn land<V: Vector>(
        &self,
        q: V::Ranks,
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
                let leave = unsafe { V::leaving(q, step, set) };
                if step.again() {
                    if leave != 0 {
                        stack.push((step.other, e as u16, step.other_leaf(), leave));
                    }
                } else {
                    let other = unsafe { self.land_at(step.other as usize, step.other_leaf()) };
                    unsafe { self.add::<V>(at, leave, other) };
                }
                set &= !leave;
                e = step.next_same();
            }
            unsafe { self.add::<V>(at, set, leaf) };
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

    /// Adds `v(leaf) - v0` to the changes of the repeats in `set` of the pass at `at`.
    ///
    /// # Safety
    /// `leaf` is a node of the tree; the repeats of `set` are within the row's changes.
    #[inline(always)]
    unsafe fn add<V: Vector>(&self, at: usize, set: u16, leaf: usize) {
        // SAFETY: the caller's contract.
        unsafe {
            let v = self.tree.values_unchecked::<K>(leaf);
            let diff = std::array::from_fn(|o| v[o] - self.v0[o]);
            V::add::<K>(self.acc.add(at * K), set, diff)
        }
    }
}
