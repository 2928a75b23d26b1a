//! One `Tree=` block of a LightGBM model text, read into the forest's node arrays.
//!
//! Every count the block declares is compared with the numbers actually present before it sizes
//! anything, so a hostile block costs no more memory than its own text.

use crate::error::{Error, Result};

/// Missing-value kinds of the forest (see [`crate::forest::Missing`]).
const MISSING_NAN: u8 = 0;
const MISSING_NAN_AS_ZERO: u8 = 1;
const MISSING_ZERO_OR_NAN: u8 = 2;

/// How far a node's cover may differ from the sum of its children's (relative), as for every
/// other loader: LightGBM's counts add up exactly, a larger gap is a corrupt count.
const COVER_TOLERANCE: f64 = 1e-3;

/// Integers are read as float64 and must be whole and below 2**53 (as numpy reads them).
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A tree block's `key=value` lines (the last one wins when a key repeats).
pub(crate) struct TreeBlock<'a> {
    pub lines: Vec<(&'a str, &'a str)>,
}

impl<'a> TreeBlock<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.lines
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// One tree's nodes: internal nodes first (LightGBM's numbers), then leaf `k` as node `m + k`.
pub(crate) struct ParsedTree {
    pub feature: Vec<i64>,
    pub threshold: Vec<f64>,
    pub left: Vec<i64>,
    pub right: Vec<i64>,
    pub default_left: Vec<bool>,
    pub missing: Vec<u8>,
    pub cover: Vec<f64>,
    pub values: Vec<f64>,
    /// Per categorical node, in node order: the node and its word range in `words`.
    pub category_nodes: Vec<(usize, usize, usize)>,
    /// The tree's `cat_threshold` words (its categorical nodes' sets are ranges of them).
    pub words: Vec<u32>,
}

fn format_error(message: String) -> Error {
    Error::InvalidModel(message)
}

/// Python's `repr` of a float, near enough for a message: whole numbers keep a ".0".
fn float_text(x: f64) -> String {
    format!("{x:?}")
}

/// Reads a float the way Python's `float()` does (surrounding spaces, inf/nan in any case).
pub(crate) fn parse_float(token: &str) -> Option<f64> {
    token.parse::<f64>().ok()
}

/// A token of digits only (at most 15, so below 2**53) as float64, exactly as `parse_float`
/// reads it; None for anything else. Counts are written this way, and reading them as integers
/// is several times cheaper than the general float parser. (A sign is left to the general
/// parser: "-0" must stay -0.0.)
pub(crate) fn small_whole_number(token: &str) -> Option<f64> {
    let bytes = token.as_bytes();
    if bytes.is_empty() || bytes.len() > 15 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u64::from(digit);
    }
    Some(value as f64)
}

/// The whitespace-separated words of `raw`, as `str::split_whitespace` gives them. ASCII text
/// (every model LightGBM writes) is split byte by byte, which is several times cheaper than
/// decoding characters; ASCII whitespace bytes are always character boundaries.
pub(crate) fn words(raw: &str) -> Box<dyn Iterator<Item = &str> + '_> {
    if !raw.is_ascii() {
        return Box::new(raw.split_whitespace());
    }
    let bytes = raw.as_bytes();
    let mut at = 0;
    Box::new(std::iter::from_fn(move || {
        while at < bytes.len() && matches!(bytes[at], b' ' | b'\t'..=b'\r') {
            at += 1;
        }
        let start = at;
        while at < bytes.len() && !matches!(bytes[at], b' ' | b'\t'..=b'\r') {
            at += 1;
        }
        (at > start).then(|| raw.get(start..at)).flatten()
    }))
}

/// Room to reserve for `expected` numbers read from `raw`: never more than the text can hold,
/// each number taking at least two bytes (a digit and a separator) but the last.
fn room(expected: usize, raw: &str) -> usize {
    expected.min(raw.len() / 2 + 1)
}

/// The numbers of `key` as float64, or the error naming the key. `expected` (the count the
/// caller will check) only reserves room, never more than the text can hold.
fn floats(block: &TreeBlock, key: &str, expected: usize, tree: usize) -> Result<Vec<f64>> {
    let raw = block
        .get(key)
        .ok_or_else(|| format_error(format!("LightGBM tree {tree} lacks {key}")))?;
    let mut out = Vec::with_capacity(room(expected, raw));
    for t in words(raw) {
        let value = small_whole_number(t)
            .or_else(|| parse_float(t))
            .ok_or_else(|| {
                format_error(format!("LightGBM tree {tree}: {key} holds a non-number"))
            })?;
        out.push(value);
    }
    Ok(out)
}

fn check_count(len: usize, expected: usize, key: &str, tree: usize) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(format_error(format!(
            "LightGBM tree {tree}: {key} has {len} values, expected {expected}"
        )))
    }
}

/// The numbers of `key` as float64, exactly `count` of them.
fn float_field(block: &TreeBlock, key: &str, count: usize, tree: usize) -> Result<Vec<f64>> {
    let v = floats(block, key, count, tree)?;
    check_count(v.len(), count, key, tree)?;
    Ok(v)
}

