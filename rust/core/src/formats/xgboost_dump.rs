//! XGBoost's JSON dumps (`Booster.get_dump(dump_format="json", with_stats=True)`, and files of
//! them) into forest parts.
//!
//! A dump nests one object per node: trees thousands of levels deep parse (the JSON reader is
//! iterative) and are walked with an explicit stack. The checks and messages are those of the
//! Python reader treelens used before (kept as the test oracle in tests/): every node reached
//! once, children that are the nodes `yes` / `no` name, features by name or `f<index>`, covers
//! adding up, categories within XGBoost's range.

use super::json;
use super::value::{py_repr, Value};
use super::xgboost::{Builder, COVER_TOLERANCE, MAX_FEATURES};
use crate::error::{Error, Result};
use crate::forest::ForestParts;
use std::collections::HashSet;

/// What a dump lacks and the caller supplies.
#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    /// Outputs (classes); trees feed them round-robin. Checked against the number of trees.
    pub n_outputs: i64,
    /// Columns; None: from the names, or the largest feature split on plus one.
    pub n_features: Option<i64>,
    /// The names used in the splits (None for a name that is no string: it matches nothing).
    pub feature_names: Option<Vec<Option<String>>>,
    /// Each tree's weight (a dart model's `weight_drop`), with the shape the caller gave, for
    /// the message when it is not one per tree.
    pub tree_weights: Option<(Vec<f64>, String)>,
}

/// Where the trees come from.
#[derive(Debug, Clone)]
pub enum DumpSource {
    /// A file's text: a JSON list of trees (objects, or strings holding a tree's JSON).
    Text(String),
    /// `get_dump`'s list: each tree's JSON text, or None for an item that is no text.
    Trees(Vec<Option<String>>),
}

fn format_err(msg: String) -> Error {
    Error::ModelFormat(msg)
}

fn malformed(detail: String) -> Error {
    format_err(format!("the XGBoost dump is malformed ({detail})"))
}

/// One tree flattened in pre-order (the left child is XGBoost's `yes`).
struct FlatTree {
    feature: Vec<i64>,
    threshold: Vec<f64>,
    left: Vec<i64>,
    right: Vec<i64>,
    default_left: Vec<bool>,
    cover: Vec<f64>,
    values: Vec<f64>,
    /// (node, categories) of the categorical splits, in node order.
    categories: Vec<(usize, Vec<i64>)>,
}

