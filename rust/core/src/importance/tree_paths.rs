//! The tabled trees (see [`super::leaf_table`]) in the compact form their routing reads.
//!
//! For each tabled tree, indexed by local node (its index in the tree):
//! - a 16-byte [`PathNode`] with everything a split needs: its column and shifted cut, its
//!   children, whether each is a leaf, and whether the split's own column is split on again
//!   below each child (exactly, not as a bit mask);
//! - the fixed-point values of its leaves;
//! - per leaf, its ancestors (root first) with, for each, where on the same list the next split
//!   on the same column is: from a split on the permuted column, the next one on the path a row
//!   follows is one lookup;
//! - per leaf, the same list as [`PathStep`]s: for each ancestor split, the interval of ranks of
//!   its column that leave the path there, so that routing a repeat along the path is two
//!   compares per split, with nothing carried from split to split.
//!
//! For every node of every tree, [`TreePaths::below`] also gives the columns split on in its
//! subtree (as bits `f % 64`), for units that span several columns.

use super::column_function::ColumnRanks;
use super::exact_sum::{Fixed, FixedValues};
use super::leaf_table::LeafTables;
use crate::forest::Forest;

/// Asks the CPU to bring the cache line holding `p` closer: a hint, never a fault (any
/// address may be given; nothing is read).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it does not access memory architecturally.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// On an ancestor list: no later ancestor splits on the same column.
pub const NO_NEXT: u16 = u16::MAX;

/// [`PathNode::flags`]: NaN goes left (see [`PathNode::shift`]).
const NAN_LEFT: u16 = 1;
/// [`PathNode::flags`]: the left (right) child is a leaf.
const LEFT_LEAF: u16 = 2;
const RIGHT_LEAF: u16 = 4;
/// [`PathNode::flags`]: the node's column is split on again in the left (right) subtree.
const AGAIN_LEFT: u16 = 8;
const AGAIN_RIGHT: u16 = 16;

/// One node of a tabled tree, in local indices.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathNode {
    pub feature: u32,
    /// A rank `q` goes left when `q.wrapping_add(shift) < cut` (see
    /// [`super::column_function::Node::shifted_cut`]).
    pub cut: u32,
    pub left: u16,
    pub right: u16,
    flags: u16,
    /// Leaves: the number of ancestors.
    pub depth: u16,
}

/// The side a row did not take at a split: the child, whether it is a leaf, and whether the
/// split's column is split on again below it.
pub struct Other {
    pub node: usize,
    pub leaf: bool,
    pub again: bool,
}

impl PathNode {
    #[inline(always)]
    pub fn shift(&self) -> u32 {
        (self.flags & NAN_LEFT) as u32
    }

    /// Whether the row went left (it went to `next`), and the child it did not go to. Without
    /// branches: which way a row goes is as good as random.
    #[inline(always)]
    pub fn other(&self, next: usize) -> (bool, Other) {
        let went_left = next == self.left as usize;
        let w = went_left as u16;
        let mask = 0u16.wrapping_sub(w);
        let node = (self.right & mask) | (self.left & !mask);
        // The right child's flags sit one bit above the left child's.
        let leaf = (self.flags >> (1 + w)) & 1 != 0;
        let again = (self.flags >> (3 + w)) & 1 != 0;
        const _: () = assert!(RIGHT_LEAF == LEFT_LEAF << 1 && AGAIN_RIGHT == AGAIN_LEFT << 1);
        const _: () = assert!(LEFT_LEAF == 1 << 1 && AGAIN_LEFT == 1 << 3);
        (
            went_left,
            Other {
                node: node as usize,
                leaf,
                again,
            },
        )
    }
}

/// The repeats of `set` that stay with a row that went left (`went_left`) or right at a split
/// where those of `left` go left, and those that leave; without branches.
#[inline(always)]
pub fn part(set: u64, left: u64, went_left: bool) -> (u64, u64) {
    let flip = (went_left as u64).wrapping_sub(1);
    let stay = set & (left ^ flip);
    (stay, set & !stay)
}

