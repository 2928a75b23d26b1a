//! XGBoost's model document (`save_model` / `save_raw`, JSON or UBJSON) into forest parts.
//!
//! Reads exactly what the Python loader read before (python/treelens/loaders/xgboost.py keeps
//! the choice of loader, the objective's link and the base score's transform): every size the
//! document declares is checked against what it holds before it sizes anything, and every tree
//! is checked to be a tree. Nothing recurses on tree depth.

use super::value::Value;
use crate::error::{Error, Result};
use crate::forest::ForestParts;

/// XGBoost's category ids are integers below 2**24 (exact in float32).
const MAX_CATEGORY: i64 = (1 << 24) - 1;
/// XGBoost's feature indices are 32-bit; its deleted nodes carry this index.
pub(super) const MAX_FEATURES: i64 = (1 << 31) - 1;
const DELETED_NODE: i64 = (1 << 31) - 1;
/// More outputs than this is no plausible model (and would allocate per output).
const MAX_OUTPUTS: i64 = 1 << 20;
/// Largest total size of the categorical bitsets of one model (32-bit words: 256 MiB).
const MAX_BITSET_WORDS: usize = 1 << 26;
/// How far a node's cover may differ from the sum of its children's (relative).
pub(super) const COVER_TOLERANCE: f64 = 1e-3;

/// How an objective's base score maps to the margin (checked here, transformed by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseTransform {
    /// A probability: margin = logit.
    Logit,
    /// A mean under a log link: margin = log.
    Log,
    Identity,
}

/// A feature's stored categories: values, and UTF-8 offsets when they are strings.
pub type CategoryEncoding = (Vec<f64>, Option<Vec<i64>>);

/// What the caller supplies besides the document.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `(begin, end)` boosting rounds as in `Booster.predict`; `(0, 0)` or None: all.
    pub iteration_range: Option<(i64, i64)>,
    /// Replaces the document's feature names (a live Booster's own names).
    pub feature_names: Option<Vec<String>>,
    /// The supported objectives in the order error messages list them, with their transform.
    pub objectives: Vec<(String, BaseTransform)>,
}

/// A read model: forest parts whose `base_score` is still in output space (see
/// `base_transform`), plus what the Python model object needs.
#[derive(Debug)]
pub struct Document {
    pub parts: ForestParts,
    pub objective: String,
    pub base_transform: BaseTransform,
    pub num_class: usize,
    pub feature_names: Option<Vec<String>>,
    pub feature_types: Option<Vec<String>>,
    pub trees_per_round: Option<usize>,
    /// `cats.enc` of xgboost >= 3.1, per feature: (values, offsets) or None.
    pub category_encodings: Vec<Option<CategoryEncoding>>,
}

fn sub<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k)
}

fn format_err(msg: String) -> Error {
    Error::ModelFormat(msg)
}

fn malformed(detail: String) -> Error {
    format_err(format!(
        "the XGBoost model document is malformed ({detail})"
    ))
}

/// `obj[key]`, as Python's subscript fails: KeyError for a missing key, TypeError otherwise.
fn key<'a>(obj: &'a Value, k: &str) -> Result<&'a Value> {
    if !obj.is_object() {
        return Err(malformed(format!(
            "TypeError: {} is not an object",
            obj.brief()
        )));
    }
    obj.get(k)
        .ok_or_else(|| malformed(format!("KeyError: '{k}'")))
}

/// `obj.get(key)`: None for a missing key; an error when `obj` is not an object.
fn get<'a>(obj: &'a Value, k: &str) -> Result<Option<&'a Value>> {
    if !obj.is_object() {
        return Err(malformed(format!(
            "AttributeError: {} has no attribute 'get'",
            obj.brief()
        )));
    }
    Ok(obj.get(k))
}

/// `obj.get(key, default) or default`.
fn get_or<'a>(obj: &'a Value, k: &str, default: &'a Value) -> Result<&'a Value> {
    Ok(match get(obj, k)? {
        Some(v) if v.is_truthy() => v,
        _ => default,
    })
}

/// A 1-D integer array from a document field, refusing floats, strings and nesting.
fn ints(src: &[u8], v: Option<&Value>, name: &str) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    ints_into(src, v, name, &mut out)?;
    Ok(out)
}

/// [`ints`] into a reused buffer (cleared first).
fn ints_into(src: &[u8], v: Option<&Value>, name: &str, out: &mut Vec<i64>) -> Result<()> {
    let bad = || format_err(format!("XGBoost field {name} is not a list of integers"));
    out.clear();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Packed(p)) if p.is_float() && p.count > 0 => return Err(bad()),
        Some(Value::Packed(p)) => p.ints_into(src, out),
        Some(Value::Array(items)) => {
            out.reserve(items.len());
            for x in items {
                out.push(match x {
                    Value::Int(i) => *i,
                    Value::Bool(b) => *b as i64,
                    _ => return Err(bad()),
                });
            }
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// A 1-D float array from a document field, rounded to float32: XGBoost keeps float32 values,
/// which its JSON writes as decimals; rounding them back makes a JSON and a UBJSON file of one
/// model load bitwise identically.
fn float32s(src: &[u8], v: Option<&Value>, name: &str) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    float32s_into(src, v, name, &mut out)?;
    Ok(out)
}

