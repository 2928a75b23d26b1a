//! Friedman and Popescu's H statistics, as R's hstats (1.2) defines them, computed exactly on
//! all rows from the trees' structure instead of from model calls on replicated data.
//!
//! All partial dependence functions are data-based: `PD_S(v)` is the weighted mean over the rows
//! of `f(v, x_notS)`, centred to weighted mean 0 over the rows. With `f` centred likewise:
//! - overall `H2_j`: numerator `wmean((f - PD_j - PD_notj)^2)`, denominator `wmean(f^2)`;
//! - pairwise `H2_jk`: `wmean((PD_jk - PD_j - PD_k)^2) / wmean(PD_jk^2)`;
//! - three-way `H2_jkl`: `wmean((PD_jkl - PD_jk - PD_jl - PD_kl + PD_j + PD_k + PD_l)^2) /
//!   wmean(PD_jkl^2)`;
//! - global `H2`: `wmean((f - sum_j PD_j)^2) / wmean(f^2)`.
//!
//! This module returns numerators and denominators; normalising is left to the caller.

use super::cells::{nodes_by_feature, Cells};
use super::leaves::{FailMasses, Scratch, Walk};
use super::moments::Moments;
use super::pairs::{pair_part, triple_part, Axis, LeafRecord, RowIndex};
use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::{bytes_of, ensure_fits, filled_vec, try_vec};
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk, for_each_chunk_cancellable, pool};
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Numerators below this count as 0 (as in R's hstats).
pub const EPS: f64 = 1e-10;

/// What to compute.
#[derive(Debug, Clone, PartialEq)]
pub struct HStatsOptions {
    /// Model columns to consider, distinct.
    pub features: Vec<usize>,
    /// Pairwise statistics for the `pairwise_m` features with the largest positive overall
    /// numerator (none below 2).
    pub pairwise_m: usize,
    /// Three-way statistics for the `threeway_m` strongest of those (none below 3).
    pub threeway_m: usize,
}

/// Numerators and denominators, per output (`k` values each).
#[derive(Debug, Clone, PartialEq)]
pub struct HStats {
    pub n_outputs: usize,
    /// `wmean(f^2)` of the centred prediction.
    pub f_denominator: Vec<f64>,
    /// Global numerator.
    pub global_numerator: Vec<f64>,
    /// Overall numerators, `features.len() x k`, row-major.
    pub overall_numerator: Vec<f64>,
    /// Positions (in `features`) chosen for pairwise statistics, strongest first.
    pub pairwise_features: Vec<usize>,
    /// `(a, b, numerator, denominator)`, positions in `features`.
    pub pairs: Vec<(usize, usize, Vec<f64>, Vec<f64>)>,
    /// Positions chosen for three-way statistics, strongest first.
    pub threeway_features: Vec<usize>,
    pub triples: Vec<([usize; 3], Vec<f64>, Vec<f64>)>,
}

/// Reports the progress of one phase as a share `[from, to)` of one bar of 1000 steps.
pub(crate) struct Phase<'a> {
    pub inner: &'a dyn Monitor,
    pub from: usize,
    pub to: usize,
}

impl Monitor for Phase<'_> {
    fn checkpoint(&self, done: usize, total: usize) -> Result<()> {
        let frac = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let step = self.from + ((self.to - self.from) as f64 * frac) as usize;
        self.inner.checkpoint(step, 1000)
    }

    fn poll(&self) -> Result<()> {
        self.inner.poll()
    }
}

/// Upper bound of the bytes the leaf records and pair lists of the interaction stage take:
/// per leaf whose path tests `d >= 2` tracked features, its values, runs, masses of one and two
/// failed features and its entries in the pair lists (a walk over the nodes, without rows).
fn interaction_bytes(forest: &Forest, tracked: &[bool]) -> u64 {
    let k = forest.n_outputs() as u64;
    let mut total = 0u64;
    for t in 0..forest.n_trees() {
        // Depth-first over nodes with the number of distinct tracked features on the path.
        let mut stack: Vec<(usize, Vec<usize>)> = vec![(forest.root(t), Vec::new())];
        while let Some((node, path)) = stack.pop() {
            if forest.is_leaf(node) {
                let d = path.len() as u64;
                if d >= 2 {
                    let pairs = d * (d - 1) / 2;
                    total += 64 + 8 * k + d * (4 + 8 + 24 + 16) + pairs * (16 + 4);
                }
                continue;
            }
            let f = forest.feature(node);
            let mut next = path;
            if tracked[f] && !next.contains(&f) {
                next.push(f);
            }
            stack.push((forest.left(node), next.clone()));
            stack.push((forest.right(node), next));
        }
    }
    total
}

/// Largest positive scores first, at most `m`. Scores equal to about 9 significant digits
/// keep their order of position, so that ties in exact arithmetic (the two features of a
/// two-feature model, say) do not depend on the order the rows were summed in.
fn strongest(scores: &[f64], among: &[usize], m: usize) -> Vec<usize> {
    let coarse = |v: f64| f64::from_bits(v.to_bits() & !((1u64 << 24) - 1));
    let mut v: Vec<usize> = among.iter().copied().filter(|&a| scores[a] > 0.0).collect();
    v.sort_by(|&a, &b| coarse(scores[b]).total_cmp(&coarse(scores[a])));
    v.truncate(m);
    v
}

/// Pass 1 is split into at least this many items when the data allow (see [`overall_walk`]).
const MIN_ITEMS: usize = 16;

