//! One walk of each tree with every data row at once, which gathers for each leaf how many rows
//! satisfy its path conditions except on a few free features.
//!
//! Every row visits every leaf, carrying the set of tracked features whose condition on the path
//! it fails so far ("fails"). A leaf's condition on feature `a` is the intersection, over the path
//! nodes splitting on `a`, of the side taken; a row passes it or fails it. Partial dependence on a
//! feature set `S` at a leaf needs the weight of the rows whose fails lie inside `S`, so a row is
//! dropped as soon as its fails can no longer lie inside any set that is asked for: when it fails
//! an untracked feature, or more features than their role allows (role 1: only sets of one
//! feature, role 2: pairs, role 3: triples). Rows that fail nothing are the rows in the leaf.

use super::cells::{Bits, Cells, WordUndo};
use crate::forest::Forest;
use crate::parallel::Cancel;

/// A row on its way down: index, number of failed features, the most it may fail, and which.
#[derive(Debug, Clone, Copy)]
pub struct RowState {
    pub i: u32,
    pub nf: u8,
    pub cap: u8,
    pub fails: [u32; 3],
}

/// What a leaf sees: its value, its tracked path features and their conditions, and the rows
/// still alive.
pub struct LeafView<'a> {
    pub tree: usize,
    /// The leaf's node index in the forest.
    pub node: usize,
    /// The leaf's value for every output, times the tree's weight in the ensemble.
    pub value: &'a [f64],
    /// Distinct tracked features on the path, in order of first appearance.
    pub feats: &'a [usize],
    /// The condition on each of `feats`, as runs of cells.
    pub runs: &'a [Vec<(u32, u32)>],
    pub rows: &'a [RowState],
}

/// The fixed inputs of a walk.
pub struct Walk<'a> {
    pub forest: &'a Forest,
    /// Column-major data: `columns[j][i]` is row `i`'s value of feature `j`.
    pub columns: &'a [Vec<f64>],
    /// Cells of each tracked feature.
    pub cells: &'a [Option<Cells>],
    /// Role of each feature (0: untracked, 1, 2, 3: the largest free set it may belong to).
    pub role: &'a [u8],
    /// The rows that walk (indices into `columns` and the cells).
    pub rows: std::ops::Range<u32>,
}

/// A node waiting on the walk's stack: its depth, the rows that reach it, and the split it is
/// entered from (`(parent, left)`).
struct Pending {
    node: usize,
    depth: usize,
    rows: Vec<RowState>,
    edge: Option<(usize, bool)>,
}

/// A condition applied on the current path: the depth of the node it leads to, its feature,
/// whether it was the feature's first on the path, and where its word log starts.
struct Applied {
    depth: usize,
    feature: usize,
    first: bool,
    words_from: usize,
}

/// Reusable buffers of a walk (one per thread): the conditions along the current path (with
/// an undo log of the words they changed, so that memory stays linear in depth), the explicit
/// stack and spare row vectors.
pub struct Scratch {
    cond: Vec<Option<Bits>>,
    feats: Vec<usize>,
    value: Vec<f64>,
    left: Vec<bool>,
    stack: Vec<Pending>,
    applied: Vec<Applied>,
    words: Vec<WordUndo>,
    spare: Vec<Vec<RowState>>,
}

impl Scratch {
    pub fn new(forest: &Forest) -> Scratch {
        Scratch {
            cond: vec![None; forest.n_features()],
            feats: Vec::new(),
            value: vec![0.0; forest.n_outputs()],
            left: Vec::new(),
            stack: Vec::new(),
            applied: Vec::new(),
            words: Vec::new(),
            spare: Vec::new(),
        }
    }

    fn rows(&mut self) -> Vec<RowState> {
        let mut v = self.spare.pop().unwrap_or_default();
        v.clear();
        v
    }

    fn recycle(&mut self, v: Vec<RowState>) {
        self.spare.push(v);
    }

    /// Undoes the conditions of nodes at `depth` or deeper.
    fn unwind(&mut self, depth: usize) {
        while let Some(last) = self.applied.last() {
            if last.depth < depth {
                break;
            }
            let a = self.applied.pop().expect("checked");
            while self.words.len() > a.words_from {
                let (f, w, old) = self.words.pop().expect("checked");
                if let Some(bits) = self.cond[f as usize].as_mut() {
                    bits.0[w as usize] = old;
                }
            }
            if a.first {
                self.cond[a.feature] = None;
                self.feats.pop();
            }
        }
    }
}

/// Rows passed between two looks at the cancel flag.
const CANCEL_STEPS: usize = 1 << 16;