/// [`float32s`] into a reused buffer (cleared first).
fn float32s_into(src: &[u8], v: Option<&Value>, name: &str, out: &mut Vec<f64>) -> Result<()> {
    let bad = || format_err(format!("XGBoost field {name} is not a list of numbers"));
    out.clear();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Packed(p)) => p.float32s_into(src, out),
        Some(Value::Array(items)) => {
            // numpy's dtypes: all booleans is no list of numbers; an all-integer list converts
            // from int64 directly (int64 -> float32), a list with a float through float64.
            if !items.is_empty() && items.iter().all(|x| matches!(x, Value::Bool(_))) {
                return Err(bad());
            }
            let all_ints = items
                .iter()
                .all(|x| matches!(x, Value::Int(_) | Value::Bool(_)));
            out.reserve(items.len());
            for x in items {
                let i = match x {
                    Value::Float(f) => {
                        out.push(*f as f32 as f64);
                        continue;
                    }
                    Value::Int(i) => *i,
                    Value::Bool(b) => *b as i64,
                    _ => return Err(bad()),
                };
                out.push(if all_ints {
                    i as f32 as f64
                } else {
                    i as f64 as f32 as f64
                });
            }
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// Plain float64 numbers (the stored categories).
fn float64s(src: &[u8], v: Option<&Value>, name: &str) -> Result<Vec<f64>> {
    let bad = || format_err(format!("XGBoost field {name} is not a list of numbers"));
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Packed(p)) => Ok(p.floats(src).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|x| match x {
                Value::Int(i) => Ok(*i as f64),
                Value::Float(f) => Ok(*f),
                Value::Bool(b) => Ok(*b as i64 as f64),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// A size declared in the document, checked for plausibility before anything uses it.
fn count(value: &Value, name: &str, low: i64, high: i64) -> Result<i64> {
    let not_int = || {
        format_err(format!(
            "XGBoost {name} is {}, not an integer",
            value.brief()
        ))
    };
    let out_of_range = |shown: String| {
        format_err(format!(
            "XGBoost {name} is {shown}; a plausible model has {low}..{high}"
        ))
    };
    let n = match value {
        Value::Int(i) => *i,
        Value::Bool(b) => *b as i64,
        Value::Float(f) if f.is_finite() => {
            let t = f.trunc();
            if t.abs() >= 9.2e18 {
                return Err(out_of_range(format!("{t:.0}")));
            }
            t as i64
        }
        Value::Str(s) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
                    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(out_of_range(t.to_string()));
                    }
                    return Err(not_int());
                }
            }
        }
        _ => return Err(not_int()),
    };
    if !(low..=high).contains(&n) {
        return Err(out_of_range(n.to_string()));
    }
    Ok(n)
}

/// Python's `len()` of a field (None: 0).
fn length(v: Option<&Value>) -> Result<usize> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Str(s)) => Ok(s.chars().count()),
        Some(Value::Object(o)) => Ok(o.len()),
        Some(other) => other
            .array_len()
            .ok_or_else(|| malformed(format!("TypeError: {} has no len()", other.brief()))),
    }
}

fn strings(v: Option<&Value>, name: &str) -> Result<Option<Vec<String>>> {
    match v {
        Some(x) if x.is_truthy() => match x {
            Value::Array(items) => items
                .iter()
                .map(|s| match s {
                    Value::Str(s) => Ok(s.clone()),
                    _ => Err(format_err(format!(
                        "XGBoost {name} is not a list of strings"
                    ))),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            _ => Err(format_err(format!(
                "XGBoost {name} is not a list of strings"
            ))),
        },
        _ => Ok(None),
    }
}

/// A tree's size_leaf_vector, checked against the leaf values it actually holds.
fn tree_width(tree: &Value, index: usize) -> Result<usize> {
    let empty = Value::Object(Vec::new());
    let param = get(tree, "tree_param")?.unwrap_or(&empty);
    if !param.is_object() {
        return Err(format_err(format!(
            "XGBoost tree {index}: tree_param is not an object"
        )));
    }
    let n = length(Some(key(tree, "left_children")?))?;
    let present = length(tree.get("base_weights"))?.max(length(tree.get("leaf_weights"))?);
    let one = Value::Int(1);
    let declared = get_or(param, "size_leaf_vector", &one)?;
    let high = present.max(1) as i64;
    // The tree's own name only for the message (formatting it for every tree costs more than
    // reading the tree's size).
    let width = count(declared, "size_leaf_vector", 1, high)
        .or_else(|_| count(declared, &format!("tree {index} size_leaf_vector"), 1, high))?;
    if let Some(declared) = param.get("num_nodes") {
        if count(declared, "num_nodes", 1, n as i64)? != n as i64 {
            let shown = match declared {
                Value::Str(s) => s.clone(),
                other => other.brief(),
            };
            return Err(format_err(format!(
                "XGBoost tree {index}: num_nodes {shown} for {n}"
            )));
        }
    }
    Ok(width as usize)
}

/// Parses a base score: `"5E-1"`, `"[5E-1]"` (xgboost >= 3.1), `"[1E0,2E0]"`, or numbers.
fn base_score(src: &[u8], v: Option<&Value>) -> Result<Vec<f64>> {
    let text = match v {
        None => return Ok(vec![0.5]),
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Int(i)) => return Ok(vec![*i as f64]),
        Some(Value::Float(f)) => return Ok(vec![*f]),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
        Some(Value::Null) => "None".to_string(),
        Some(list) => return float64s(src, Some(list), "base_score"),
    };
    let inner = text.trim().trim_matches(|c| c == '[' || c == ']');
    inner
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<f64>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| {
            format_err(format!(
                "cannot read base_score {}",
                Value::Str(text.clone()).brief()
            ))
        })
}

