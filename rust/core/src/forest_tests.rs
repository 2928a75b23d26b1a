//! Unit tests of the forest representation: the branch rule (`goes_left`) for every comparison,
//! missing-value kind and categorical rule; `Forest::new`'s validation; and native prediction on
//! hand-built forests against a brute-force walk of the loader's parts.

use crate::error::Error;
use crate::forest::{Aggregation, Forest, ForestParts};
use crate::monitor::Silent;
use crate::predict::predict;
use ndarray::Array2;

const NAN: u8 = 0;
const NAN_AS_ZERO: u8 = 1;
const ZERO_OR_NAN: u8 = 2;
/// LightGBM's kZeroThreshold (1e-35f widened to double).
const ZERO: f64 = 1e-35f32 as f64;

/// One stump on feature 0: node 0 splits at `threshold`, leaves 1 (left, -1) and 2 (right, +1).
fn stump(
    threshold: f64,
    less_equal: bool,
    f32_inputs: bool,
    missing: u8,
    default_left: bool,
) -> ForestParts {
    ForestParts {
        n_features: 1,
        n_outputs: 1,
        base_score: vec![0.0],
        average: false,
        less_equal,
        f32_inputs,
        tree_start: vec![0, 3],
        tree_output: vec![0],
        feature: vec![0, -1, -1],
        threshold: vec![threshold, 0.0, 0.0],
        left: vec![1, -1, -1],
        right: vec![2, -1, -1],
        default_left: vec![default_left, false, false],
        missing: vec![missing, 0, 0],
        cover: vec![2.0, 1.0, 1.0],
        values: vec![0.0, -1.0, 1.0],
        category_set: vec![-1, -1, -1],
        category_offsets: vec![0],
        category_words: vec![],
        category_members_left: vec![],
        category_truncate_first: false,
    }
}

fn numeric(
    threshold: f64,
    less_equal: bool,
    f32_inputs: bool,
    missing: u8,
    default_left: bool,
) -> Forest {
    Forest::new(stump(
        threshold,
        less_equal,
        f32_inputs,
        missing,
        default_left,
    ))
    .unwrap()
}

/// A categorical stump whose set holds `members`.
fn categorical(
    members: &[u32],
    members_left: bool,
    truncate_first: bool,
    missing: u8,
    default_left: bool,
) -> Forest {
    let mut p = stump(0.0, true, false, missing, default_left);
    let n_words = members
        .iter()
        .map(|&c| c as usize / 32 + 1)
        .max()
        .unwrap_or(0);
    let mut words = vec![0u32; n_words];
    for &c in members {
        words[c as usize / 32] |= 1 << (c % 32);
    }
    p.category_set = vec![0, -1, -1];
    p.category_offsets = vec![0, words.len()];
    p.category_words = words;
    p.category_members_left = vec![members_left];
    p.category_truncate_first = truncate_first;
    Forest::new(p).unwrap()
}

fn invalid_model(p: ForestParts) -> String {
    match Forest::new(p) {
        Err(Error::InvalidModel(msg)) => msg,
        other => panic!("expected InvalidModel, got {other:?}"),
    }
}

// ----- goes_left: numeric splits ----------------------------------------------------------------

#[test]
fn less_and_less_equal_differ_exactly_at_the_threshold() {
    let le = numeric(0.5, true, false, NAN, false);
    let lt = numeric(0.5, false, false, NAN, false);
    assert!(le.goes_left(0, 0.5));
    assert!(!lt.goes_left(0, 0.5));
    let below = f64::from_bits(0.5f64.to_bits() - 1);
    let above = f64::from_bits(0.5f64.to_bits() + 1);
    for f in [&le, &lt] {
        assert!(f.goes_left(0, below));
        assert!(!f.goes_left(0, above));
    }
    assert!(le.goes_left(0, f64::NEG_INFINITY) && !le.goes_left(0, f64::INFINITY));
    assert!(lt.goes_left(0, f64::NEG_INFINITY) && !lt.goes_left(0, f64::INFINITY));
}