/// Rows per chunk of pass 1's walks: a sixteenth of the rows, within [1024, 8192] (or the
/// size the tests force).
fn row_chunk(n: usize) -> usize {
    let forced = test_mode::ROW_CHUNK.load(std::sync::atomic::Ordering::Relaxed);
    if forced > 0 {
        return forced;
    }
    n.div_ceil(16).clamp(1024, 8192)
}

/// Lets the unit tests force pass 1's row chunk size (0: chosen by the number of rows).
pub mod test_mode {
    pub static ROW_CHUNK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
}

/// Most blocks of trees the walks are split into.
const TREE_BLOCKS: usize = 64;

/// Contiguous blocks of trees whose bounds depend on the number of trees only (never on the
/// number of threads), so that sums over blocks in block order are reproducible.
fn tree_blocks(n_trees: usize) -> Vec<std::ops::Range<usize>> {
    let size = n_trees.div_ceil(TREE_BLOCKS).max(1);
    (0..n_trees.div_ceil(size))
        .map(|b| b * size..((b + 1) * size).min(n_trees))
        .collect()
}

/// What pass 1 gathers: per row, the prediction `f` (`n x k`) and `PD_notj - f` for each
/// feature (`n x q x k`: a row's features side by side); per feature, the difference table of `PD_j` over its cells
/// (`(cells + 1) x k`).
pub(crate) struct Overall {
    pub f: Vec<f64>,
    pub delta: Vec<f64>,
    pub diff: Vec<Vec<f64>>,
}

/// The rows of one computation (all rows, or one partition's) set up for the walks: columns,
/// cells of the features considered, and the total weight the shares are taken of.
pub(crate) struct Prepared<'a> {
    pub forest: &'a Forest,
    pub columns: Vec<Vec<f64>>,
    pub cells: Vec<Option<Cells>>,
    /// Model columns considered.
    pub feats: &'a [usize],
    /// `position[f]`: the index of column `f` in `feats`.
    pub position: Vec<usize>,
    pub w: &'a [f64],
    /// Weight of all rows (of every partition).
    pub w_total: f64,
    pub n: usize,
}

impl<'a> Prepared<'a> {
    pub fn new(
        forest: &'a Forest,
        x: ArrayView2<f64>,
        w: &'a [f64],
        feats: &'a [usize],
        cells: Vec<Option<Cells>>,
        w_total: f64,
    ) -> Result<Prepared<'a>> {
        let x = x.as_standard_layout();
        let p = forest.n_features();
        let mut position = vec![usize::MAX; p];
        for (a, &f) in feats.iter().enumerate() {
            position[f] = a;
        }
        let mut columns = Vec::with_capacity(p);
        for j in 0..p {
            let mut column = try_vec(x.nrows(), "a copy of the rows by column", WAY_OUT)?;
            column.extend(x.column(j).iter().copied());
            columns.push(column);
        }
        Ok(Prepared {
            forest,
            columns,
            cells,
            feats,
            position,
            w,
            w_total,
            n: x.nrows(),
        })
    }

    fn walk<'b>(&'b self, role: &'b [u8], rows: std::ops::Range<usize>) -> Walk<'b> {
        Walk {
            forest: self.forest,
            columns: &self.columns,
            cells: &self.cells,
            role,
            rows: rows.start as u32..rows.end as u32,
        }
    }

    fn cells(&self, a: usize) -> &Cells {
        self.cells[self.feats[a]]
            .as_ref()
            .expect("considered features have cells")
    }
}

/// What to do when the rows' terms do not fit.
const WAY_OUT: &str = "subsample rows (n_max), use smaller partitions, or pass fewer features";

/// Bytes of the rows' terms: the deltas and the `PD_j` at each row, the predictions, one row
/// of terms and the residual while the moments are taken, the columns' copy and each
/// considered feature's cell of each row.
pub(crate) fn row_terms_bytes(p: usize, q: usize, n: usize, k: usize) -> u64 {
    bytes_of::<f64>(&[2, q, n, k])
        .saturating_add(bytes_of::<f64>(&[3, n, k]))
        .saturating_add(bytes_of::<f64>(&[p, n]))
        .saturating_add(bytes_of::<u32>(&[q, n]))
}

/// Checks the options' features against the forest: in range and distinct.
pub(crate) fn check_features(forest: &Forest, feats: &[usize]) -> Result<()> {
    let p = forest.n_features();
    let mut seen = vec![false; p];
    for &f in feats {
        if f >= p || seen[f] {
            return Err(Error::InvalidInput(format!(
                "feature index {f} is out of range or repeated (the model has {p} features)"
            )));
        }
        seen[f] = true;
    }
    Ok(())
}

/// Checks row weights: as many as rows, finite and non-negative.
pub(crate) fn check_weights(w: &[f64], n: usize) -> Result<()> {
    if w.len() != n {
        return Err(Error::InvalidInput(format!(
            "sample_weight has {} entries for {n} rows",
            w.len()
        )));
    }
    if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(Error::InvalidInput(
            "sample_weight must be finite and non-negative".into(),
        ));
    }
    Ok(())
}

