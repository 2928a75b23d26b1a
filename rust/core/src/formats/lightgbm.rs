//! LightGBM's text model format (`save_model` files, `Booster.model_to_string()`), read into a
//! [`Forest`].
//!
//! The text is a header of `key=value` lines, one block per tree from a `Tree=` line, an
//! `end of trees` line, then sections treelens does not need (feature importances, parameters)
//! and, for pandas input, a `pandas_categorical:` JSON line. Tree blocks are independent and are
//! read in parallel; the forest is assembled in tree order, so the result never depends on the
//! thread count. Objective names and links stay with the Python loader: this module checks the
//! objective against the list it is given and hands the header back.

use super::lightgbm_tree::{parse_int, parse_tree, ParsedTree, TreeBlock};
use crate::error::{Error, Result};
use crate::forest::{Forest, ForestParts};
use rayon::prelude::*;

/// LightGBM's feature indices are 32-bit.
const MAX_FEATURES: i64 = (1 << 31) - 1;

/// Largest total size of the categorical bitsets of one model (32-bit words: 256 MiB), as for
/// every other loader: nodes sharing a set each get a copy, so many nodes naming one large set
/// must not multiply it unchecked.
const MAX_BITSET_WORDS: usize = 1 << 26;

/// A LightGBM model: its forest and what the Python loader still reads from the text.
#[derive(Debug)]
pub struct LightGbmModel {
    pub forest: Forest,
    /// The header's `key=value` lines in order (a line without `=` has an empty value).
    pub header: Vec<(String, String)>,
    /// The JSON after `pandas_categorical:` (the last such line), unparsed.
    pub pandas_categorical: Option<String>,
    pub n_trees: usize,
}

/// The text cut into its header, tree blocks and pandas_categorical line. Lines are trimmed;
/// after `end of trees` lines are ignored until another `Tree=` line.
struct Sections<'a> {
    header: Vec<(&'a str, &'a str)>,
    trees: Vec<TreeBlock<'a>>,
    pandas_categorical: Option<&'a str>,
    /// Whether an `end of trees` line was seen.
    ended: bool,
}

fn split_sections(text: &str) -> Sections<'_> {
    enum In {
        Header,
        Tree,
        Nothing,
    }
    let mut s = Sections {
        header: Vec::new(),
        trees: Vec::new(),
        pandas_categorical: None,
        ended: false,
    };
    let mut current = In::Header;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Tree=") {
            s.trees.push(TreeBlock { lines: Vec::new() });
            current = In::Tree;
            continue;
        }
        if line == "end of trees" {
            s.ended = true;
            current = In::Nothing;
            continue;
        }
        if let Some(json) = line.strip_prefix("pandas_categorical:") {
            s.pandas_categorical = Some(json);
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let pair = line.split_once('=');
        match current {
            In::Header => s.header.push(pair.unwrap_or((line, ""))),
            In::Tree => {
                if let (Some(pair), Some(tree)) = (pair, s.trees.last_mut()) {
                    tree.lines.push(pair);
                }
            }
            In::Nothing => {}
        }
    }
    s
}

fn header_value<'a>(header: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    header
        .iter()
        .rev()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

fn format_error(message: String) -> Error {
    Error::InvalidModel(message)
}