#[test]
fn float32_inputs_are_rounded_before_comparing() {
    // XGBoost: the threshold is a float32; the input 0.1 (f64) rounds to the same float32.
    let t = 0.1f32 as f64;
    let xgb = numeric(t, false, true, NAN, false);
    assert!(0.1 < t); // in float64, 0.1 is below 0.1f32 ...
    assert!(!xgb.goes_left(0, 0.1)); // ... but XGBoost compares 0.1f32 < 0.1f32: false
    let exact = numeric(t, false, false, NAN, false);
    assert!(exact.goes_left(0, 0.1));
    // scikit-learn: float64 midpoint threshold between two float32 values.
    let a = 1.0f32;
    let b = f32::from_bits(a.to_bits() + 1);
    let mid = (a as f64 + b as f64) / 2.0;
    let sk = numeric(mid, true, true, NAN, false);
    // mid itself rounds (ties to even) to 1.0f32 (even mantissa): left; its successor rounds up.
    assert!(sk.goes_left(0, mid));
    assert!(!sk.goes_left(0, f64::from_bits(mid.to_bits() + 1)));
    assert!(sk.goes_left(0, a as f64));
    assert!(!sk.goes_left(0, b as f64));
    // Values beyond float32 become infinities.
    assert!(!sk.goes_left(0, 1e39));
    assert!(sk.goes_left(0, -1e39));
    // float32 subnormals survive the rounding, float64 subnormals become zero.
    let tiny = numeric(0.0, false, true, NAN, false);
    assert!(!tiny.goes_left(0, -5e-324)); // -> -0.0, not < 0
    assert!(tiny.goes_left(0, -(f32::from_bits(1) as f64)));
}

#[test]
fn nan_goes_the_default_way_when_nan_is_missing() {
    for default_left in [true, false] {
        for less_equal in [true, false] {
            let f = numeric(0.5, less_equal, true, NAN, default_left);
            assert_eq!(f.goes_left(0, f64::NAN), default_left);
            assert_eq!(f.goes_left(0, -f64::NAN), default_left);
            assert!(f.goes_left(0, 0.0)); // zero is a number here
        }
    }
}

#[test]
fn nan_is_zero_when_missing_type_is_none() {
    for default_left in [true, false] {
        let pos = numeric(0.5, true, false, NAN_AS_ZERO, default_left);
        let neg = numeric(-0.5, true, false, NAN_AS_ZERO, default_left);
        assert!(pos.goes_left(0, f64::NAN)); // 0 <= 0.5
        assert!(!neg.goes_left(0, f64::NAN)); // 0 > -0.5
        assert!(pos.goes_left(0, 0.0) && !neg.goes_left(0, 0.0));
    }
}

#[test]
fn zero_and_nan_are_missing_with_lightgbm_zero_threshold() {
    for default_left in [true, false] {
        for t in [-0.5, 0.5, -ZERO, ZERO] {
            let f = numeric(t, true, false, ZERO_OR_NAN, default_left);
            for x in [f64::NAN, 0.0, -0.0, ZERO, -ZERO, 1e-36, -1e-36] {
                assert_eq!(f.goes_left(0, x), default_left, "x={x} t={t}");
            }
            // Just outside the zero band: compared as numbers.
            let out = f64::from_bits(ZERO.to_bits() + 1);
            assert_eq!(f.goes_left(0, out), out <= t, "t={t}");
            assert_eq!(f.goes_left(0, -out), -out <= t, "t={t}");
            assert_eq!(f.goes_left(0, 1.0), 1.0 <= t);
        }
    }
}

// ----- goes_left: categorical splits ------------------------------------------------------------

#[test]
fn categorical_members_go_left_or_right() {
    let members = [1, 3, 40, 95];
    for members_left in [true, false] {
        for truncate_first in [true, false] {
            let f = categorical(&members, members_left, truncate_first, NAN, false);
            for c in 0..130u32 {
                let member = members.contains(&c);
                assert_eq!(f.goes_left(0, c as f64), member == members_left, "c={c}");
            }
            // Non-integer categories are truncated: 3.7 is 3, 2.999 is 2.
            assert_eq!(f.goes_left(0, 3.7), members_left);
            assert_eq!(f.goes_left(0, 2.999), !members_left);
            // Beyond the set's words, and huge or infinite values: never members.
            for x in [1000.0, 1e10, 4294967296.0, 1e300, f64::INFINITY] {
                assert_eq!(f.goes_left(0, x), !members_left, "x={x}");
            }
            // Negative values are no category.
            for x in [-1.0, -3.0, -1e10, f64::NEG_INFINITY] {
                assert_eq!(f.goes_left(0, x), !members_left, "x={x}");
            }
        }
    }
}

