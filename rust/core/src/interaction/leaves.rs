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

use super::cells::{complement, Bits, Cells};
use crate::forest::Forest;

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
    pub n_rows: usize,
}

/// Reusable buffers of a walk (one per thread): the conditions along the current path and, per
/// depth, the rows alive and their decisions.
pub struct Scratch {
    cond: Vec<Option<Bits>>,
    feats: Vec<usize>,
    value: Vec<f64>,
    rows: Vec<Vec<RowState>>,
    left: Vec<Vec<bool>>,
}

impl Scratch {
    pub fn new(forest: &Forest) -> Scratch {
        Scratch {
            cond: vec![None; forest.n_features()],
            feats: Vec::new(),
            value: vec![0.0; forest.n_outputs()],
            rows: Vec::new(),
            left: Vec::new(),
        }
    }

    fn take_rows(&mut self, depth: usize) -> Vec<RowState> {
        if self.rows.len() <= depth {
            self.rows.resize_with(depth + 1, Vec::new);
        }
        let mut v = std::mem::take(&mut self.rows[depth]);
        v.clear();
        v
    }

    fn take_left(&mut self, depth: usize) -> Vec<bool> {
        if self.left.len() <= depth {
            self.left.resize_with(depth + 1, Vec::new);
        }
        let mut v = std::mem::take(&mut self.left[depth]);
        v.clear();
        v
    }
}

impl Walk<'_> {
    /// Walks tree `t` and calls `sink` at each leaf.
    pub fn tree<F: FnMut(&LeafView)>(&self, t: usize, scratch: &mut Scratch, sink: &mut F) {
        let mut rows = scratch.take_rows(0);
        rows.extend((0..self.n_rows as u32).map(|i| RowState {
            i,
            nf: 0,
            cap: 3,
            fails: [0; 3],
        }));
        self.visit(t, self.forest.root(t), 0, &rows, scratch, sink);
        scratch.rows[0] = rows;
    }

    fn visit<F: FnMut(&LeafView)>(
        &self,
        t: usize,
        node: usize,
        depth: usize,
        rows: &[RowState],
        path: &mut Scratch,
        sink: &mut F,
    ) {
        let forest = self.forest;
        if forest.is_leaf(node) {
            self.leaf(t, node, rows, path, sink);
            return;
        }
        let a = forest.feature(node);
        let role = self.role[a];
        let column = &self.columns[a];
        let mask = if role > 0 {
            self.cells[a]
                .as_ref()
                .map(|c| (c, c.left_mask(forest, node)))
        } else {
            None
        };
        // Decision of each row at this node.
        let mut left = path.take_left(depth);
        match &mask {
            Some((cells, bits)) => left.extend(
                rows.iter()
                    .map(|r| bits.get(cells.of_row[r.i as usize] as usize)),
            ),
            None => left.extend(
                rows.iter()
                    .map(|r| forest.goes_left(node, column[r.i as usize])),
            ),
        }
        for side_left in [true, false] {
            let mut child = path.take_rows(depth + 1);
            for (r, &l) in rows.iter().zip(&left) {
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
            let next = if side_left {
                forest.left(node)
            } else {
                forest.right(node)
            };
            if child.is_empty() {
                // Leaves that no row reaches carry zero weight in every share: skip them.
                path.rows[depth + 1] = child;
                continue;
            }
            if let Some((cells, bits)) = &mask {
                let side = if side_left {
                    bits.clone()
                } else {
                    complement(bits, cells.n)
                };
                let saved = path.cond[a].take();
                let first = saved.is_none();
                let mut c = saved.clone().unwrap_or_else(|| Bits::full(cells.n));
                c.and_with(&side);
                path.cond[a] = Some(c);
                if first {
                    path.feats.push(a);
                }
                self.visit(t, next, depth + 1, &child, path, sink);
                if first {
                    path.feats.pop();
                }
                path.cond[a] = saved;
            } else {
                self.visit(t, next, depth + 1, &child, path, sink);
            }
            path.rows[depth + 1] = child;
        }
        path.left[depth] = left;
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
            value: &path.value,
            feats: &path.feats,
            runs: &runs,
            rows,
        });
    }
}

/// Weights of the rows at a leaf by their set of fails: none, exactly one path feature, exactly
/// two, exactly three (positions in the leaf's `feats`).
#[derive(Debug, Clone, Default)]
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
