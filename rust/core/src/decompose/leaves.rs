//! What each leaf contributes to the decomposition: its value and the background aggregated by
//! the set of path features a background row fails.
//!
//! For one leaf with distinct path features `D`, a row x and a background row z, the hybrid
//! `(x_U, z_notU)` reaches the leaf exactly when, for every `j` in `D`, the row that supplies
//! feature `j` satisfies all of `j`'s conditions on the path. With `A` the features x fails and
//! `F` those z fails, the Möbius transform of `U -> [leaf reached]` is non-zero only for
//! `S ⊆ D` with `F = S \ A` (z must satisfy what is not in `S`, and inside `S` each feature
//! must be failed by exactly one of x and z):
//!
//! `m_S(x) = value * sum_z w_z [F(z) = S \ A(x)] * (-1)^{|S ∩ A(x)|}`.
//!
//! So a leaf needs `N(F)`, the normalised background weight of each failing set `F` with
//! `|F| <= max_order`, and nothing else of the background.

use crate::forest::Forest;
use crate::interventional::columns::Columns;
use crate::interventional::paths::{full_mask, TreePaths};
use crate::interventional::PatternHash;
use crate::parallel::Cancel;
use std::collections::HashMap;

/// Leaves with at most this many path features keep `N` as a dense table over all `2^d` sets.
pub const DENSE_BITS: usize = 10;

/// `N(F)` of one leaf, keyed by the failing set's bits (in the leaf's bit order).
#[derive(Debug, Clone)]
pub enum FailTable {
    Dense(Vec<f64>),
    Sparse(HashMap<u64, f64, PatternHash>),
}

impl FailTable {
    #[inline]
    pub fn get(&self, q: u64) -> f64 {
        match self {
            FailTable::Dense(t) => t[q as usize],
            FailTable::Sparse(m) => m.get(&q).copied().unwrap_or(0.0),
        }
    }

    fn add(&mut self, q: u64, w: f64) {
        match self {
            FailTable::Dense(t) => t[q as usize] += w,
            FailTable::Sparse(m) => *m.entry(q).or_insert(0.0) += w,
        }
    }

    fn is_zero(&self) -> bool {
        match self {
            FailTable::Dense(t) => t.iter().all(|&v| v == 0.0),
            FailTable::Sparse(m) => m.values().all(|&v| v == 0.0),
        }
    }
}

/// One leaf that contributes.
#[derive(Debug, Clone)]
pub struct LeafTerms {
    /// Index of the leaf in [`TreePaths::leaves`] (where the row patterns are).
    pub leaf: usize,
    /// Global ids of its distinct path features, in bit order.
    pub features: Vec<u32>,
    /// The leaf's values times the tree's weight (one per output the tree feeds).
    pub value: Vec<f64>,
    pub fails: FailTable,
    /// Components of order 3 and more: the set's bits and its index among all such sets.
    pub sets: Vec<(u64, u32)>,
    /// Main and pairwise coefficients by the row's failures, when the path is short enough.
    pub coefficients: Option<Coefficients>,
}

/// Leaves with at most this many path features get [`Coefficients`].
pub const COEFFICIENT_BITS: usize = 16;

/// A leaf's main and pairwise terms for every row, read without branching on the row: the term
/// of feature j is `main[j][x fails j]`, that of the pair (j, l) is
/// `pairs[q][2 (x fails j) + (x fails l)]`; each is `±N(...)` (see the module's formula), times
/// the leaf's value when its tree feeds one output (then `value` need not be read).
#[derive(Debug, Clone)]
pub struct Coefficients {
    pub main: Vec<[f64; 2]>,
    pub pairs: Vec<[f64; 4]>,
    /// The pairs' bits `(j, l)`, `j < l`, in the order of `pairs`.
    pub pair_bits: Vec<(u8, u8)>,
    /// Where each feature's term goes in a row's main effects (`f * k`), and each pair's in a
    /// row's pairwise terms (`(min * p + max) * k`, the upper triangle).
    pub main_at: Vec<usize>,
    pub pair_at: Vec<usize>,
    pub scaled: bool,
}

