//! For one tree and a few rows at once: the leaf each row reaches from *every* node of the tree.
//!
//! A permutation repeat that leaves a row's path at a split lands in the other child's subtree,
//! and from there it follows the row's own values, except at splits on the permuted column.
//! Walking there costs a chain of dependent loads and mispredicted branches per repeat. Instead,
//! a table is filled once per tree and block of rows, bottom-up (children before parents), each
//! node choosing per row between its children's entries. Rows are the lanes of that loop, so the
//! fill is a few vector instructions per node, with no branch and no dependent load. The leaf a
//! row reaches from a node is then one lookup, and the path to it that leaf's list of ancestors
//! (see [`super::tree_paths`]).
//!
//! Filling costs every node of the tree per row, and the ancestor lists memory per leaf: trees
//! with more than [`MAX_TABLE_NODES`] nodes, and trees past `MAX_ANCESTORS` list entries in
//! all, are walked instead.

use super::column_function::{ColumnRanks, Node};
use crate::forest::Forest;
use ndarray::ArrayView2;

/// Rows filled together, the lanes of the fill loop.
pub const LANES: usize = 32;

/// Largest tree (in nodes) that gets a table.
pub const MAX_TABLE_NODES: usize = 4096;

/// Most ancestor-list entries kept for a forest: 20 bytes each, with its path step (see
/// [`super::tree_paths`]), so 80 MB at most.
const MAX_ANCESTORS: usize = 1 << 22;

/// Bit of [`Op::left`] and [`Op::right`]: the child is a leaf (the rest is its local index).
const LEAF_CHILD: u32 = 1 << 31;

/// One internal node in fill order.
#[derive(Debug, Clone, Copy)]
struct Op {
    /// The routing node (its children are not used: see `left` and `right`).
    node: Node,
    /// Local index of each child, with [`LEAF_CHILD`] for leaves.
    left: u32,
    right: u32,
    /// Local index of the node itself.
    out: u32,
    /// Global index of the node (to route unranked columns with [`Forest::goes_left`]).
    global: u32,
}

/// Which trees are tabled, and their fill programs.
pub struct LeafTables {
    /// Per tree: its ops are `ops[op_start[t]..op_start[t + 1]]` (none when not tabled).
    op_start: Vec<u32>,
    tabled: Vec<bool>,
    ops: Vec<Op>,
    /// Nodes of the largest tabled tree: the rows a table needs.
    max_nodes: usize,
}

impl LeafTables {
    /// Fill programs for the trees that fit (see the module documentation).
    pub fn new(forest: &Forest, ranks: &ColumnRanks) -> Self {
        let t_count = forest.n_trees();
        let mut tables = LeafTables {
            op_start: Vec::with_capacity(t_count + 1),
            tabled: Vec::with_capacity(t_count),
            ops: Vec::new(),
            max_nodes: 0,
        };
        let mut ancestors = 0;
        tables.op_start.push(0);
        let mut order = Vec::new();
        for t in 0..t_count {
            let nodes = forest.tree_nodes(t);
            let first = nodes.start;
            // Parents before children (breadth-first from the root).
            order.clear();
            order.push(forest.root(t));
            let mut i = 0;
            while i < order.len() {
                let n = order[i];
                if !forest.is_leaf(n) {
                    order.push(forest.left(n));
                    order.push(forest.right(n));
                }
                i += 1;
            }
            let entries: usize = order
                .iter()
                .filter(|&&n| forest.is_leaf(n))
                .map(|&n| forest.depth(n))
                .sum();
            let tabled = nodes.len() <= MAX_TABLE_NODES && ancestors + entries <= MAX_ANCESTORS;
            if tabled {
                ancestors += entries;
                tables.max_nodes = tables.max_nodes.max(nodes.len());
                let child =
                    |c: usize| (c - first) as u32 | if forest.is_leaf(c) { LEAF_CHILD } else { 0 };
                for &n in order.iter().rev() {
                    if !forest.is_leaf(n) {
                        tables.ops.push(Op {
                            node: ranks.nodes[n],
                            left: child(forest.left(n)),
                            right: child(forest.right(n)),
                            out: (n - first) as u32,
                            global: n as u32,
                        });
                    }
                }
            }
            tables.tabled.push(tabled);
            tables.op_start.push(tables.ops.len() as u32);
        }
        tables
    }

    /// Whether tree `t` has a table.
    #[inline(always)]
    pub fn tabled(&self, t: usize) -> bool {
        self.tabled[t]
    }

    /// An empty table for this forest's trees.
    pub fn table(&self) -> LeafTable {
        LeafTable {
            entries: vec![0; self.max_nodes * LANES],
        }
    }
}

