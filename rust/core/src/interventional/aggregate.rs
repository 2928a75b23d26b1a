//! The background, aggregated per leaf: what the linear-time method looks up for each row.
//!
//! For a leaf with `d` distinct path features, a background row z is summarised by `q` = the set of
//! path features z does NOT satisfy (its pattern's complement). A row x with pattern `s` reaches
//! the leaf together with z exactly when `q ⊆ s`; then `A = q` and `B = complement of s`, so
//! `b = d - |s|` depends on x alone. Every attribution is therefore a sum over `q ⊆ s` of
//! `H[q] * c(|q|, b)` for one of a few coefficient functions `c` ([`Weights`]), `H` being the
//! normalised background weight with that `q`. Two exact representations:
//!
//! - **Table** (small `d`): every row pattern `s` gets its coefficients precomputed, contiguous:
//!   `phi_j = R_A[b][s] - R_A[b][s \ j]` for `j ∈ s` and `phi_j = -R_B[b][s]` otherwise, where
//!   `R[b][u] = sum_{q ⊆ u} H[q] c(|q|, b)` are subset sums (for SHAP values from one ranked zeta
//!   transform, [`super::ranked`], `O(2^d d^2)`; by zeta transforms per `b` for interactions,
//!   `O(2^d d^2)` each); for interactions also the pair
//!   indices by inclusion-exclusion on `R_AA`, `R_AB`, `R_BB`. A row then reads one contiguous
//!   entry per leaf: `d` floats for SHAP values (`2^d d` per leaf), `d (d + 1) / 2` for
//!   interactions (`2^d d (d + 1) / 2` per leaf).
//! - **List** (deep leaves): the distinct `q` with their weights (at most min(background rows,
//!   `2^d`) of them), with per-bit bitmaps ([`PatternList`]). A row costs an AND of its missing
//!   bits' bitmaps per 64 entries and `O(d)` (`O(d^2)` for interactions) per matching entry.

use super::columns::{Columns, WALK_ROWS};
use super::paths::{full_mask, TreePaths};
use super::pattern_hash::PatternHash;
use super::pattern_list::PatternList;
use super::ranked::{flat_ranked, flat_ranked_into};
use super::sink::Sink;
use super::weights::Weights;
use crate::forest::Forest;
use crate::parallel::Cancel;
use std::collections::HashMap;

/// Leaves with at most this many path features always use a table.
pub const ALWAYS_TABLE_BITS: usize = 8;
/// Leaves with more path features than this never use a table.
pub const MAX_TABLE_BITS: usize = 16;

#[derive(Debug, Clone)]
pub enum LeafData {
    /// Interactions: for each row pattern `s`, `d` Shapley-value coefficients then the
    /// `d (d - 1) / 2` halved interaction indices of the pairs `j < k` in order, contiguous.
    FlatInteractions(Vec<f64>),
    /// SHAP values only: for each row pattern `s`, the `d` coefficients of the leaf's features,
    /// contiguous (`s * d + j`): one cache line per leaf and row.
    Flat(Vec<f64>),
    /// Distinct `q` (features the background row fails) with normalised weights.
    List(PatternList),
}

#[derive(Debug, Clone)]
pub struct LeafAggregate {
    pub node: usize,
    /// The leaf's values times the tree's weight.
    pub value: Vec<f64>,
    pub features: Vec<u32>,
    pub data: LeafData,
}

/// One tree with its background aggregated per leaf.
#[derive(Debug, Clone)]
pub struct TreeAggregate {
    /// Leaves looked up through [`accumulate`] (interaction tables and lists).
    pub leaves: Vec<LeafAggregate>,
    /// For each of `leaves`, its index in [`TreePaths::leaves`] (to find the row's pattern).
    pub leaf_index: Vec<usize>,
    /// SHAP-value tables packed contiguously for the hot loop.
    pub flat: FlatLeaves,
    /// When the tables were limited to the explained rows' patterns: each row's pattern at
    /// each leaf (unmasked, as [`TreePaths::block_patterns`] leaves it), `leaf * rows + row` for
    /// the leaves of [`TreePaths::leaves`] in order, so that the rows are not walked twice.
    pub row_patterns: Option<Vec<u64>>,
}

