//! The LightGBM text reader on hand-written models: structure read right, every corruption an
//! error (never a panic, never an allocation sized by a declared count).

use super::lightgbm::parse;
use crate::error::Error;

const OBJECTIVES: &[&str] = &["regression", "binary"];

fn model(trees: &str) -> String {
    format!(
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n\
         max_feature_idx=1\nobjective=regression\nfeature_names=a b\n\
         feature_infos=[0:1] [0:1]\ntree_sizes=1 1\n\n{trees}end of trees\n\n\
         feature_importances:\na=1\n\nparameters:\n[boosting: gbdt]\nend of parameters\n\n\
         pandas_categorical:null\n"
    )
}

const NUMERIC: &str = "Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\nsplit_gain=1 1\n\
    threshold=0.5 1.5\ndecision_type=2 4\nleft_child=1 -1\nright_child=-2 -3\n\
    leaf_value=0.1 0.2 0.30000000000000004\nleaf_weight=1 1 1\nleaf_count=3 4 5\n\
    internal_value=0 0\ninternal_weight=0 0\ninternal_count=12 8\nis_linear=0\nshrinkage=1\n\n\n";

const CATEGORICAL: &str = "Tree=1\nnum_leaves=2\nnum_cat=1\nsplit_feature=1\nsplit_gain=1\n\
    threshold=0\ndecision_type=1\nleft_child=-1\nright_child=-2\nleaf_value=1 -1\n\
    leaf_weight=1 1\nleaf_count=2 2\ninternal_value=0\ninternal_weight=0\ninternal_count=4\n\
    cat_boundaries=0 2\ncat_threshold=10 4294967295\nis_linear=0\nshrinkage=0.1\n\n\n";

fn text() -> String {
    model(&format!("{NUMERIC}{CATEGORICAL}"))
}

#[test]
fn reads_numeric_and_categorical_trees() {
    let m = parse(&text(), OBJECTIVES).unwrap();
    assert_eq!(m.n_trees, 2);
    assert_eq!(m.pandas_categorical.as_deref(), Some("null"));
    assert!(m
        .header
        .contains(&("objective".into(), "regression".into())));
    let p = m.forest.parts();
    assert_eq!(p.tree_start, vec![0, 5, 8]);
    assert_eq!(p.feature, vec![0, 1, -1, -1, -1, 1, -1, -1]);
    assert_eq!(p.left, vec![1, 2, -1, -1, -1, 1, -1, -1]);
    assert_eq!(p.right, vec![3, 4, -1, -1, -1, 2, -1, -1]);
    assert_eq!(
        p.default_left,
        vec![true, false, false, false, false, false, false, false]
    );
    // Missing type None -> NaN read as zero; Zero -> zero or NaN; categorical -> NaN.
    assert_eq!(p.missing, vec![1, 2, 0, 0, 0, 0, 0, 0]);
    assert_eq!(p.cover, vec![12.0, 8.0, 3.0, 4.0, 5.0, 4.0, 2.0, 2.0]);
    assert_eq!(p.values[4].to_bits(), 0.30000000000000004f64.to_bits());
    assert_eq!(p.threshold[5], 0.0);
    assert_eq!(p.category_set, vec![-1, -1, -1, -1, -1, 0, -1, -1]);
    assert_eq!(p.category_words, vec![10, u32::MAX]);
    assert_eq!(p.category_members_left, vec![true]);
}

#[test]
fn every_prefix_is_refused_without_a_panic() {
    let t = text();
    let full_end = t.find("end of trees").unwrap() + "end of trees".len();
    for cut in (0..full_end).filter(|&c| t.is_char_boundary(c)) {
        assert!(
            parse(&t[..cut], OBJECTIVES).is_err(),
            "prefix of {cut} bytes loaded"
        );
    }
}

fn refused(text: &str, needle: &str) {
    match parse(text, OBJECTIVES) {
        Err(e) => assert!(e.to_string().contains(needle), "{e} lacks {needle:?}"),
        Ok(_) => panic!("loaded although it should hold {needle:?}"),
    }
}