impl Walk<'_> {
    /// Walks tree `t` and calls `sink` at each leaf that rows reach, with an explicit stack
    /// (trees of any depth). Leaf children are visited before their internal siblings, so the
    /// rows kept at once are those of the pending internal nodes. Returns `false` when stopped
    /// by `cancel`.
    pub fn tree<F: FnMut(&LeafView)>(
        &self,
        t: usize,
        scratch: &mut Scratch,
        cancel: &Cancel,
        sink: &mut F,
    ) -> bool {
        let forest = self.forest;
        scratch.unwind(0);
        scratch.stack.clear();
        let mut rows = scratch.rows();
        rows.extend(self.rows.clone().map(|i| RowState {
            i,
            nf: 0,
            cap: 3,
            fails: [0; 3],
        }));
        scratch.stack.push(Pending {
            node: forest.root(t),
            depth: 0,
            rows,
            edge: None,
        });
        let mut steps = 0usize;
        while let Some(pending) = scratch.stack.pop() {
            // Each node costs a pass over its rows.
            steps += pending.rows.len() + 1;
            if steps >= CANCEL_STEPS && cancel.is_set() {
                scratch.recycle(pending.rows);
                while let Some(p) = scratch.stack.pop() {
                    scratch.recycle(p.rows);
                }
                scratch.unwind(0);
                return false;
            }
            if steps >= CANCEL_STEPS {
                steps = 0;
            }
            scratch.unwind(pending.depth);
            if let Some((parent, left)) = pending.edge {
                self.enter(parent, left, pending.depth, scratch);
            }
            if forest.is_leaf(pending.node) {
                self.leaf(t, pending.node, &pending.rows, scratch, sink);
                scratch.recycle(pending.rows);
                continue;
            }
            self.split(&pending, scratch);
            scratch.recycle(pending.rows);
        }
        scratch.unwind(0);
        true
    }

    /// The tracked condition of the edge `parent -> left or right child`, for a node at `depth`.
    fn enter(&self, parent: usize, left: bool, depth: usize, path: &mut Scratch) {
        let a = self.forest.feature(parent);
        if self.role[a] == 0 {
            return;
        }
        let Some(cells) = self.cells[a].as_ref() else {
            return;
        };
        let first = path.cond[a].is_none();
        if first {
            path.cond[a] = Some(Bits::full(cells.n));
            path.feats.push(a);
        }
        path.applied.push(Applied {
            depth,
            feature: a,
            first,
            words_from: path.words.len(),
        });
        let split = cells.split(self.forest, parent);
        let bits = path.cond[a].as_mut().expect("set above");
        cells.restrict(self.forest, &split, left, a as u32, bits, &mut path.words);
    }

    /// Sends the rows of an internal node to its children and pushes them on the stack.
    fn split(&self, at: &Pending, path: &mut Scratch) {
        let forest = self.forest;
        let node = at.node;
        let a = forest.feature(node);
        let role = self.role[a];
        let column = &self.columns[a];
        let tracked = if role > 0 {
            self.cells[a].as_ref().map(|c| (c, c.split(forest, node)))
        } else {
            None
        };
        let mut left = std::mem::take(&mut path.left);
        left.clear();
        match &tracked {
            Some((cells, split)) => left.extend(
                at.rows
                    .iter()
                    .map(|r| cells.goes_left(forest, split, cells.of_row[r.i as usize] as usize)),
            ),
            None => left.extend(
                at.rows
                    .iter()
                    .map(|r| forest.goes_left(node, column[r.i as usize])),
            ),
        }
        let mut children: [Option<Pending>; 2] = [None, None];
        for (slot, side_left) in [(0, true), (1, false)] {
            let mut child = path.rows();
            for (r, &l) in at.rows.iter().zip(&left) {
                if l == side_left {
                    child.push(*r);
                } else if role > 0 {
                    let mut s = *r;
                    let already = s.fails[..s.nf as usize].contains(&(a as u32));
                    if !already {
                        let cap = s.cap.min(role);
                        if s.nf < cap {
                            s.fails[s.nf as usize] = a as u32;
                            s.nf += 1;
                            s.cap = cap;
                            child.push(s);
                        }
                    } else {
                        child.push(s);
                    }
                }
            }
            if child.is_empty() {
                // Leaves that no row reaches carry zero weight in every share: skip them.
                path.recycle(child);
                continue;
            }
            children[slot] = Some(Pending {
                node: if side_left {
                    forest.left(node)
                } else {
                    forest.right(node)
                },
                depth: at.depth + 1,
                rows: child,
                edge: Some((node, side_left)),
            });
        }
        path.left = left;
        // Internal children below leaves on the stack (leaves are popped first), right below
        // left within each kind.
        let [l, r] = children;
        let is_leaf = |c: &Option<Pending>| c.as_ref().is_some_and(|c| forest.is_leaf(c.node));
        let (leaf_l, leaf_r) = (is_leaf(&l), is_leaf(&r));
        let mut order = [(r, leaf_r), (l, leaf_l)];
        if leaf_r && !leaf_l {
            order.swap(0, 1);
        }
        for (c, _) in order {
            if let Some(c) = c {
                path.stack.push(c);
            }
        }
    }

    fn leaf<F: FnMut(&LeafView)>(
        &self,
        t: usize,
        node: usize,
        rows: &[RowState],
        path: &mut Scratch,
        sink: &mut F,
    ) {
        let forest = self.forest;
        let weight = forest.tree_weight(t);
        let width = forest.tree_width(t);
        let vals = forest.node_values(node, width);
        path.value.iter_mut().for_each(|v| *v = 0.0);
        match forest.tree_output(t) {
            Some(o) => path.value[o] = vals[0] * weight,
            None => {
                for (o, v) in vals.iter().enumerate() {
                    path.value[o] = v * weight;
                }
            }
        }
        let runs: Vec<Vec<(u32, u32)>> = path
            .feats
            .iter()
            .map(|&a| {
                let cells = self.cells[a].as_ref().expect("tracked features have cells");
                path.cond[a].as_ref().expect("on path").runs(cells.n)
            })
            .collect();
        sink(&LeafView {
            tree: t,
            node,
            value: &path.value,
            feats: &path.feats,
            runs: &runs,
            rows,
        });
    }
}

