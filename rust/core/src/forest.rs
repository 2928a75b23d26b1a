//! The flat representation of a whole tree ensemble: struct-of-arrays over all nodes of all trees.
//!
//! Every loader (scikit-learn, XGBoost, LightGBM) produces a [`ForestParts`]; [`Forest::new`]
//! checks it thoroughly so that the algorithms can index without further checks and never panic.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::ops::Range;

/// How a numeric split compares: the row goes left when `x < t` (XGBoost) or `x <= t`
/// (scikit-learn, LightGBM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessEqual,
}

/// Whether the trees of one output are summed (boosting) or averaged (random forests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Sum,
    Average,
}

/// What a node treats as missing, and where missing goes (the node's `default_left`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Missing {
    /// NaN is missing (scikit-learn, XGBoost, LightGBM `NaN`).
    Nan = 0,
    /// NaN is read as 0.0 and compared as a number (LightGBM missing type `None`).
    NanAsZero = 1,
    /// NaN is read as 0.0, and 0.0 (|x| <= 1e-35) is missing (LightGBM missing type `Zero`).
    ZeroOrNan = 2,
}

impl Missing {
    pub fn from_code(code: u8) -> Result<Self> {
        match code {
            0 => Ok(Missing::Nan),
            1 => Ok(Missing::NanAsZero),
            2 => Ok(Missing::ZeroOrNan),
            other => Err(Error::InvalidModel(format!(
                "unknown missing-value kind {other} (accepted: 0 NaN, 1 NaN-as-zero, 2 zero-or-NaN)"
            ))),
        }
    }
}

/// LightGBM's zero threshold (a float constant widened to double).
const LIGHTGBM_ZERO: f64 = 1e-35f32 as f64;

/// No categorical set at this node.
const NO_SET: u32 = u32::MAX;

/// Largest leaf value or base score accepted: far beyond any model (XGBoost's are float32), far
/// enough below f64::MAX that sums over trees and SHAP's weighted differences stay finite.
const MAX_MAGNITUDE: f64 = 1e300;

/// No depth (no parent) yet while checking that each node has exactly one parent.
const NO_DEPTH: u32 = u32::MAX;

/// What a loader hands over. Child indices are local to their tree; -1 marks a leaf.
#[derive(Debug, Clone, Default)]
pub struct ForestParts {
    pub n_features: usize,
    pub n_outputs: usize,
    /// Per-output base score in margin space.
    pub base_score: Vec<f64>,
    pub average: bool,
    /// `true`: `x <= t` goes left; `false`: `x < t` goes left.
    pub less_equal: bool,
    /// Round every input to float32 before comparing (scikit-learn trees, XGBoost).
    pub f32_inputs: bool,
    /// Node ranges: tree `t` owns nodes `tree_start[t]..tree_start[t+1]`; its root is the first.
    pub tree_start: Vec<usize>,
    /// The output each tree feeds, or -1 when its leaves hold one value per output.
    pub tree_output: Vec<i64>,
    /// Per node: split feature, or -1 for a leaf.
    pub feature: Vec<i64>,
    pub threshold: Vec<f64>,
    pub left: Vec<i64>,
    pub right: Vec<i64>,
    /// Where a missing value goes.
    pub default_left: Vec<bool>,
    /// [`Missing`] codes per node.
    pub missing: Vec<u8>,
    /// Training weight reaching the node.
    pub cover: Vec<f64>,
    /// Node values, in node order: one per node for single-output trees, `n_outputs` per node for
    /// trees with `tree_output == -1`. Only leaves' values are used for prediction.
    pub values: Vec<f64>,
    /// Per node: index of its categorical set, or -1 for a numeric split.
    pub category_set: Vec<i64>,
    /// Set `s` is the bitset `category_words[category_offsets[s]..category_offsets[s+1]]`
    /// (bit `c % 32` of word `c / 32` says whether category `c` is in the set).
    pub category_offsets: Vec<usize>,
    pub category_words: Vec<u32>,
    /// Whether members of set `s` go left (LightGBM, scikit-learn) or right (XGBoost).
    pub category_members_left: Vec<bool>,
    /// LightGBM truncates a category value to an integer before rejecting negatives (-0.5 is
    /// category 0); XGBoost rejects any negative value.
    pub category_truncate_first: bool,
}