/// One step of a leaf's path (an ancestor split) as the single-column routing reads it: which
/// ranks of the split's column, on the path down to here, leave it here. A row that reaches the
/// leaf keeps the repeats of its permuted column whose rank satisfies every split on that column
/// above, so the ranks that leave at a split form an interval `[lo, hi)` fixed by the path
/// (empty when the path leaves no room); NaN's rank leaves when [`PathStep::nan_leaves`].
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct PathStep {
    pub feature: u32,
    pub lo: u32,
    pub hi: u32,
    /// The child the path does not take (local index).
    pub other: u16,
    flags: u16,
}

/// [`PathStep::flags`].
const STEP_OTHER_LEAF: u16 = 1;
const STEP_AGAIN: u16 = 2;
const STEP_NAN_LEAVES: u16 = 4;
/// The bits of [`PathStep::flags`] above these hold the position of the next step on the same
/// column, or [`STEP_NO_NEXT`].
const STEP_NEXT_SHIFT: u16 = 3;
/// [`PathStep::next_same`]: no later step on the same column (above any depth a tabled tree
/// has, which is below its 4,096 nodes).
pub const STEP_NO_NEXT: usize = (u16::MAX >> STEP_NEXT_SHIFT) as usize;
const _: () = assert!(STEP_NO_NEXT >= super::leaf_table::MAX_TABLE_NODES);

impl PathStep {
    /// Whether the side not taken is a leaf.
    #[inline(always)]
    pub fn other_leaf(&self) -> bool {
        self.flags & STEP_OTHER_LEAF != 0
    }
    /// Whether the column is split on again below the side not taken.
    #[inline(always)]
    pub fn again(&self) -> bool {
        self.flags & STEP_AGAIN != 0
    }
    /// Whether NaN's rank leaves the path here.
    #[inline(always)]
    pub fn nan_leaves(&self) -> bool {
        self.flags & STEP_NAN_LEAVES != 0
    }
    /// The position of the next step on the same column, or [`STEP_NO_NEXT`].
    #[inline(always)]
    pub fn next_same(&self) -> usize {
        (self.flags >> STEP_NEXT_SHIFT) as usize
    }
}

/// The compact trees of a forest, for its tabled trees.
pub struct TreePaths {
    /// Per node (global index; default for untabled trees).
    nodes: Vec<PathNode>,
    /// Per leaf (global index): where its ancestor list starts in `ancestors`.
    ancestors_at: Vec<u32>,
    /// (local node, position of the next on the same column or [`NO_NEXT`]).
    ancestors: Vec<[u16; 2]>,
    /// Per ancestor-list entry: its step.
    steps: Vec<PathStep>,
    /// Per tree: where its leaf values start in `values` (`width` per local node).
    value_start: Vec<usize>,
    values: Vec<Fixed>,
    /// Per node (global index): bit `f % 64` for each column `f` split on in its subtree.
    below: Vec<u64>,
}

/// One tabled tree, indexed by local node.
#[derive(Clone, Copy)]
pub struct TreeView<'a> {
    pub nodes: &'a [PathNode],
    ancestors_at: &'a [u32],
    ancestors: &'a [[u16; 2]],
    steps: &'a [PathStep],
    values: &'a [Fixed],
    pub width: usize,
}