#[test]
fn negative_fractions_follow_the_truncation_rule() {
    // 0 is in the set. LightGBM truncates first (-0.5 -> 0, a member); XGBoost rejects any
    // negative value (-0.5 is no category).
    let lgb = categorical(&[0, 2], true, true, NAN, false);
    let xgb = categorical(&[0, 2], false, false, NAN, true);
    assert!(lgb.goes_left(0, -0.5)); // member, members go left
    assert!(lgb.goes_left(0, -0.999));
    assert!(!lgb.goes_left(0, -1.0)); // truncates to -1: rejected -> right
    assert!(xgb.goes_left(0, -0.5)); // rejected -> not a member -> left (members go right)
    assert!(!xgb.goes_left(0, 0.0)); // member -> right
    assert!(!xgb.goes_left(0, -0.0)); // -0.0 is category 0
    assert!(!lgb.goes_left(0, 1.5)); // 1: not a member
}

#[test]
fn categorical_missing_values() {
    // NaN-is-missing categorical split: NaN takes the default direction.
    for default_left in [true, false] {
        let f = categorical(&[0, 1], true, true, NAN, default_left);
        assert_eq!(f.goes_left(0, f64::NAN), default_left);
    }
    // Missing type None: NaN is category 0.
    let none = categorical(&[0], true, true, NAN_AS_ZERO, false);
    assert!(none.goes_left(0, f64::NAN));
    let none_not_member = categorical(&[1], true, true, NAN_AS_ZERO, true);
    assert!(!none_not_member.goes_left(0, f64::NAN));
}

#[test]
fn empty_categorical_set_sends_everything_the_non_member_way() {
    let f = categorical(&[], true, true, NAN, false);
    for x in [0.0, 1.0, 31.0, 32.0, -1.0] {
        assert!(!f.goes_left(0, x));
    }
}

// ----- Forest::new validation -------------------------------------------------------------------

#[test]
fn rejects_malformed_parts() {
    let good = || stump(0.5, true, false, NAN, false);
    assert!(Forest::new(good()).is_ok());
    let mut cases: Vec<(ForestParts, &str)> = Vec::new();
    let mut p = good();
    p.left[0] = 3;
    cases.push((p, "outside the tree"));
    let mut p = good();
    p.right[0] = -2;
    cases.push((p, "outside the tree"));
    let mut p = good();
    p.left[0] = 0; // a cycle: the root as its own child
    cases.push((p, "not after its parent"));
    let mut p = good();
    p.feature[0] = 1;
    cases.push((p, "splits on feature 1, but the model has 1 features"));
    let mut p = good();
    p.threshold[0] = f64::NAN;
    cases.push((p, "NaN threshold"));
    let mut p = good();
    p.tree_output = vec![1];
    cases.push((p, "feeds output 1"));
    let mut p = good();
    p.tree_output = vec![-2];
    cases.push((p, "feeds output -2"));
    let mut p = good();
    p.values.pop();
    cases.push((p, "values has 2 entries"));
    let mut p = good();
    p.cover.push(1.0);
    cases.push((p, "cover has 4 entries"));
    let mut p = good();
    p.default_left.pop();
    cases.push((p, "default_left"));
    let mut p = good();
    p.tree_start = vec![1, 3];
    cases.push((p, "tree_start must begin with 0"));
    let mut p = good();
    p.tree_start = vec![];
    cases.push((p, "tree_start must begin with 0"));
    let mut p = good();
    p.tree_start = vec![0, 3, 3];
    p.tree_output = vec![0, 0];
    cases.push((p, "tree 1 has no nodes"));
    let mut p = good();
    p.missing[0] = 7;
    cases.push((p, "missing-value kind 7"));
    let mut p = good();
    p.category_set[0] = 0;
    cases.push((p, "categorical set 0 of 0"));
    let mut p = good();
    p.category_offsets = vec![0, 2];
    p.category_members_left = vec![true];
    cases.push((p, "category_offsets are not a valid partition"));
    let mut p = good();
    p.category_offsets = vec![];
    cases.push((p, "category_offsets has 0 entries"));
    let mut p = good();
    p.n_outputs = 0;
    p.base_score = vec![];
    cases.push((p, "at least one output"));
    let mut p = good();
    p.base_score = vec![0.0, 1.0];
    cases.push((p, "base_score has 2 entries"));
    for (i, (p, expected)) in cases.into_iter().enumerate() {
        let msg = invalid_model(p);
        assert!(
            msg.contains(expected),
            "case {i}: {msg:?} lacks {expected:?}"
        );
    }
}