/// A validated ensemble. Node indices are global over the whole forest.
#[derive(Debug, Clone)]
pub struct Forest {
    n_features: usize,
    n_outputs: usize,
    base_score: Vec<f64>,
    aggregation: Aggregation,
    comparison: Comparison,
    f32_inputs: bool,
    tree_start: Vec<usize>,
    tree_output: Vec<Option<usize>>,
    /// Per tree: the factor its values carry in the ensemble output (1 or 1 / trees averaged).
    tree_weight: Vec<f64>,
    /// Per output: how many trees are averaged into it (1 for summed forests).
    output_divisor: Vec<f64>,
    feature: Vec<u32>,
    is_leaf: Vec<bool>,
    threshold: Vec<f64>,
    left: Vec<u32>,
    right: Vec<u32>,
    default_left: Vec<bool>,
    missing: Vec<Missing>,
    cover: Vec<f64>,
    /// Per node: where its values start in `values`; empty when every node holds one value.
    value_at: Vec<usize>,
    values: Vec<f64>,
    category_set: Vec<u32>,
    category_offsets: Vec<usize>,
    category_words: Vec<u32>,
    category_members_left: Vec<bool>,
    category_truncate_first: bool,
    /// Per node: its depth in its tree (the root has depth 0).
    depth: Vec<u32>,
    /// The same nodes packed for traversal: one cache line holds what a branch needs.
    packed: Vec<PackedNode>,
}

/// A node as traversal reads it. Thresholds are rewritten so that every numeric split reads
/// `x <= threshold` (see [`Forest::new`]), and inputs are rounded once per row, not per node.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct PackedNode {
    threshold: f64,
    feature: u32,
    left: u32,
    right: u32,
    flags: u32,
}

const FLAG_LEAF: u32 = 1;
const FLAG_DEFAULT_LEFT: u32 = 2;
/// Anything but a plain numeric split with NaN-is-missing: categorical or LightGBM zero rules.
const FLAG_SPECIAL: u32 = 4;

/// A node's threshold as traversal reads it: for finite x, `x < t` is `x <= the largest float
/// below t`; `x < -inf` never holds, and `x <= NaN` is never true.
fn packed_threshold(comparison: Comparison, t: f64) -> f64 {
    match comparison {
        Comparison::LessEqual => t,
        Comparison::Less if t == f64::NEG_INFINITY => f64::NAN,
        Comparison::Less => t.next_down(),
    }
}

fn check_len(name: &str, len: usize, expected: usize) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::InvalidModel(format!(
            "{name} has {len} entries, expected {expected}"
        )))
    }
}