/// Pass 1: one walk of every tree with every row, failing at most one considered feature.
/// `rows`: gather `f` and `PD_notj - f` at each row; `tables`: gather the `PD_j` tables.
///
/// The work is split into rows in chunks times trees in blocks, both bounds depending on the
/// data's and the forest's sizes only: a chunk's columns and row states stay in cache through
/// its trees, and the items' sums are added in item order, so the result is the same for any
/// number of threads. Large data take one block of all trees per chunk; small data, more
/// blocks, so that there is work for every thread.
pub(crate) fn overall_walk(
    prep: &Prepared,
    pool: &rayon::ThreadPool,
    groups: usize,
    monitor: &dyn Monitor,
    rows: bool,
    tables: bool,
) -> Result<Overall> {
    let forest = prep.forest;
    let (n, p, k, q) = (
        prep.n,
        forest.n_features(),
        forest.n_outputs(),
        prep.feats.len(),
    );
    let (w, w_total, position, cells) = (prep.w, prep.w_total, &prep.position, &prep.cells);
    let mut role = vec![0u8; p];
    for &f in prep.feats {
        role[f] = 1;
    }
    let size = row_chunk(n);
    let chunks: Vec<std::ops::Range<usize>> = (0..n.div_ceil(size))
        .map(|c| c * size..((c + 1) * size).min(n))
        .collect();
    let n_trees = forest.n_trees();
    let per_block = n_trees
        .div_ceil(MIN_ITEMS.div_ceil(chunks.len().max(1)))
        .max(1);
    let blocks: Vec<std::ops::Range<usize>> = (0..n_trees.div_ceil(per_block))
        .map(|b| b * per_block..((b + 1) * per_block).min(n_trees))
        .collect();
    let items: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = chunks
        .iter()
        .flat_map(|c| blocks.iter().map(move |b| (c.clone(), b.clone())))
        .collect();
    let new_tables = || -> Vec<Vec<f64>> {
        prep.feats
            .iter()
            .map(|&j| match (tables, cells[j].as_ref()) {
                (true, Some(c)) => vec![0.0; (c.n + 1) * k],
                _ => Vec::new(),
            })
            .collect()
    };
    let row_len = if rows { n } else { 0 };
    let mut total = Overall {
        f: filled_vec(row_len * k, 0.0, "the predictions at each row", WAY_OUT)?,
        delta: filled_vec(
            row_len * q * k,
            0.0,
            "the overall terms at each row",
            WAY_OUT,
        )?,
        diff: new_tables(),
    };
    for_each_chunk_cancellable(pool, items.len(), groups, monitor, |start, end, cancel| {
        let parts: Vec<Option<Overall>> = items[start..end]
            .par_iter()
            .map(|(chunk, trees)| {
                let first = chunk.start;
                let len = if rows { chunk.len() } else { 0 };
                let mut acc = Overall {
                    f: vec![0.0; len * k],
                    delta: vec![0.0; len * q * k],
                    diff: new_tables(),
                };
                let (f_c, d_c, diff) = (&mut acc.f, &mut acc.delta, &mut acc.diff);
                let mut pos = vec![0u16; p];
                let mut scratch = Scratch::new(forest);
                let walk = prep.walk(&role, chunk.clone());
                for t in trees.clone() {
                    let finished = walk.tree(t, &mut scratch, cancel, &mut |leaf| {
                        let v = leaf.value;
                        for (ix, &a) in leaf.feats.iter().enumerate() {
                            pos[a] = ix as u16;
                        }
                        if rows {
                            let fracs: Vec<f64> = leaf
                                .feats
                                .iter()
                                .zip(leaf.runs)
                                .map(|(&a, r)| {
                                    cells[a].as_ref().expect("tracked").mass(r) / w_total
                                })
                                .collect();
                            for r in leaf.rows {
                                let i = r.i as usize - first;
                                if r.nf == 0 {
                                    for o in 0..k {
                                        f_c[i * k + o] += v[o];
                                    }
                                    for (ix, &a) in leaf.feats.iter().enumerate() {
                                        let base = (i * q + position[a]) * k;
                                        let c = 1.0 - fracs[ix];
                                        for o in 0..k {
                                            d_c[base + o] -= v[o] * c;
                                        }
                                    }
                                } else {
                                    let a = r.fails[0] as usize;
                                    let ix = pos[a] as usize;
                                    let base = (i * q + position[a]) * k;
                                    for o in 0..k {
                                        d_c[base + o] += v[o] * fracs[ix];
                                    }
                                }
                            }
                        }
                        if tables {
                            let masses = FailMasses::tally(leaf, w, &pos);
                            for (ix, &a) in leaf.feats.iter().enumerate() {
                                let share = (masses.m0 + masses.m1[ix]) / w_total;
                                let d = &mut diff[position[a]];
                                for &(s, e) in &leaf.runs[ix] {
                                    for o in 0..k {
                                        d[s as usize * k + o] += v[o] * share;
                                        d[e as usize * k + o] -= v[o] * share;
                                    }
                                }
                            }
                        }
                    });
                    if !finished {
                        return None;
                    }
                }
                Some(acc)
            })
            .collect();
        for ((chunk, _), part) in items[start..end].iter().zip(parts) {
            let part = part.ok_or(Error::Interrupted)?;
            if rows {
                let f = &mut total.f[chunk.start * k..chunk.end * k];
                f.iter_mut().zip(&part.f).for_each(|(a, b)| *a += b);
                let d = &mut total.delta[chunk.start * q * k..chunk.end * q * k];
                d.iter_mut().zip(&part.delta).for_each(|(a, b)| *a += b);
            }
            for (d, e) in total.diff.iter_mut().zip(&part.diff) {
                d.iter_mut().zip(e).for_each(|(a, b)| *a += b);
            }
        }
        Ok(())
    })?;
    Ok(total)
}

