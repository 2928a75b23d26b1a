//! The exact functional (fANOVA) decomposition of the interventional game (Hiabu, Meyer & Wright
//! 2023): for each explained row x and each feature set S,
//! `m_S(x) = sum_{U ⊆ S} (-1)^{|S|-|U|} E_z f(x_U, z_notU)`, the expectation over the (weighted)
//! background rows z. The components of all orders sum to `f(x)`; `m_∅` is the mean prediction
//! over the background, and the interventional SHAP value of feature j is
//! `sum_{S ∋ j} m_S(x) / |S|`.
//!
//! Time is linear in rows + background, as for interventional SHAP: the background is aggregated
//! once per leaf by the set of path features a background row fails ([`leaves`]); each row costs
//! one pattern pass over every tree's nodes plus, per leaf with `d` distinct path features,
//! `sum_{i <= max_order} C(d, i)` lookups ([`accumulate`]).

mod accumulate;
pub mod leaves;

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::interventional::columns::{Columns, WALK_ROWS};
use crate::interventional::paths::{max_path_features, TreePaths};
use crate::interventional::Background;
use crate::memory::{bytes_of, ensure_fits, filled_vec};
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk_cancellable, items_per_chunk, pool, watched};
use accumulate::{add_block, mirror_pairs, BlockOut, Dims};
use leaves::{for_each_subset, subsets_between, tree_terms, TreeTerms};
use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// The components of every explained row, float64, row-major.
#[derive(Debug, Clone)]
pub struct Decomposition {
    pub n_rows: usize,
    pub n_features: usize,
    pub n_outputs: usize,
    /// `m_∅`, per output.
    pub intercept: Vec<f64>,
    /// `(n, p, k)`: `m_{j}(x)`.
    pub main: Vec<f64>,
    /// `(n, p, p, k)`, symmetric with a zero diagonal: `m_{j,l}(x)`; empty when the order is 1.
    pub pairwise: Vec<f64>,
    /// The sets of 3 or more features that have a (possibly) non-zero component: sorted features,
    /// by size then lexicographically.
    pub sets: Vec<Vec<u32>>,
    /// `(n, sets, k)`.
    pub higher: Vec<f64>,
}