impl Coefficients {
    /// `features`: the leaf's path features (global ids, in bit order); `(p, k)`: the outputs'
    /// features and outputs; `scale`: the leaf's single value, or None to keep the bare `±N`.
    pub fn new(
        fails: &FailTable,
        features: &[u32],
        (p, k): (usize, usize),
        pairs: bool,
        scale: Option<f64>,
    ) -> Coefficients {
        let d = features.len();
        let v = scale.unwrap_or(1.0);
        let n0 = fails.get(0);
        let main = (0..d).map(|j| [fails.get(1 << j) * v, -n0 * v]).collect();
        let mut pair_coefficients = Vec::new();
        let mut pair_bits = Vec::new();
        if pairs {
            for j in 0..d {
                for l in j + 1..d {
                    let (bj, bl) = (1u64 << j, 1u64 << l);
                    pair_coefficients.push([
                        fails.get(bj | bl) * v,
                        -fails.get(bj) * v,
                        -fails.get(bl) * v,
                        n0 * v,
                    ]);
                    pair_bits.push((j as u8, l as u8));
                }
            }
        }
        let main_at = features.iter().map(|&f| f as usize * k).collect();
        let pair_at = pair_bits
            .iter()
            .map(|&(j, l)| {
                let (f, g) = (features[j as usize] as usize, features[l as usize] as usize);
                (f.min(g) * p + f.max(g)) * k
            })
            .collect();
        Coefficients {
            main,
            pairs: pair_coefficients,
            pair_bits,
            main_at,
            pair_at,
            scaled: scale.is_some(),
        }
    }

    /// Words it holds (coefficients, offsets and bits), for the memory estimate.
    pub fn floats(d: usize, pairs: bool) -> usize {
        3 * d
            + if pairs {
                6 * d * d.saturating_sub(1) / 2
            } else {
                0
            }
    }
}

/// The contributing leaves of one tree, with the output its values go to (`None`: all).
#[derive(Debug, Clone)]
pub struct TreeTerms {
    pub tree: usize,
    pub output: Option<usize>,
    pub leaves: Vec<LeafTerms>,
}

/// Aggregates the normalised background over the leaves of one tree, keeping failing sets of at
/// most `order` features; leaves whose value is zero or that no such set reaches are dropped
/// (every component they could add is zero). `None` when cancelled.
pub fn tree_terms(
    forest: &Forest,
    paths: &TreePaths,
    background: &Columns,
    weights: &[f64],
    order: usize,
    cancel: &Cancel,
) -> Option<TreeTerms> {
    let t = paths.tree;
    let width = forest.tree_width(t);
    let tw = forest.tree_weight(t);
    let mut tables: Vec<FailTable> = paths
        .leaves
        .iter()
        .map(|l| {
            if l.depth() <= DENSE_BITS {
                FailTable::Dense(vec![0.0; 1 << l.depth()])
            } else {
                FailTable::Sparse(HashMap::with_hasher(PatternHash::new()))
            }
        })
        .collect();
    let walked = paths.for_each_leaf_block(forest, background, weights, cancel, |i, pats, w| {
        let full = paths.leaves[i].full();
        for (&pat, &wz) in pats.iter().zip(w) {
            let q = !pat & full;
            if wz != 0.0 && q.count_ones() as usize <= order {
                tables[i].add(q, wz);
            }
        }
    });
    if !walked {
        return None;
    }
    let leaves = paths
        .leaves
        .iter()
        .zip(tables)
        .enumerate()
        .filter_map(|(i, (l, fails))| {
            let value: Vec<f64> = forest
                .node_values(l.node, width)
                .iter()
                .map(|v| v * tw)
                .collect();
            if value.iter().all(|&v| v == 0.0) || fails.is_zero() {
                return None;
            }
            Some(LeafTerms {
                leaf: i,
                features: l.features.clone(),
                value,
                fails,
                sets: Vec::new(),
                coefficients: None,
            })
        })
        .collect();
    Some(TreeTerms {
        tree: t,
        output: forest.tree_output(t),
        leaves,
    })
}

/// Number of subsets of `d <= 64` features with `lo..=hi` members (saturating at usize::MAX).
pub fn subsets_between(d: usize, lo: usize, hi: usize) -> usize {
    let (mut total, mut c) = (0u128, 1u128); // c = C(d, i)
    for i in 0..=hi.min(d) {
        if i >= lo {
            total += c;
        }
        c = c * (d - i) as u128 / (i + 1) as u128;
    }
    total.min(usize::MAX as u128) as usize
}

/// Calls `each(bits)` for every subset of `d` bits with `lo..=hi` members, in increasing size and
/// then increasing bit patterns (Gosper's hack, no recursion).
pub fn for_each_subset(d: usize, lo: usize, hi: usize, mut each: impl FnMut(u64)) {
    for size in lo.max(1)..=hi.min(d) {
        let mut s: u64 = full_mask(size);
        let limit = if d >= 64 { u64::MAX } else { 1u64 << d };
        loop {
            each(s);
            if size == 64 || s == 0 {
                break;
            }
            // Next larger pattern with the same number of bits.
            let c = s & s.wrapping_neg();
            let r = s.wrapping_add(c);
            if r == 0 {
                break;
            }
            s = (((r ^ s) >> 2) / c) | r;
            if d < 64 && s >= limit {
                break;
            }
        }
    }
}