/// The [`LeafData::Flat`] leaves of a tree, packed: leaf `i` has `d[i]` features at
/// `features[feature_at[i]..]` and its table at `tables[table_at[i]..]` (`2^d x d`). For
/// single-output trees the leaf value (times the tree weight) is folded into the table and
/// `values` is empty; otherwise `values` holds `width` values per leaf.
#[derive(Debug, Clone, Default)]
pub struct FlatLeaves {
    /// Each leaf's index in [`TreePaths::leaves`].
    pub leaf: Vec<u32>,
    pub d: Vec<u32>,
    pub feature_at: Vec<u32>,
    pub table_at: Vec<usize>,
    pub features: Vec<u32>,
    pub tables: Vec<f64>,
    pub width: usize,
    pub values: Vec<f64>,
}

impl FlatLeaves {
    fn push(&mut self, index: usize, leaf: &LeafAggregate, table: &[f64]) {
        let d = leaf.features.len();
        self.leaf.push(index as u32);
        self.d.push(d as u32);
        self.feature_at.push(self.features.len() as u32);
        self.features.extend_from_slice(&leaf.features);
        self.table_at.push(self.tables.len());
        if self.width == 1 {
            let v = leaf.value[0];
            self.tables.extend(table.iter().map(|c| c * v));
        } else {
            self.tables.extend_from_slice(table);
            self.values.extend_from_slice(&leaf.value);
        }
    }

    pub fn len(&self) -> usize {
        self.leaf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leaf.is_empty()
    }
}

/// Coefficient functions needed: SHAP values need A and B; interactions also AA, AB, BB.
pub fn kinds(interactions: bool) -> usize {
    if interactions {
        5
    } else {
        2
    }
}

#[inline]
fn coefficient(weights: &Weights, kind: usize, a: usize, b: usize) -> f64 {
    match kind {
        0 => weights.in_a(a, b),
        1 => weights.in_b(a, b),
        2 => weights.aa(a, b),
        3 => weights.ab(a, b),
        _ => weights.bb(a, b),
    }
}

/// Upper estimate of the floats a tree's aggregate holds (to size groups of trees).
pub fn estimate_floats(paths: &TreePaths, background_rows: usize, interactions: bool) -> usize {
    // Floats per pattern in a table, plus the transient subset sums while building it.
    let per_pattern = |d: usize| {
        if interactions {
            d * (d + 1) / 2
        } else {
            d
        }
    };
    paths
        .leaves
        .iter()
        .map(|l| {
            let d = l.depth();
            if d == 0 {
                0
            } else if d <= ALWAYS_TABLE_BITS {
                per_pattern(d) << d
            } else {
                // A table only when 2^d <= 4 u; a list holds u entries and their bitmaps.
                let u = background_rows.min(1usize << d.min(40));
                (4 * u * per_pattern(d)).min(per_pattern(d) << d.min(MAX_TABLE_BITS))
                    + PatternList::WORDS_PER_ENTRY * u
            }
        })
        .sum()
}