/// Decomposes the raw margin of `x`'s rows against `background` up to `max_order` (None: every
/// order, the full decomposition).
pub fn decompose(
    forest: &Forest,
    x: ArrayView2<f64>,
    background: ArrayView2<f64>,
    weights: Option<ArrayView1<f64>>,
    max_order: Option<usize>,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Decomposition> {
    forest.check_columns(x.ncols())?;
    let bg = Background::new(forest, background, weights)?;
    if max_order == Some(0) {
        return Err(Error::InvalidInput(
            "max_order must be at least 1 (or None for every order)".into(),
        ));
    }
    let (n, p, k) = (x.nrows(), forest.n_features(), forest.n_outputs());
    let deepest = max_path_features(forest);
    // Components above the deepest path's number of features are all zero.
    let order = max_order.unwrap_or(deepest).min(deepest);
    let pairs = max_order.is_none_or(|m| m >= 2);
    let pool = pool(threads)?;

    let paths: Vec<TreePaths> = (0..forest.n_trees())
        .map(|t| {
            TreePaths::new(forest, t).ok_or_else(|| {
                Error::UnsupportedModel(format!(
                    "tree {t} has a root-to-leaf path with more than 64 distinct features; the \
                     decomposition handles at most 64 per path"
                ))
            })
        })
        .collect::<Result<_>>()?;
    // What the per-leaf tables may hold: dense tables, or a map entry per failing set that the
    // background can have (at most its rows).
    let table_floats: usize = paths
        .iter()
        .flat_map(|tp| tp.leaves.iter())
        .map(|l| {
            let d = l.depth();
            if d <= leaves::DENSE_BITS {
                1 << d
            } else {
                3 * subsets_between(d, 0, order).min(bg.rows())
            }
        })
        .fold(0usize, usize::saturating_add);
    ensure_fits(
        "the background aggregated per leaf for the decomposition",
        bytes_of::<f64>(&[table_floats]),
        "use a smaller background (data) or a model with fewer leaves",
    )?;
    let bg_columns = Columns::new(forest, &bg.data.view())?;
    let mut terms: Vec<TreeTerms> = watched(&pool, monitor, |cancel| {
        paths
            .par_iter()
            .map(|tp| tree_terms(forest, tp, &bg_columns, &bg.weights, order, cancel))
            .collect::<Option<Vec<_>>>()
            .ok_or(Error::Interrupted)
    })?;
    drop(bg_columns);

    // Higher-order sets: every subset of 3..=order features of a contributing leaf's path.
    let set_terms: usize = terms
        .iter()
        .flat_map(|t| t.leaves.iter())
        .map(|l| subsets_between(l.features.len(), 3, order))
        .fold(0usize, usize::saturating_add);
    let sets = if set_terms == 0 {
        Vec::new()
    } else {
        ensure_fits(
            &format!("the {set_terms} leaf terms of order 3 to {order} of the decomposition"),
            bytes_of::<u64>(&[set_terms, 2 + order.div_ceil(2)]),
            "use a smaller max_order",
        )?;
        index_sets(&mut terms, order)
    };

    // Branch-free coefficients of the main and pairwise terms of every leaf short enough.
    let coefficient_floats = terms
        .iter()
        .flat_map(|t| t.leaves.iter())
        .filter(|l| l.features.len() <= leaves::COEFFICIENT_BITS)
        .map(|l| leaves::Coefficients::floats(l.features.len(), pairs))
        .fold(0usize, usize::saturating_add);
    ensure_fits(
        "the decomposition's per-leaf coefficients",
        bytes_of::<f64>(&[coefficient_floats]),
        "use a smaller max_order or a model with fewer leaves",
    )?;
    for tree in terms.iter_mut() {
        let single = tree.output.is_some();
        for leaf in tree.leaves.iter_mut() {
            let d = leaf.features.len();
            if d <= leaves::COEFFICIENT_BITS {
                let scale = single.then(|| leaf.value[0]);
                leaf.coefficients = Some(leaves::Coefficients::new(
                    &leaf.fails,
                    &leaf.features,
                    (p, k),
                    pairs,
                    scale,
                ));
            }
        }
    }

    let main_len = n.saturating_mul(p).saturating_mul(k);
    let pair_len = if pairs { main_len.saturating_mul(p) } else { 0 };
    let higher_len = n.saturating_mul(sets.len()).saturating_mul(k);
    let blocks = n.div_ceil(WALK_ROWS);
    let largest = paths.iter().map(|tp| tp.n_nodes()).max().unwrap_or(0);
    ensure_fits(
        &format!(
            "the decomposition of {n} rows ({p} features, {k} outputs, {} sets of 3 or more)",
            sets.len()
        ),
        bytes_of::<f64>(&[main_len
            .saturating_add(pair_len)
            .saturating_add(higher_len)
            .saturating_add(blocks.saturating_mul(p).saturating_mul(WALK_ROWS))])
        .saturating_add(bytes_of::<u64>(&[threads, largest, WALK_ROWS])),
        "decompose fewer rows at a time, or lower max_order",
    )?;
    let what = "the decomposition's components";
    let way_out = "decompose fewer rows at a time, or lower max_order";
    let mut main = filled_vec(main_len, 0.0, what, way_out)?;
    let mut pairwise = filled_vec(pair_len, 0.0, what, way_out)?;
    let mut higher = filled_vec(higher_len, 0.0, what, way_out)?;
    let columns = Columns::new(forest, &x)?;

    let dims = Dims {
        p,
        k,
        sets: sets.len(),
        pairs,
    };
    // A block's cost: every tree's nodes, and each contributing leaf's lookups.
    let block_cost: f64 = paths
        .iter()
        .map(|tp| tp.n_nodes() as f64)
        .sum::<f64>()
        .max(1.0)
        * WALK_ROWS as f64
        + terms
            .iter()
            .flat_map(|t| t.leaves.iter())
            .map(|l| {
                let d = l.features.len();
                (d + if pairs { d * (d - 1) / 2 } else { 0 } + l.sets.len()) as f64
            })
            .sum::<f64>()
            * WALK_ROWS as f64;
    let threads_used = pool.current_num_threads();
    let chunk = items_per_chunk(block_cost, threads_used, threads_used);
    let (per_main, per_pair, per_high) = (
        WALK_ROWS * p * k,
        WALK_ROWS * p * p * k,
        WALK_ROWS * sets.len() * k,
    );
    for_each_chunk_cancellable(&pool, blocks, chunk, monitor, |b0, b1, cancel| {
        let r0 = b0 * WALK_ROWS;
        let r1 = (b1 * WALK_ROWS).min(n);
        let mains: Vec<&mut [f64]> = main[r0 * p * k..r1 * p * k].chunks_mut(per_main).collect();
        let count = mains.len();
        let pairs_of: Vec<&mut [f64]> = if pairs {
            pairwise[r0 * p * p * k..r1 * p * p * k]
                .chunks_mut(per_pair)
                .collect()
        } else {
            (0..count).map(|_| <&mut [f64]>::default()).collect()
        };
        let highs: Vec<&mut [f64]> = if per_high > 0 {
            higher[r0 * sets.len() * k..r1 * sets.len() * k]
                .chunks_mut(per_high)
                .collect()
        } else {
            (0..count).map(|_| <&mut [f64]>::default()).collect()
        };
        mains
            .into_par_iter()
            .zip(pairs_of)
            .zip(highs)
            .enumerate()
            .for_each_init(
                || vec![0u64; largest * WALK_ROWS],
                |buf, (i, ((main, pairs), higher))| {
                    if cancel.is_set() {
                        return;
                    }
                    let b = b0 + i;
                    let rows = main.len() / (p * k).max(1);
                    let mut out = BlockOut {
                        main,
                        pairs,
                        higher,
                    };
                    add_block(
                        forest, &columns, b, rows, &paths, &terms, dims, &mut out, buf,
                    );
                },
            );
        cancel.check()
    })?;
    if pairs && p > 1 {
        pool.install(|| {
            pairwise
                .par_chunks_mut(p * p * k)
                .for_each(|row| mirror_pairs(row, p, k))
        });
    }

    let mut intercept = forest.base_score().to_vec();
    for tree in &terms {
        for leaf in &tree.leaves {
            let n0 = leaf.fails.get(0);
            match tree.output {
                Some(o) => intercept[o] += n0 * leaf.value[0],
                None => {
                    for (slot, v) in intercept.iter_mut().zip(&leaf.value) {
                        *slot += n0 * v;
                    }
                }
            }
        }
    }
    Ok(Decomposition {
        n_rows: n,
        n_features: p,
        n_outputs: k,
        intercept,
        main,
        pairwise,
        sets: sets.into_iter().collect(),
        higher,
    })
}

/// Numbers every set of 3..=`order` features some leaf's path holds (sorted, by size then
/// lexicographically) and gives each leaf its sets' bits and numbers.
fn index_sets(terms: &mut [TreeTerms], order: usize) -> Vec<Vec<u32>> {
    let key = |features: &[u32], bits: u64| -> Vec<u32> {
        let mut s: Vec<u32> = (0..features.len())
            .filter(|&j| bits >> j & 1 == 1)
            .map(|j| features[j])
            .collect();
        s.sort_unstable();
        s
    };
    let mut all: BTreeSet<(usize, Vec<u32>)> = BTreeSet::new();
    for leaf in terms.iter().flat_map(|t| t.leaves.iter()) {
        for_each_subset(leaf.features.len(), 3, order, |bits| {
            let s = key(&leaf.features, bits);
            all.insert((s.len(), s));
        });
    }
    let index: BTreeMap<Vec<u32>, u32> = all
        .iter()
        .enumerate()
        .map(|(i, (_, s))| (s.clone(), i as u32))
        .collect();
    for leaf in terms.iter_mut().flat_map(|t| t.leaves.iter_mut()) {
        let mut sets = Vec::new();
        for_each_subset(leaf.features.len(), 3, order, |bits| {
            sets.push((bits, index[&key(&leaf.features, bits)]));
        });
        leaf.sets = sets;
    }
    all.into_iter().map(|(_, s)| s).collect()
}