/// Reads a dump into forest parts whose `base_score` is left empty (the caller's).
pub fn read_dump(source: &DumpSource, opts: &DumpOptions) -> Result<ForestParts> {
    let not_a_list = || format_err("an XGBoost JSON dump is a non-empty list of trees".into());
    let parsed_file;
    let file_items: &[Value] = match source {
        DumpSource::Text(text) => {
            parsed_file = json::parse(text).map_err(|e| {
                format_err(format!(
                    "the XGBoost JSON dump is corrupt or truncated: {e}"
                ))
            })?;
            match &parsed_file {
                Value::Array(items) if !items.is_empty() => items,
                _ => return Err(not_a_list()),
            }
        }
        DumpSource::Trees(items) if items.is_empty() => return Err(not_a_list()),
        DumpSource::Trees(_) => &[],
    };
    let n_trees = match source {
        DumpSource::Text(_) => file_items.len(),
        DumpSource::Trees(items) => items.len(),
    };
    if !(1..=n_trees as i64).contains(&opts.n_outputs) {
        return Err(format_err(format!(
            "XGBoost n_outputs is {}; a plausible model has 1..{n_trees}",
            opts.n_outputs
        )));
    }
    let k = opts.n_outputs as usize;
    let names = opts.feature_names.as_deref();

    // Every tree is parsed before any is checked (the order of the messages); each is
    // flattened right after parsing, so that only one tree's document is held at a time.
    let mut flat = Vec::with_capacity(n_trees);
    let no_text = Value::Null;
    let mut first_error: Option<Error> = None;
    for i in 0..n_trees {
        let owned;
        let tree: &Value = match source {
            DumpSource::Text(_) => match &file_items[i] {
                Value::Str(text) => {
                    owned = parse_tree(text, i)?;
                    &owned
                }
                other => other,
            },
            DumpSource::Trees(items) => match &items[i] {
                Some(text) => {
                    owned = parse_tree(text, i)?;
                    &owned
                }
                None => &no_text,
            },
        };
        if !tree.is_object() {
            return Err(format_err(format!(
                "XGBoost dump tree {i} is not a tree object"
            )));
        }
        if first_error.is_none() {
            match flatten_tree(tree, names, i) {
                Ok(t) => flat.push(t),
                Err(e) => first_error = Some(e),
            }
        }
    }
    if let Some((weights, shape)) = &opts.tree_weights {
        if weights.len() != n_trees
            || shape != &format!("({n_trees},)")
            || weights.iter().any(|w| !w.is_finite())
        {
            return Err(format_err(format!(
                "tree_weights must hold one finite weight per tree ({n_trees}), got shape \
                 {shape}"
            )));
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }

    let max_feature = flat
        .iter()
        .flat_map(|t| t.feature.iter().copied())
        .max()
        .unwrap_or(-1);
    let n_features = match (opts.n_features, names) {
        (Some(n), _) => n,
        (None, Some(names)) => names.len() as i64,
        (None, None) => max_feature.saturating_add(1),
    };
    if !(0..=MAX_FEATURES).contains(&n_features) {
        return Err(format_err(format!(
            "XGBoost n_features is {n_features}; a plausible model has 0..{MAX_FEATURES}"
        )));
    }
    if max_feature >= n_features {
        return Err(format_err(format!(
            "the dump splits on feature {max_feature} of {n_features}"
        )));
    }

    let mut b = Builder::new(ForestParts {
        n_features: n_features as usize,
        n_outputs: k,
        less_equal: false,
        f32_inputs: true,
        tree_start: vec![0],
        category_offsets: vec![0],
        ..Default::default()
    });
    b.reserve(flat.iter().map(|t| t.feature.len()).sum());
    for (i, tree) in flat.into_iter().enumerate() {
        let weight = opts.tree_weights.as_ref().map(|(w, _)| w[i]);
        add_tree(&mut b, tree, i, (i % k) as i64, weight)?;
    }
    Ok(b.finish())
}

fn parse_tree(text: &str, index: usize) -> Result<Value> {
    json::parse(text).map_err(|e| {
        format_err(format!(
            "XGBoost dump tree {index} is not JSON ({e}): dump with \
             get_dump(dump_format='json', with_stats=True)"
        ))
    })
}

/// A node's `nodeid`, `yes`, `no` or `missing`: an integer (not a boolean).
fn node_id(node: &Value, field: &str, tree: usize) -> Result<i64> {
    match node.get(field) {
        Some(Value::Int(i)) => Ok(*i),
        other => Err(format_err(format!(
            "XGBoost dump tree {tree}: a node's {field} is {}, not an id",
            other.map_or("None".to_string(), Value::brief)
        ))),
    }
}

/// Python's `float(v)` of a dump field.
fn py_float(v: &Value) -> Result<f64> {
    let type_name = match v {
        Value::Int(i) => return Ok(*i as f64),
        Value::Float(f) => return Ok(*f),
        Value::Bool(b) => return Ok(*b as i64 as f64),
        Value::Str(s) => {
            if let Ok(x) = s.trim().parse::<f64>() {
                return Ok(x);
            }
            return Err(malformed(format!(
                "ValueError: could not convert string to float: {}",
                v.brief()
            )));
        }
        Value::Null => "NoneType",
        Value::Object(_) => "dict",
        _ => "list",
    };
    Err(malformed(format!(
        "TypeError: float() argument must be a string or a real number, not '{type_name}'"
    )))
}

/// A float32 value of the dump, as XGBoost holds it (decimals beyond float32 become +-inf).
fn float32(v: &Value) -> Result<f64> {
    Ok(py_float(v)? as f32 as f64)
}

/// The categories of a categorical split: a list of integers.
fn category_list(v: &[Value]) -> Result<Vec<i64>> {
    v.iter()
        .map(|x| match x {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(*b as i64),
            _ => Err(format_err(
                "XGBoost field split_condition is not a list of integers".into(),
            )),
        })
        .collect()
}

/// Python's `str(v)` of a split, for matching names (None for containers, which match none).
fn split_text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        Value::Null => Some("None".into()),
        Value::Float(_) => Some(v.brief()),
        _ => None,
    }
}

fn feature_index(split: &Value, names: Option<&[Option<String>]>) -> Result<i64> {
    let text = split_text(split);
    if let (Some(names), Some(text)) = (names, &text) {
        if let Some(j) = names.iter().position(|n| n.as_deref() == Some(text)) {
            return Ok(j as i64);
        }
    }
    // `f<digits>` (Python's `$` also matches before a final newline).
    let digits = text
        .as_deref()
        .and_then(|t| t.strip_prefix('f'))
        .map(|t| t.strip_suffix('\n').unwrap_or(t))
        .filter(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()));
    if let Some(d) = digits {
        return d.parse::<i64>().map_err(|_| {
            malformed("OverflowError: Python int too large to convert to C long".into())
        });
    }
    Err(format_err(format!(
        "the dump splits on feature {}: pass feature_names= to map names to columns",
        split.brief()
    )))
}