fn array_text(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// The trees collected so far, in the core's flat layout.
pub(super) struct Builder {
    parts: ForestParts,
    set_words: Vec<u32>,
    bitset_words: usize,
    n_trees: usize,
}

/// Reads a parsed XGBoost model document.
/// Reads a parsed XGBoost model document; `src` holds the bytes of its packed arrays (the
/// UBJSON document; empty for JSON).
pub fn read_document(doc: &Value, src: &[u8], opts: &Options) -> Result<Document> {
    let not_a_model = || {
        format_err("not an XGBoost model document (no learner/objective/gradient_booster)".into())
    };
    let learner = sub(doc, "learner").ok_or_else(not_a_model)?;
    let objective = sub(learner, "objective")
        .and_then(|o| sub(o, "name"))
        .ok_or_else(not_a_model)?;
    let mparam = sub(learner, "learner_model_param").ok_or_else(not_a_model)?;
    let booster = sub(learner, "gradient_booster").ok_or_else(not_a_model)?;
    let found = match objective {
        Value::Str(s) => opts.objectives.iter().find(|(o, _)| o == s),
        _ => None,
    };
    let Some((objective, transform)) = found.cloned() else {
        let names: Vec<&str> = opts.objectives.iter().map(|(o, _)| o.as_str()).collect();
        return Err(Error::UnsupportedModel(format!(
            "XGBoost objective {} is not supported; supported: {}",
            objective.brief(),
            names.join(", ")
        )));
    };
    let name = get(booster, "name")?;
    let (model_doc, weights) = match name {
        Some(Value::Str(s)) if s == "gbtree" => (key(booster, "model")?, None),
        Some(Value::Str(s)) if s == "dart" => {
            let model_doc = key(key(booster, "gbtree")?, "model")?;
            let empty = Value::Array(Vec::new());
            let drop = get(booster, "weight_drop")?.unwrap_or(&empty);
            (model_doc, Some(float32s(src, Some(drop), "weight_drop")?))
        }
        other => {
            return Err(Error::UnsupportedModel(format!(
                "XGBoost booster {} is not supported; supported: gbtree, dart",
                other.map_or("None".to_string(), Value::brief)
            )))
        }
    };
    let no_trees = Vec::new();
    let trees: &[Value] = match get(model_doc, "trees")? {
        None => &no_trees,
        Some(Value::Array(t)) if t.iter().all(Value::is_object) => t,
        Some(_) => {
            return Err(format_err(
                "XGBoost trees is not a list of tree objects".into(),
            ))
        }
    };
    let n_trees = trees.len();
    let tree_info = ints(src, model_doc.get("tree_info"), "tree_info")?;
    if tree_info.len() != n_trees {
        return Err(format_err(format!(
            "tree_info has {} entries for {n_trees} trees",
            tree_info.len()
        )));
    }
    if let Some(w) = &weights {
        if w.len() != n_trees {
            return Err(format_err(format!(
                "dart weight_drop has {} entries for {n_trees}",
                w.len()
            )));
        }
        if w.iter().any(|x| !x.is_finite()) {
            return Err(format_err(
                "dart weight_drop holds a value that is not finite".into(),
            ));
        }
    }
    // Sizes the document declares are checked against what it holds before they size anything.
    let widths = trees
        .iter()
        .enumerate()
        .map(|(i, t)| tree_width(t, i))
        .collect::<Result<Vec<_>>>()?;
    let zero = Value::Int(0);
    let one = Value::Int(1);
    let num_class = count(
        get_or(mparam, "num_class", &zero)?,
        "num_class",
        0,
        MAX_OUTPUTS,
    )?;
    let num_target = count(
        get_or(mparam, "num_target", &one)?,
        "num_target",
        1,
        MAX_OUTPUTS,
    )?;
    let n_outputs = num_class.max(num_target).max(1) as usize;
    let n_features = count(key(mparam, "num_feature")?, "num_feature", 0, MAX_FEATURES)? as usize;
    // Every output is fed by some tree (one per class and iteration, or vector leaves).
    let widest = widths.iter().copied().max().unwrap_or(1).max(1);
    if n_outputs > n_trees.max(1) * widest {
        return Err(format_err(format!(
            "the model declares {n_outputs} outputs for {n_trees} trees"
        )));
    }
    if widths.iter().any(|&w| w > 1 && w != n_outputs) {
        return Err(format_err(format!(
            "a tree has {widest} values per leaf, but the model has {n_outputs} outputs"
        )));
    }
    if let Some(bad) = tree_info
        .iter()
        .position(|&o| o < 0 || o >= n_outputs as i64)
    {
        return Err(format_err(format!(
            "tree_info says tree {bad} feeds output {}, but the model has {n_outputs} outputs",
            tree_info[bad]
        )));
    }
    let feature_names = match &opts.feature_names {
        Some(names) if !names.is_empty() => Some(names.clone()),
        _ => strings(learner.get("feature_names"), "feature_names")?,
    };
    if let Some(names) = &feature_names {
        if names.len() != n_features {
            return Err(format_err(format!(
                "num_feature is {n_features}, but the model names {} features",
                names.len()
            )));
        }
    }
    let mut base = base_score(src, get(mparam, "base_score")?)?;
    if base.len() == 1 {
        base = vec![base[0]; n_outputs];
    } else if base.len() != n_outputs {
        return Err(format_err(format!(
            "base_score has {} values for {n_outputs} outputs",
            base.len()
        )));
    }
    match transform {
        BaseTransform::Logit if base.iter().any(|&b| !(b.is_nan() || (b > 0.0 && b < 1.0))) => {
            return Err(format_err(format!(
                "base_score {} is not a probability for {objective}",
                array_text(&base)
            )))
        }
        BaseTransform::Log if base.iter().any(|&b| b <= 0.0) => {
            return Err(format_err(format!(
                "base_score {} must be positive for {objective}",
                array_text(&base)
            )))
        }
        _ => {}
    }

    // Which trees: iteration_range (begin, end) as in Booster.predict; (0, 0) means all.
    let indptr = match model_doc.get("iteration_indptr") {
        Some(v) if length(Some(v))? > 0 => ints(src, Some(v), "iteration_indptr")?,
        _ => {
            let gparam_empty = Value::Object(Vec::new());
            let gparam = model_doc.get("gbtree_model_param").unwrap_or(&gparam_empty);
            let per_tree = count(
                get_or(gparam, "num_parallel_tree", &one)?,
                "num_parallel_tree",
                1,
                1 << 31,
            )? as usize;
            let per_iter = per_tree.saturating_mul(num_class.max(1) as usize);
            // numpy's arange(0, n_trees + per_iter, per_iter).clip(max=n_trees).
            (0..=n_trees.div_ceil(per_iter))
                .map(|k| k.saturating_mul(per_iter).min(n_trees) as i64)
                .collect()
        }
    };
    if !indptr.is_empty()
        && (indptr[0] != 0
            || *indptr.last().unwrap_or(&0) != n_trees as i64
            || indptr.windows(2).any(|w| w[1] < w[0]))
    {
        return Err(format_err(format!(
            "iteration_indptr is not a partition of the model's {n_trees} trees"
        )));
    }
    let n_iter = indptr.len().saturating_sub(1) as i64;
    let (begin, mut end) = opts.iteration_range.unwrap_or((0, 0));
    if end == 0 {
        end = n_iter;
    }
    if !(0 <= begin && begin < end && end <= n_iter) && n_iter > 0 {
        return Err(Error::UnsupportedModel(format!(
            "iteration_range ({begin}, {end}) is outside the model's {n_iter} iterations"
        )));
    }
    let selected = if n_iter > 0 {
        indptr[begin as usize] as usize..indptr[end as usize] as usize
    } else {
        0..0
    };

    let mut b = Builder {
        parts: ForestParts {
            n_features,
            n_outputs,
            less_equal: false,
            f32_inputs: true,
            tree_start: vec![0],
            category_offsets: vec![0],
            ..Default::default()
        },
        set_words: Vec::new(),
        bitset_words: 0,
        n_trees: 0,
    };
    let nodes: usize = trees[selected.clone()]
        .iter()
        .map(|t| {
            t.get("left_children")
                .and_then(Value::array_len)
                .unwrap_or(0)
        })
        .sum();
    b.reserve(nodes);
    let mut scratch = Scratch::default();
    for i in selected {
        let w = weights.as_ref().map_or(1.0, |w| w[i]);
        add_tree(
            &mut b,
            &mut scratch,
            src,
            &trees[i],
            tree_info[i],
            w,
            i,
            widths[i],
        )?;
    }
    if b.n_trees == 0 {
        return Err(format_err("the model has no trees".into()));
    }
    b.parts.base_score = base;
    b.parts.category_words = std::mem::take(&mut b.set_words);
    let feature_types = strings(learner.get("feature_types"), "feature_types")?;
    let feature_names = match &opts.feature_names {
        Some(names) if !names.is_empty() => Some(names.clone()),
        _ => feature_names,
    };
    Ok(Document {
        parts: b.parts,
        objective,
        base_transform: transform,
        num_class: num_class as usize,
        feature_names,
        feature_types,
        trees_per_round: (n_iter > 0).then(|| (indptr[1] - indptr[0]) as usize),
        category_encodings: category_encodings(src, model_doc)?,
    })
}

/// `cats.enc` of xgboost >= 3.1: per feature its stored categories (values, UTF-8 offsets).
fn category_encodings(src: &[u8], model_doc: &Value) -> Result<Vec<Option<CategoryEncoding>>> {
    let Some(cats) = model_doc.get("cats").filter(|c| c.is_object()) else {
        return Ok(Vec::new());
    };
    let enc = match cats.get("enc") {
        Some(Value::Array(enc)) => enc,
        Some(v) if v.is_truthy() && !matches!(v, Value::Str(_)) => {
            return Err(format_err(format!(
                "XGBoost cats enc is {}, not a list",
                v.brief()
            )))
        }
        _ => return Ok(Vec::new()),
    };
    enc.iter()
        .map(|e| {
            if !e.is_object() {
                return Ok(None);
            }
            let values = float64s(src, e.get("values"), "cats values")?;
            let offsets = match e.get("offsets") {
                Some(o) if length(Some(o))? > 0 => Some(ints(src, Some(o), "cats offsets")?),
                _ => None,
            };
            Ok(Some((values, offsets)))
        })
        .collect()
}

impl Builder {
    pub(super) fn new(parts: ForestParts) -> Self {
        Builder {
            parts,
            set_words: Vec::new(),
            bitset_words: 0,
            n_trees: 0,
        }
    }

    pub(super) fn parts_mut(&mut self) -> &mut ForestParts {
        &mut self.parts
    }

    /// The forest parts, with the categorical sets' words.
    pub(super) fn finish(mut self) -> ForestParts {
        self.parts.category_words = std::mem::take(&mut self.set_words);
        self.parts
    }

    pub(super) fn reserve(&mut self, nodes: usize) {
        let p = &mut self.parts;
        p.feature.reserve(nodes);
        p.threshold.reserve(nodes);
        p.left.reserve(nodes);
        p.right.reserve(nodes);
        p.default_left.reserve(nodes);
        p.missing.reserve(nodes);
        p.cover.reserve(nodes);
        p.values.reserve(nodes);
        p.category_set.reserve(nodes);
    }

    /// Adds one categorical set (its members go right in XGBoost's models, left in its dumps).
    pub(super) fn add_set(&mut self, cats: &[i64], members_left: bool) -> Result<i64> {
        let budget = MAX_BITSET_WORDS - self.bitset_words;
        let mut n_words = 0usize;
        if let (Some(&min), Some(&max)) = (cats.iter().min(), cats.iter().max()) {
            if min < 0 {
                return Err(format_err(format!(
                    "negative category {min} in a categorical split"
                )));
            }
            if max > MAX_CATEGORY {
                return Err(format_err(format!(
                    "category {max} in a categorical split exceeds the largest id the model's \
                     library writes ({MAX_CATEGORY})"
                )));
            }
            n_words = max as usize / 32 + 1;
            if n_words > budget {
                return Err(format_err(format!(
                    "the categorical splits need more than {} MiB of bitsets (a set up to \
                     category {max}): the category ids are implausible",
                    MAX_BITSET_WORDS * 4 / (1 << 20)
                )));
            }
        }
        let start = self.set_words.len();
        self.set_words.resize(start + n_words, 0);
        for &c in cats {
            self.set_words[start + c as usize / 32] |= 1u32 << (c % 32);
        }
        self.bitset_words += n_words;
        self.parts.category_offsets.push(self.set_words.len());
        self.parts.category_members_left.push(members_left);
        Ok(self.parts.category_members_left.len() as i64 - 1)
    }
}

/// Checks that the arrays form one tree and drops XGBoost's deleted nodes (pruned away, still
/// stored, reached from nowhere). Returns the kept nodes, in an order where children follow
/// their parent, and each old node's new index.
fn tree_shape(
    left: &[i64],
    right: &[i64],
    split_index: &[i64],
    index: usize,
    shape: &mut Shape,
) -> Result<()> {
    let n = left.len();
    if stored_order_is_tree(left, right, &mut shape.indegree) {
        shape.order.clear();
        shape.order.extend(0..n);
        shape.new_index.clear();
        shape.new_index.extend(0..n as i64);
        shape.identity = true;
        return Ok(());
    }
    let ni = n as i64;
    let internal = |i: usize| left[i] != -1;
    let outside = |c: i64| c < 0 || c >= ni;
    if let Some(bad) = (0..n).find(|&i| internal(i) && (outside(left[i]) || outside(right[i]))) {
        return Err(format_err(format!(
            "XGBoost tree {index}: node {bad} has children {}, {} outside the tree's {n} nodes",
            left[bad], right[bad]
        )));
    }
    let Shape {
        indegree,
        keep,
        order,
        new_index,
        identity,
    } = shape;
    indegree.clear();
    indegree.resize(n, 0);
    for i in (0..n).filter(|&i| internal(i)) {
        indegree[left[i] as usize] += 1;
        indegree[right[i] as usize] += 1;
    }
    if indegree[0] > 0 {
        return Err(format_err(format!(
            "XGBoost tree {index}: the root is a child of another node"
        )));
    }
    if let Some(bad) = indegree.iter().position(|&d| d > 1) {
        return Err(format_err(format!(
            "XGBoost tree {index}: node {bad} has {} parents (a tree node has one)",
            indegree[bad]
        )));
    }
    keep.clear();
    keep.resize(n, true);
    for o in (1..n).filter(|&i| indegree[i] == 0) {
        if internal(o) || split_index[o] != DELETED_NODE {
            return Err(format_err(format!(
                "XGBoost tree {index}: node {o} is not reached from the root"
            )));
        }
        keep[o] = false;
    }
    let kept = keep.iter().filter(|&&k| k).count();
    let forward = (0..n)
        .filter(|&p| internal(p))
        .all(|p| left[p] > p as i64 && right[p] > p as i64);
    order.clear();
    *identity = forward && kept == n;
    if forward {
        order.extend((0..n).filter(|&i| keep[i]));
    } else {
        // XGBoost may reuse a deleted slot for a later node: lay the tree out in pre-order.
        let mut seen = vec![false; n];
        let mut stack = vec![0usize];
        while let Some(node) = stack.pop() {
            if seen[node] {
                return Err(format_err(format!(
                    "XGBoost tree {index}: node {node} is reached twice"
                )));
            }
            seen[node] = true;
            order.push(node);
            if internal(node) {
                stack.push(right[node] as usize);
                stack.push(left[node] as usize);
            }
        }
        if order.len() != kept {
            return Err(format_err(format!(
                "XGBoost tree {index}: some nodes are not reached from the root"
            )));
        }
    }
    new_index.clear();
    new_index.resize(n, -1);
    for (k, &o) in order.iter().enumerate() {
        new_index[o] = k as i64;
    }
    Ok(())
}

/// The usual case, checked in one pass: every child lies after its parent inside the tree, and
/// every node but the root is the child of exactly one node (so nothing is deleted, and the
/// stored order is the tree's). `false` sends the tree to the full check, which says what is
/// wrong or drops deleted nodes.
fn stored_order_is_tree(left: &[i64], right: &[i64], indegree: &mut Vec<u32>) -> bool {
    let n = left.len();
    indegree.clear();
    indegree.resize(n, 0);
    for (i, (&l, &r)) in left.iter().zip(right).enumerate() {
        if l == -1 {
            continue;
        }
        let after = |c: i64| c > i as i64 && c < n as i64;
        if !(after(l) && after(r)) {
            return false;
        }
        indegree[l as usize] += 1;
        indegree[r as usize] += 1;
    }
    indegree.iter().skip(1).all(|&d| d == 1)
}

/// [`tree_shape`]'s result (the kept nodes in order, each old node's new index) and working
/// arrays, reused from tree to tree.
#[derive(Default)]
pub(super) struct Shape {
    indegree: Vec<u32>,
    keep: Vec<bool>,
    order: Vec<usize>,
    new_index: Vec<i64>,
    /// Whether the order is the stored one (children after parents, nothing deleted).
    identity: bool,
}

/// One tree's arrays as read, reused from tree to tree (no allocation per tree).
#[derive(Default)]
pub(super) struct Scratch {
    left: Vec<i64>,
    right: Vec<i64>,
    feature: Vec<i64>,
    cond: Vec<f64>,
    default_left: Vec<i64>,
    cover: Vec<f64>,
    split_type: Vec<i64>,
    shape: Shape,
}

#[allow(clippy::too_many_arguments)]
fn add_tree(
    b: &mut Builder,
    scratch: &mut Scratch,
    src: &[u8],
    tree: &Value,
    output: i64,
    weight: f64,
    index: usize,
    width: usize,
) -> Result<()> {
    let field = |name: &str| {
        tree.get(name)
            .ok_or_else(|| format_err(format!("XGBoost tree {index} lacks the field '{name}'")))
    };
    let Scratch {
        left,
        right,
        feature,
        cond,
        default_left,
        cover,
        split_type,
        shape,
    } = scratch;
    ints_into(src, Some(field("left_children")?), "left_children", left)?;
    ints_into(src, Some(field("right_children")?), "right_children", right)?;
    ints_into(src, Some(field("split_indices")?), "split_indices", feature)?;
    float32s_into(
        src,
        Some(field("split_conditions")?),
        "split_conditions",
        cond,
    )?;
    ints_into(
        src,
        Some(field("default_left")?),
        "default_left",
        default_left,
    )?;
    float32s_into(src, Some(field("sum_hessian")?), "sum_hessian", cover)?;
    let n = left.len();
    match tree.get("split_type") {
        Some(v) => ints_into(src, Some(v), "split_type", split_type)?,
        None => {
            split_type.clear();
            split_type.resize(n, 0);
        }
    }
    let (left, right, feature, cond, default_left, cover, split_type) = (
        &left[..],
        &right[..],
        &feature[..],
        &cond[..],
        &default_left[..],
        &cover[..],
        &split_type[..],
    );
    for (name, len) in [
        ("right_children", right.len()),
        ("split_indices", feature.len()),
        ("split_conditions", cond.len()),
        ("default_left", default_left.len()),
        ("sum_hessian", cover.len()),
        ("split_type", split_type.len()),
    ] {
        if len != n {
            return Err(format_err(format!(
                "XGBoost tree {index} has {len} {name} for {n} nodes"
            )));
        }
    }
    if n == 0 {
        return Err(format_err(format!("XGBoost tree {index} has no nodes")));
    }
    // Unused here, but XGBoost refuses a file where they do not match the tree: so do we.
    for (name, expected) in [("parents", n), ("base_weights", n * width)] {
        if let Some(v) = tree.get(name) {
            let len = length(Some(v))?;
            if len != 0 && len != expected {
                return Err(format_err(format!(
                    "XGBoost tree {index} has {len} {name} for {n} nodes"
                )));
            }
        }
    }
    if default_left.iter().any(|&d| d != 0 && d != 1) {
        return Err(format_err(format!(
            "XGBoost tree {index}: default_left holds values other than 0/1"
        )));
    }
    if split_type.iter().any(|&s| s != 0 && s != 1) {
        return Err(format_err(format!(
            "XGBoost tree {index}: split_type holds values other than 0 (numeric) and 1 \
             (categorical)"
        )));
    }
    tree_shape(left, right, feature, index, shape)?;
    let (order, new_index) = (&shape.order[..], &shape.new_index[..]);
    let leaf = |i: usize| left[i] == -1;

    // Vector leaves' values (before reordering), `width` per node; single values are taken
    // from `cond` as the nodes are added.
    let vector_values: Option<Vec<f64>> = if width > 1 {
        let leaf_weights = tree.get("leaf_weights");
        if leaf_weights.is_some_and(|v| length(Some(v)).unwrap_or(0) > 0) {
            // xgboost >= 3.1 keeps leaf vectors apart; a leaf's right child indexes them.
            let lw = float32s(src, leaf_weights, "leaf_weights")?;
            if lw.len() % width != 0 {
                return Err(format_err(
                    "a multi-output XGBoost tree has ragged leaf weights".into(),
                ));
            }
            let rows = (lw.len() / width) as i64;
            if (0..n).any(|i| leaf(i) && (right[i] < 0 || right[i] >= rows)) {
                return Err(format_err(
                    "a multi-output XGBoost leaf refers to a missing weight".into(),
                ));
            }
            let mut values = Vec::with_capacity(n * width);
            #[allow(clippy::needless_range_loop)]
            for i in 0..n {
                let slot = if leaf(i) { right[i] as usize } else { 0 };
                for j in 0..width {
                    let v = if leaf(i) { lw[slot * width + j] } else { 0.0 };
                    values.push(v * weight);
                }
            }
            Some(values)
        } else {
            let weights = float32s(
                src,
                Some(
                    tree.get("base_weights")
                        .ok_or_else(|| malformed("KeyError: 'base_weights'".into()))?,
                ),
                "base_weights",
            )?;
            if weights.len() != n * width {
                return Err(format_err(
                    "a multi-output XGBoost tree has the wrong number of weights".into(),
                ));
            }
            Some(weights.iter().map(|&v| v * weight).collect())
        }
    } else {
        None
    };

    // Categorical splits: categories listed in the split go right; everything else left.
    let cat_nodes = ints(src, tree.get("categories_nodes"), "categories_nodes")?;
    let mut listed = Vec::new();
    let mut node_sets: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    let mut cats = Vec::new();
    if !cat_nodes.is_empty() {
        cats = ints(src, tree.get("categories"), "categories")?;
        let seg = ints(src, tree.get("categories_segments"), "categories_segments")?;
        let size = ints(src, tree.get("categories_sizes"), "categories_sizes")?;
        if seg.len() != cat_nodes.len() || size.len() != cat_nodes.len() {
            return Err(format_err(format!(
                "XGBoost tree {index}: {} categorical nodes, {} segments and {} sizes",
                cat_nodes.len(),
                seg.len(),
                size.len()
            )));
        }
        if seg
            .iter()
            .zip(&size)
            .any(|(&s, &z)| s < 0 || z < 0 || (s as i128 + z as i128) > cats.len() as i128)
        {
            return Err(format_err(format!(
                "XGBoost tree {index}: a categorical split's segment lies outside its {} \
                 categories",
                cats.len()
            )));
        }
        if cat_nodes.iter().any(|&c| c < 0 || c >= n as i64) {
            return Err(format_err(format!(
                "XGBoost tree {index}: categories_nodes names a node outside the tree"
            )));
        }
        listed.resize(n, false);
        let mut repeated = false;
        for &c in &cat_nodes {
            repeated |= listed[c as usize] || leaf(c as usize);
            listed[c as usize] = true;
        }
        if repeated {
            return Err(format_err(format!(
                "XGBoost tree {index}: categories_nodes repeats a node or names a leaf"
            )));
        }
        for (k, &c) in cat_nodes.iter().enumerate() {
            let (s, z) = (seg[k] as usize, size[k] as usize);
            node_sets.push((new_index[c as usize] as usize, s..s + z));
        }
    }
    let is_listed = |i: usize| listed.get(i).copied().unwrap_or(false);
    if (0..n).any(|i| is_listed(i) != (split_type[i] == 1 && !leaf(i))) {
        return Err(format_err(format!(
            "XGBoost tree {index}: categorical split lists do not match its categorical nodes"
        )));
    }

    // What the forest builder checked: features of splits, covers adding up.
    let m = order.len();
    let new_left = |o: usize| {
        if leaf(o) {
            -1
        } else {
            new_index[left[o] as usize]
        }
    };
    let new_right = |o: usize| {
        if leaf(o) {
            -1
        } else {
            new_index[right[o] as usize]
        }
    };
    if let Some(k) = (0..m).find(|&k| !leaf(order[k]) && feature[order[k]] < 0) {
        return Err(format_err(format!(
            "tree {}: node {k} splits on the negative feature {}",
            b.n_trees, feature[order[k]]
        )));
    }
    // The covers in their new order go straight into the forest (an error drops it all).
    let start = b.parts.cover.len();
    if shape.identity {
        b.parts.cover.extend_from_slice(cover);
    } else {
        b.parts.cover.extend(order.iter().map(|&o| cover[o]));
    }
    let new_cover = &b.parts.cover[start..];
    if new_cover.iter().all(|c| c.is_finite()) {
        for (k, &o) in order.iter().enumerate() {
            if leaf(o) {
                continue;
            }
            let (l, r) = if shape.identity {
                (left[o] as usize, right[o] as usize)
            } else {
                (new_left(o) as usize, new_right(o) as usize)
            };
            let (lc, rc, pc) = (new_cover[l], new_cover[r], new_cover[k]);
            let gap = (lc + rc - pc).abs();
            let bound = COVER_TOLERANCE * (lc.abs() + rc.abs() + pc.abs()) + 1e-9;
            if gap > bound {
                return Err(format_err(format!(
                    "tree {}, node {k}: its cover {pc:?} is not the sum of its children's \
                     ({lc:?} + {rc:?})",
                    b.n_trees
                )));
            }
        }
    }
    let first_set = b.parts.category_members_left.len() as i64;
    let mut set_of = if node_sets.is_empty() {
        Vec::new()
    } else {
        vec![-1i64; m]
    };
    for (k, (node, range)) in node_sets.iter().enumerate() {
        let s = b.add_set(&cats[range.clone()], false)?;
        debug_assert_eq!(s, first_set + k as i64);
        set_of[*node] = s;
    }

    let p = &mut b.parts;
    if shape.identity {
        // The common case, array by array: nodes keep their places and children their indices.
        let inner = |l: &i64| *l != -1;
        let at_split = |v: i64, l: &i64| if inner(l) { v } else { -1 };
        p.feature
            .extend(left.iter().zip(feature).map(|(l, &f)| at_split(f, l)));
        p.threshold.extend(
            left.iter()
                .zip(cond)
                .map(|(l, &c)| if inner(l) { c } else { 0.0 }),
        );
        p.left.extend(left.iter().map(|l| at_split(*l, l)));
        p.right
            .extend(left.iter().zip(right).map(|(l, &r)| at_split(r, l)));
        p.default_left.extend(default_left.iter().map(|&d| d == 1));
        p.missing.extend(std::iter::repeat_n(0u8, n));
        if set_of.is_empty() {
            p.category_set.extend(std::iter::repeat_n(-1i64, n));
        } else {
            p.category_set.extend_from_slice(&set_of);
        }
        match &vector_values {
            Some(values) => p.values.extend_from_slice(values),
            None => p.values.extend(
                left.iter()
                    .zip(cond)
                    .map(|(l, &c)| if inner(l) { 0.0 } else { c } * weight),
            ),
        }
    }
    for (k, &o) in order.iter().enumerate().filter(|_| !shape.identity) {
        let is_leaf = leaf(o);
        p.feature.push(if is_leaf { -1 } else { feature[o] });
        p.threshold.push(if is_leaf { 0.0 } else { cond[o] });
        p.left.push(new_left(o));
        p.right.push(new_right(o));
        p.default_left.push(default_left[o] == 1);
        p.missing.push(0);
        p.category_set.push(set_of.get(k).copied().unwrap_or(-1));
        match &vector_values {
            Some(values) => p
                .values
                .extend_from_slice(&values[o * width..(o + 1) * width]),
            None => p.values.push(if is_leaf { cond[o] } else { 0.0 } * weight),
        }
    }
    p.tree_start.push(p.feature.len());
    p.tree_output.push(if width > 1 { -1 } else { output });
    b.n_trees += 1;
    Ok(())
}

/// How a model's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Ubjson,
    Json,
}

/// Reads an XGBoost model saved by `save_model` / `save_raw` (UBJSON or JSON).
pub fn read(data: &[u8], encoding: Encoding, opts: &Options) -> Result<Document> {
    let (doc, src) = match encoding {
        Encoding::Ubjson => (super::ubjson::parse(data)?, data),
        Encoding::Json => {
            let text = std::str::from_utf8(data).map_err(|e| {
                format_err(format!("the XGBoost JSON model is not UTF-8 text: {e}"))
            })?;
            let doc = super::json::parse(text).map_err(|e| {
                format_err(format!(
                    "the XGBoost JSON model is corrupt or truncated: {e}"
                ))
            })?;
            (doc, &[][..])
        }
    };
    if !doc.is_object() {
        return Err(format_err(
            "not an XGBoost model document (not an object)".into(),
        ));
    }
    read_document(&doc, src, opts)
}