impl Forest {
    /// Checks every array and index of `parts` and builds the forest.
    pub fn new(p: ForestParts) -> Result<Self> {
        if p.n_outputs == 0 {
            return Err(Error::InvalidModel(
                "a model needs at least one output".into(),
            ));
        }
        check_len("base_score", p.base_score.len(), p.n_outputs)?;
        if p.tree_start.is_empty() || p.tree_start[0] != 0 {
            return Err(Error::InvalidModel("tree_start must begin with 0".into()));
        }
        let n_trees = p.tree_start.len() - 1;
        let n_nodes = *p.tree_start.last().unwrap_or(&0);
        check_len("tree_output", p.tree_output.len(), n_trees)?;
        for (name, len) in [
            ("feature", p.feature.len()),
            ("threshold", p.threshold.len()),
            ("left", p.left.len()),
            ("right", p.right.len()),
            ("default_left", p.default_left.len()),
            ("missing", p.missing.len()),
            ("cover", p.cover.len()),
            ("category_set", p.category_set.len()),
        ] {
            check_len(name, len, n_nodes)?;
        }
        let n_sets = p.category_members_left.len();
        check_len("category_offsets", p.category_offsets.len(), n_sets + 1)?;
        if p.category_offsets.windows(2).any(|w| w[0] > w[1])
            || p.category_offsets[n_sets] != p.category_words.len()
            || p.category_offsets[0] != 0
        {
            return Err(Error::InvalidModel(
                "category_offsets are not a valid partition".into(),
            ));
        }

        let mut tree_output = Vec::with_capacity(n_trees);
        let mut trees_per_output = vec![0usize; p.n_outputs];
        let mut next_value = 0usize;
        for t in 0..n_trees {
            let (a, b) = (p.tree_start[t], p.tree_start[t + 1]);
            if b <= a {
                return Err(Error::InvalidModel(format!("tree {t} has no nodes")));
            }
            if b > n_nodes {
                return Err(Error::InvalidModel(format!(
                    "tree {t} ends at node {b}, past the last tree's end {n_nodes}"
                )));
            }
            let (output, width) = match p.tree_output[t] {
                -1 => (None, p.n_outputs),
                o if o >= 0 && (o as usize) < p.n_outputs => (Some(o as usize), 1),
                o => {
                    return Err(Error::InvalidModel(format!(
                        "tree {t} feeds output {o}, but the model has {} outputs",
                        p.n_outputs
                    )))
                }
            };
            match output {
                Some(o) => trees_per_output[o] += 1,
                None => trees_per_output.iter_mut().for_each(|c| *c += 1),
            }
            tree_output.push(output);
            // Overflow-checked: the sum is compared with the values actually present below.
            next_value = (b - a)
                .checked_mul(width)
                .and_then(|w| w.checked_add(next_value))
                .ok_or_else(|| Error::InvalidModel(format!("tree {t} holds too many values")))?;
        }
        check_len("values", p.values.len(), next_value)?;
        // Where each node's values start; left empty when every node holds one value (node n's
        // value is then values[n]), which saves a word per node for the usual models.
        let mut value_at = Vec::new();
        if next_value != n_nodes {
            value_at.reserve_exact(n_nodes);
            let mut next_value = 0usize;
            for (t, output) in tree_output.iter().enumerate() {
                let width = if output.is_some() { 1 } else { p.n_outputs };
                for _ in p.tree_start[t]..p.tree_start[t + 1] {
                    value_at.push(next_value);
                    next_value += width;
                }
            }
        }

        if n_nodes > u32::MAX as usize - 1 {
            return Err(Error::InvalidModel("more than 2^32 nodes".into()));
        }
        for (o, b) in p.base_score.iter().enumerate() {
            if !b.is_finite() || b.abs() > MAX_MAGNITUDE {
                return Err(Error::InvalidModel(format!(
                    "base_score of output {o} is {b:e}; it must be finite, within \
                     +-{MAX_MAGNITUDE:e}"
                )));
            }
        }

        if !p.cover.iter().all(|c| c.is_finite()) {
            for (t, w) in p.tree_start.windows(2).enumerate() {
                if let Some(n) = (w[0]..w[1]).find(|&n| !p.cover[n].is_finite()) {
                    // Negative covers are accepted: scikit-learn trees fitted with negative
                    // sample weights have them.
                    return Err(Error::InvalidModel(format!(
                        "tree {t}, node {}: cover {} is not finite",
                        n - w[0],
                        p.cover[n]
                    )));
                }
            }
        }
        let comparison = if p.less_equal {
            Comparison::LessEqual
        } else {
            Comparison::Less
        };
        // One pass over the nodes checks each and builds every derived array (the traversal
        // nodes and depths too): a load touches each node's memory once. Trees are independent
        // and large forests derive them in parallel; the first error in tree order wins.
        let mut feature = vec![0u32; n_nodes];
        let mut is_leaf = vec![false; n_nodes];
        let mut left = vec![0u32; n_nodes];
        let mut right = vec![0u32; n_nodes];
        let mut missing = vec![Missing::Nan; n_nodes];
        let mut category_set = vec![NO_SET; n_nodes];
        let mut packed = vec![PackedNode::default(); n_nodes];
        // Depth doubles as the "has a parent" mark: NO_DEPTH until a parent claims the node.
        let mut depth = vec![NO_DEPTH; n_nodes];
        let mut rest = TreeArrays {
            feature: &mut feature,
            is_leaf: &mut is_leaf,
            left: &mut left,
            right: &mut right,
            missing: &mut missing,
            category_set: &mut category_set,
            packed: &mut packed,
            depth: &mut depth,
        };
        let mut per_tree = Vec::with_capacity(n_trees);
        for (t, output) in tree_output.iter().enumerate() {
            let (head, tail) = rest.split_at(p.tree_start[t + 1] - p.tree_start[t]);
            per_tree.push((t, output.is_some(), head));
            rest = tail;
        }
        let derive = |(t, single, out): (usize, bool, TreeArrays)| {
            let width = if single { 1 } else { p.n_outputs };
            derive_tree(&p, t, width, &value_at, comparison, n_sets, out)
        };
        let derived: Vec<Result<()>> = if n_nodes >= PARALLEL_DERIVE_NODES {
            per_tree.into_par_iter().map(derive).collect()
        } else {
            per_tree.into_iter().map(derive).collect()
        };
        derived.into_iter().collect::<Result<()>>()?;

        let aggregation = if p.average {
            Aggregation::Average
        } else {
            Aggregation::Sum
        };
        let output_divisor: Vec<f64> = trees_per_output
            .iter()
            .map(|&c| match aggregation {
                Aggregation::Average => c.max(1) as f64,
                Aggregation::Sum => 1.0,
            })
            .collect();
        let tree_weight = tree_output
            .iter()
            .map(|o| match (aggregation, o) {
                (Aggregation::Sum, _) => 1.0,
                (Aggregation::Average, Some(o)) => 1.0 / output_divisor[*o],
                // Vector leaves feed every output, and each output averages over all trees.
                (Aggregation::Average, None) => 1.0 / output_divisor[0],
            })
            .collect();

        let forest = Forest {
            n_features: p.n_features,
            n_outputs: p.n_outputs,
            base_score: p.base_score,
            aggregation,
            comparison,
            f32_inputs: p.f32_inputs,
            tree_start: p.tree_start,
            tree_output,
            tree_weight,
            output_divisor,
            feature,
            is_leaf,
            threshold: p.threshold,
            left,
            right,
            default_left: p.default_left,
            missing,
            cover: p.cover,
            value_at,
            values: p.values,
            category_set,
            category_offsets: p.category_offsets,
            category_words: p.category_words,
            category_members_left: p.category_members_left,
            category_truncate_first: p.category_truncate_first,
            depth,
            packed,
        };
        Ok(forest)
    }

