//! Branch decisions of many nodes on one feature from a few calls to [`Forest::goes_left`].
//!
//! Path-dependent TreeSHAP needs the decision of every internal node of every tree for every
//! row, not only the nodes on the row's path. For a numeric split and an ordinary value (not
//! missing, not LightGBM's zero), `goes_left` compares the value with the threshold, so over the
//! feature's nodes sorted by threshold the decisions are a step: "right" below some rank, "left"
//! from it on. A binary search with `goes_left` itself finds that rank once per row and feature;
//! a node's decision is then `rank(node) >= first_left`. Categorical splits and unusual values
//! (NaN, |x| <= 1e-30) ask `goes_left` node by node.

use crate::forest::Forest;

/// Not a numeric split: decide with `goes_left` directly.
pub const DIRECT: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct Splits {
    /// Feature `f`'s numeric split nodes, by ascending threshold, are
    /// `nodes[offsets[f]..offsets[f + 1]]`.
    offsets: Vec<usize>,
    nodes: Vec<u32>,
    /// Per global node: its rank in its feature's list, or [`DIRECT`].
    pub rank: Vec<u32>,
}

impl Splits {
    pub fn new(forest: &Forest) -> Splits {
        let p = forest.n_features();
        let mut per: Vec<Vec<u32>> = vec![Vec::new(); p];
        let mut rank = vec![DIRECT; forest.n_nodes()];
        for n in 0..forest.n_nodes() {
            if !forest.is_leaf(n) && !forest.is_categorical(n) {
                per[forest.feature(n)].push(n as u32);
            }
        }
        let mut offsets = Vec::with_capacity(p + 1);
        let mut nodes = Vec::with_capacity(forest.n_nodes());
        offsets.push(0);
        for list in per.iter_mut() {
            list.sort_by(|&a, &b| {
                forest
                    .threshold(a as usize)
                    .total_cmp(&forest.threshold(b as usize))
            });
            for (i, &n) in list.iter().enumerate() {
                rank[n as usize] = i as u32;
            }
            nodes.extend_from_slice(list);
            offsets.push(nodes.len());
        }
        Splits {
            offsets,
            nodes,
            rank,
        }
    }

    /// Whether `x` must be decided node by node (missing values and LightGBM's zero).
    #[inline]
    pub fn unusual(x: f64) -> bool {
        x.is_nan() || x.abs() <= 1e-30
    }

    /// The first rank among feature `f`'s numeric nodes whose node sends the ordinary value `x`
    /// left (the number of nodes if none does).
    pub fn first_left(&self, forest: &Forest, f: usize, x: f64) -> u32 {
        let list = &self.nodes[self.offsets[f]..self.offsets[f + 1]];
        let (mut lo, mut hi) = (0usize, list.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if forest.goes_left(list[mid] as usize, x) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shap::brute_force::{random_forest, random_rows, Rng, Spec};

    #[test]
    fn ranks_reproduce_goes_left() {
        for seed in 0..30 {
            let mut rng = Rng::new(seed);
            let spec = Spec {
                p: 3,
                k: 1,
                trees: 5,
                max_depth: 6,
                leaf_prob: 0.1,
                average: false,
                vector_leaves: false,
                zero_covers: false,
                categorical: seed % 2 == 0,
            };
            let forest = random_forest(&mut rng, &spec);
            let splits = Splits::new(&forest);
            let mut x = random_rows(&mut rng, 200, spec.p);
            // Values exactly on thresholds, and f32 neighbours of them.
            for r in 0..60 {
                let n = rng.below(forest.n_nodes());
                let t = forest.threshold(n);
                let v = match r % 3 {
                    0 => t,
                    1 => (t as f32) as f64,
                    _ => f32::from_bits((t as f32).to_bits() + 1) as f64,
                };
                x[[r, rng.below(spec.p)]] = v;
            }
            for row in x.rows() {
                for n in 0..forest.n_nodes() {
                    if forest.is_leaf(n) || splits.rank[n] == DIRECT {
                        continue;
                    }
                    let f = forest.feature(n);
                    let v = row[f];
                    if Splits::unusual(v) {
                        continue;
                    }
                    let cut = splits.first_left(&forest, f, v);
                    assert_eq!(splits.rank[n] >= cut, forest.goes_left(n, v));
                }
            }
        }
    }
}
