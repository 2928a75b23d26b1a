//! Per-tree path bookkeeping for the pattern methods.
//!
//! Along the path from the root to a leaf, each distinct split feature gets a bit, in order of
//! first appearance; a node's bit is therefore the same for every leaf below it. A row's *pattern*
//! at a leaf has bit `j` set when the row satisfies every condition on the path that tests the
//! leaf's `j`-th feature. One pass over a tree's nodes (children come after parents) gives the
//! patterns of all its leaves.

use super::columns::{Columns, WALK_ROWS};
use crate::forest::Forest;
use crate::parallel::Cancel;

/// Most distinct path features a pattern (a `u64`) can hold.
pub const MAX_PATTERN_BITS: usize = 64;

/// One leaf: its global node id and its distinct path features, in bit order.
#[derive(Debug, Clone)]
pub struct LeafPath {
    pub node: usize,
    /// Local index of the leaf in its tree.
    pub local: usize,
    pub features: Vec<u32>,
}

impl LeafPath {
    pub fn depth(&self) -> usize {
        self.features.len()
    }
    pub fn full(&self) -> u64 {
        full_mask(self.features.len())
    }
}

#[inline]
pub fn full_mask(d: usize) -> u64 {
    if d >= 64 {
        u64::MAX
    } else {
        (1u64 << d) - 1
    }
}

/// The paths of one tree.
#[derive(Debug, Clone)]
pub struct TreePaths {
    pub tree: usize,
    pub start: usize,
    /// Per local node: the bit of its split feature on its path (unused for leaves).
    pub bit: Vec<u8>,
    pub leaves: Vec<LeafPath>,
    /// Largest number of distinct features on one path.
    pub max_bits: usize,
    /// Internal nodes in order: (global id, feature, bit mask, left local, right local).
    internal: Vec<Internal>,
}

#[derive(Debug, Clone, Copy)]
struct Internal {
    node: u32,
    local: u32,
    feature: u32,
    left: u32,
    right: u32,
    /// See [`Forest::plain_threshold`] (unused when `special`).
    threshold: f64,
    /// The split needs [`Forest::goes_left`].
    special: bool,
    default_left: bool,
    clear: u64,
}

impl TreePaths {
    /// `None` when a path has more than [`MAX_PATTERN_BITS`] distinct features.
    pub fn new(forest: &Forest, t: usize) -> Option<TreePaths> {
        let nodes = forest.tree_nodes(t);
        let start = nodes.start;
        let size = nodes.len();
        let mut bit = vec![0u8; size];
        let mut leaves = Vec::new();
        let mut max_bits = 0;
        // Depth-first, carrying the path's distinct features.
        let mut stack: Vec<(usize, Vec<u32>)> = vec![(start, Vec::new())];
        while let Some((n, mut feats)) = stack.pop() {
            if forest.is_leaf(n) {
                max_bits = max_bits.max(feats.len());
                leaves.push(LeafPath {
                    node: n,
                    local: n - start,
                    features: feats,
                });
                continue;
            }
            let f = forest.feature(n) as u32;
            let j = match feats.iter().position(|&g| g == f) {
                Some(j) => j,
                None => {
                    feats.push(f);
                    feats.len() - 1
                }
            };
            if j >= MAX_PATTERN_BITS {
                return None;
            }
            bit[n - start] = j as u8;
            stack.push((forest.right(n), feats.clone()));
            stack.push((forest.left(n), feats));
        }
        leaves.sort_by_key(|l| l.node);
        let internal = nodes
            .clone()
            .filter(|&n| !forest.is_leaf(n))
            .map(|n| Internal {
                node: n as u32,
                local: (n - start) as u32,
                feature: forest.feature(n) as u32,
                left: (forest.left(n) - start) as u32,
                right: (forest.right(n) - start) as u32,
                threshold: forest.plain_threshold(n).unwrap_or(f64::NAN),
                special: forest.plain_threshold(n).is_none(),
                default_left: forest.default_left(n),
                clear: !(1u64 << bit[n - start]),
            })
            .collect();
        Some(TreePaths {
            tree: t,
            start,
            bit,
            leaves,
            max_bits,
            internal,
        })
    }