/// `PD_j` per cell (`cells x k`, up to a constant) from its difference table.
pub(crate) fn pd_table(mut diff: Vec<f64>, k: usize) -> Vec<f64> {
    let cells = (diff.len() / k.max(1)).saturating_sub(1);
    for cell in 1..=cells {
        for o in 0..k {
            diff[cell * k + o] += diff[(cell - 1) * k + o];
        }
    }
    diff.truncate(cells * k);
    diff
}

/// `PD_j` at each row (`q x n x k`) from the per-cell tables.
pub(crate) fn pd_rows(prep: &Prepared, tables: &[Vec<f64>], k: usize) -> Result<Vec<f64>> {
    let n = prep.n;
    let mut out = filled_vec(prep.feats.len() * n * k, 0.0, "PD_j at each row", WAY_OUT)?;
    for (a, table) in tables.iter().enumerate() {
        let c = prep.cells(a);
        for i in 0..n {
            let cell = c.of_row[i] as usize;
            out[(a * n + i) * k..(a * n + i + 1) * k]
                .copy_from_slice(&table[cell * k..(cell + 1) * k]);
        }
    }
    Ok(out)
}

/// The moments of `f`, of `PD_j + PD_notj - f` for each feature, and of `f - sum_j PD_j`.
pub(crate) fn overall_moments(
    prep: &Prepared,
    f: &[f64],
    delta: &[f64],
    pd_rows: &[f64],
    k: usize,
) -> Result<Vec<Moments>> {
    let (n, q, w) = (prep.n, prep.feats.len(), prep.w);
    let mut out = Vec::with_capacity(q + 2);
    out.push(Moments::of(f, w, k));
    let mut residual = try_vec(f.len(), "the residual at each row", WAY_OUT)?;
    residual.extend_from_slice(f);
    for a in 0..q {
        let rows = a * n * k..(a + 1) * n * k;
        let mut z = try_vec(n * k, "one feature's terms at each row", WAY_OUT)?;
        z.extend(
            (0..n * k).map(|ix| pd_rows[a * n * k + ix] + delta[((ix / k) * q + a) * k + ix % k]),
        );
        out.push(Moments::of(&z, w, k));
        residual
            .iter_mut()
            .zip(&pd_rows[rows])
            .for_each(|(r, p)| *r -= p);
    }
    out.push(Moments::of(&residual, w, k));
    Ok(out)
}

/// The statistics of pass 1 from its moments (see [`overall_moments`]), with no pairs yet.
pub(crate) fn overall_result(moments: &[Moments], q: usize, k: usize) -> HStats {
    HStats {
        n_outputs: k,
        f_denominator: moments[0].variance(),
        global_numerator: moments[q + 1].variance(),
        overall_numerator: moments[1..=q].iter().flat_map(|m| m.variance()).collect(),
        pairwise_features: Vec::new(),
        pairs: Vec::new(),
        threeway_features: Vec::new(),
        triples: Vec::new(),
    }
}

/// Feature selection as in R: the largest positive overall numerators (summed over outputs)
/// for pairs, the strongest of those for triples.
pub(crate) fn select(
    overall_numerator: &[f64],
    k: usize,
    options: &HStatsOptions,
) -> (Vec<usize>, Vec<usize>) {
    let q = options.features.len();
    let scores: Vec<f64> = (0..q)
        .map(|a| {
            overall_numerator[a * k..(a + 1) * k]
                .iter()
                .map(|&v| if v < EPS { 0.0 } else { v })
                .sum()
        })
        .collect();
    let all: Vec<usize> = (0..q).collect();
    let pairwise = if options.pairwise_m >= 2 {
        strongest(&scores, &all, options.pairwise_m)
    } else {
        Vec::new()
    };
    let threeway_m = options.threeway_m.min(options.pairwise_m);
    let threeway = if threeway_m >= 3 && pairwise.len() >= 3 {
        pairwise[..threeway_m.min(pairwise.len())].to_vec()
    } else {
        Vec::new()
    };
    (pairwise, threeway)
}

/// Pass 2: the leaves testing at least two of the pairwise features, with the weights of the
/// rows by the features they fail (in tree order whatever the number of threads).
pub(crate) fn pair_walk(
    prep: &Prepared,
    pairwise: &[usize],
    threeway: &[usize],
    pool: &rayon::ThreadPool,
    groups: usize,
    monitor: &dyn Monitor,
) -> Result<Vec<LeafRecord>> {
    let forest = prep.forest;
    let p = forest.n_features();
    let mut role = vec![0u8; p];
    for &a in pairwise {
        role[prep.feats[a]] = 2;
    }
    for &a in threeway {
        role[prep.feats[a]] = 3;
    }
    let tracked: Vec<bool> = role.iter().map(|&r| r > 0).collect();
    ensure_fits(
        &format!(
            "pairwise statistics for {} features on this forest",
            pairwise.len()
        ),
        interaction_bytes(forest, &tracked),
        "lower pairwise_m",
    )?;
    let walk = prep.walk(&role, 0..prep.n);
    let blocks = tree_blocks(forest.n_trees());
    let mut records: Vec<Vec<LeafRecord>> = Vec::with_capacity(blocks.len());
    for_each_chunk_cancellable(pool, blocks.len(), groups, monitor, |start, end, cancel| {
        let parts: Vec<Option<Vec<LeafRecord>>> = blocks[start..end]
            .par_iter()
            .map(|trees| {
                let mut out = Vec::new();
                let mut pos = vec![0u16; p];
                let mut scratch = Scratch::new(forest);
                for t in trees.clone() {
                    let finished = walk.tree(t, &mut scratch, cancel, &mut |leaf| {
                        if leaf.feats.len() < 2 {
                            return;
                        }
                        for (ix, &a) in leaf.feats.iter().enumerate() {
                            pos[a] = ix as u16;
                        }
                        out.push(LeafRecord {
                            node: leaf.node,
                            value: leaf.value.to_vec(),
                            feats: leaf.feats.iter().map(|&a| a as u32).collect(),
                            runs: leaf.runs.to_vec(),
                            masses: FailMasses::tally(leaf, prep.w, &pos),
                        });
                    });
                    if !finished {
                        return None;
                    }
                }
                Some(out)
            })
            .collect();
        for part in parts {
            records.push(part.ok_or(Error::Interrupted)?);
        }
        Ok(())
    })?;
    Ok(records.into_iter().flatten().collect())
}