impl<'a> TreeView<'a> {
    /// The ancestors of leaf `leaf`, root first: (local node, position of the next one on the
    /// same column or [`NO_NEXT`]).
    #[inline(always)]
    pub fn ancestors(&self, leaf: usize) -> &'a [[u16; 2]] {
        let at = self.ancestors_at[leaf] as usize;
        &self.ancestors[at..at + self.nodes[leaf].depth as usize]
    }

    /// The steps of the path to leaf `leaf`, root first (entry for entry its ancestors).
    #[inline(always)]
    pub fn steps(&self, leaf: usize) -> &'a [PathStep] {
        let at = self.ancestors_at[leaf] as usize;
        &self.steps[at..at + self.nodes[leaf].depth as usize]
    }

    /// Asks the CPU to fetch where leaf `leaf`'s path steps start (its ancestor-list offset
    /// and depth): the first of the two dependent loads [`TreeView::steps`] makes.
    #[inline(always)]
    pub fn prefetch_leaf(&self, leaf: usize) {
        prefetch(self.ancestors_at.as_ptr().wrapping_add(leaf));
        prefetch(self.nodes.as_ptr().wrapping_add(leaf));
    }

    /// Asks the CPU to fetch the first `lines` cache lines of leaf `leaf`'s path steps (its
    /// offset should be in cache: see [`TreeView::prefetch_leaf`]).
    #[inline(always)]
    pub fn prefetch_steps(&self, leaf: usize, lines: usize) {
        let at = self.ancestors_at[leaf] as usize;
        let first = self.steps.as_ptr().wrapping_add(at).cast::<u8>();
        for line in 0..lines {
            prefetch(first.wrapping_add(64 * line));
        }
    }

    /// The fixed-point values of leaf `leaf`.
    #[inline(always)]
    pub fn values(&self, leaf: usize) -> &'a [Fixed] {
        &self.values[leaf * self.width..(leaf + 1) * self.width]
    }

    /// The `K` values of node `n` of a tree with `K` values per leaf (zeros for internal
    /// nodes).
    ///
    /// # Safety
    /// `n` is a node of the tree and its width is `K`.
    #[inline(always)]
    pub unsafe fn values_unchecked<const K: usize>(&self, n: usize) -> [Fixed; K] {
        debug_assert!(self.width == K && (n + 1) * K <= self.values.len());
        // SAFETY: the caller's contract.
        std::array::from_fn(|o| unsafe { *self.values.get_unchecked(n * K + o) })
    }
}