/// Aggregates the (normalised) background over the leaves of one tree.
///
/// `explained_rows` is how many rows will be explained against it: a deep leaf gets a table only
/// when building it costs less than scanning its list for every row (and its memory stays within
/// 4x the list's).
#[allow(clippy::too_many_arguments)]
pub fn aggregate_tree(
    forest: &Forest,
    paths: &TreePaths,
    background: &Columns,
    weights_norm: &[f64],
    weights: &Weights,
    interactions: bool,
    explained_rows: usize,
    force_lists: bool,
    rows: Option<&Columns>,
    cancel: &Cancel,
) -> Option<TreeAggregate> {
    let kinds = kinds(interactions);
    let (needed, row_patterns) =
        match rows.and_then(|x| needed_patterns(forest, paths, x, interactions, force_lists)) {
            Some((needed, patterns)) => (Some(needed), Some(patterns)),
            None => (None, None),
        };
    // The always-tabled leaves' histograms, one after the other in `hist`.
    let mut dense: Vec<Option<usize>> = Vec::with_capacity(paths.leaves.len());
    let hash = PatternHash::new();
    let mut sparse: Vec<Option<HashMap<u64, f64, PatternHash>>> =
        Vec::with_capacity(paths.leaves.len());
    let mut hist_len = 0;
    for l in &paths.leaves {
        let d = l.depth();
        if d == 0 {
            dense.push(None);
            sparse.push(None);
        } else if d <= ALWAYS_TABLE_BITS && !force_lists {
            dense.push(Some(hist_len));
            hist_len += 1 << d;
            sparse.push(None);
        } else {
            dense.push(None);
            sparse.push(Some(HashMap::with_hasher(hash)));
        }
    }
    let mut hist = vec![0.0; hist_len];
    // Per leaf, the block's rows in order: each entry adds its rows' weights in row order.
    let walked =
        paths.for_each_leaf_block(forest, background, weights_norm, cancel, |i, pats, w| {
            let l = &paths.leaves[i];
            let full = l.full();
            if let Some(at) = dense[i] {
                let h = &mut hist[at..at + (1 << l.depth())];
                for (&pat, &w) in pats.iter().zip(w) {
                    h[(!pat & full) as usize] += w;
                }
            } else if let Some(h) = sparse[i].as_mut() {
                for (&pat, &w) in pats.iter().zip(w) {
                    if w != 0.0 {
                        *h.entry(!pat & full).or_insert(0.0) += w;
                    }
                }
            }
        });
    if !walked {
        return None;
    }
    let mut leaves = Vec::new();
    let mut leaf_index = Vec::new();
    let width = forest.tree_width(paths.tree);
    let tw = forest.tree_weight(paths.tree);
    let mut flat = FlatLeaves {
        width,
        ..Default::default()
    };
    if !interactions {
        let tabled = dense.iter().filter(|at| at.is_some()).count();
        flat.tables.reserve(
            paths
                .leaves
                .iter()
                .zip(&dense)
                .filter(|(_, at)| at.is_some())
                .map(|(l, _)| l.depth() << l.depth())
                .sum(),
        );
        flat.leaf.reserve(tabled);
        flat.d.reserve(tabled);
        flat.feature_at.reserve(tabled);
        flat.table_at.reserve(tabled);
    }
    let mut scratch = Vec::new();
    for (i, l) in paths.leaves.iter().enumerate() {
        let d = l.depth();
        let raw_value = forest.node_values(l.node, width);
        if d == 0 || raw_value.iter().all(|&v| v * tw == 0.0) {
            continue;
        }
        if let (Some(at), false) = (dense[i], interactions) {
            // Straight into the packed tables, without a table of its own.
            let h = &hist[at..at + (1 << d)];
            let only = needed
                .as_ref()
                .map(|n| &n[i][..])
                .filter(|bits| !bits.is_empty());
            let start = flat.tables.len();
            flat.tables.resize(start + (d << d), 0.0);
            let table = &mut flat.tables[start..];
            flat_ranked_into(h, d, weights, only, &mut scratch, table);
            if width == 1 {
                let v = raw_value[0] * tw;
                table.iter_mut().for_each(|c| *c *= v);
            } else {
                flat.values.extend(raw_value.iter().map(|v| v * tw));
            }
            flat.leaf.push(i as u32);
            flat.d.push(d as u32);
            flat.feature_at.push(flat.features.len() as u32);
            flat.features.extend_from_slice(&l.features);
            flat.table_at.push(start);
            continue;
        }
        let value: Vec<f64> = raw_value.iter().map(|v| v * tw).collect();
        let data = if let Some(at) = dense[i] {
            let only = needed.as_ref().map(|n| &n[i][..]);
            make_table(&hist[at..at + (1 << d)], d, interactions, weights, only)
        } else {
            let map = sparse[i].take().unwrap_or_default();
            let u = map.len();
            let table_cost = (kinds * (d + 1) * d) << d.min(MAX_TABLE_BITS);
            let use_table = !force_lists
                && d <= MAX_TABLE_BITS
                && (1usize << d) <= 4 * u
                && table_cost <= explained_rows.saturating_mul(u);
            if use_table {
                let mut h = vec![0.0; 1 << d];
                for (q, w) in map {
                    h[q as usize] += w;
                }
                make_table(&h, d, interactions, weights, None)
            } else {
                let mut list: Vec<(u64, f64)> = map.into_iter().collect();
                list.sort_unstable_by_key(|e| e.0);
                LeafData::List(PatternList::new(&list, d))
            }
        };
        let leaf = LeafAggregate {
            node: l.node,
            value,
            features: l.features.clone(),
            data,
        };
        if let LeafData::Flat(table) = &leaf.data {
            flat.push(i, &leaf, table);
        } else {
            leaves.push(leaf);
            leaf_index.push(i);
        }
    }
    Some(TreeAggregate {
        leaves,
        leaf_index,
        flat,
        row_patterns,
    })
}

