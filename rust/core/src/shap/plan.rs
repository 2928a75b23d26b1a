//! Row-independent preparation of each tree for path-dependent TreeSHAP.
//!
//! Every tree is laid out in depth-first pre-order. Each non-root node stands for the edge from
//! its parent: the split feature of that edge, its cover ratio `cover(child) / cover(parent)`,
//! and, when an ancestor edge splits on the same feature, the depth of that ancestor edge (the
//! feature's factors on one path combine into one: indicators and cover ratios multiply).

use crate::error::{Error, Result};
use crate::forest::Forest;

/// No ancestor edge on the path splits on the same feature.
pub const NONE: u32 = u32::MAX;

/// Cover ratio of the edge `parent -> child`: the fraction of the parent's training weight that
/// reaches the child. A parent with zero cover splits its (empty) weight evenly.
pub fn cover_ratio(forest: &Forest, parent: usize, child: usize) -> f64 {
    let cp = forest.cover(parent);
    if cp > 0.0 {
        forest.cover(child) / cp
    } else {
        0.5
    }
}

/// Pre-order layout of every tree of a forest.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Tree `t` occupies positions `tree_start[t]..tree_start[t + 1]`.
    pub tree_start: Vec<usize>,
    /// Global node id at each position.
    pub node: Vec<u32>,
    pub depth: Vec<u32>,
    /// The edge into this node is its parent's left branch.
    pub is_left: Vec<bool>,
    /// Split feature of the edge into this node (0 for roots).
    pub feature: Vec<u32>,
    /// Depth of the nearest ancestor node whose incoming edge splits on the same feature.
    pub same: Vec<u32>,
    /// Cover ratio of the edge into this node (1 for roots).
    pub ratio: Vec<f64>,
    /// Combined cover product of the edge's feature along the path, this edge included.
    pub q: Vec<f64>,
    /// The same product at the ancestor edge `same` (1 when there is none).
    pub q_same: Vec<f64>,
    /// Some edge below this node splits on the same feature as the edge into it (its combined
    /// indicator is needed further down).
    pub referenced: Vec<bool>,
    /// An internal node whose two children are leaves, and whose feature is not split above it
    /// on the path: its subtree collapses into row-independent per-point tables ("twig").
    pub twig: Vec<bool>,
    /// Quadrature points needed per tree: ceil(max unique features on a root-leaf path / 2).
    pub points: Vec<usize>,
    /// Maximum depth per tree.
    pub max_depth: Vec<usize>,
}

impl Plan {
    pub fn new(forest: &Forest) -> Result<Plan> {
        let n = forest.n_nodes();
        let mut plan = Plan {
            tree_start: Vec::with_capacity(forest.n_trees() + 1),
            node: Vec::with_capacity(n),
            depth: Vec::with_capacity(n),
            is_left: Vec::with_capacity(n),
            feature: Vec::with_capacity(n),
            same: Vec::with_capacity(n),
            ratio: Vec::with_capacity(n),
            q: Vec::with_capacity(n),
            q_same: Vec::with_capacity(n),
            points: Vec::with_capacity(forest.n_trees()),
            twig: Vec::with_capacity(n),
            referenced: Vec::with_capacity(n),
            max_depth: Vec::with_capacity(forest.n_trees()),
        };
        plan.tree_start.push(0);
        // Per depth along the current path: (feature, q, unique features so far, the depth of
        // the feature's previous edge on the path, restored when the edge leaves the path).
        let mut path: Vec<(u32, f64, usize, u32)> = Vec::new();
        // Per feature: depth of its deepest edge on the current path (NONE when off the path),
        // so that finding an edge's ancestor on the same feature costs O(1), not O(depth).
        let mut last_edge = vec![NONE; forest.n_features()];
        let mut stack: Vec<(usize, u32, bool)> = Vec::new();
        // Position of the current path's node at each depth (the parent of the next node).
        let mut last_at: Vec<usize> = Vec::new();
        for t in 0..forest.n_trees() {
            for nd in forest.tree_nodes(t) {
                let c = forest.cover(nd);
                if !(c >= 0.0 && c.is_finite()) {
                    return Err(Error::InvalidModel(format!(
                        "tree {t}: node {} has cover {c}; covers must be finite and >= 0",
                        nd - forest.root(t)
                    )));
                }
            }
            let mut max_unique = 0usize;
            let mut max_depth = 0usize;
            while let Some((f, _, _, previous)) = path.pop() {
                if !path.is_empty() {
                    last_edge[f as usize] = previous;
                }
            }
            stack.clear();
            last_at.clear();
            stack.push((forest.root(t), 0, true));
            while let Some((nd, d, left)) = stack.pop() {
                let du = d as usize;
                while path.len() > du {
                    let (f, _, _, previous) = path.pop().expect("longer than du");
                    if !path.is_empty() {
                        // Edges below the root registered their feature.
                        last_edge[f as usize] = previous;
                    }
                }
                let (feature, same, ratio, q, q_same, unique) = if d == 0 {
                    (0, NONE, 1.0, 1.0, 1.0, 0)
                } else {
                    let parent = plan.node[last_at[du - 1]] as usize;
                    let f = forest.feature(parent) as u32;
                    let r = cover_ratio(forest, parent, nd);
                    let found = Some(last_edge[f as usize] as usize).filter(|&e| e as u32 != NONE);
                    let unique_above = path[du - 1].2;
                    match found {
                        Some(e) => (f, e as u32, r, path[e].1 * r, path[e].1, unique_above),
                        None => (f, NONE, r, r, 1.0, unique_above + 1),
                    }
                };
                if d == 0 {
                    path.push((feature, q, unique, NONE));
                } else {
                    path.push((feature, q, unique, last_edge[feature as usize]));
                    last_edge[feature as usize] = d;
                }
                if same != NONE {
                    plan.referenced[last_at[same as usize]] = true;
                }
                last_at.truncate(du);
                last_at.push(plan.node.len());
                plan.node.push(nd as u32);
                plan.depth.push(d);
                plan.is_left.push(left);
                plan.feature.push(feature);
                plan.same.push(same);
                plan.ratio.push(ratio);
                plan.q.push(q);
                plan.q_same.push(q_same);
                plan.referenced.push(false);
                if forest.is_leaf(nd) {
                    max_unique = max_unique.max(unique);
                    max_depth = max_depth.max(du);
                } else {
                    stack.push((forest.right(nd), d + 1, false));
                    stack.push((forest.left(nd), d + 1, true));
                }
            }
            let (a, b) = (*plan.tree_start.last().unwrap_or(&0), plan.node.len());
            for i in a..b {
                let nd = plan.node[i] as usize;
                let twig = !forest.is_leaf(nd)
                    && i + 2 < b
                    && forest.is_leaf(plan.node[i + 1] as usize)
                    && forest.is_leaf(plan.node[i + 2] as usize)
                    && plan.depth[i + 1] == plan.depth[i] + 1
                    && plan.depth[i + 2] == plan.depth[i] + 1
                    && plan.same[i + 1] == NONE;
                plan.twig.push(twig);
            }
            plan.tree_start.push(plan.node.len());
            plan.points.push(max_unique.div_ceil(2).max(1));
            plan.max_depth.push(max_depth);
        }
        Ok(plan)
    }

    pub fn n_trees(&self) -> usize {
        self.tree_start.len() - 1
    }
}