impl TreePaths {
    pub fn new(
        forest: &Forest,
        ranks: &ColumnRanks,
        fixed: &FixedValues,
        tables: &LeafTables,
    ) -> Self {
        let n_nodes = forest.n_nodes();
        let mut paths = TreePaths {
            nodes: vec![PathNode::default(); n_nodes],
            ancestors_at: vec![0; n_nodes],
            ancestors: Vec::new(),
            steps: Vec::new(),
            value_start: Vec::with_capacity(forest.n_trees()),
            values: Vec::new(),
            below: vec![0; n_nodes],
        };
        let mut path: Vec<usize> = Vec::new();
        let mut leaves: Vec<usize> = Vec::new();
        // Per column: its latest position on the list being built (from the leaf up).
        let mut seen = vec![NO_NEXT; forest.n_features()];
        // Per column, going down a leaf's path: the ranks still on it, and whether NaN is.
        let mut on_path = vec![(0u32, u32::MAX, true); forest.n_features()];
        for t in 0..forest.n_trees() {
            let nodes = forest.tree_nodes(t);
            let first = nodes.start;
            // Children come after their parents (the forest checks it): backwards, children
            // before parents.
            for n in nodes.clone().rev() {
                if !forest.is_leaf(n) {
                    paths.below[n] = (1u64 << (forest.feature(n) % 64))
                        | paths.below[forest.left(n)]
                        | paths.below[forest.right(n)];
                }
            }
            paths.value_start.push(paths.values.len());
            if !tables.tabled(t) {
                continue;
            }
            let width = forest.tree_width(t);
            for n in nodes.clone() {
                if forest.is_leaf(n) {
                    paths.values.extend_from_slice(fixed.node(n, width));
                } else {
                    paths.values.extend(std::iter::repeat_n(0, width));
                }
            }
            // Ancestor lists, depth-first with the current path on a stack. Whether a split's
            // column is split on again below a child comes from the same lists: exactly when,
            // on some leaf's list through that child, the split has a next one on its column.
            leaves.clear();
            let mut stack = vec![(forest.root(t), 0usize)];
            while let Some((n, depth)) = stack.pop() {
                path.truncate(depth);
                if forest.is_leaf(n) {
                    paths.nodes[n].depth = depth as u16;
                    paths.ancestors_at[n] = paths.ancestors.len() as u32;
                    let at = paths.ancestors.len();
                    paths.ancestors.resize(at + depth, [0, NO_NEXT]);
                    for (i, &a) in path.iter().enumerate().rev() {
                        let f = forest.feature(a);
                        paths.ancestors[at + i] = [(a - first) as u16, seen[f]];
                        if seen[f] != NO_NEXT {
                            let below = path.get(i + 1).copied().unwrap_or(n);
                            paths.nodes[a].flags |= if below == forest.left(a) {
                                AGAIN_LEFT
                            } else {
                                AGAIN_RIGHT
                            };
                        }
                        seen[f] = i as u16;
                    }
                    for &a in &path {
                        seen[forest.feature(a)] = NO_NEXT;
                    }
                    leaves.push(n);
                    continue;
                }
                let (l, r) = (forest.left(n), forest.right(n));
                let (shift, cut) = ranks.nodes[n].shifted_cut();
                let mut flags = if shift != 0 { NAN_LEFT } else { 0 };
                if forest.is_leaf(l) {
                    flags |= LEFT_LEAF;
                }
                if forest.is_leaf(r) {
                    flags |= RIGHT_LEAF;
                }
                paths.nodes[n] = PathNode {
                    feature: forest.feature(n) as u32,
                    cut,
                    left: (l - first) as u16,
                    right: (r - first) as u16,
                    flags,
                    depth: depth as u16,
                };
                path.push(n);
                stack.push((r, depth + 1));
                stack.push((l, depth + 1));
            }
            // Path steps, once every split's flags are known.
            for &n in &leaves {
                let at = paths.ancestors_at[n] as usize;
                let depth = paths.nodes[n].depth as usize;
                paths.steps.resize(at + depth, PathStep::default());
                for i in 0..depth {
                    let a = first + paths.ancestors[at + i][0] as usize;
                    let f = forest.feature(a);
                    let next = if i + 1 < depth {
                        paths.ancestors[at + i + 1][0] as usize
                    } else {
                        n - first
                    };
                    let split = paths.nodes[a];
                    let (went_left, other) = split.other(next);
                    let (lo, hi, nan_on) = on_path[f];
                    // Non-NaN ranks below the raw cut go left.
                    let cut = split.cut - split.shift();
                    let nan_left = split.shift() != 0;
                    let (stay, leave) = if went_left {
                        ((lo, hi.min(cut)), (lo.max(cut), hi))
                    } else {
                        ((lo.max(cut), hi), (lo, hi.min(cut)))
                    };
                    let (leave_lo, leave_hi) = if leave.0 < leave.1 { leave } else { (0, 0) };
                    let next_same = paths.ancestors[at + i][1];
                    let mut flags = if next_same == NO_NEXT {
                        (STEP_NO_NEXT as u16) << STEP_NEXT_SHIFT
                    } else {
                        next_same << STEP_NEXT_SHIFT
                    };
                    if other.leaf {
                        flags |= STEP_OTHER_LEAF;
                    }
                    if other.again {
                        flags |= STEP_AGAIN;
                    }
                    if nan_on && nan_left != went_left {
                        flags |= STEP_NAN_LEAVES;
                    }
                    paths.steps[at + i] = PathStep {
                        feature: f as u32,
                        lo: leave_lo,
                        hi: leave_hi,
                        other: other.node as u16,
                        flags,
                    };
                    on_path[f] = (stay.0, stay.1, nan_on && nan_left == went_left);
                }
                for i in 0..depth {
                    let a = first + paths.ancestors[at + i][0] as usize;
                    on_path[forest.feature(a)] = (0, u32::MAX, true);
                }
            }
        }
        paths
    }

    /// Tabled tree `t`.
    pub fn tree(&self, forest: &Forest, t: usize) -> TreeView<'_> {
        let nodes = forest.tree_nodes(t);
        let width = forest.tree_width(t);
        let start = self.value_start[t];
        TreeView {
            nodes: &self.nodes[nodes.clone()],
            ancestors_at: &self.ancestors_at[nodes.clone()],
            ancestors: &self.ancestors,
            steps: &self.steps,
            values: &self.values[start..start + nodes.len() * width],
            width,
        }
    }

    /// Bit `f % 64` for each column `f` split on in the subtree of node `n` (global).
    #[inline(always)]
    pub fn below(&self, n: usize) -> u64 {
        self.below[n]
    }
}