#[test]
fn corrupt_fields_are_format_errors() {
    let t = text();
    let cases = [
        (
            "num_leaves=3",
            "num_leaves=1000000000000000000",
            "leaf_value has 3 values",
        ),
        ("num_leaves=3", "num_leaves=x", "lacks num_leaves"),
        ("left_child=1 -1", "left_child=0 -1", "invalid model"),
        ("left_child=1 -1", "left_child=1 1", "invalid model"),
        (
            "right_child=-2 -3",
            "right_child=-2 -9",
            "right_child -9, outside",
        ),
        (
            "threshold=0.5 1.5",
            "threshold=0.5 abc",
            "threshold holds a non-number",
        ),
        ("split_feature=0 1", "split_feature=0 1.5", "non-integer"),
        ("split_feature=0 1", "split_feature=0 2", "feature"),
        (
            "split_feature=0 1",
            "split_feature=0 -1",
            "negative feature",
        ),
        (
            "decision_type=2 4",
            "decision_type=2 12",
            "decision_type 12",
        ),
        ("internal_count=12 8", "internal_count=99 8", "not the sum"),
        (
            "leaf_count=3 4 5",
            "leaf_count=3 -4 5",
            "negative data count",
        ),
        (
            "cat_boundaries=0 2",
            "cat_boundaries=0 3",
            "do not partition",
        ),
        (
            "num_cat=1",
            "num_cat=99999999999999999999",
            "cat_boundaries has 2 values",
        ),
        ("cat_threshold=10", "cat_threshold=-10", "non-uint32"),
        (
            "max_feature_idx=1",
            "max_feature_idx=99999999999999999999",
            "max_feature_idx is",
        ),
        (
            "num_class=1",
            "num_class=1000000000",
            "num_class is 1000000000",
        ),
        ("tree_sizes=1 1", "tree_sizes=1 1 1", "lists 3 tree sizes"),
        (
            "feature_names=a b",
            "feature_names=a b c",
            "feature_names lists 3",
        ),
    ];
    for (from, to, needle) in cases {
        assert!(t.contains(from), "{from}");
        refused(&t.replacen(from, to, 1), needle);
    }
}

#[test]
fn linear_trees_and_unknown_objectives_are_unsupported() {
    let t = text();
    let linear = parse(&t.replacen("is_linear=0", "is_linear=1", 1), OBJECTIVES);
    assert!(matches!(linear, Err(Error::UnsupportedModel(m)) if m.contains("linear_tree=True")));
    let other = parse(
        &t.replace("objective=regression", "objective=mine"),
        OBJECTIVES,
    );
    assert!(matches!(other, Err(Error::UnsupportedModel(m)) if m.contains("'mine'")));
}

#[test]
fn a_single_leaf_tree_and_averaged_forests() {
    let single = "Tree=0\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nthreshold=\n\
        decision_type=\nleft_child=\nright_child=\nleaf_value=0.25\nleaf_count=7\n\n";
    let t = model(single)
        .replace("tree_sizes=1 1", "tree_sizes=1")
        .replace("feature_infos", "average_output\nfeature_infos");
    let p = parse(&t, OBJECTIVES).unwrap().forest.parts();
    assert!(p.average);
    assert_eq!(
        (p.feature, p.cover, p.values),
        (vec![-1], vec![7.0], vec![0.25])
    );
}

#[test]
fn whole_numbers_read_fast_equal_the_float_parser_bitwise() {
    use super::lightgbm_tree::{parse_float, small_whole_number};
    let mut tokens: Vec<String> = [
        "0",
        "-0",
        "+0",
        "007",
        "",
        "1e5",
        "12.0",
        "nan",
        "inf",
        "-3",
        "999999999999999",
        "1000000000000000",
        "9007199254740993",
        "12a",
        "٣",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    tokens.extend((0..2000u64).map(|i| (i * 7919 % 100_003).to_string()));
    for t in &tokens {
        match small_whole_number(t) {
            // Where the fast path answers, it is the float parser's number to the bit.
            Some(v) => assert_eq!(Some(v.to_bits()), parse_float(t).map(f64::to_bits), "{t:?}"),
            // It answers for every plain digit run of up to 15 digits.
            None => assert!(t.is_empty() || t.len() > 15 || !t.bytes().all(|b| b.is_ascii_digit())),
        }
    }
}

#[test]
fn words_split_as_split_whitespace() {
    use super::lightgbm_tree::words;
    for text in [
        "",
        " ",
        "1 2  3",
        "\t1\x0b2\x0c3\r\n4 ",
        "1\u{a0}2 3",
        "a\u{2003}b\tc",
        "\u{1c}1 2",
        "  0.5 -1e-3 nan  ",
        "é 1",
    ] {
        let ours: Vec<&str> = words(text).collect();
        let std: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(ours, std, "{text:?}");
    }
}