/// Few explained rows: the row patterns each always-tabled leaf of the tree needs (a bit set
/// over its `2^d` patterns, per leaf of `paths.leaves`) and every row's pattern at every leaf
/// (see [`TreeAggregate::row_patterns`]), when the rows are few enough to keep their patterns;
/// `None` otherwise (every entry is built, the rows are walked as they are explained). SHAP values only: an
/// entry of their tables is computed on its own (see [`flat_ranked`]), so building a subset of
/// the entries gives those entries bit for bit.
fn needed_patterns(
    forest: &Forest,
    paths: &TreePaths,
    rows: &Columns,
    interactions: bool,
    force_lists: bool,
) -> Option<(Vec<Vec<u64>>, Vec<u64>)> {
    if interactions || force_lists {
        return None;
    }
    // The rows are walked here instead of in the explanation (their patterns are kept, at
    // most 4 times the tables' floats), so finding the entries they need costs one bit each.
    let table_floats: usize = paths
        .leaves
        .iter()
        .map(|l| l.depth())
        .filter(|&d| d > 0 && d <= ALWAYS_TABLE_BITS)
        .map(|d| d << d)
        .sum();
    if rows.rows() * paths.leaves.len() > 4 * table_floats {
        return None;
    }
    let mut needed: Vec<Vec<u64>> = paths
        .leaves
        .iter()
        .map(|l| {
            let d = l.depth();
            if d > 0 && d <= ALWAYS_TABLE_BITS {
                vec![0u64; (1usize << d).div_ceil(64)]
            } else {
                Vec::new()
            }
        })
        .collect();
    let n = rows.rows();
    let mut patterns = vec![0u64; paths.leaves.len() * n];
    let mut buf = vec![0u64; paths.n_nodes() * WALK_ROWS];
    for b in 0..n.div_ceil(WALK_ROWS) {
        paths.block_patterns(forest, rows.block(b), rows.nan(b), &mut buf);
        let r0 = b * WALK_ROWS;
        let count = (n - r0).min(WALK_ROWS);
        for (i, (l, bits)) in paths.leaves.iter().zip(needed.iter_mut()).enumerate() {
            let pats = &buf[l.local * WALK_ROWS..][..count];
            patterns[i * n + r0..i * n + r0 + count].copy_from_slice(pats);
            let full = l.full();
            if bits.len() == 1 {
                // One word (d <= 6): kept in a register, not a chain of stores and loads.
                let mut word = bits[0];
                for &pat in pats {
                    word |= 1u64 << (pat & full);
                }
                bits[0] = word;
            } else if !bits.is_empty() {
                for &pat in pats {
                    let s = (pat & full) as usize;
                    bits[s / 64] |= 1u64 << (s % 64);
                }
            }
        }
    }
    Some((needed, patterns))
}

/// A leaf's table; `only` (a bit set over the patterns) limits a SHAP-value table to the
/// patterns explained rows have (the others stay zero and are never read).
fn make_table(
    h: &[f64],
    d: usize,
    interactions: bool,
    weights: &Weights,
    only: Option<&[u64]>,
) -> LeafData {
    if interactions {
        return LeafData::FlatInteractions(flat_interactions(
            &build_table(h, d, kinds(true), weights)[..],
            d,
        ));
    }
    LeafData::Flat(flat_ranked(
        h,
        d,
        weights,
        only.filter(|bits| !bits.is_empty()),
    ))
}

/// The SHAP-value table by the other two methods, to check [`flat_ranked`] against:
/// enumerating the subsets of each pattern (`direct`) or zeta transforms per coefficient
/// function and `b`.
#[cfg(test)]
pub(crate) fn flat_by(h: &[f64], d: usize, weights: &Weights, direct: bool) -> Vec<f64> {
    if direct {
        return flat_direct(h, d, weights);
    }
    let r = build_table(h, d, kinds(false), weights);
    let size = 1usize << d;
    let mut flat = vec![0.0; size * d];
    for s in 0..size {
        let b = d - (s as u64).count_ones() as usize;
        let ra = |u: usize| r[b * size + u];
        let rb = |u: usize| r[(d + 1 + b) * size + u];
        for j in 0..d {
            let bit = 1usize << j;
            flat[s * d + j] = if s & bit != 0 {
                ra(s) - ra(s ^ bit)
            } else {
                -rb(s)
            };
        }
    }
    flat
}

