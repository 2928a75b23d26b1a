//! One (explained row, background row) pair at a time: the game `v(S) = f(x_S, z_notS)` walked
//! through each tree directly.
//!
//! At a node where x and z go the same way the walk follows them; where they part, it follows both,
//! recording the node's feature in A (x's branch) or B (z's branch), and later nodes on a recorded
//! feature follow the recorded side. Each reached leaf is one single-leaf game (see
//! [`super::weights`]). Cost per pair and tree: the nodes the hybrid rows can reach (at most the
//! tree's size). Used for output transforms (which rescale each pair) and for trees whose paths
//! hold more than 64 distinct features.

use super::sink::Sink;
use super::weights::Weights;
use crate::forest::Forest;

/// Scratch state for walks, sized for `p` features.
pub struct PairWalker {
    /// Per feature: 0 free, 1 taken from x, 2 taken from z.
    side: Vec<u8>,
    a: Vec<u32>,
    b: Vec<u32>,
    stack: Vec<Frame>,
}

/// A step of the walk left for later.
enum Frame {
    /// Walk down from this node.
    Visit(usize),
    /// x's side of a split on this feature is done: walk z's side from the node.
    ThenZ(u32, usize),
    /// Both sides of a split on this feature are done.
    Free(u32),
}

impl PairWalker {
    pub fn new(p: usize) -> Self {
        PairWalker {
            side: vec![0; p],
            a: Vec::new(),
            b: Vec::new(),
            stack: Vec::new(),
        }
    }

    /// Adds `scale` times the exact Shapley values (or interactions) of tree `t`'s game for the
    /// pair `(x, z)` to `sink`; `scale` includes the background weight, not the tree weight.
    #[allow(clippy::too_many_arguments)]
    pub fn add_tree(
        &mut self,
        forest: &Forest,
        t: usize,
        x: &[f64],
        z: &[f64],
        scale: f64,
        weights: &Weights,
        sink: &mut Sink,
    ) {
        let ctx = Ctx {
            forest,
            x,
            z,
            scale: scale * forest.tree_weight(t),
            width: forest.tree_width(t),
            output: forest.tree_output(t),
            weights,
        };
        let (x, z) = (ctx.x, ctx.z);
        self.walk(
            &ctx,
            forest.root(t),
            |n| forest.goes_left(n, x[forest.feature(n)]),
            |n| forest.goes_left(n, z[forest.feature(n)]),
            sink,
        );
    }

    /// Walks the hybrids of x and z from `root` with an explicit stack (trees of any depth):
    /// `x_left(n)` / `z_left(n)` say whether x / z go left at node `n`. The stack holds two
    /// frames per split where x and z part, at most two per distinct path feature.
    fn walk(
        &mut self,
        c: &Ctx,
        root: usize,
        x_left: impl Fn(usize) -> bool,
        z_left: impl Fn(usize) -> bool,
        sink: &mut Sink,
    ) {
        let forest = c.forest;
        let child = |n: usize, left: bool| {
            if left {
                forest.left(n)
            } else {
                forest.right(n)
            }
        };
        let mut stack = std::mem::take(&mut self.stack);
        stack.clear();
        stack.push(Frame::Visit(root));
        while let Some(frame) = stack.pop() {
            match frame {
                Frame::Visit(mut n) => loop {
                    if forest.is_leaf(n) {
                        self.leaf(c, n, sink);
                        break;
                    }
                    let f = forest.feature(n);
                    match self.side[f] {
                        1 => n = child(n, x_left(n)),
                        2 => n = child(n, z_left(n)),
                        _ => {
                            let (lx, lz) = (x_left(n), z_left(n));
                            if lx == lz {
                                n = child(n, lx);
                            } else {
                                // x's side first, then z's, then the feature is free again.
                                self.side[f] = 1;
                                self.a.push(f as u32);
                                stack.push(Frame::ThenZ(f as u32, child(n, lz)));
                                n = child(n, lx);
                            }
                        }
                    }
                },
                Frame::ThenZ(f, z_child) => {
                    self.a.pop();
                    self.side[f as usize] = 2;
                    self.b.push(f);
                    stack.push(Frame::Free(f));
                    stack.push(Frame::Visit(z_child));
                }
                Frame::Free(f) => {
                    self.b.pop();
                    self.side[f as usize] = 0;
                }
            }
        }
        self.stack = stack;
    }

    fn leaf(&self, c: &Ctx, n: usize, sink: &mut Sink) {
        let (a, b) = (self.a.len(), self.b.len());
        if a + b == 0 {
            return;
        }
        let value = c.forest.node_values(n, c.width);
        let w = c.weights;
        let ca = c.scale * w.in_a(a, b);
        let cb = -c.scale * w.in_b(a, b);
        for &i in &self.a {
            sink.phi(i as usize, ca, value, c.output);
        }
        for &i in &self.b {
            sink.phi(i as usize, cb, value, c.output);
        }
        if sink.interactions {
            let iaa = c.scale * w.aa(a, b);
            let iab = -c.scale * w.ab(a, b);
            let ibb = c.scale * w.bb(a, b);
            for (x, &i) in self.a.iter().enumerate() {
                for &j in &self.a[x + 1..] {
                    sink.pair(i as usize, j as usize, iaa, value, c.output);
                }
                for &j in &self.b {
                    sink.pair(i as usize, j as usize, iab, value, c.output);
                }
            }
            for (x, &i) in self.b.iter().enumerate() {
                for &j in &self.b[x + 1..] {
                    sink.pair(i as usize, j as usize, ibb, value, c.output);
                }
            }
        }
    }
}

/// Every node's branch decision for one row: bit `n` set when the row goes left at node `n`.
pub fn decisions(forest: &Forest, row: &[f64], out: &mut [u64]) {
    out.iter_mut().for_each(|w| *w = 0);
    for n in 0..forest.n_nodes() {
        if !forest.is_leaf(n) && forest.goes_left(n, row[forest.feature(n)]) {
            out[n / 64] |= 1u64 << (n % 64);
        }
    }
}

/// Words of a [`decisions`] bit set.
pub fn decision_words(forest: &Forest) -> usize {
    forest.n_nodes().div_ceil(64)
}

#[inline]
fn bit(bits: &[u64], n: usize) -> bool {
    bits[n / 64] >> (n % 64) & 1 == 1
}

impl PairWalker {
    /// As [`PairWalker::add_tree`], from precomputed branch decisions ([`decisions`]) of x and z.
    #[allow(clippy::too_many_arguments)]
    pub fn add_tree_decided(
        &mut self,
        forest: &Forest,
        t: usize,
        x: &[u64],
        z: &[u64],
        scale: f64,
        weights: &Weights,
        sink: &mut Sink,
    ) {
        let ctx = Ctx {
            forest,
            x: &[],
            z: &[],
            scale: scale * forest.tree_weight(t),
            width: forest.tree_width(t),
            output: forest.tree_output(t),
            weights,
        };
        self.walk(&ctx, forest.root(t), |n| bit(x, n), |n| bit(z, n), sink);
    }
}

struct Ctx<'a> {
    forest: &'a Forest,
    x: &'a [f64],
    z: &'a [f64],
    scale: f64,
    width: usize,
    output: Option<usize>,
    weights: &'a Weights,
}