/// Root 0 splits into 1 and 2; node 1 splits into 3 and 4 (leaves 2, 3, 4).
fn five_nodes() -> ForestParts {
    ForestParts {
        n_features: 2,
        n_outputs: 1,
        base_score: vec![0.0],
        average: false,
        less_equal: true,
        f32_inputs: false,
        tree_start: vec![0, 5],
        tree_output: vec![0],
        feature: vec![0, 1, -1, -1, -1],
        threshold: vec![0.5, 0.5, 0.0, 0.0, 0.0],
        left: vec![1, 3, -1, -1, -1],
        right: vec![2, 4, -1, -1, -1],
        default_left: vec![false; 5],
        missing: vec![0; 5],
        cover: vec![4.0, 3.0, 1.0, 2.0, 1.0],
        values: vec![0.0, 0.0, 1.0, 2.0, 3.0],
        category_set: vec![-1; 5],
        category_offsets: vec![0],
        category_words: vec![],
        category_members_left: vec![],
        category_truncate_first: false,
    }
}

#[test]
fn refuses_trees_that_are_not_trees() {
    assert!(Forest::new(five_nodes()).is_ok());
    let mut cases: Vec<(ForestParts, &str)> = Vec::new();
    // Node 1 points at node 2, the root's right child: a DAG (node 3 is then orphaned).
    let mut p = five_nodes();
    p.left[1] = 2;
    cases.push((p, "tree 0: node 2 has two parents (nodes 0 and 1)"));
    // Both children of the root are the same node.
    let mut p = five_nodes();
    p.right[0] = 1;
    cases.push((p, "node 1 has two parents (nodes 0 and 0)"));
    // Node 1 becomes a leaf: nodes 3 and 4 are left without a parent.
    let mut p = five_nodes();
    p.feature[1] = -1;
    cases.push((p, "tree 0: node 3 is not reached from the root"));
    // A second tree's node pointing back into its own tree's earlier node: a cycle.
    let mut p = five_nodes();
    p.left[1] = 1;
    cases.push((
        p,
        "tree 0, node 1: child 1 outside the tree (5 nodes) or not after",
    ));
    for (i, (p, expected)) in cases.into_iter().enumerate() {
        let msg = invalid_model(p);
        assert!(
            msg.contains(expected),
            "case {i}: {msg:?} lacks {expected:?}"
        );
    }
}

#[test]
fn refuses_out_of_domain_fields() {
    let mut cases: Vec<(ForestParts, &str)> = Vec::new();
    let mut p = five_nodes();
    p.feature[1] = -2;
    cases.push((p, "tree 0, node 1: split feature -2 is negative"));
    let mut p = five_nodes();
    p.feature[0] = i64::MIN;
    cases.push((p, "is negative"));
    let mut p = five_nodes();
    p.feature[1] = 2;
    cases.push((
        p,
        "tree 0, node 1: splits on feature 2, but the model has 2 features",
    ));
    let mut p = five_nodes();
    p.feature[1] = i64::MAX;
    cases.push((p, "but the model has 2 features"));
    for (v, shown) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        let mut p = five_nodes();
        p.values[3] = v;
        cases.push((
            p,
            if v.is_nan() {
                "tree 0, node 3: leaf value NaN is not finite"
            } else {
                "node 3: leaf value"
            },
        ));
        let mut p = five_nodes();
        p.cover[2] = v;
        cases.push((p, "tree 0, node 2: cover"));
        let mut p = five_nodes();
        p.base_score[0] = v;
        cases.push((p, "base_score of output 0 is"));
        let _ = shown;
    }
    let mut p = five_nodes();
    p.values[2] = -1e308;
    cases.push((p, "tree 0, node 2: leaf value -1e308 is beyond +-1e300"));
    let mut p = five_nodes();
    p.base_score[0] = 1e301;
    cases.push((p, "base_score of output 0 is 1e301"));
    let mut p = five_nodes();
    p.threshold[1] = f64::NAN;
    cases.push((p, "tree 0, node 1: NaN threshold"));
    let mut p = five_nodes();
    p.cover[1] = 1e-320;
    cases.push((
        p,
        "tree 0, node 1: child 3's cover 2 against the node's cover",
    ));
    let mut p = five_nodes();
    p.category_set[1] = -3;
    cases.push((p, "node 1: refers to categorical set -3 of 0"));
    let mut p = five_nodes();
    p.missing[4] = 3;
    cases.push((p, "tree 0, node 4: unknown missing-value kind 3"));
    let mut p = five_nodes();
    p.tree_start = vec![0, 6, 5];
    p.tree_output = vec![0, 0];
    cases.push((p, "tree 0 ends at node 6, past the last tree's end 5"));
    for (i, (p, expected)) in cases.into_iter().enumerate() {
        let msg = invalid_model(p);
        assert!(
            msg.contains(expected),
            "case {i}: {msg:?} lacks {expected:?}"
        );
    }
}