/// For each row pattern `s` and bit `j`: `sum_{q ⊆ s, j ∈ q} h[q] c_A(|q|, b)` when `j ∈ s`, and
/// `-sum_{q ⊆ s} h[q] c_B(|q|, b)` otherwise (`b = d - |s|`), by enumerating the subsets of `s`.
#[cfg(test)]
fn flat_direct(h: &[f64], d: usize, weights: &Weights) -> Vec<f64> {
    let size = 1usize << d;
    let mut flat = vec![0.0; size * d];
    let mut pos = vec![0.0; d];
    for s in 0..size {
        let b = d - (s as u64).count_ones() as usize;
        let mut neg = 0.0;
        pos.iter_mut().for_each(|v| *v = 0.0);
        let mut q = s;
        loop {
            let w = h[q];
            if w != 0.0 {
                let a = (q as u64).count_ones() as usize;
                neg += w * weights.in_b(a, b);
                let ca = w * weights.in_a(a, b);
                let mut rest = q;
                while rest != 0 {
                    pos[rest.trailing_zeros() as usize] += ca;
                    rest &= rest - 1;
                }
            }
            if q == 0 {
                break;
            }
            q = (q - 1) & s;
        }
        for j in 0..d {
            flat[s * d + j] = if s >> j & 1 == 1 { pos[j] } else { -neg };
        }
    }
    flat
}

/// Per pattern: the Shapley-value coefficients and the halved interaction indices, from the
/// subset sums `R` (inclusion-exclusion over the pair's bits).
fn flat_interactions(r: &[f64], d: usize) -> Vec<f64> {
    let size = 1usize << d;
    let width = d * (d + 1) / 2;
    let mut flat = vec![0.0; size * width];
    for s in 0..size {
        let b = d - (s as u64).count_ones() as usize;
        let at = |kind: usize, u: usize| r[(kind * (d + 1) + b) * size + u];
        let row = &mut flat[s * width..(s + 1) * width];
        for (j, slot) in row.iter_mut().enumerate().take(d) {
            let bit = 1usize << j;
            *slot = if s & bit != 0 {
                at(0, s) - at(0, s ^ bit)
            } else {
                -at(1, s)
            };
        }
        let mut idx = d;
        for j in 0..d {
            let bj = 1usize << j;
            for k in j + 1..d {
                let bk = 1usize << k;
                let index = match (s & bj != 0, s & bk != 0) {
                    (true, true) => at(2, s) - at(2, s ^ bj) - at(2, s ^ bk) + at(2, s ^ bj ^ bk),
                    (true, false) => -(at(3, s) - at(3, s ^ bj)),
                    (false, true) => -(at(3, s) - at(3, s ^ bk)),
                    (false, false) => at(4, s),
                };
                row[idx] = 0.5 * index;
                idx += 1;
            }
        }
    }
    flat
}

/// `R[kind][b][u] = sum_{q ⊆ u} h[q] c_kind(|q|, b)` for every kind, `b` and `u`.
fn build_table(h: &[f64], d: usize, kinds: usize, weights: &Weights) -> Vec<f64> {
    let size = 1usize << d;
    let mut r = vec![0.0; kinds * (d + 1) * size];
    let pop: Vec<usize> = (0..size)
        .map(|q| (q as u64).count_ones() as usize)
        .collect();
    for kind in 0..kinds {
        for b in 0..=d {
            let block = &mut r[(kind * (d + 1) + b) * size..(kind * (d + 1) + b + 1) * size];
            for q in 0..size {
                let a = pop[q];
                // Only u with |u| + b <= d are ever looked up; q ⊆ u keeps a + b <= d.
                if a + b <= d {
                    block[q] = h[q] * coefficient(weights, kind, a, b);
                }
            }
            for j in 0..d {
                let bit = 1usize << j;
                for u in 0..size {
                    if u & bit != 0 {
                        block[u] += block[u ^ bit];
                    }
                }
            }
        }
    }
    r
}

