//! Tests of the model readers on hand-made documents: well-formed, truncated, hostile.

use super::json;
use super::ubjson;
use super::value::Value;
use super::xgboost::{read, BaseTransform, Encoding, Options};
use crate::error::Error;

/// A small gbtree regression model (one split on feature 0, two leaves) as JSON.
const MODEL: &str = r#"{"learner": {
  "feature_names": [], "feature_types": [],
  "gradient_booster": {"model": {
    "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1"},
    "iteration_indptr": [0, 1], "tree_info": [0],
    "trees": [{"base_weights": [0.0, -1.0, 1.0], "categories": [], "categories_nodes": [],
      "categories_segments": [], "categories_sizes": [], "default_left": [1, 0, 0], "id": 0,
      "left_children": [1, -1, -1], "loss_changes": [1.0, 0.0, 0.0], "parents": [2147483647, 0, 0],
      "right_children": [2, -1, -1], "split_conditions": [0.5, -0.25, 0.75],
      "split_indices": [0, 0, 0], "split_type": [0, 0, 0], "sum_hessian": [4.0, 1.5, 2.5],
      "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "3",
        "size_leaf_vector": "1"}}]},
    "name": "gbtree"},
  "learner_model_param": {"base_score": "[5E-1]", "num_class": "0", "num_feature": "2",
    "num_target": "1"},
  "objective": {"name": "reg:squarederror"}}, "version": [3, 2, 0]}"#;

fn options() -> Options {
    Options {
        objectives: vec![("reg:squarederror".into(), BaseTransform::Identity)],
        ..Default::default()
    }
}

/// Writes a value as UBJSON (untyped containers, typed arrays as XGBoost writes them).
fn to_ubjson(v: &Value, out: &mut Vec<u8>) {
    fn len(n: usize, out: &mut Vec<u8>) {
        out.push(b'L');
        out.extend_from_slice(&(n as i64).to_be_bytes());
    }
    match v {
        Value::Null => out.push(b'Z'),
        Value::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
        Value::Int(i) => {
            out.push(b'L');
            out.extend_from_slice(&i.to_be_bytes());
        }
        Value::Float(f) => {
            out.push(b'D');
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => {
            out.push(b'S');
            len(s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Packed(_) => unreachable!("JSON documents hold no packed arrays"),
        Value::Array(items) => {
            out.push(b'[');
            items.iter().for_each(|x| to_ubjson(x, out));
            out.push(b']');
        }
        Value::Object(items) => {
            out.push(b'{');
            for (k, x) in items {
                len(k.len(), out);
                out.extend_from_slice(k.as_bytes());
                to_ubjson(x, out);
            }
            out.push(b'}');
        }
    }
}

fn model_ubjson() -> Vec<u8> {
    let mut out = Vec::new();
    to_ubjson(&json::parse(MODEL).unwrap(), &mut out);
    out
}

#[test]
fn json_and_ubjson_read_the_same_forest() {
    let a = read(MODEL.as_bytes(), Encoding::Json, &options()).unwrap();
    let b = read(&model_ubjson(), Encoding::Ubjson, &options()).unwrap();
    assert_eq!(a.parts.feature, vec![0, -1, -1]);
    assert_eq!(a.parts.left, vec![1, -1, -1]);
    assert_eq!(a.parts.values, vec![0.0, -0.25, 0.75]);
    assert_eq!(a.parts.threshold, vec![0.5, 0.0, 0.0]);
    assert_eq!(a.parts.base_score, vec![0.5]);
    for (x, y) in [
        (&a.parts.cover, &b.parts.cover),
        (&a.parts.values, &b.parts.values),
    ] {
        assert_eq!(x, y);
    }
    assert_eq!(a.parts.default_left, b.parts.default_left);
    assert_eq!(a.trees_per_round, Some(1));
}

#[test]
fn every_prefix_of_a_ubjson_model_is_an_error_not_a_panic() {
    let data = model_ubjson();
    for end in 0..data.len() {
        match read(&data[..end], Encoding::Ubjson, &options()) {
            Err(Error::ModelFormat(_)) => {}
            other => panic!("prefix {end}: {other:?}"),
        }
    }
    for end in 0..MODEL.len() {
        if MODEL.is_char_boundary(end) {
            assert!(read(&MODEL.as_bytes()[..end], Encoding::Json, &options()).is_err());
        }
    }
}

#[test]
fn every_single_byte_change_is_an_error_or_a_model() {
    let data = model_ubjson();
    for at in 0..data.len() {
        for byte in [0u8, 0x7f, 0xff, b'[', b'{', b'L', b'$', b'#'] {
            let mut bad = data.clone();
            bad[at] = byte;
            // Never a panic (guarded would make it Internal): a model or a format error.
            let result = crate::error::guarded(|| read(&bad, Encoding::Ubjson, &options()));
            assert!(
                !matches!(result, Err(Error::Internal(_))),
                "byte {at}: {result:?}"
            );
        }
    }
}

#[test]
fn huge_declared_lengths_are_refused_before_allocating() {
    let mut huge = b"{i\x01a[$d#L".to_vec();
    huge.extend_from_slice(&(1i64 << 60).to_be_bytes());
    let err = ubjson::parse(&huge).unwrap_err().to_string();
    assert!(
        err.contains("declares 1152921504606846976 elements"),
        "{err}"
    );
    let mut string = b"{L".to_vec();
    string.extend_from_slice(&(1i64 << 62).to_be_bytes());
    assert!(ubjson::parse(&string)
        .unwrap_err()
        .to_string()
        .contains("truncated"));
    let negative = b"{i\xffa".to_vec();
    assert!(ubjson::parse(&negative)
        .unwrap_err()
        .to_string()
        .contains("negative length"));
}

#[test]
fn any_nesting_depth_parses_and_drops_without_recursion() {
    let depth = 1_000_000;
    let mut data = b"{i\x01a".to_vec();
    data.extend(std::iter::repeat_n(b'[', depth));
    data.extend(std::iter::repeat_n(b']', depth));
    data.push(b'}');
    assert!(ubjson::parse(&data).is_ok());
    let text = "[".repeat(depth) + &"]".repeat(depth);
    assert!(json::parse(&text).is_ok());
}

#[test]
fn json_reads_python_numbers() {
    let v = json::parse(r#"[1, -2, 1.5, 1e3, NaN, -Infinity, 99999999999999999999, "a\u00e9\n"]"#)
        .unwrap();
    let Value::Array(ref items) = v else { panic!() };
    assert_eq!(items[0], Value::Int(1));
    assert_eq!(items[1], Value::Int(-2));
    assert_eq!(items[3], Value::Float(1000.0));
    assert!(matches!(items[4], Value::Float(f) if f.is_nan()));
    assert_eq!(items[5], Value::Float(f64::NEG_INFINITY));
    assert_eq!(items[6], Value::Float(1e20));
    assert_eq!(items[7], Value::Str("a\u{e9}\n".into()));
    for bad in [
        "[1,]",
        "{\"a\" 1}",
        "[01]",
        "[1] x",
        "\"\x01\"",
        "{1: 2}",
        "[",
        "",
    ] {
        assert!(json::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn unsupported_objective_and_booster() {
    let doc = MODEL.replace("reg:squarederror", "reg:mystery");
    let err = read(doc.as_bytes(), Encoding::Json, &options()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedModel(ref m) if m.contains("'reg:mystery'")));
    let doc = MODEL.replace("\"gbtree\"}", "\"gblinear\"}");
    let err = read(doc.as_bytes(), Encoding::Json, &options()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedModel(ref m) if m.contains("'gblinear'")));
}