/// Weights of the rows at a leaf by their set of fails: none, exactly one path feature, exactly
/// two, exactly three (positions in the leaf's `feats`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailMasses {
    pub m0: f64,
    pub m1: Vec<f64>,
    /// `(a, b, weight)` with positions `a < b`, sorted.
    pub m2: Vec<(u16, u16, f64)>,
    /// `(a, b, c, weight)` with positions `a < b < c`, sorted.
    pub m3: Vec<(u16, u16, u16, f64)>,
}

impl FailMasses {
    /// Tallies the rows at a leaf; `pos[feature]` must hold the feature's position in `feats`.
    pub fn tally(view: &LeafView, w: &[f64], pos: &[u16]) -> FailMasses {
        let d = view.feats.len();
        let mut m0 = 0.0;
        let mut m1 = vec![0.0; d];
        let mut m2 = vec![0.0; d * d];
        let mut m3: Vec<(u16, u16, u16, f64)> = Vec::new();
        for r in view.rows {
            let wi = w[r.i as usize];
            match r.nf {
                0 => m0 += wi,
                1 => m1[pos[r.fails[0] as usize] as usize] += wi,
                2 => {
                    let a = pos[r.fails[0] as usize] as usize;
                    let b = pos[r.fails[1] as usize] as usize;
                    m2[a.min(b) * d + a.max(b)] += wi;
                }
                _ => {
                    let mut p = [
                        pos[r.fails[0] as usize],
                        pos[r.fails[1] as usize],
                        pos[r.fails[2] as usize],
                    ];
                    p.sort_unstable();
                    m3.push((p[0], p[1], p[2], wi));
                }
            }
        }
        let mut pairs = Vec::new();
        for a in 0..d {
            for b in a + 1..d {
                if m2[a * d + b] != 0.0 {
                    pairs.push((a as u16, b as u16, m2[a * d + b]));
                }
            }
        }
        m3.sort_unstable_by_key(|e| (e.0, e.1, e.2));
        let mut triples: Vec<(u16, u16, u16, f64)> = Vec::new();
        for e in m3 {
            match triples.last_mut() {
                Some(l) if (l.0, l.1, l.2) == (e.0, e.1, e.2) => l.3 += e.3,
                _ => triples.push(e),
            }
        }
        FailMasses {
            m0,
            m1,
            m2: pairs,
            m3: triples,
        }
    }

    /// Adds the masses of the same leaf over other rows.
    pub fn add(&mut self, other: &FailMasses) {
        self.m0 += other.m0;
        self.m1.iter_mut().zip(&other.m1).for_each(|(a, b)| *a += b);
        let mut m2 = std::mem::take(&mut self.m2);
        m2.extend_from_slice(&other.m2);
        m2.sort_by_key(|e| (e.0, e.1));
        for e in m2 {
            match self.m2.last_mut() {
                Some(l) if (l.0, l.1) == (e.0, e.1) => l.2 += e.2,
                _ => self.m2.push(e),
            }
        }
        let mut m3 = std::mem::take(&mut self.m3);
        m3.extend_from_slice(&other.m3);
        m3.sort_by_key(|e| (e.0, e.1, e.2));
        for e in m3 {
            match self.m3.last_mut() {
                Some(l) if (l.0, l.1, l.2) == (e.0, e.1, e.2) => l.3 += e.3,
                _ => self.m3.push(e),
            }
        }
    }

    pub fn pair(&self, a: u16, b: u16) -> f64 {
        let key = (a.min(b), a.max(b));
        self.m2
            .binary_search_by_key(&key, |e| (e.0, e.1))
            .map_or(0.0, |i| self.m2[i].2)
    }

    pub fn triple(&self, mut p: [u16; 3]) -> f64 {
        p.sort_unstable();
        self.m3
            .binary_search_by_key(&(p[0], p[1], p[2]), |e| (e.0, e.1, e.2))
            .map_or(0.0, |i| self.m3[i].3)
    }
}