/// Adds one leaf's contribution for a row with pattern `s` (already masked to the leaf's bits).
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn accumulate(
    leaf: &LeafAggregate,
    s: u64,
    value: &[f64],
    output: Option<usize>,
    weights: &Weights,
    sink: &mut Sink,
) {
    let d = leaf.features.len();
    let full = full_mask(d);
    match &leaf.data {
        LeafData::FlatInteractions(t) => {
            let width = d * (d + 1) / 2;
            let row = &t[s as usize * width..(s as usize + 1) * width];
            let (p, k) = (sink.p, sink.k);
            let feats = &leaf.features;
            let add = |out: &mut [f64], at: usize, c: f64| match output {
                Some(o) => out[at * k + o] += c * value[0],
                None => {
                    for (dst, v) in out[at * k..at * k + k].iter_mut().zip(value) {
                        *dst += c * v;
                    }
                }
            };
            for j in 0..d {
                let f = feats[j] as usize;
                add(sink.out, f * p + f, row[j]);
            }
            let mut idx = d;
            for j in 0..d {
                let fj = feats[j] as usize;
                for &fk in &feats[j + 1..] {
                    let c = row[idx];
                    idx += 1;
                    if c != 0.0 {
                        let fk = fk as usize;
                        add(sink.out, fj * p + fk, c);
                        add(sink.out, fk * p + fj, c);
                    }
                }
            }
        }
        LeafData::Flat(t) => {
            let s = s as usize;
            for (j, &c) in t[s * d..(s + 1) * d].iter().enumerate() {
                if c != 0.0 {
                    sink.phi(leaf.features[j] as usize, c, value, output);
                }
            }
        }
        LeafData::List(list) if !sink.interactions => {
            // Summed per leaf first: a deep leaf can meet many background patterns, and each
            // would otherwise scatter into the whole output row.
            let missing = full & !s;
            let b = missing.count_ones() as usize;
            let mut pos = [0.0f64; 64];
            let mut neg = 0.0;
            let mut met = false;
            list.for_each_inside(missing, |q, w, a| {
                if a + b == 0 {
                    return;
                }
                met = true;
                neg += w * weights.in_b(a, b);
                let ca = w * weights.in_a(a, b);
                let mut rest = q;
                while rest != 0 {
                    pos[rest.trailing_zeros() as usize] += ca;
                    rest &= rest - 1;
                }
            });
            if met {
                for (j, &f) in leaf.features.iter().enumerate() {
                    let c = if missing >> j & 1 == 1 { -neg } else { pos[j] };
                    if c != 0.0 {
                        sink.phi(f as usize, c, value, output);
                    }
                }
            }
        }
        LeafData::List(list) => {
            let missing = full & !s;
            list.for_each_inside(missing, |q, w, _| {
                add_pair_game(&leaf.features, q, missing, w, value, output, weights, sink);
            });
        }
    }
}

/// Adds `scale` times the Shapley values (and interactions) of the single-leaf game with
/// `A = a_set`, `B = b_set` (bit sets over `features`).
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn add_pair_game(
    features: &[u32],
    a_set: u64,
    b_set: u64,
    scale: f64,
    value: &[f64],
    output: Option<usize>,
    weights: &Weights,
    sink: &mut Sink,
) {
    let a = a_set.count_ones() as usize;
    let b = b_set.count_ones() as usize;
    if a + b == 0 {
        return;
    }
    let ca = scale * weights.in_a(a, b);
    let cb = -scale * weights.in_b(a, b);
    let mut rest = a_set | b_set;
    while rest != 0 {
        let j = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        let c = if a_set >> j & 1 == 1 { ca } else { cb };
        sink.phi(features[j] as usize, c, value, output);
    }
    if sink.interactions {
        let iaa = scale * weights.aa(a, b);
        let iab = -scale * weights.ab(a, b);
        let ibb = scale * weights.bb(a, b);
        let both = a_set | b_set;
        let mut rj = both;
        while rj != 0 {
            let j = rj.trailing_zeros() as usize;
            rj &= rj - 1;
            let mut rk = rj;
            while rk != 0 {
                let k = rk.trailing_zeros() as usize;
                rk &= rk - 1;
                let index = match (a_set >> j & 1 == 1, a_set >> k & 1 == 1) {
                    (true, true) => iaa,
                    (false, false) => ibb,
                    _ => iab,
                };
                sink.pair(
                    features[j] as usize,
                    features[k] as usize,
                    index,
                    value,
                    output,
                );
            }
        }
    }
}