    /// The parts this forest was built from (`Forest::new(forest.parts())` rebuilds it), for
    /// saving a model.
    pub fn parts(&self) -> ForestParts {
        let n = self.n_nodes();
        let mut left = vec![-1i64; n];
        let mut right = vec![-1i64; n];
        let mut feature = vec![-1i64; n];
        for t in 0..self.n_trees() {
            let start = self.tree_start[t];
            for node in self.tree_nodes(t) {
                if !self.is_leaf[node] {
                    feature[node] = self.feature[node] as i64;
                    left[node] = (self.left[node] as usize - start) as i64;
                    right[node] = (self.right[node] as usize - start) as i64;
                }
            }
        }
        ForestParts {
            n_features: self.n_features,
            n_outputs: self.n_outputs,
            base_score: self.base_score.clone(),
            average: self.aggregation == Aggregation::Average,
            less_equal: self.comparison == Comparison::LessEqual,
            f32_inputs: self.f32_inputs,
            tree_start: self.tree_start.clone(),
            tree_output: self
                .tree_output
                .iter()
                .map(|o| o.map_or(-1, |o| o as i64))
                .collect(),
            feature,
            threshold: self.threshold.clone(),
            left,
            right,
            default_left: self.default_left.clone(),
            missing: self.missing.iter().map(|&m| m as u8).collect(),
            cover: self.cover.clone(),
            values: self.values.clone(),
            category_set: self
                .category_set
                .iter()
                .map(|&c| if c == NO_SET { -1 } else { c as i64 })
                .collect(),
            category_offsets: self.category_offsets.clone(),
            category_words: self.category_words.clone(),
            category_members_left: self.category_members_left.clone(),
            category_truncate_first: self.category_truncate_first,
        }
    }