/// The numbers of `key` as integers (written as whole numbers below 2**53), `count` of them
/// when given. Plain integers are read directly; anything else goes through float64.
fn int_field(block: &TreeBlock, key: &str, count: Option<usize>, tree: usize) -> Result<Vec<i64>> {
    let raw = block
        .get(key)
        .ok_or_else(|| format_error(format!("LightGBM tree {tree} lacks {key}")))?;
    let mut out = Vec::with_capacity(room(count.unwrap_or(0), raw));
    let mut whole = true;
    for t in words(raw) {
        let value = match t.parse::<i64>() {
            Ok(v) if v.unsigned_abs() < 1 << 53 => v as f64,
            _ => parse_float(t).ok_or_else(|| {
                format_error(format!("LightGBM tree {tree}: {key} holds a non-number"))
            })?,
        };
        whole &= value.is_finite() && value == value.floor() && value.abs() < MAX_EXACT_INTEGER;
        out.push(value as i64);
    }
    if !whole {
        return Err(format_error(format!(
            "LightGBM tree {tree}: {key} holds a non-integer"
        )));
    }
    if let Some(count) = count {
        check_count(out.len(), count, key, tree)?;
    }
    Ok(out)
}

/// A header-style integer (`num_leaves`, `num_cat`): Python's `int()` of the trimmed text.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Some(v);
    }
    // Python's int() takes any number of digits: a huge one saturates, to fail a range check.
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(if t.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        });
    }
    None
}