#[test]
fn vector_leaves_need_every_value_finite() {
    let mut p = five_nodes();
    p.n_outputs = 3;
    p.base_score = vec![0.0; 3];
    p.tree_output = vec![-1];
    p.values = (0..15).map(f64::from).collect();
    assert!(Forest::new(p.clone()).is_ok());
    // Internal nodes' values are never used: they may be anything.
    p.values[1] = f64::NAN;
    assert!(Forest::new(p.clone()).is_ok());
    // The last of leaf 4's three values.
    p.values[14] = f64::INFINITY;
    let msg = invalid_model(p);
    assert!(msg.contains("tree 0, node 4: leaf value inf"), "{msg}");
}

#[test]
fn accepts_infinite_thresholds_and_negative_covers() {
    // scikit-learn's histogram boosting splits at +inf; float32 midpoints may round to -inf;
    // negative sample weights give negative covers.
    let mut p = five_nodes();
    p.threshold[0] = f64::INFINITY;
    p.threshold[1] = f64::NEG_INFINITY;
    p.cover[3] = -1.5;
    let f = Forest::new(p).unwrap();
    assert_eq!(f.leaf(0, &[1e300, 0.0]), 4);
    assert_eq!(f.leaf(0, &[f64::INFINITY, f64::NEG_INFINITY]), 3);
    assert_eq!(f.cover(3), -1.5);
}

#[test]
fn leaves_may_carry_any_child_values() {
    // Leaves are marked by feature -1; their child entries are ignored.
    let mut p = stump(0.5, true, false, NAN, false);
    p.left = vec![1, 99, -7];
    p.right = vec![2, 0, 12345];
    let f = Forest::new(p).unwrap();
    assert!(f.is_leaf(1) && f.is_leaf(2) && !f.is_leaf(0));
    assert_eq!(f.max_depth(), 1);
}

// ----- prediction on hand-built forests ---------------------------------------------------------

/// A tiny deterministic generator (xorshift) for random trees and rows.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Random trees with random splits, missing kinds and categorical sets.
fn random_parts(
    rng: &mut Rng,
    n_trees: usize,
    n_outputs: usize,
    vector_leaves: bool,
    average: bool,
) -> ForestParts {
    let n_features = 3;
    let mut p = ForestParts {
        n_features,
        n_outputs,
        base_score: (0..n_outputs).map(|o| 0.25 * o as f64 - 0.5).collect(),
        average,
        less_equal: rng.below(2) == 0,
        f32_inputs: rng.below(2) == 0,
        tree_start: vec![0],
        category_offsets: vec![0],
        category_truncate_first: rng.below(2) == 0,
        ..Default::default()
    };
    for t in 0..n_trees {
        // Grow a random binary tree breadth-first: node k's children are appended.
        let mut n_nodes = 1usize;
        let mut k = 0usize;
        let start = p.feature.len();
        while k < n_nodes {
            let split = n_nodes < 9 && rng.below(3) != 0;
            if split {
                let f = rng.below(n_features as u64) as i64;
                p.feature.push(f);
                p.threshold.push((rng.below(9) as f64 - 4.0) * 0.5);
                p.left.push(n_nodes as i64);
                p.right.push(n_nodes as i64 + 1);
                n_nodes += 2;
                p.missing.push(rng.below(3) as u8);
                if rng.below(4) == 0 {
                    p.category_set.push(p.category_members_left.len() as i64);
                    let word = (rng.next() & 0xff) as u32;
                    p.category_words.push(word);
                    p.category_offsets.push(p.category_words.len());
                    p.category_members_left.push(rng.below(2) == 0);
                } else {
                    p.category_set.push(-1);
                }
            } else {
                p.feature.push(-1);
                p.threshold.push(0.0);
                p.left.push(-1);
                p.right.push(-1);
                p.missing.push(0);
                p.category_set.push(-1);
            }
            p.default_left.push(rng.below(2) == 0);
            p.cover.push(1.0 + rng.below(10) as f64);
            k += 1;
        }
        let width = if vector_leaves { n_outputs } else { 1 };
        for _ in 0..n_nodes * width {
            p.values.push((rng.below(2001) as f64 - 1000.0) / 64.0);
        }
        p.tree_start.push(start + n_nodes);
        p.tree_output.push(if vector_leaves {
            -1
        } else {
            (t % n_outputs) as i64
        });
    }
    p
}