/// Reads a LightGBM model text. `supported_objectives` are the objective names the caller can
/// explain; any other is refused before the trees are read.
pub fn parse(text: &str, supported_objectives: &[&str]) -> Result<LightGbmModel> {
    if !text.trim_start().starts_with("tree") {
        return Err(format_error(
            "not a LightGBM model file (it does not start with 'tree')".into(),
        ));
    }
    let s = split_sections(text);
    let header = &s.header;
    let n_trees = s.trees.len();
    // A complete file lists its tree sizes and closes with "end of trees": anything less is a
    // truncated file, which must not load as a smaller model.
    let n_sizes = header_value(header, "tree_sizes").map_or(0, |v| v.split_whitespace().count());
    // (The marker anywhere in the text will do, as it always has; the line is the usual case.)
    if !s.ended && !text.contains("end of trees") {
        let listed = if n_sizes > 0 {
            format!(" of the {n_sizes} its header lists")
        } else {
            String::new()
        };
        return Err(format_error(format!(
            "the LightGBM model is truncated: {n_trees} tree blocks{listed}, and no 'end of \
             trees' line"
        )));
    }
    if n_sizes > 0 && n_sizes != n_trees {
        return Err(format_error(format!(
            "the LightGBM model is corrupt: {n_trees} tree blocks, but its header lists \
             {n_sizes} tree sizes"
        )));
    }
    let lacks = || format_error("the LightGBM header lacks num_class/max_feature_idx".into());
    let n_class = match header_value(header, "num_class") {
        Some(v) => parse_int(v).ok_or_else(lacks)?,
        None => 1,
    };
    let per_iter = match header_value(header, "num_tree_per_iteration") {
        Some(v) => parse_int(v).ok_or_else(lacks)?,
        None => n_class,
    };
    let max_feature_idx = header_value(header, "max_feature_idx")
        .and_then(parse_int)
        .ok_or_else(lacks)?;
    let objective = header_value(header, "objective")
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("custom");
    if !supported_objectives.contains(&objective) {
        return Err(Error::UnsupportedModel(format!(
            "LightGBM objective '{objective}' is not supported; supported: {}",
            supported_objectives.join(", ")
        )));
    }
    if per_iter < 1 {
        return Err(format_error(
            "num_tree_per_iteration must be positive".into(),
        ));
    }
    // Declared sizes are checked against the trees present before they size anything.
    let most = n_trees.max(1) as i64;
    if !(1..=most).contains(&n_class) {
        return Err(format_error(format!(
            "num_class is {n_class}, but the model has {n_trees} trees"
        )));
    }
    if !(0..MAX_FEATURES).contains(&max_feature_idx) {
        return Err(format_error(format!(
            "max_feature_idx is {max_feature_idx}; LightGBM's feature indices are 0..2**31-2"
        )));
    }
    let n_features = (max_feature_idx + 1) as usize;
    if per_iter > most {
        return Err(format_error(format!(
            "num_tree_per_iteration is {per_iter}, but the model has {n_trees} trees"
        )));
    }
    let n_outputs = per_iter as usize;
    let n_names = header_value(header, "feature_names").map_or(0, |v| v.split_whitespace().count());
    if n_names > 0 && n_names != n_features {
        return Err(format_error(format!(
            "max_feature_idx says {n_features} features, but feature_names lists {n_names}"
        )));
    }
    let average = header.iter().any(|(k, _)| *k == "average_output");
    let parsed: Vec<Result<ParsedTree>> = s
        .trees
        .par_iter()
        .enumerate()
        .map(|(i, block)| parse_tree(block, i))
        .collect();
    let forest = assemble(parsed, n_features, n_outputs, average)?;
    Ok(LightGbmModel {
        forest,
        header: s
            .header
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        pandas_categorical: s.pandas_categorical.map(str::to_string),
        n_trees,
    })
}

/// Concatenates the trees (the first error in tree order wins) and builds the forest.
fn assemble(
    trees: Vec<Result<ParsedTree>>,
    n_features: usize,
    n_outputs: usize,
    average: bool,
) -> Result<Forest> {
    if trees.is_empty() {
        return Err(format_error("the model has no trees".into()));
    }
    let trees: Vec<ParsedTree> = trees.into_iter().collect::<Result<_>>()?;
    let n_nodes: usize = trees.iter().map(|t| t.feature.len()).sum();
    let mut p = ForestParts {
        n_features,
        n_outputs,
        base_score: vec![0.0; n_outputs],
        average,
        less_equal: true,
        f32_inputs: false,
        tree_start: Vec::with_capacity(trees.len() + 1),
        tree_output: Vec::with_capacity(trees.len()),
        feature: Vec::with_capacity(n_nodes),
        threshold: Vec::with_capacity(n_nodes),
        left: Vec::with_capacity(n_nodes),
        right: Vec::with_capacity(n_nodes),
        default_left: Vec::with_capacity(n_nodes),
        missing: Vec::with_capacity(n_nodes),
        cover: Vec::with_capacity(n_nodes),
        values: Vec::with_capacity(n_nodes),
        category_set: Vec::with_capacity(n_nodes),
        category_offsets: vec![0],
        category_words: Vec::new(),
        category_members_left: Vec::new(),
        category_truncate_first: true,
    };
    p.tree_start.push(0);
    for (i, t) in trees.into_iter().enumerate() {
        let n = t.feature.len();
        let mut sets = vec![-1i64; n];
        for &(node, start, end) in &t.category_nodes {
            if end - start > MAX_BITSET_WORDS - p.category_words.len() {
                return Err(format_error(format!(
                    "the categorical splits need more than {} MiB of bitsets: the category \
                     sets are implausible",
                    (MAX_BITSET_WORDS * 4) >> 20
                )));
            }
            sets[node] = p.category_members_left.len() as i64;
            p.category_words.extend_from_slice(&t.words[start..end]);
            p.category_offsets.push(p.category_words.len());
            // Members go left (LightGBM).
            p.category_members_left.push(true);
        }
        p.feature.extend_from_slice(&t.feature);
        p.threshold.extend_from_slice(&t.threshold);
        p.left.extend_from_slice(&t.left);
        p.right.extend_from_slice(&t.right);
        p.default_left.extend_from_slice(&t.default_left);
        p.missing.extend_from_slice(&t.missing);
        p.cover.extend_from_slice(&t.cover);
        p.values.extend_from_slice(&t.values);
        p.category_set.extend_from_slice(&sets);
        p.tree_start.push(p.tree_start[i] + n);
        p.tree_output.push((i % n_outputs) as i64);
    }
    Forest::new(p)
}