    /// Fills `buf` (`WALK_ROWS` entries per node of the tree, node-major) with the patterns of a
    /// block of rows ([`super::columns::Columns::block`]) at every node: node `v`'s are
    /// `buf[v * WALK_ROWS..][..WALK_ROWS]`; a leaf's pattern is its entry `& leaf.full()`.
    #[inline]
    pub fn block_patterns(&self, forest: &Forest, block: &[f64], nan: &[bool], buf: &mut [u64]) {
        buf[..WALK_ROWS].fill(u64::MAX);
        for node in &self.internal {
            let f = node.feature as usize;
            let v: &[f64; WALK_ROWS] = block[f * WALK_ROWS..(f + 1) * WALK_ROWS]
                .try_into()
                .expect("a block");
            // All ones where the row goes left; branch-free so that it vectorises.
            let mut left = [0u64; WALK_ROWS];
            if node.special {
                for (m, &x) in left.iter_mut().zip(v) {
                    *m = (forest.goes_left(node.node as usize, x) as u64).wrapping_neg();
                }
            } else if nan[f] {
                for (m, &x) in left.iter_mut().zip(v) {
                    *m = (((x <= node.threshold) | (x.is_nan() & node.default_left)) as u64)
                        .wrapping_neg();
                }
            } else {
                for (m, &x) in left.iter_mut().zip(v) {
                    *m = ((x <= node.threshold) as u64).wrapping_neg();
                }
            }
            // Children come after their parent (checked by `Forest::new`): the parent's
            // entries lie before both children's.
            let (l, r) = (node.left as usize, node.right as usize);
            let (first, second) = (l.min(r), l.max(r));
            if first == second {
                continue;
            }
            let (head, tail) = buf.split_at_mut(first * WALK_ROWS);
            let at = node.local as usize * WALK_ROWS;
            let parent: &[u64; WALK_ROWS] = head[at..at + WALK_ROWS].try_into().expect("a block");
            let (a, b) = tail.split_at_mut((second - first) * WALK_ROWS);
            let a: &mut [u64; WALK_ROWS] = (&mut a[..WALK_ROWS]).try_into().expect("a block");
            let b: &mut [u64; WALK_ROWS] = (&mut b[..WALK_ROWS]).try_into().expect("a block");
            let (to_left, to_right) = if l < r { (a, b) } else { (b, a) };
            let clear = node.clear;
            for i in 0..WALK_ROWS {
                to_left[i] = parent[i] & (clear | left[i]);
                to_right[i] = parent[i] & (clear | !left[i]);
            }
        }
    }

    pub fn n_nodes(&self) -> usize {
        self.bit.len()
    }

    /// Walks the weighted rows of `rows` through the tree a block at a time and calls
    /// `each(leaf, patterns, weights)` for every block and leaf (index into [`Self::leaves`]):
    /// the patterns (unmasked, as [`Self::block_patterns`] leaves them) and the weights of the
    /// block's rows, in row order. `false` when `cancel` was raised (checked every 16 blocks).
    pub fn for_each_leaf_block(
        &self,
        forest: &Forest,
        rows: &Columns,
        weights: &[f64],
        cancel: &Cancel,
        mut each: impl FnMut(usize, &[u64], &[f64]),
    ) -> bool {
        let mut buf = vec![0u64; self.n_nodes() * WALK_ROWS];
        let m = rows.rows();
        for b in 0..m.div_ceil(WALK_ROWS) {
            if b % 16 == 0 && cancel.is_set() {
                return false;
            }
            self.block_patterns(forest, rows.block(b), rows.nan(b), &mut buf);
            let r0 = b * WALK_ROWS;
            let w = &weights[r0..(r0 + WALK_ROWS).min(m)];
            for (i, l) in self.leaves.iter().enumerate() {
                each(i, &buf[l.local * WALK_ROWS..][..w.len()], w);
            }
        }
        true
    }
}

/// Largest number of distinct split features on one root-to-leaf path of the forest: what the
/// Shapley weights of a single-leaf game need (`a + b` never exceeds it). One depth-first pass
/// with an explicit stack and a count per feature: linear in the number of nodes.
pub fn max_path_features(forest: &Forest) -> usize {
    let mut count = vec![0u32; forest.n_features()];
    let mut distinct = 0usize;
    let mut most = 0usize;
    // (node, entering): leaving a node takes its feature off the path again.
    let mut stack: Vec<(usize, bool)> = Vec::new();
    for t in 0..forest.n_trees() {
        stack.push((forest.root(t), true));
        while let Some((n, entering)) = stack.pop() {
            if forest.is_leaf(n) {
                most = most.max(distinct);
                continue;
            }
            let f = forest.feature(n);
            if entering {
                count[f] += 1;
                if count[f] == 1 {
                    distinct += 1;
                }
                stack.push((n, false));
                stack.push((forest.right(n), true));
                stack.push((forest.left(n), true));
            } else {
                count[f] -= 1;
                if count[f] == 0 {
                    distinct -= 1;
                }
            }
        }
    }
    most
}