    /// The forest of the first `n` trees (all of them when `n` is larger), validated anew: an
    /// averaged forest averages over the trees kept. For shap's `tree_limit` (the first
    /// boosting rounds or forest trees); the caller picks `n` on a round boundary.
    pub fn first_trees(&self, n: usize) -> Result<Forest> {
        let n = n.min(self.n_trees());
        let mut p = self.parts();
        let nodes = self.tree_start[n];
        let values = (0..n)
            .map(|t| self.tree_nodes(t).len() * self.tree_width(t))
            .sum();
        p.tree_start.truncate(n + 1);
        p.tree_output.truncate(n);
        p.feature.truncate(nodes);
        p.threshold.truncate(nodes);
        p.left.truncate(nodes);
        p.right.truncate(nodes);
        p.default_left.truncate(nodes);
        p.missing.truncate(nodes);
        p.cover.truncate(nodes);
        p.category_set.truncate(nodes);
        p.values.truncate(values);
        // The categorical sets stay whole: the kept nodes refer to them by index.
        Forest::new(p)
    }

    /// Rounds a row to the precision the model compares in (float32 for scikit-learn trees and
    /// XGBoost). [`Forest::leaf_of_prepared`] expects rows prepared this way.
    #[inline]
    pub fn prepare_row(&self, row: &[f64], out: &mut [f64]) {
        if self.f32_inputs {
            for (o, &x) in out.iter_mut().zip(row) {
                *o = x as f32 as f64;
            }
        } else {
            out.copy_from_slice(row);
        }
    }

    /// The leaf of tree `t` that a row prepared by [`Forest::prepare_row`] reaches; the same as
    /// [`Forest::leaf`], faster.
    #[inline]
    pub fn leaf_of_prepared(&self, t: usize, row: &[f64]) -> usize {
        let mut n = self.tree_start[t];
        loop {
            let node = &self.packed[n];
            if node.flags & FLAG_LEAF != 0 {
                return n;
            }
            let v = row[node.feature as usize];
            let left = if node.flags & FLAG_SPECIAL != 0 {
                self.goes_left(n, v)
            } else if v.is_nan() {
                node.flags & FLAG_DEFAULT_LEFT != 0
            } else {
                v <= node.threshold
            };
            n = if left { node.left } else { node.right } as usize;
        }
    }

    /// Node `n`'s split as [`Forest::leaf_of_prepared`] reads it: `Some(threshold)` when a value
    /// prepared by [`Forest::prepare_row`] goes left exactly when it is `<= threshold` (and, when
    /// NaN, when [`Forest::default_left`]); `None` when the split needs [`Forest::goes_left`]
    /// (categorical, LightGBM's zero rules).
    #[inline]
    pub fn plain_threshold(&self, n: usize) -> Option<f64> {
        let node = &self.packed[n];
        if node.flags & FLAG_SPECIAL != 0 {
            None
        } else {
            Some(node.threshold)
        }
    }