/// The leaf (local index in its tree) that each of [`LANES`] rows reaches from each internal
/// node of one tree: `entries[local * LANES + lane]`.
pub struct LeafTable {
    entries: Vec<u32>,
}

/// The rows of one fill: their ranks column by column (`columns[f * LANES + lane]`), and for
/// unranked columns their values.
pub struct Lanes<'a> {
    pub columns: &'a [u32],
    pub x: ArrayView2<'a, f64>,
    /// Row of `x` in lane 0; lanes at or past `count` are padding.
    pub row0: usize,
    pub count: usize,
}

impl LeafTable {
    /// A table with no rows (a placeholder while the real one is lent out).
    pub fn empty() -> Self {
        LeafTable {
            entries: Vec::new(),
        }
    }

    /// Fills the table of tree `t` for the rows of `lanes`.
    pub fn fill(&mut self, tables: &LeafTables, forest: &Forest, t: usize, lanes: &Lanes) {
        assert!(lanes.columns.len() >= forest.n_features() * LANES);
        match crate::simd::kernel() {
            // SAFETY: `kernel()` only returns kernels this CPU supports (AVX-512F, AVX2).
            #[cfg(target_arch = "x86_64")]
            crate::simd::Kernel::Avx512 => unsafe { self.fill_avx512(tables, forest, t, lanes) },
            #[cfg(target_arch = "x86_64")]
            crate::simd::Kernel::Avx2 => unsafe { self.fill_avx2(tables, forest, t, lanes) },
            _ => self.fill_with(tables, forest, t, lanes, select_portable),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn fill_avx512(
        &mut self,
        tables: &LeafTables,
        forest: &Forest,
        t: usize,
        lanes: &Lanes,
    ) {
        self.fill_with(tables, forest, t, lanes, |e, c, s| {
            // SAFETY: this function has the kernel's features.
            unsafe { select_avx512(e, c, s) }
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fill_avx2(&mut self, tables: &LeafTables, forest: &Forest, t: usize, lanes: &Lanes) {
        self.fill_with(tables, forest, t, lanes, |e, c, s| {
            // SAFETY: this function has the kernel's features.
            unsafe { select_avx2(e, c, s) }
        })
    }

    /// Fills with `select` as the kernel of ranked nodes.
    #[inline(always)]
    fn fill_with(
        &mut self,
        tables: &LeafTables,
        forest: &Forest,
        t: usize,
        lanes: &Lanes,
        select: impl Fn(&mut [u32], &[u32], &Select),
    ) {
        let entries = &mut self.entries;
        let ops = tables.op_start[t] as usize..tables.op_start[t + 1] as usize;
        for op in &tables.ops[ops] {
            // A leaf child gives its own index on every lane: read any row (0), keep none of it
            // and add the constant, so that leaves need no rows of their own.
            let source = |c: u32| {
                if c & LEAF_CHILD != 0 {
                    (0usize, 0u32, c & !LEAF_CHILD)
                } else {
                    (c as usize, u32::MAX, 0u32)
                }
            };
            let (left, left_keep, left_leaf) = source(op.left);
            let (right, right_keep, right_leaf) = source(op.right);
            let node = op.node;
            let f = node.feature();
            if node.ranked() {
                let (shift, cut) = node.shifted_cut();
                let sel = Select {
                    column: f * LANES,
                    left: left * LANES,
                    right: right * LANES,
                    out: op.out as usize * LANES,
                    shift,
                    cut,
                    keep: [left_keep, right_keep],
                    leaf: [left_leaf, right_leaf],
                };
                select(entries, lanes.columns, &sel);
            } else {
                let mut chosen = [0u32; LANES];
                for (lane, c) in chosen.iter_mut().enumerate().take(lanes.count) {
                    let v = lanes.x[[lanes.row0 + lane, f]];
                    *c = if forest.goes_left(op.global as usize, v) {
                        (entries[left * LANES + lane] & left_keep) | left_leaf
                    } else {
                        (entries[right * LANES + lane] & right_keep) | right_leaf
                    };
                }
                let at = op.out as usize * LANES;
                entries[at..at + LANES].copy_from_slice(&chosen);
            }
        }
    }

    /// The leaf (local index) reached from internal node `local` by the row in `lane`.
    #[inline(always)]
    pub fn leaf(&self, local: usize, lane: usize) -> usize {
        self.entries[local * LANES + lane] as usize
    }

    /// [`LeafTable::leaf`] without a bounds check.
    ///
    /// # Safety
    /// `local` is a node of a tree this table can hold and `lane < LANES`.
    #[inline(always)]
    pub unsafe fn leaf_unchecked(&self, local: usize, lane: usize) -> usize {
        debug_assert!(local * LANES + lane < self.entries.len());
        // SAFETY: the caller's contract.
        unsafe { *self.entries.get_unchecked(local * LANES + lane) as usize }
    }
}

/// One ranked node's fill: rows (offsets into the entries, or the columns) and comparison.
struct Select {
    column: usize,
    left: usize,
    right: usize,
    out: usize,
    /// A rank `q` goes left when `q.wrapping_add(shift) < cut` (see [`Node::shifted_cut`]).
    shift: u32,
    cut: u32,
    /// Per child (left, right): a child's entry on a lane is `entry & keep | leaf`.
    keep: [u32; 2],
    leaf: [u32; 2],
}

impl Select {
    /// Panics unless every row it names lies inside `entries` and `columns`.
    #[inline(always)]
    fn check(&self, entries: &[u32], columns: &[u32]) {
        let rows = self.left.max(self.right).max(self.out);
        assert!(rows + LANES <= entries.len() && self.column + LANES <= columns.len());
    }
}

/// One node's entries, lane by lane, without vector instructions.
fn select_portable(entries: &mut [u32], columns: &[u32], s: &Select) {
    s.check(entries, columns);
    for lane in 0..LANES {
        let goes_left = columns[s.column + lane].wrapping_add(s.shift) < s.cut;
        let c = usize::from(!goes_left);
        let from = if goes_left { s.left } else { s.right };
        entries[s.out + lane] = (entries[from + lane] & s.keep[c]) | s.leaf[c];
    }
}

/// One node's entries, 16 lanes per instruction: a compare into a mask, then a blend.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn select_avx512(entries: &mut [u32], columns: &[u32], s: &Select) {
    use std::arch::x86_64::*;
    s.check(entries, columns);
    let e = entries.as_mut_ptr();
    let c = columns.as_ptr();
    let shift = _mm512_set1_epi32(s.shift as i32);
    let cut = _mm512_set1_epi32(s.cut as i32);
    let (lk, ll) = (
        _mm512_set1_epi32(s.keep[0] as i32),
        _mm512_set1_epi32(s.leaf[0] as i32),
    );
    let (rk, rl) = (
        _mm512_set1_epi32(s.keep[1] as i32),
        _mm512_set1_epi32(s.leaf[1] as i32),
    );
    for h in (0..LANES).step_by(16) {
        // SAFETY: `check` keeps every 16-lane access inside the slices.
        unsafe {
            let q = _mm512_add_epi32(_mm512_loadu_si512(c.add(s.column + h).cast()), shift);
            let goes_left = _mm512_cmplt_epu32_mask(q, cut);
            // (a & b) | c is truth table 0xEA.
            let l = _mm512_ternarylogic_epi32::<0xEA>(
                _mm512_loadu_si512(e.add(s.left + h).cast()),
                lk,
                ll,
            );
            let r = _mm512_ternarylogic_epi32::<0xEA>(
                _mm512_loadu_si512(e.add(s.right + h).cast()),
                rk,
                rl,
            );
            let chosen = _mm512_mask_blend_epi32(goes_left, r, l);
            _mm512_storeu_si512(e.add(s.out + h).cast(), chosen);
        }
    }
}

/// One node's entries, 8 lanes per instruction (unsigned compare by flipping the sign bit).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn select_avx2(entries: &mut [u32], columns: &[u32], s: &Select) {
    use std::arch::x86_64::*;
    s.check(entries, columns);
    let e = entries.as_mut_ptr();
    let c = columns.as_ptr();
    let sign = _mm256_set1_epi32(i32::MIN);
    let shift = _mm256_set1_epi32(s.shift as i32);
    let cut = _mm256_xor_si256(_mm256_set1_epi32(s.cut as i32), sign);
    let (lk, ll) = (
        _mm256_set1_epi32(s.keep[0] as i32),
        _mm256_set1_epi32(s.leaf[0] as i32),
    );
    let (rk, rl) = (
        _mm256_set1_epi32(s.keep[1] as i32),
        _mm256_set1_epi32(s.leaf[1] as i32),
    );
    for h in (0..LANES).step_by(8) {
        // SAFETY: `check` keeps every 8-lane access inside the slices.
        unsafe {
            let q = _mm256_add_epi32(_mm256_loadu_si256(c.add(s.column + h).cast()), shift);
            let goes_left = _mm256_cmpgt_epi32(cut, _mm256_xor_si256(q, sign));
            let l = _mm256_or_si256(
                _mm256_and_si256(_mm256_loadu_si256(e.add(s.left + h).cast()), lk),
                ll,
            );
            let r = _mm256_or_si256(
                _mm256_and_si256(_mm256_loadu_si256(e.add(s.right + h).cast()), rk),
                rl,
            );
            let chosen = _mm256_blendv_epi8(r, l, goes_left);
            _mm256_storeu_si256(e.add(s.out + h).cast(), chosen);
        }
    }
}