/// The brute-force oracle: walk each tree of the loader's parts, node by node, with the rules
/// written out again independently of `goes_left`.
fn oracle(p: &ForestParts, row: &[f64]) -> Vec<f64> {
    let k = p.n_outputs;
    let mut sums = vec![0.0; k];
    let mut counts = vec![0usize; k];
    let mut value_offset = 0usize;
    for t in 0..p.tree_output.len() {
        let (a, b) = (p.tree_start[t], p.tree_start[t + 1]);
        let width = if p.tree_output[t] < 0 { k } else { 1 };
        let mut n = 0usize; // local
        while p.feature[a + n] >= 0 {
            let g = a + n;
            let mut x = row[p.feature[g] as usize];
            if p.f32_inputs {
                x = x as f32 as f64;
            }
            let left = 'decide: {
                if x.is_nan() {
                    if p.missing[g] == NAN {
                        break 'decide p.default_left[g];
                    }
                    x = 0.0;
                }
                if p.missing[g] == ZERO_OR_NAN && x.abs() <= ZERO {
                    break 'decide p.default_left[g];
                }
                if p.category_set[g] >= 0 {
                    let s = p.category_set[g] as usize;
                    let bad = if p.category_truncate_first {
                        x.trunc() < 0.0
                    } else {
                        x < 0.0
                    };
                    let member = !bad && {
                        let c = x.trunc();
                        let words =
                            &p.category_words[p.category_offsets[s]..p.category_offsets[s + 1]];
                        c < (32 * words.len()) as f64
                            && (words[c as usize / 32] >> (c as usize % 32)) & 1 == 1
                    };
                    break 'decide member == p.category_members_left[s];
                }
                if p.less_equal {
                    x <= p.threshold[g]
                } else {
                    x < p.threshold[g]
                }
            };
            n = if left { p.left[g] } else { p.right[g] } as usize;
        }
        let v = &p.values[value_offset + n * width..value_offset + (n + 1) * width];
        if p.tree_output[t] < 0 {
            for o in 0..k {
                sums[o] += v[o];
                counts[o] += 1;
            }
        } else {
            sums[p.tree_output[t] as usize] += v[0];
            counts[p.tree_output[t] as usize] += 1;
        }
        value_offset += (b - a) * width;
    }
    (0..k)
        .map(|o| {
            let s = if p.average {
                sums[o] / counts[o].max(1) as f64
            } else {
                sums[o]
            };
            s + p.base_score[o]
        })
        .collect()
}

fn random_rows(rng: &mut Rng, n: usize) -> Array2<f64> {
    let specials = [
        f64::NAN,
        0.0,
        -0.0,
        ZERO,
        -ZERO,
        1e-36,
        -0.5,
        0.5,
        1.0,
        -2.0,
        2.0,
        1e39,
        f64::INFINITY,
        -f64::INFINITY,
    ];
    Array2::from_shape_fn((n, 3), |_| {
        if rng.below(2) == 0 {
            specials[rng.below(specials.len() as u64) as usize]
        } else {
            (rng.unit() - 0.5) * 12.0
        }
    })
}

#[test]
fn predict_matches_a_brute_force_walk_of_random_forests() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for case in 0..60 {
        let n_outputs = 1 + case % 3;
        let vector = case % 4 == 1;
        let average = case % 5 == 2;
        let p = random_parts(&mut rng, 1 + case % 7, n_outputs, vector, average);
        let forest = Forest::new(p.clone()).unwrap();
        let x = random_rows(&mut rng, 300); // more than one block of rows
        for threads in [1, 2] {
            let out = predict(&forest, x.view(), threads, &Silent).unwrap();
            for (i, row) in x.rows().into_iter().enumerate() {
                let expected = oracle(&p, row.as_slice().unwrap());
                for o in 0..n_outputs {
                    let got = out[[i, o]];
                    let tol = 1e-12 * (1.0 + expected[o].abs());
                    assert!(
                        (got - expected[o]).abs() <= tol,
                        "case {case} row {i} output {o}: {got} vs {}",
                        expected[o]
                    );
                }
            }
        }
    }
}