    /// The leaves of tree `t` for consecutive prepared rows (`rows` holds `leaves.len()` rows of
    /// `p` values). Walks several rows in lockstep so their independent branch chains overlap.
    pub fn leaves_of_prepared(&self, t: usize, rows: &[f64], p: usize, leaves: &mut [usize]) {
        const LANES: usize = 8;
        let root = self.tree_start[t];
        let n = leaves.len();
        let mut i = 0;
        while i + LANES <= n {
            let mut nodes = [root; LANES];
            loop {
                let mut active = false;
                for (l, slot) in nodes.iter_mut().enumerate() {
                    let node = &self.packed[*slot];
                    if node.flags & FLAG_LEAF != 0 {
                        continue;
                    }
                    active = true;
                    let v = rows[(i + l) * p + node.feature as usize];
                    let left = if node.flags & FLAG_SPECIAL != 0 {
                        self.goes_left(*slot, v)
                    } else if v.is_nan() {
                        node.flags & FLAG_DEFAULT_LEFT != 0
                    } else {
                        v <= node.threshold
                    };
                    *slot = if left { node.left } else { node.right } as usize;
                }
                if !active {
                    break;
                }
            }
            leaves[i..i + LANES].copy_from_slice(&nodes);
            i += LANES;
        }
        for (k, leaf) in leaves.iter_mut().enumerate().skip(i) {
            *leaf = self.leaf_of_prepared(t, &rows[k * p..(k + 1) * p]);
        }
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }
    pub fn n_trees(&self) -> usize {
        self.tree_start.len() - 1
    }
    pub fn n_nodes(&self) -> usize {
        self.feature.len()
    }
    pub fn base_score(&self) -> &[f64] {
        &self.base_score
    }
    pub fn aggregation(&self) -> Aggregation {
        self.aggregation
    }
    pub fn comparison(&self) -> Comparison {
        self.comparison
    }
    /// Global node indices of tree `t`; the first is its root.
    pub fn tree_nodes(&self, t: usize) -> Range<usize> {
        self.tree_start[t]..self.tree_start[t + 1]
    }
    pub fn root(&self, t: usize) -> usize {
        self.tree_start[t]
    }
    /// The output tree `t` feeds, or `None` when its leaves hold a value for every output.
    pub fn tree_output(&self, t: usize) -> Option<usize> {
        self.tree_output[t]
    }
    /// Number of values each node of tree `t` holds.
    pub fn tree_width(&self, t: usize) -> usize {
        if self.tree_output[t].is_some() {
            1
        } else {
            self.n_outputs
        }
    }
    /// The factor tree `t`'s values carry in the ensemble output: 1 when summed, 1/n averaged.
    pub fn tree_weight(&self, t: usize) -> f64 {
        self.tree_weight[t]
    }
    /// Per output: what the sum over trees is divided by (1 unless averaged).
    pub fn output_divisor(&self) -> &[f64] {
        &self.output_divisor
    }
    #[inline]
    pub fn is_leaf(&self, n: usize) -> bool {
        self.is_leaf[n]
    }
    #[inline]
    pub fn feature(&self, n: usize) -> usize {
        self.feature[n] as usize
    }
    #[inline]
    pub fn threshold(&self, n: usize) -> f64 {
        self.threshold[n]
    }
    #[inline]
    pub fn left(&self, n: usize) -> usize {
        self.left[n] as usize
    }
    #[inline]
    pub fn right(&self, n: usize) -> usize {
        self.right[n] as usize
    }
    #[inline]
    pub fn cover(&self, n: usize) -> f64 {
        self.cover[n]
    }
    /// Depth of node `n` in its tree (the root has depth 0).
    #[inline]
    pub fn depth(&self, n: usize) -> usize {
        self.depth[n] as usize
    }
    /// Largest leaf depth over all trees.
    pub fn max_depth(&self) -> usize {
        self.depth.iter().copied().max().unwrap_or(0) as usize
    }
    /// The values of node `n`: one, or one per output for vector-leaf trees.
    #[inline]
    pub fn node_values(&self, n: usize, width: usize) -> &[f64] {
        let a = if self.value_at.is_empty() {
            n
        } else {
            self.value_at[n]
        };
        &self.values[a..a + width]
    }
    /// Whether node `n` routes missing values left.
    pub fn default_left(&self, n: usize) -> bool {
        self.default_left[n]
    }
    /// Whether node `n` is a categorical split.
    pub fn is_categorical(&self, n: usize) -> bool {
        self.category_set[n] != NO_SET
    }

    /// Whether a row whose split feature has value `x` goes to the left child of node `n`.
    ///
    /// This is the one place that decides a branch, so every algorithm takes the same path the
    /// model's own library takes.
    #[inline(always)]
    pub fn goes_left(&self, n: usize, x: f64) -> bool {
        let mut v = if self.f32_inputs { x as f32 as f64 } else { x };
        let missing = self.missing[n];
        if v.is_nan() {
            match missing {
                Missing::Nan => return self.default_left[n],
                Missing::NanAsZero | Missing::ZeroOrNan => v = 0.0,
            }
        }
        if missing == Missing::ZeroOrNan && (-LIGHTGBM_ZERO..=LIGHTGBM_ZERO).contains(&v) {
            return self.default_left[n];
        }
        let set = self.category_set[n];
        if set != NO_SET {
            return self.category_goes_left(set as usize, v);
        }
        match self.comparison {
            Comparison::LessEqual => v <= self.threshold[n],
            Comparison::Less => v < self.threshold[n],
        }
    }