/// One dump tree as arrays, its nodes renumbered in pre-order (a pruned tree's ids have gaps).
/// Each node must be reached exactly once, and its `children` must be the nodes its
/// `yes` / `no` name.
fn flatten_tree(tree: &Value, names: Option<&[Option<String>]>, index: usize) -> Result<FlatTree> {
    let err = |msg: String| format_err(format!("XGBoost dump tree {index}: {msg}"));
    // In pre-order: (node, parent position, is the parent's left child).
    let mut nodes: Vec<(&Value, i64, bool)> = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(tree, -1i64, false)];
    while let Some((node, parent, is_left)) = stack.pop() {
        if !node.is_object() {
            return Err(err("a node is not an object".into()));
        }
        let nid = node_id(node, "nodeid", index)?;
        if !seen.insert(nid) {
            return Err(err(format!("node id {nid} appears twice")));
        }
        let position = nodes.len() as i64;
        nodes.push((node, parent, is_left));
        if node.get("leaf").is_some() {
            if node.get("children").is_some_and(Value::is_truthy) {
                return Err(err(format!("leaf {nid} has children")));
            }
            continue;
        }
        let yes = node_id(node, "yes", index)?;
        let no = node_id(node, "no", index)?;
        let miss = node_id(node, "missing", index)?;
        let children = match node.get("children") {
            Some(Value::Array(c)) if c.len() == 2 && yes != no => c,
            _ => return Err(err(format!("split {nid} needs two distinct children"))),
        };
        if !children.iter().all(Value::is_object) {
            return Err(err(format!("a child of {nid} is not a node")));
        }
        let ids = [
            node_id(&children[0], "nodeid", index)?,
            node_id(&children[1], "nodeid", index)?,
        ];
        let (mut a, mut b) = (ids, [yes, no]);
        a.sort_unstable();
        b.sort_unstable();
        if a != b || (miss != yes && miss != no) {
            return Err(err(format!(
                "split {nid} has children [{}, {}], but yes={yes}, no={no}, missing={miss}",
                ids[0], ids[1]
            )));
        }
        let (yes_child, no_child) = if ids[0] == yes {
            (&children[0], &children[1])
        } else {
            (&children[1], &children[0])
        };
        // Pushed right first so that the left (yes) subtree comes next in pre-order.
        stack.push((no_child, position, false));
        stack.push((yes_child, position, true));
    }

    let n = nodes.len();
    let mut t = FlatTree {
        feature: vec![-1; n],
        threshold: vec![0.0; n],
        left: vec![-1; n],
        right: vec![-1; n],
        default_left: vec![false; n],
        cover: vec![0.0; n],
        values: vec![0.0; n],
        categories: Vec::new(),
    };
    for (position, &(node, parent, is_left)) in nodes.iter().enumerate() {
        if parent >= 0 {
            let side = if is_left { &mut t.left } else { &mut t.right };
            side[parent as usize] = position as i64;
        }
        t.cover[position] = match node.get("cover") {
            Some(c) => float32(c)?,
            None => 0.0,
        };
        if let Some(leaf) = node.get("leaf") {
            t.values[position] = float32(leaf)?;
            continue;
        }
        let field = |name: &str| {
            node.get(name).ok_or_else(|| {
                let nid = node.get("nodeid").map_or("None".into(), Value::brief);
                err(format!("node {nid} lacks the field '{name}'"))
            })
        };
        let split = field("split")?;
        let cond = field("split_condition")?;
        t.feature[position] = feature_index(split, names)?;
        // "yes" is taken when x < condition, or when the category is in the listed set.
        t.default_left[position] = node.get("missing") == node.get("yes");
        match cond {
            Value::Array(items) => t.categories.push((position, category_list(items)?)),
            _ => t.threshold[position] = float32(cond)?,
        }
    }
    Ok(t)
}

/// Adds one flattened tree: its covers must add up, its categories must be XGBoost's.
fn add_tree(
    b: &mut Builder,
    t: FlatTree,
    index: usize,
    output: i64,
    weight: Option<f64>,
) -> Result<()> {
    let n = t.feature.len();
    if n > 1 && t.cover.iter().all(|c| c.is_finite()) {
        for k in (0..n).filter(|&k| t.left[k] >= 0) {
            let (l, r) = (t.left[k] as usize, t.right[k] as usize);
            let (lc, rc, pc) = (t.cover[l], t.cover[r], t.cover[k]);
            let gap = (lc + rc - pc).abs();
            let bound = COVER_TOLERANCE * (lc.abs() + rc.abs() + pc.abs()) + 1e-9;
            if gap > bound {
                return Err(format_err(format!(
                    "tree {index}, node {k}: its cover {} is not the sum of its children's \
                     ({} + {})",
                    py_repr(pc),
                    py_repr(lc),
                    py_repr(rc)
                )));
            }
        }
    }
    let mut category_set = vec![-1i64; n];
    for (node, cats) in &t.categories {
        // Members of a dump's set take "yes", the left child.
        category_set[*node] = b.add_set(cats, true)?;
    }
    let p = b.parts_mut();
    p.feature.extend_from_slice(&t.feature);
    p.threshold.extend_from_slice(&t.threshold);
    p.left.extend_from_slice(&t.left);
    p.right.extend_from_slice(&t.right);
    p.default_left.extend_from_slice(&t.default_left);
    p.missing.extend(std::iter::repeat_n(0u8, n));
    p.cover.extend_from_slice(&t.cover);
    match weight {
        Some(w) => p.values.extend(t.values.iter().map(|v| v * w)),
        None => p.values.extend_from_slice(&t.values),
    }
    p.category_set.extend_from_slice(&category_set);
    p.tree_start.push(p.feature.len());
    p.tree_output.push(output);
    Ok(())
}