/// The pairs `(s1, s2)` of pairwise slots, in the order their statistics are listed.
pub(crate) fn pair_slots(m: usize) -> Vec<(usize, usize)> {
    (0..m)
        .flat_map(|s1| (s1 + 1..m).map(move |s2| (s1, s2)))
        .collect()
}

/// The triples of three-way slots (the first `t` pairwise slots), in listing order.
pub(crate) fn triple_slots(t: usize) -> Vec<[usize; 3]> {
    let mut out = Vec::new();
    for s1 in 0..t {
        for s2 in s1 + 1..t {
            for s3 in s2 + 1..t {
                out.push([s1, s2, s3]);
            }
        }
    }
    out
}

/// Per pair (in [`pair_slots`] order) then per triple ([`triple_slots`]): the moments of the
/// pure interaction part and of the joint partial dependence, over this computation's rows.
/// `leaves` are pass 2's records (with the masses of all rows); `pd_rows`, pass 1's `PD_j`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pair_moments(
    prep: &Prepared,
    leaves: &[LeafRecord],
    pairwise: &[usize],
    threeway: &[usize],
    pd_rows: &[f64],
    pool: &rayon::ThreadPool,
    groups: usize,
    monitor: &dyn Monitor,
) -> Result<Vec<Moments>> {
    let forest = prep.forest;
    let (n, p, k) = (prep.n, forest.n_features(), forest.n_outputs());
    let (w, w_total, feats) = (prep.w, prep.w_total, prep.feats);
    let m = pairwise.len();
    let mut slot = vec![usize::MAX; p];
    for (s, &a) in pairwise.iter().enumerate() {
        slot[feats[a]] = s;
    }
    let mut pair_leaves: Vec<Vec<u32>> = vec![Vec::new(); m * m];
    for (id, leaf) in leaves.iter().enumerate() {
        let s: Vec<usize> = leaf
            .feats
            .iter()
            .map(|&f| slot[f as usize])
            .filter(|&s| s < m)
            .collect();
        for x1 in 0..s.len() {
            for x2 in x1 + 1..s.len() {
                let (lo, hi) = (s[x1].min(s[x2]), s[x1].max(s[x2]));
                pair_leaves[lo * m + hi].push(id as u32);
            }
        }
    }
    let pair_list = pair_slots(m);
    let pd_of = |a: usize| &pd_rows[a * n * k..(a + 1) * n * k];
    let indexes: Vec<RowIndex> = pool.install(|| {
        pairwise
            .par_iter()
            .map(|&a| RowIndex::new(prep.cells(a)))
            .collect()
    });
    let axes: Vec<Axis> = pairwise
        .iter()
        .zip(&indexes)
        .map(|(&a, index)| Axis {
            feature: feats[a],
            cells: prep.cells(a),
            index,
        })
        .collect();
    // Pairwise parts among the three-way features are kept for the three-way stage.
    let t = threeway.len();
    ensure_fits(
        &format!("three-way statistics for {t} features on {n} rows"),
        bytes_of::<f64>(&[t * t.saturating_sub(1) / 2, n, k]),
        "lower threeway_m or subsample rows with n_max",
    )?;
    let mut kept: Vec<Vec<f64>> = vec![Vec::new(); t * t];
    let mut out: Vec<Moments> = Vec::with_capacity(2 * pair_list.len());
    let to = if t >= 3 { 900 } else { 1000 };
    let phase = Phase {
        inner: monitor,
        from: 600,
        to,
    };
    for_each_chunk(
        pool,
        pair_list.len(),
        (groups * 8).max(1),
        &phase,
        |start, end| {
            let part: Vec<_> = pair_list[start..end]
                .par_iter()
                .map(|&(s1, s2)| {
                    let g = pair_part(
                        leaves,
                        &pair_leaves[s1 * m + s2],
                        &axes[s1],
                        &axes[s2],
                        k,
                        w_total,
                    );
                    let num = Moments::of(&g, w, k);
                    let (pa, pb) = (pd_of(pairwise[s1]), pd_of(pairwise[s2]));
                    let joint: Vec<f64> = (0..n * k).map(|ix| g[ix] + pa[ix] + pb[ix]).collect();
                    let den = Moments::of(&joint, w, k);
                    let keep = if s2 < t { Some((s1 * t + s2, g)) } else { None };
                    (num, den, keep)
                })
                .collect();
            for (num, den, keep) in part {
                out.push(num);
                out.push(den);
                if let Some((slot, g)) = keep {
                    kept[slot] = g;
                }
            }
            Ok(())
        },
    )?;
    if t < 3 {
        return Ok(out);
    }
    let triple_list = triple_slots(t);
    // Threeway features are the first t pairwise slots.
    let mut triple_leaves: Vec<Vec<u32>> = vec![Vec::new(); t * t * t];
    for (id, leaf) in leaves.iter().enumerate() {
        let s: Vec<usize> = leaf
            .feats
            .iter()
            .map(|&f| slot[f as usize])
            .filter(|&s| s < t)
            .collect();
        for x1 in 0..s.len() {
            for x2 in x1 + 1..s.len() {
                for x3 in x2 + 1..s.len() {
                    let mut key = [s[x1], s[x2], s[x3]];
                    key.sort_unstable();
                    triple_leaves[(key[0] * t + key[1]) * t + key[2]].push(id as u32);
                }
            }
        }
    }
    let phase = Phase {
        inner: monitor,
        from: 900,
        to: 1000,
    };
    for_each_chunk(
        pool,
        triple_list.len(),
        groups.max(1),
        &phase,
        |start, end| {
            let part: Vec<_> = triple_list[start..end]
                .par_iter()
                .map(|&[s1, s2, s3]| {
                    let g3 = triple_part(
                        leaves,
                        &triple_leaves[(s1 * t + s2) * t + s3],
                        [&axes[s1], &axes[s2], &axes[s3]],
                        k,
                        w_total,
                    );
                    let num = Moments::of(&g3, w, k);
                    let (g12, g13, g23) =
                        (&kept[s1 * t + s2], &kept[s1 * t + s3], &kept[s2 * t + s3]);
                    let (pa, pb, pc) = (
                        pd_of(pairwise[s1]),
                        pd_of(pairwise[s2]),
                        pd_of(pairwise[s3]),
                    );
                    let joint: Vec<f64> = (0..n * k)
                        .map(|ix| g3[ix] + g12[ix] + g13[ix] + g23[ix] + pa[ix] + pb[ix] + pc[ix])
                        .collect();
                    (num, Moments::of(&joint, w, k))
                })
                .collect();
            for (num, den) in part {
                out.push(num);
                out.push(den);
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// Lists the pair and triple statistics from their moments (see [`pair_moments`]).
pub(crate) fn add_pairs(
    result: &mut HStats,
    moments: &[Moments],
    pairwise: &[usize],
    threeway: &[usize],
) {
    let pairs = pair_slots(pairwise.len());
    let triples = triple_slots(threeway.len());
    result.pairwise_features = pairwise.to_vec();
    result.threeway_features = threeway.to_vec();
    result.pairs = pairs
        .iter()
        .zip(moments.chunks(2))
        .map(|(&(s1, s2), m)| {
            let (a, b) = (pairwise[s1], pairwise[s2]);
            (a.min(b), a.max(b), m[0].variance(), m[1].variance())
        })
        .collect();
    result.triples = triples
        .iter()
        .zip(moments[2 * pairs.len()..].chunks(2))
        .map(|(&[s1, s2, s3], m)| {
            let mut key = [pairwise[s1], pairwise[s2], pairwise[s3]];
            key.sort_unstable();
            (key, m[0].variance(), m[1].variance())
        })
        .collect();
}

/// Computes the statistics on the rows of `x` with weights `w`.
pub fn hstats(
    forest: &Forest,
    x: ArrayView2<f64>,
    w: &[f64],
    options: &HStatsOptions,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<HStats> {
    forest.check_columns(x.ncols())?;
    let n = x.nrows();
    let (p, k) = (forest.n_features(), forest.n_outputs());
    let feats = &options.features;
    let q = feats.len();
    check_weights(w, n)?;
    if n < 2 {
        return Err(Error::InvalidInput(format!(
            "H statistics need at least 2 rows, got {n}"
        )));
    }
    let w_total: f64 = w.iter().sum();
    if w_total <= 0.0 {
        return Err(Error::InvalidInput(
            "sample_weight must have a positive sum".into(),
        ));
    }
    check_features(forest, feats)?;
    let groups = threads.max(1);
    ensure_fits(
        &format!("H statistics on {n} rows for {q} features and {k} outputs"),
        row_terms_bytes(p, q, n, k),
        WAY_OUT,
    )?;
    let pool = pool(threads)?;
    let by_feature = nodes_by_feature(forest);
    let mut prep = Prepared::new(forest, x, w, feats, vec![None; p], w_total)?;
    let built: Vec<(usize, Cells)> = pool.install(|| {
        feats
            .par_iter()
            .map(|&j| (j, Cells::build(forest, &by_feature[j], &prep.columns[j], w)))
            .collect()
    });
    for (j, c) in built {
        prep.cells[j] = Some(c);
    }
    let phase = Phase {
        inner: monitor,
        from: 0,
        to: 400,
    };
    let overall = overall_walk(&prep, &pool, groups, &phase, true, true)?;
    let tables: Vec<Vec<f64>> = overall.diff.into_iter().map(|d| pd_table(d, k)).collect();
    let pd = pd_rows(&prep, &tables, k)?;
    let moments = overall_moments(&prep, &overall.f, &overall.delta, &pd, k)?;
    drop(overall.delta);
    let mut result = overall_result(&moments, q, k);
    let (pairwise, threeway) = select(&result.overall_numerator, k, options);
    if pairwise.len() < 2 {
        result.pairwise_features = pairwise;
        monitor.checkpoint(1000, 1000)?;
        return Ok(result);
    }
    let phase = Phase {
        inner: monitor,
        from: 400,
        to: 600,
    };
    let leaves = pair_walk(&prep, &pairwise, &threeway, &pool, groups, &phase)?;
    let moments = pair_moments(
        &prep, &leaves, &pairwise, &threeway, &pd, &pool, groups, monitor,
    )?;
    add_pairs(&mut result, &moments, &pairwise, &threeway);
    Ok(result)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::forest::ForestParts;
    use crate::monitor::Silent;
    use crate::predict::predict;
    use ndarray::Array2;

    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        pub fn unit(&mut self) -> f64 {
            self.next() as f64 / (1u64 << 31) as f64
        }
    }

    /// A random forest over `p` features: `trees` trees up to `depth` deep, thresholds and data
    /// on a coarse grid so that ties and equal thresholds occur; `vector` leaves hold `k` values.
    pub(crate) fn random_forest(
        rng: &mut Rng,
        p: usize,
        k: usize,
        trees: usize,
        depth: usize,
        vector: bool,
    ) -> Forest {
        let mut parts = ForestParts {
            n_features: p,
            n_outputs: k,
            base_score: (0..k).map(|o| o as f64 * 0.5).collect(),
            average: false,
            less_equal: rng.below(2) == 0,
            f32_inputs: false,
            category_offsets: vec![0],
            ..Default::default()
        };
        for t in 0..trees {
            parts.tree_start.push(parts.feature.len());
            parts
                .tree_output
                .push(if vector { -1 } else { (t % k) as i64 });
            let width = if vector { k } else { 1 };
            // Breadth-first: (local index, depth).
            let start = parts.feature.len();
            let mut queue = vec![(0usize, 0usize)];
            let mut count = 1usize;
            let mut nodes: Vec<(i64, f64, i64, i64, bool)> = vec![(-1, 0.0, -1, -1, false)];
            while let Some((ix, d)) = queue.pop() {
                if d < depth && rng.below(10) < 8 {
                    let f = rng.below(p as u64) as i64;
                    let thr = rng.below(7) as f64 * 0.5 - 1.5;
                    let (l, r) = (count, count + 1);
                    count += 2;
                    nodes[ix] = (f, thr, l as i64, r as i64, rng.below(2) == 0);
                    nodes.push((-1, 0.0, -1, -1, false));
                    nodes.push((-1, 0.0, -1, -1, false));
                    queue.push((l, d + 1));
                    queue.push((r, d + 1));
                }
            }
            for &(f, thr, l, r, dl) in &nodes {
                parts.feature.push(f);
                parts.threshold.push(thr);
                parts.left.push(l);
                parts.right.push(r);
                parts.default_left.push(dl);
                parts.missing.push(rng.below(3) as u8);
                parts.cover.push(1.0);
                parts.category_set.push(-1);
                for _ in 0..width {
                    parts.values.push(rng.unit() * 4.0 - 2.0);
                }
            }
            let _ = start;
        }
        parts.tree_start.push(parts.feature.len());
        Forest::new(parts).expect("valid forest")
    }

    pub(crate) fn random_data(rng: &mut Rng, n: usize, p: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, p), |_| {
            if rng.below(12) == 0 {
                f64::NAN
            } else {
                match rng.below(12) {
                    0 => 0.0,
                    1 => -0.0,
                    2 => 1e-36,
                    _ => rng.below(9) as f64 * 0.5 - 2.0,
                }
            }
        })
    }

    /// Brute force: centred PD_S at every row from predictions on replicated data.
    fn brute_pd(forest: &Forest, x: &Array2<f64>, w: &[f64], s: &[usize]) -> Vec<f64> {
        let (n, p) = x.dim();
        let k = forest.n_outputs();
        let mut z = Array2::<f64>::zeros((n * n, p));
        for i in 0..n {
            for l in 0..n {
                for j in 0..p {
                    z[[i * n + l, j]] = if s.contains(&j) { x[[i, j]] } else { x[[l, j]] };
                }
            }
        }
        let pred = predict(forest, z.view(), 1, &Silent).expect("predict");
        let wt: f64 = w.iter().sum();
        let mut pd = vec![0.0; n * k];
        for i in 0..n {
            for l in 0..n {
                for o in 0..k {
                    pd[i * k + o] += w[l] * pred[[i * n + l, o]] / wt;
                }
            }
        }
        centre(&pd, w, k)
    }

    fn centre(z: &[f64], w: &[f64], k: usize) -> Vec<f64> {
        let wt: f64 = w.iter().sum();
        let n = w.len();
        let mut out = z.to_vec();
        for o in 0..k {
            let m: f64 = (0..n).map(|i| w[i] * z[i * k + o]).sum::<f64>() / wt;
            for i in 0..n {
                out[i * k + o] -= m;
            }
        }
        out
    }

    fn wmean_sq(z: &[f64], w: &[f64], k: usize) -> Vec<f64> {
        let wt: f64 = w.iter().sum();
        (0..k)
            .map(|o| {
                (0..w.len())
                    .map(|i| w[i] * z[i * k + o].powi(2))
                    .sum::<f64>()
                    / wt
            })
            .collect()
    }

    fn close(a: &[f64], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-10 * y.abs().max(1.0), "{x} vs {y}");
        }
    }

    #[test]
    fn equals_brute_force_on_random_forests() {
        // Both ways of building pairwise parts: chosen by cost, always the grid, always the sweep.
        // And pass 1's rows in one chunk, in chunks of 1 and of 3 rows.
        for chunk in [0, 1, 3] {
            super::test_mode::ROW_CHUNK.store(chunk, std::sync::atomic::Ordering::Relaxed);
            for mode in [None, Some(true), Some(false)] {
                crate::interaction::pairs::test_mode::force(mode);
                check_random_forests();
            }
        }
        super::test_mode::ROW_CHUNK.store(0, std::sync::atomic::Ordering::Relaxed);
        crate::interaction::pairs::test_mode::force(None);
    }

    fn check_random_forests() {
        let mut rng = Rng(42);
        let (mut pairs, mut triples) = (0, 0);
        for case in 0..24 {
            let p = 2 + case % 4;
            let k = 1 + case % 2;
            let vector = case % 4 == 1;
            let forest = random_forest(&mut rng, p, k, 3 + case % 3, 2 + case % 5, vector);
            let n = 5 + case % 7;
            let x = random_data(&mut rng, n, p);
            let w: Vec<f64> = (0..n).map(|_| 0.2 + rng.unit()).collect();
            let features: Vec<usize> = if case % 3 == 2 && p > 2 {
                (1..p).collect()
            } else {
                (0..p).collect()
            };
            let q = features.len();
            let opts = HStatsOptions {
                features: features.clone(),
                pairwise_m: q,
                threeway_m: q,
            };
            let hs = hstats(&forest, x.view(), &w, &opts, 1 + case % 2, &Silent).expect("hstats");
            let f = brute_pd(&forest, &x, &w, &(0..p).collect::<Vec<_>>());
            close(&hs.f_denominator, &wmean_sq(&f, &w, k));
            let pd1: Vec<Vec<f64>> = features
                .iter()
                .map(|&j| brute_pd(&forest, &x, &w, &[j]))
                .collect();
            let mut resid = f.clone();
            for (a, &j) in features.iter().enumerate() {
                let others: Vec<usize> = (0..p).filter(|&b| b != j).collect();
                let not = brute_pd(&forest, &x, &w, &others);
                let d: Vec<f64> = (0..n * k).map(|ix| f[ix] - pd1[a][ix] - not[ix]).collect();
                close(
                    &hs.overall_numerator[a * k..(a + 1) * k],
                    &wmean_sq(&d, &w, k),
                );
                for ix in 0..n * k {
                    resid[ix] -= pd1[a][ix];
                }
            }
            close(&hs.global_numerator, &wmean_sq(&resid, &w, k));
            pairs += hs.pairs.len();
            triples += hs.triples.len();
            for (a, b, num, den) in &hs.pairs {
                let jk = brute_pd(&forest, &x, &w, &[features[*a], features[*b]]);
                let d: Vec<f64> = (0..n * k)
                    .map(|ix| jk[ix] - pd1[*a][ix] - pd1[*b][ix])
                    .collect();
                close(num, &wmean_sq(&d, &w, k));
                close(den, &wmean_sq(&jk, &w, k));
            }
            for ([a, b, c], num, den) in &hs.triples {
                let fs = [features[*a], features[*b], features[*c]];
                let t = brute_pd(&forest, &x, &w, &fs);
                let ab = brute_pd(&forest, &x, &w, &[fs[0], fs[1]]);
                let ac = brute_pd(&forest, &x, &w, &[fs[0], fs[2]]);
                let bc = brute_pd(&forest, &x, &w, &[fs[1], fs[2]]);
                let d: Vec<f64> = (0..n * k)
                    .map(|ix| {
                        t[ix] - ab[ix] - ac[ix] - bc[ix] + pd1[*a][ix] + pd1[*b][ix] + pd1[*c][ix]
                    })
                    .collect();
                close(num, &wmean_sq(&d, &w, k));
                close(den, &wmean_sq(&t, &w, k));
            }
        }
        assert!(
            pairs > 20 && triples > 10,
            "{pairs} pairs, {triples} triples checked"
        );
    }

    #[test]
    fn partial_dependence_equals_brute_force() {
        let mut rng = Rng(7);
        for case in 0..12 {
            let p = 2 + case % 3;
            let k = 1 + case % 2;
            let forest = random_forest(&mut rng, p, k, 4, 4, case % 2 == 1);
            let n = 6 + case;
            let x = random_data(&mut rng, n, p);
            let w: Vec<f64> = (0..n).map(|_| 0.2 + rng.unit()).collect();
            let s: Vec<usize> = if case % 2 == 0 {
                vec![p - 1]
            } else {
                vec![1, 0]
            };
            let grid = random_data(&mut rng, 5, s.len());
            let (avg, ice) = crate::interaction::partial_dependence(
                &forest,
                x.view(),
                &w,
                &s,
                grid.view(),
                true,
                2,
                &Silent,
            )
            .expect("pd");
            let ice = ice.expect("requested");
            let wt: f64 = w.iter().sum();
            for g in 0..grid.nrows() {
                let mut z = x.clone();
                for (c, &j) in s.iter().enumerate() {
                    z.column_mut(j).fill(grid[[g, c]]);
                }
                let pred = predict(&forest, z.view(), 1, &Silent).expect("predict");
                for o in 0..k {
                    let mean: f64 = (0..n).map(|i| w[i] * pred[[i, o]]).sum::<f64>() / wt;
                    close(&[avg[[g, o]]], &[mean]);
                    for i in 0..n {
                        close(&[ice[[i, g, o]]], &[pred[[i, o]]]);
                    }
                }
            }
        }
    }
}