    #[inline]
    fn category_goes_left(&self, set: usize, v: f64) -> bool {
        let members_left = self.category_members_left[set];
        let t = v.trunc();
        let rejected = if self.category_truncate_first {
            t < 0.0
        } else {
            v < 0.0
        };
        // Values that are no category (negative, too large) never belong to the set.
        if rejected || t >= (u32::MAX as f64) {
            return !members_left;
        }
        let c = t as usize;
        let words =
            &self.category_words[self.category_offsets[set]..self.category_offsets[set + 1]];
        let member = words.get(c / 32).is_some_and(|w| (w >> (c % 32)) & 1 == 1);
        member == members_left
    }

    /// The child of internal node `n` that `row` goes to.
    #[inline]
    pub fn next(&self, n: usize, row: &[f64]) -> usize {
        if self.goes_left(n, row[self.feature[n] as usize]) {
            self.left[n] as usize
        } else {
            self.right[n] as usize
        }
    }

    /// The leaf of tree `t` that `row` reaches.
    #[inline]
    pub fn leaf(&self, t: usize, row: &[f64]) -> usize {
        let mut n = self.tree_start[t];
        while !self.is_leaf[n] {
            n = self.next(n, row);
        }
        n
    }

    /// Checks that `x` has the model's number of columns.
    pub fn check_columns(&self, n_columns: usize) -> Result<()> {
        if n_columns != self.n_features {
            return Err(Error::InvalidInput(format!(
                "X has {n_columns} columns, but the model was trained on {} features",
                self.n_features
            )));
        }
        Ok(())
    }
}

/// Large forests derive their trees' arrays in parallel (below this, threads cost more).
const PARALLEL_DERIVE_NODES: usize = 1 << 16;

/// One tree's node range of each array `Forest::new` derives.
struct TreeArrays<'a> {
    feature: &'a mut [u32],
    is_leaf: &'a mut [bool],
    left: &'a mut [u32],
    right: &'a mut [u32],
    missing: &'a mut [Missing],
    category_set: &'a mut [u32],
    packed: &'a mut [PackedNode],
    depth: &'a mut [u32],
}

impl<'a> TreeArrays<'a> {
    /// The first `len` nodes, and the rest.
    fn split_at(self, len: usize) -> (Self, Self) {
        let (feature, feature_rest) = self.feature.split_at_mut(len);
        let (is_leaf, is_leaf_rest) = self.is_leaf.split_at_mut(len);
        let (left, left_rest) = self.left.split_at_mut(len);
        let (right, right_rest) = self.right.split_at_mut(len);
        let (missing, missing_rest) = self.missing.split_at_mut(len);
        let (category_set, category_set_rest) = self.category_set.split_at_mut(len);
        let (packed, packed_rest) = self.packed.split_at_mut(len);
        let (depth, depth_rest) = self.depth.split_at_mut(len);
        (
            TreeArrays {
                feature,
                is_leaf,
                left,
                right,
                missing,
                category_set,
                packed,
                depth,
            },
            TreeArrays {
                feature: feature_rest,
                is_leaf: is_leaf_rest,
                left: left_rest,
                right: right_rest,
                missing: missing_rest,
                category_set: category_set_rest,
                packed: packed_rest,
                depth: depth_rest,
            },
        )
    }
}