/// Reads tree `index` of the model.
pub(crate) fn parse_tree(block: &TreeBlock, index: usize) -> Result<ParsedTree> {
    let lacks = || format_error(format!("LightGBM tree {index} lacks num_leaves"));
    let n_leaves = block
        .get("num_leaves")
        .and_then(parse_int)
        .ok_or_else(lacks)?;
    let n_cat = match block.get("num_cat") {
        Some(v) => parse_int(v).ok_or_else(lacks)?,
        None => 0,
    };
    if !matches!(
        block.get("is_linear").map(str::trim),
        None | Some("0") | Some("")
    ) {
        return Err(Error::UnsupportedModel(
            "LightGBM linear trees (linear_tree=True) are not supported: their leaves are \
             linear models, not constants"
                .into(),
        ));
    }
    if n_leaves < 1 {
        return Err(format_error(format!(
            "LightGBM tree {index} has {n_leaves} leaves"
        )));
    }
    // Every field is compared with this count, so it never sizes more than the text holds.
    let n_leaves = usize::try_from(n_leaves).unwrap_or(usize::MAX);
    let leaf_value = float_field(block, "leaf_value", n_leaves, index)?;
    if n_leaves == 1 {
        let cover = match block.get("leaf_count") {
            None => 0.0,
            Some(raw) => {
                let first = raw.split_whitespace().next().ok_or_else(|| {
                    format_error(format!("LightGBM tree {index}: leaf_count is empty"))
                })?;
                parse_float(first).ok_or_else(|| {
                    format_error(format!(
                        "LightGBM tree {index}: leaf_count holds a non-number"
                    ))
                })?
            }
        };
        return Ok(ParsedTree {
            feature: vec![-1],
            threshold: vec![0.0],
            left: vec![-1],
            right: vec![-1],
            default_left: vec![false],
            missing: vec![MISSING_NAN],
            cover: vec![cover],
            values: leaf_value,
            category_nodes: Vec::new(),
            words: Vec::new(),
        });
    }
    let m = n_leaves - 1;
    let split_feature = int_field(block, "split_feature", Some(m), index)?;
    let threshold = float_field(block, "threshold", m, index)?;
    let decision = int_field(block, "decision_type", Some(m), index)?;
    let lc = int_field(block, "left_child", Some(m), index)?;
    let rc = int_field(block, "right_child", Some(m), index)?;
    let leaf_count = float_field(block, "leaf_count", n_leaves, index)?;
    let internal_count = float_field(block, "internal_count", m, index)?;
    // Internal nodes are 0 .. m-1; leaves are written as ~k, k in 0 .. n_leaves-1.
    let (mi, li) = (m as i64, n_leaves as i64);
    for (name, child) in [("left_child", &lc), ("right_child", &rc)] {
        if let Some(j) = child.iter().position(|&c| c >= mi || c < -li) {
            return Err(format_error(format!(
                "LightGBM tree {index}: node {j} has {name} {}, outside the tree's {m} internal \
                 nodes and {n_leaves} leaves",
                child[j]
            )));
        }
    }
    if leaf_count.iter().chain(&internal_count).any(|&c| c < 0.0) {
        return Err(format_error(format!(
            "LightGBM tree {index}: a node has a negative data count"
        )));
    }
    if let Some(j) = decision
        .iter()
        .position(|&d| !(0..=15).contains(&d) || (d >> 2) & 3 == 3)
    {
        return Err(format_error(format!(
            "LightGBM tree {index}: node {j} has decision_type {} (bits: 1 categorical, 2 \
             default left, 4-8 missing type 0-2)",
            decision[j]
        )));
    }
    let n = m + n_leaves;
    let categorical = |j: usize| decision[j] & 1 == 1;
    let mut feature = split_feature;
    feature.resize(n, -1);
    let mut left: Vec<i64> = lc
        .iter()
        .map(|&c| if c >= 0 { c } else { mi + !c })
        .collect();
    let mut right: Vec<i64> = rc
        .iter()
        .map(|&c| if c >= 0 { c } else { mi + !c })
        .collect();
    left.resize(n, -1);
    right.resize(n, -1);
    let mut default_left: Vec<bool> = (0..m)
        .map(|j| !categorical(j) && (decision[j] >> 1) & 1 == 1)
        .collect();
    default_left.resize(n, false);
    let mut missing: Vec<u8> = (0..m)
        .map(|j| match (decision[j] >> 2) & 3 {
            _ if categorical(j) => MISSING_NAN,
            0 => MISSING_NAN_AS_ZERO,
            1 => MISSING_ZERO_OR_NAN,
            _ => MISSING_NAN,
        })
        .collect();
    missing.resize(n, MISSING_NAN);
    let mut category_nodes = Vec::new();
    let mut words = Vec::new();
    if (0..m).any(categorical) {
        let bounds = int_field(block, "cat_boundaries", None, index)?;
        // Compared as numbers: a huge or negative num_cat only fails the comparison.
        if bounds.len() as i128 != n_cat as i128 + 1 {
            return Err(format_error(format!(
                "LightGBM tree {index}: cat_boundaries has {} values, expected {}",
                bounds.len(),
                n_cat as i128 + 1
            )));
        }
        if n_cat < 1 {
            return Err(format_error(format!(
                "LightGBM tree {index} has categorical splits but num_cat 0"
            )));
        }
        let raw = floats(block, "cat_threshold", 0, index)?;
        if raw
            .iter()
            .any(|&w| !(0.0..4_294_967_296.0).contains(&w) || w != w.floor())
        {
            return Err(format_error(format!(
                "LightGBM tree {index}: cat_threshold holds non-uint32 words"
            )));
        }
        words = raw.iter().map(|&w| w as u32).collect();
        if bounds[0] != 0
            || bounds.windows(2).any(|w| w[1] < w[0])
            || bounds[bounds.len() - 1] != words.len() as i64
        {
            let shown: Vec<String> = bounds.iter().take(8).map(|b| b.to_string()).collect();
            return Err(format_error(format!(
                "LightGBM tree {index}: cat_boundaries [{}] do not partition its {} \
                 cat_threshold words",
                shown.join(", "),
                words.len()
            )));
        }
        for j in (0..m).filter(|&j| categorical(j)) {
            let t = threshold[j];
            if !(t.is_finite() && 0.0 <= t && t < n_cat as f64) {
                return Err(format_error(format!(
                    "LightGBM tree {index}: categorical split {} unknown",
                    float_text(t)
                )));
            }
            let k = t as usize;
            // Members go left; NaN and non-members go right.
            category_nodes.push((j, bounds[k] as usize, bounds[k + 1] as usize));
        }
    }
    if let Some(j) = (0..m).find(|&j| feature[j] < 0) {
        return Err(format_error(format!(
            "tree {index}: node {j} splits on the negative feature {}",
            feature[j]
        )));
    }
    let mut node_threshold: Vec<f64> = (0..m)
        .map(|j| if categorical(j) { 0.0 } else { threshold[j] })
        .collect();
    node_threshold.resize(n, 0.0);
    let mut cover = internal_count;
    cover.extend_from_slice(&leaf_count);
    check_covers(&cover, &left, &right, m, index)?;
    let mut values = vec![0.0; m];
    values.extend_from_slice(&leaf_value);
    Ok(ParsedTree {
        feature,
        threshold: node_threshold,
        left,
        right,
        default_left,
        missing,
        cover,
        values,
        category_nodes,
        words,
    })
}

/// A node's cover is the sum of its children's (within [`COVER_TOLERANCE`]): a cover far off
/// would skew path-dependent SHAP silently. Not a tree (a child used twice) or non-finite
/// covers are left to [`crate::Forest::new`], which names the node.
fn check_covers(cover: &[f64], left: &[i64], right: &[i64], m: usize, tree: usize) -> Result<()> {
    let mut seen = vec![false; cover.len()];
    for j in 0..m {
        for c in [left[j] as usize, right[j] as usize] {
            if std::mem::replace(&mut seen[c], true) {
                return Ok(());
            }
        }
    }
    if cover.iter().any(|c| !c.is_finite()) {
        return Ok(());
    }
    for k in 0..m {
        let (l, r) = (left[k] as usize, right[k] as usize);
        let (lc, rc, pc) = (cover[l], cover[r], cover[k]);
        let gap = (lc + rc - pc).abs();
        let bound = COVER_TOLERANCE * (lc.abs() + rc.abs() + pc.abs()) + 1e-9;
        if gap > bound {
            return Err(format_error(format!(
                "tree {tree}, node {k}: its cover {} is not the sum of its children's ({} + {})",
                float_text(pc),
                float_text(lc),
                float_text(rc)
            )));
        }
    }
    Ok(())
}
