//! Tests of the XGBoost JSON dump reader on hand-made dumps: deep, broken, hostile.

use super::xgboost_dump::{read_dump, DumpOptions, DumpSource};
use crate::error::Error;
use crate::forest::Forest;

fn options() -> DumpOptions {
    DumpOptions {
        n_outputs: 1,
        ..Default::default()
    }
}

/// A chain of `depth` splits on f0 at 0, 1, 2, ...: x goes left to a leaf worth k at the first
/// split k with x < k.
fn chain(depth: usize) -> String {
    let mut out = String::new();
    for k in 0..depth {
        out += &format!(
            "{{\"nodeid\": {}, \"split\": \"f0\", \"split_condition\": {k}, \"yes\": {}, \
             \"no\": {}, \"missing\": {}, \"cover\": {}, \"children\": [{{\"nodeid\": {}, \
             \"leaf\": {k}, \"cover\": 1}}, ",
            2 * k,
            2 * k + 1,
            2 * k + 2,
            2 * k + 2,
            depth - k + 1,
            2 * k + 1
        );
    }
    out += &format!(
        "{{\"nodeid\": {}, \"leaf\": {depth}, \"cover\": 1}}",
        2 * depth
    );
    out += &"]}".repeat(depth);
    out
}

fn message(source: DumpSource, opts: &DumpOptions) -> String {
    match read_dump(&source, opts) {
        Err(Error::ModelFormat(m)) => m,
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn a_chain_100_000_deep_reads_without_recursion() {
    let depth = 100_000;
    let mut parts = read_dump(&DumpSource::Trees(vec![Some(chain(depth))]), &options()).unwrap();
    assert_eq!(parts.feature.len(), 2 * depth + 1);
    assert_eq!(parts.n_features, 1);
    // Pre-order: the yes leaf of split k follows it, then split k + 1.
    assert_eq!(&parts.left[..3], &[1, -1, 3]);
    assert_eq!(&parts.right[..3], &[2, -1, 4]);
    assert_eq!(parts.values[2 * depth], depth as f64);
    parts.base_score = vec![0.0];
    let forest = Forest::new(parts).unwrap();
    assert_eq!(forest.n_trees(), 1);
    // The same as a file's text.
    let text = format!("[{}]", chain(depth));
    assert!(read_dump(&DumpSource::Text(text), &options()).is_ok());
}

#[test]
fn hostile_nesting_and_broken_structure_are_format_errors() {
    let deep = format!("{}1{}", "[".repeat(200_000), "]".repeat(200_000));
    let m = message(DumpSource::Trees(vec![Some(deep.clone())]), &options());
    assert!(m.contains("tree 0 is not a tree object"), "{m}");
    let m = message(DumpSource::Text(format!("[{deep}]")), &options());
    assert!(m.contains("tree 0 is not a tree object"), "{m}");
    let split = r#"{"nodeid": 0, "split": "f0", "split_condition": 1, "yes": 1, "no": 2,
        "missing": 1, "children": [{"nodeid": 1, "leaf": 1}, CHILD]}"#;
    for (child, expected) in [
        (
            r#"{"nodeid": 2, "split": "f0", "split_condition": 2, "yes": 3, "no": 1,
            "missing": 3, "children": [{"nodeid": 3, "leaf": 1}, {"nodeid": 1, "leaf": 2}]}"#,
            "node id 1 appears twice",
        ),
        (r#"{"nodeid": 1, "leaf": 2}"#, "split 0 has children [1, 1]"),
        (
            r#"{"nodeid": 3, "leaf": 2}"#,
            "split 0 has children [1, 3], but yes=1, no=2",
        ),
        (
            r#"{"nodeid": 2.0, "leaf": 2}"#,
            "a node's nodeid is 2.0, not an id",
        ),
        (
            r#"{"nodeid": 2, "leaf": 2, "children": [1]}"#,
            "leaf 2 has children",
        ),
        (
            r#"{"nodeid": 2, "yes": 3, "no": 4, "missing": 3,
            "children": [{"nodeid": 3, "leaf": 1}, {"nodeid": 4, "leaf": 1}]}"#,
            "node 2 lacks the field 'split'",
        ),
        (
            r#"{"nodeid": 2, "leaf": "x"}"#,
            "could not convert string to float: 'x'",
        ),
        (r#"{"nodeid": 2, "leaf": null}"#, "not 'NoneType'"),
        ("7", "a child of 0 is not a node"),
    ] {
        let tree = split.replace("CHILD", child);
        let m = message(DumpSource::Trees(vec![Some(tree)]), &options());
        assert!(m.contains(expected), "{m} lacks {expected}");
    }
    let tree = split.replace("CHILD", r#"{"nodeid": 2, "leaf": 2}"#);
    for (split_on, expected) in [
        ("\"x\"", "splits on feature 'x': pass feature_names="),
        ("\"f99999999999999999999\"", "OverflowError"),
        ("\"f3000000000\"", "n_features is 3000000001"),
    ] {
        let t = tree.replace("\"f0\"", split_on);
        let m = message(DumpSource::Trees(vec![Some(t)]), &options());
        assert!(m.contains(expected), "{m} lacks {expected}");
    }
    let cats = tree.replace("\"split_condition\": 1", "\"split_condition\": [16777216]");
    let m = message(DumpSource::Trees(vec![Some(cats)]), &options());
    assert!(m.contains("exceeds the largest id"), "{m}");
    let m = message(DumpSource::Trees(vec![None]), &options());
    assert!(m.contains("tree 0 is not a tree object"), "{m}");
    let m = message(DumpSource::Trees(vec![]), &options());
    assert!(m.contains("non-empty list"), "{m}");
    let m = message(
        DumpSource::Trees(vec![Some(tree.clone())]),
        &DumpOptions {
            n_outputs: 2,
            ..Default::default()
        },
    );
    assert!(
        m.contains("n_outputs is 2; a plausible model has 1..1"),
        "{m}"
    );
}

#[test]
fn categorical_members_take_the_yes_branch() {
    let tree = r#"{"nodeid": 0, "split": "f1", "split_condition": [3, 40], "yes": 2, "no": 1,
        "missing": 1, "cover": 3, "children": [{"nodeid": 1, "leaf": -1, "cover": 1},
        {"nodeid": 2, "leaf": 0.1, "cover": 2}]}"#;
    let parts = read_dump(&DumpSource::Trees(vec![Some(tree.into())]), &options()).unwrap();
    assert_eq!(parts.category_members_left, vec![true]);
    assert_eq!(parts.category_words, vec![1 << 3, 1 << 8]);
    assert_eq!(parts.category_set, vec![0, -1, -1]);
    // The yes child (node id 2) comes first; missing goes to "no".
    assert_eq!(parts.values, vec![0.0, 0.1f32 as f64, -1.0]);
    assert_eq!(parts.default_left, vec![false, false, false]);
    assert_eq!(parts.n_features, 2);
}