#[test]
fn sum_average_vector_leaves_and_base_score() {
    // Two single-output stumps feeding outputs 0 and 1, plus a vector-leaf stump.
    let mut p = stump(0.5, true, false, NAN, true);
    p.n_outputs = 2;
    p.base_score = vec![10.0, -10.0];
    p.tree_start = vec![0, 3, 6, 9];
    p.tree_output = vec![0, 1, -1];
    let node = |v: Vec<i64>| [v.clone(), v.clone(), v].concat();
    p.feature = node(vec![0, -1, -1]);
    p.threshold = [
        vec![0.5, 0.0, 0.0],
        vec![0.5, 0.0, 0.0],
        vec![0.5, 0.0, 0.0],
    ]
    .concat();
    p.left = node(vec![1, -1, -1]);
    p.right = node(vec![2, -1, -1]);
    p.default_left = [true, false, false].repeat(3);
    p.missing = vec![0; 9];
    p.cover = vec![1.0; 9];
    p.category_set = vec![-1; 9];
    p.values = [
        vec![0.0, 1.0, 2.0],                        // tree 0 (output 0)
        vec![0.0, 4.0, 8.0],                        // tree 1 (output 1)
        vec![0.0, 0.0, 100.0, 200.0, 300.0, 400.0], // tree 2: (left) [100,200], (right) [300,400]
    ]
    .concat();
    let x = Array2::from_shape_vec((3, 1), vec![0.0, 1.0, f64::NAN]).unwrap();

    let summed = Forest::new(p.clone()).unwrap();
    assert_eq!(summed.aggregation(), Aggregation::Sum);
    assert_eq!(summed.tree_width(2), 2);
    assert_eq!(summed.tree_weight(0), 1.0);
    let out = predict(&summed, x.view(), 1, &Silent).unwrap();
    assert_eq!(
        out.row(0).to_vec(),
        vec![10.0 + 1.0 + 100.0, -10.0 + 4.0 + 200.0]
    );
    assert_eq!(
        out.row(1).to_vec(),
        vec![10.0 + 2.0 + 300.0, -10.0 + 8.0 + 400.0]
    );
    assert_eq!(out.row(2).to_vec(), out.row(0).to_vec()); // NaN goes left by default

    p.average = true;
    let averaged = Forest::new(p).unwrap();
    // Each output averages over the trees feeding it: 2 (one own tree + the vector tree).
    assert_eq!(averaged.output_divisor(), &[2.0, 2.0]);
    assert_eq!(averaged.tree_weight(0), 0.5);
    let out = predict(&averaged, x.view(), 1, &Silent).unwrap();
    assert_eq!(
        out.row(0).to_vec(),
        vec![10.0 + (1.0 + 100.0) / 2.0, -10.0 + (4.0 + 200.0) / 2.0]
    );
    assert_eq!(
        out.row(1).to_vec(),
        vec![10.0 + (2.0 + 300.0) / 2.0, -10.0 + (8.0 + 400.0) / 2.0]
    );
}