/// Checks tree `t` of `p` and fills its range of the derived arrays (`out`, indexed by the
/// node's position in the tree; the child links it stores are forest-wide node numbers).
/// `width` is the number of values per leaf.
fn derive_tree(
    p: &ForestParts,
    t: usize,
    width: usize,
    value_at: &[usize],
    comparison: Comparison,
    n_sets: usize,
    out: TreeArrays,
) -> Result<()> {
    let (a, b) = (p.tree_start[t], p.tree_start[t + 1]);
    let size = (b - a) as i64;
    out.depth[0] = 0;
    for n in a..b {
        let local = n - a;
        let at = || format!("tree {t}, node {local}");
        let node_missing = match p.missing[n] {
            0 => Missing::Nan,
            code => Missing::from_code(code).map_err(|e| match e {
                Error::InvalidModel(m) => Error::InvalidModel(format!("{}: {m}", at())),
                e => e,
            })?,
        };
        out.missing[local] = node_missing;
        let mut flags = if p.default_left[n] {
            FLAG_DEFAULT_LEFT
        } else {
            0
        };
        if node_missing != Missing::Nan {
            flags |= FLAG_SPECIAL;
        }
        let threshold = packed_threshold(comparison, p.threshold[n]);
        match p.feature[n] {
            -1 => {
                out.is_leaf[local] = true;
                let start = if value_at.is_empty() { n } else { value_at[n] };
                let values = &p.values[start..start + width];
                if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                    return Err(Error::InvalidModel(format!(
                        "{}: leaf value {v} is not finite",
                        at()
                    )));
                }
                if let Some(v) = values.iter().find(|v| v.abs() > MAX_MAGNITUDE) {
                    return Err(Error::InvalidModel(format!(
                        "{}: leaf value {v:e} is beyond +-{MAX_MAGNITUDE:e}, where sums over \
                         trees and SHAP weights would overflow",
                        at()
                    )));
                }
                out.packed[local] = PackedNode {
                    threshold,
                    feature: 0,
                    left: 0,
                    right: 0,
                    flags: flags | FLAG_LEAF,
                };
                continue;
            }
            f if f < 0 => {
                return Err(Error::InvalidModel(format!(
                    "{}: split feature {f} is negative (only -1, marking a leaf, is accepted)",
                    at()
                )))
            }
            f if f as u64 >= p.n_features as u64 => {
                return Err(Error::InvalidModel(format!(
                    "{}: splits on feature {f}, but the model has {} features",
                    at(),
                    p.n_features
                )))
            }
            f => out.feature[local] = f as u32,
        }
        // An orphan's children get depth 0 here; the orphan itself is refused below.
        let child_depth = out.depth[local].wrapping_add(1);
        for (child, is_left) in [(p.left[n], true), (p.right[n], false)] {
            // Children come after their parent: this rules out cycles.
            if child <= local as i64 || child >= size {
                return Err(Error::InvalidModel(format!(
                    "{}: child {child} outside the tree ({size} nodes) or not after its parent",
                    at()
                )));
            }
            let c = child as usize;
            // One parent per node: with children after parents, every node is then reached
            // exactly once from the root.
            if out.depth[c] != NO_DEPTH {
                let first = (a..n)
                    .find(|&q| p.feature[q] != -1 && (p.left[q] == child || p.right[q] == child))
                    .map_or(local, |q| q - a);
                return Err(Error::InvalidModel(format!(
                    "tree {t}: node {child} has two parents (nodes {first} and {local}); a tree \
                     node has exactly one"
                )));
            }
            out.depth[c] = child_depth;
            let link = if is_left {
                &mut out.left[local]
            } else {
                &mut out.right[local]
            };
            *link = (a + c) as u32;
            // Path-dependent SHAP weighs a branch by cover(child) / cover(parent): a ratio that
            // overflows (a denormal parent cover) would make it NaN. Covers are finite, so a
            // parent cover of at least 1 never overflows.
            if p.cover[n] > 0.0 && p.cover[n] < 1.0 && !(p.cover[a + c] / p.cover[n]).is_finite() {
                return Err(Error::InvalidModel(format!(
                    "{}: child {child}'s cover {} against the node's cover {} is not a usable \
                     fraction",
                    at(),
                    p.cover[a + c],
                    p.cover[n]
                )));
            }
        }
        // Infinite thresholds are kept: scikit-learn's histogram gradient boosting splits
        // "missing vs the rest" at +inf, and XGBoost's float32 midpoints of huge values round to
        // +-inf. Both compare exactly.
        if p.threshold[n].is_nan() && p.category_set[n] < 0 {
            return Err(Error::InvalidModel(format!("{}: NaN threshold", at())));
        }
        match p.category_set[n] {
            -1 => {}
            s if s < 0 || s as u64 >= n_sets as u64 => {
                return Err(Error::InvalidModel(format!(
                    "{}: refers to categorical set {s} of {n_sets}",
                    at()
                )))
            }
            s => {
                out.category_set[local] = s as u32;
                flags |= FLAG_SPECIAL;
            }
        }
        out.packed[local] = PackedNode {
            threshold,
            feature: out.feature[local],
            left: out.left[local],
            right: out.right[local],
            flags,
        };
    }
    if let Some(orphan) = (1..out.depth.len()).find(|&l| out.depth[l] == NO_DEPTH) {
        return Err(Error::InvalidModel(format!(
            "tree {t}: node {orphan} is not reached from the root (no parent)"
        )));
    }
    Ok(())
}