#[test]
fn predict_refuses_the_wrong_number_of_columns() {
    let f = numeric(0.5, true, false, NAN, false);
    let x = Array2::<f64>::zeros((2, 3));
    match predict(&f, x.view(), 1, &Silent) {
        Err(Error::InvalidInput(msg)) => assert!(msg.contains("3 columns")),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn depths_and_navigation() {
    let mut rng = Rng(7);
    let p = random_parts(&mut rng, 5, 1, false, false);
    let f = Forest::new(p).unwrap();
    for t in 0..f.n_trees() {
        assert_eq!(f.depth(f.root(t)), 0);
        for n in f.tree_nodes(t) {
            if !f.is_leaf(n) {
                assert!(f.left(n) > n && f.right(n) > n);
                assert_eq!(f.depth(f.left(n)), f.depth(n) + 1);
                assert!(f.tree_nodes(t).contains(&f.left(n)));
            }
        }
        let leaf = f.leaf(t, &[0.1, -0.3, 2.0]);
        assert!(f.is_leaf(leaf) && f.tree_nodes(t).contains(&leaf));
    }
}

#[test]
fn parts_rebuild_the_same_forest() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for case in 0..20 {
        let n_outputs = 1 + case % 3;
        let p = random_parts(
            &mut rng,
            1 + case % 7,
            n_outputs,
            case % 4 == 1,
            case % 5 == 2,
        );
        let forest = Forest::new(p.clone()).unwrap();
        let again = Forest::new(forest.parts()).unwrap();
        let x = random_rows(&mut rng, 100);
        let a = predict(&forest, x.view(), 1, &Silent).unwrap();
        let b = predict(&again, x.view(), 1, &Silent).unwrap();
        assert_eq!(a, b, "case {case}");
        assert_eq!(forest.parts().values, p.values);
        assert_eq!(
            forest.parts().left,
            p.left.iter().map(|&c| c.max(-1)).collect::<Vec<_>>()
        );
    }
}

#[test]
fn first_trees_predict_like_a_forest_of_those_trees() {
    for case in 0..24u64 {
        let n_outputs = 1 + (case % 3) as usize;
        let (vector, average) = (case % 4 == 1, case % 2 == 0);
        let all = random_parts(&mut Rng(0xa11ce + case), 6, n_outputs, vector, average);
        let forest = Forest::new(all).unwrap();
        let x = random_rows(&mut Rng(case + 1), 50);
        for m in 1..=8 {
            // The same generator draws the same first trees: a forest made of only those.
            let kept = random_parts(
                &mut Rng(0xa11ce + case),
                m.min(6),
                n_outputs,
                vector,
                average,
            );
            let sub = forest.first_trees(m).unwrap();
            assert_eq!(sub.n_trees(), m.min(6));
            let a = predict(&sub, x.view(), 1, &Silent).unwrap();
            let b: Vec<f64> = x
                .rows()
                .into_iter()
                .flat_map(|r| oracle(&kept, &r.to_vec()))
                .collect();
            assert_eq!(
                a.iter().copied().collect::<Vec<_>>(),
                b,
                "case {case}, {m} trees"
            );
        }
    }
}

#[test]
fn traversal_nodes_depths_and_values_match_the_node_arrays() {
    // Forest::new builds the traversal nodes, the depths and the value offsets in the pass that
    // checks the nodes: walking the checked arrays must give the same leaves, depths and values.
    let mut rng = Rng(0x0dd_ba11_5eed_0042);
    for round in 0..24 {
        let vector_leaves = round % 3 == 0;
        let n_outputs = if round % 2 == 0 { 1 } else { 3 };
        let mut p = random_parts(&mut rng, 7, n_outputs, vector_leaves, false);
        p.less_equal = round % 4 < 2;
        let f = Forest::new(p.clone()).unwrap();
        let mut value_start = 0;
        for t in 0..f.n_trees() {
            let width = f.tree_width(t);
            for n in f.tree_nodes(t) {
                let expected = &p.values[value_start..value_start + width];
                assert_eq!(f.node_values(n, width), expected, "tree {t}, node {n}");
                value_start += width;
            }
            let mut stack = vec![(f.root(t), 0usize)];
            let mut seen = 0;
            while let Some((n, d)) = stack.pop() {
                seen += 1;
                assert_eq!(f.depth(n), d, "tree {t}, node {n}");
                if !f.is_leaf(n) {
                    stack.push((f.left(n), d + 1));
                    stack.push((f.right(n), d + 1));
                }
            }
            assert_eq!(seen, f.tree_nodes(t).len());
        }
        for _ in 0..100 {
            let row: Vec<f64> = (0..f.n_features())
                .map(|_| match rng.below(6) {
                    0 => f64::NAN,
                    1 => 0.0,
                    // On and around the thresholds, which lie on a grid of 0.5.
                    _ => (rng.below(19) as f64 - 9.0) * 0.25,
                })
                .collect();
            let mut prepared = vec![0.0; row.len()];
            f.prepare_row(&row, &mut prepared);
            for t in 0..f.n_trees() {
                assert_eq!(f.leaf_of_prepared(t, &prepared), f.leaf(t, &row));
            }
        }
    }
}

/// `k` copies of `five_nodes`' tree in one forest.
fn many_five_node_trees(k: usize) -> ForestParts {
    let one = five_nodes();
    ForestParts {
        tree_start: (0..=k).map(|t| 5 * t).collect(),
        tree_output: vec![0; k],
        feature: one.feature.repeat(k),
        threshold: one.threshold.repeat(k),
        left: one.left.repeat(k),
        right: one.right.repeat(k),
        default_left: one.default_left.repeat(k),
        missing: one.missing.repeat(k),
        cover: one.cover.repeat(k),
        values: one.values.repeat(k),
        category_set: one.category_set.repeat(k),
        ..one
    }
}

#[test]
fn large_forests_derive_trees_in_parallel_as_small_ones_do() {
    // 20,000 trees (100,000 nodes) take the parallel path; 3 trees the sequential one.
    for k in [3, 20_000] {
        let p = many_five_node_trees(k);
        let forest = Forest::new(p.clone()).unwrap();
        let back = forest.parts();
        assert_eq!(
            (back.feature, back.left, back.right),
            (p.feature, p.left, p.right)
        );
        for t in [0, k / 2, k - 1] {
            let depths: Vec<usize> = (0..5).map(|n| forest.depth(5 * t + n)).collect();
            assert_eq!(depths, [0, 1, 1, 2, 2]);
        }
        // Two broken trees: the first in tree order is named, as a sequential pass would.
        let mut p = many_five_node_trees(k);
        let (early, late) = (1, k - 1);
        p.left[5 * late + 1] = 2; // a node with two parents
        p.feature[5 * early] = -7; // a negative split feature
        let msg = invalid_model(p);
        assert!(
            msg.contains(&format!(
                "tree {early}, node 0: split feature -7 is negative"
            )),
            "{k} trees: {msg}"
        );
    }
}
