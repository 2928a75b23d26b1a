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
use super::pairs::{pair_part, triple_part, Axis, LeafRecord, RowIndex};
use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::{bytes_of, ensure_fits};
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk, for_each_chunk_cancellable, pool};
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Numerators below this count as 0 (as in R's hstats).
pub const EPS: f64 = 1e-10;

/// What to compute.
#[derive(Debug, Clone)]
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

/// Weighted mean and weighted mean of squared centred values, per output, of `z` (`n x k`).
fn centred_stats(z: &[f64], w: &[f64], k: usize, w_total: f64) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; k];
    for (i, wi) in w.iter().enumerate() {
        for o in 0..k {
            mean[o] += wi * z[i * k + o];
        }
    }
    mean.iter_mut().for_each(|m| *m /= w_total);
    let mut sq = vec![0.0; k];
    for (i, wi) in w.iter().enumerate() {
        for o in 0..k {
            let d = z[i * k + o] - mean[o];
            sq[o] += wi * d * d;
        }
    }
    sq.iter_mut().for_each(|s| *s /= w_total);
    (mean, sq)
}

/// Reports the progress of one phase as a share `[from, to)` of one bar of 1000 steps.
struct Phase<'a> {
    inner: &'a dyn Monitor,
    from: usize,
    to: usize,
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

/// Largest positive scores first (stable in position), at most `m`.
fn strongest(scores: &[f64], among: &[usize], m: usize) -> Vec<usize> {
    let mut v: Vec<usize> = among.iter().copied().filter(|&a| scores[a] > 0.0).collect();
    v.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    v.truncate(m);
    v
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

struct Overall {
    f: Vec<f64>,
    delta: Vec<f64>,
    diff: Vec<Vec<f64>>,
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
    let p = forest.n_features();
    let k = forest.n_outputs();
    let feats = &options.features;
    let q = feats.len();
    if w.len() != n {
        return Err(Error::InvalidInput(format!(
            "sample_weight has {} entries for {n} rows",
            w.len()
        )));
    }
    if n < 2 {
        return Err(Error::InvalidInput(format!(
            "H statistics need at least 2 rows, got {n}"
        )));
    }
    if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(Error::InvalidInput(
            "sample_weight must be finite and non-negative".into(),
        ));
    }
    let w_total: f64 = w.iter().sum();
    if w_total <= 0.0 {
        return Err(Error::InvalidInput(
            "sample_weight must have a positive sum".into(),
        ));
    }
    let mut seen = vec![false; p];
    for &f in feats {
        if f >= p || seen[f] {
            return Err(Error::InvalidInput(format!(
                "feature index {f} is out of range or repeated (the model has {p} features)"
            )));
        }
        seen[f] = true;
    }
    // Per thread: the (q, n, k) deltas and the (n, k) predictions; besides: two more (q, n, k)
    // arrays and the columns' copy.
    let groups = threads.max(1);
    let needed = bytes_of::<f64>(&[groups + 2, q, n, k])
        .saturating_add(bytes_of::<f64>(&[groups, n, k]))
        .saturating_add(bytes_of::<f64>(&[p, n]));
    ensure_fits(
        &format!("H statistics on {n} rows for {q} features and {k} outputs ({groups} threads)"),
        needed,
        "subsample rows with n_max, pass fewer features, or use fewer threads (n_jobs)",
    )?;
    let pool = pool(threads)?;
    let x = x.as_standard_layout();
    let columns: Vec<Vec<f64>> = (0..p).map(|j| x.column(j).to_vec()).collect();
    let by_feature = nodes_by_feature(forest);
    let mut cells: Vec<Option<Cells>> = vec![None; p];
    {
        let built: Vec<(usize, Cells)> = pool.install(|| {
            feats
                .par_iter()
                .map(|&j| (j, Cells::build(forest, &by_feature[j], &columns[j], w)))
                .collect()
        });
        for (j, c) in built {
            cells[j] = Some(c);
        }
    }
    let mut position = vec![usize::MAX; p];
    for (a, &f) in feats.iter().enumerate() {
        position[f] = a;
    }

    // Pass 1: prediction, PD_j tables and PD_notj - f at every row.
    let mut role = vec![0u8; p];
    for &f in feats {
        role[f] = 1;
    }
    let walk = Walk {
        forest,
        columns: &columns,
        cells: &cells,
        role: &role,
        n_rows: n,
    };
    let new_acc = || Overall {
        f: vec![0.0; n * k],
        delta: vec![0.0; q * n * k],
        diff: feats
            .iter()
            .map(|&j| vec![0.0; (cells[j].as_ref().map_or(0, |c| c.n) + 1) * k])
            .collect(),
    };
    let n_trees = forest.n_trees();
    // Fixed blocks of trees (their number depends on the forest only), each summed on its own
    // and added in block order: the same result for any number of threads.
    let blocks = tree_blocks(n_trees);
    let mut total = new_acc();
    let phase = Phase {
        inner: monitor,
        from: 0,
        to: 400,
    };
    for_each_chunk_cancellable(&pool, blocks.len(), groups, &phase, |start, end, cancel| {
        let parts: Vec<Option<Overall>> = blocks[start..end]
            .par_iter()
            .map(|trees| {
                let mut acc = new_acc();
                let mut pos = vec![0u16; p];
                let mut scratch = Scratch::new(forest);
                for t in trees.clone() {
                    let finished = walk.tree(t, &mut scratch, cancel, &mut |leaf| {
                        for (ix, &a) in leaf.feats.iter().enumerate() {
                            pos[a] = ix as u16;
                        }
                        let masses = FailMasses::tally(leaf, w, &pos);
                        let fracs: Vec<f64> = leaf
                            .feats
                            .iter()
                            .zip(leaf.runs)
                            .map(|(&a, r)| cells[a].as_ref().expect("tracked").mass(r) / w_total)
                            .collect();
                        let v = leaf.value;
                        for r in leaf.rows {
                            let i = r.i as usize;
                            if r.nf == 0 {
                                for o in 0..k {
                                    acc.f[i * k + o] += v[o];
                                }
                                for (ix, &a) in leaf.feats.iter().enumerate() {
                                    let base = (position[a] * n + i) * k;
                                    let c = 1.0 - fracs[ix];
                                    for o in 0..k {
                                        acc.delta[base + o] -= v[o] * c;
                                    }
                                }
                            } else {
                                let a = r.fails[0] as usize;
                                let ix = pos[a] as usize;
                                let base = (position[a] * n + i) * k;
                                for o in 0..k {
                                    acc.delta[base + o] += v[o] * fracs[ix];
                                }
                            }
                        }
                        for (ix, &a) in leaf.feats.iter().enumerate() {
                            let share = (masses.m0 + masses.m1[ix]) / w_total;
                            let d = &mut acc.diff[position[a]];
                            for &(s, e) in &leaf.runs[ix] {
                                for o in 0..k {
                                    d[s as usize * k + o] += v[o] * share;
                                    d[e as usize * k + o] -= v[o] * share;
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
        for acc in parts {
            let acc = acc.ok_or(Error::Interrupted)?;
            total.f.iter_mut().zip(&acc.f).for_each(|(a, b)| *a += b);
            total
                .delta
                .iter_mut()
                .zip(&acc.delta)
                .for_each(|(a, b)| *a += b);
            for (d, e) in total.diff.iter_mut().zip(&acc.diff) {
                d.iter_mut().zip(e).for_each(|(a, b)| *a += b);
            }
        }
        Ok(())
    })?;
    // PD_j at each row (up to a constant).
    let mut pd_rows = vec![0.0; q * n * k];
    for (a, &j) in feats.iter().enumerate() {
        let c = cells[j].as_ref().expect("built");
        let d = &mut total.diff[a];
        for cell in 1..=c.n {
            for o in 0..k {
                d[cell * k + o] += d[(cell - 1) * k + o];
            }
        }
        for i in 0..n {
            let cell = c.of_row[i] as usize;
            for o in 0..k {
                pd_rows[(a * n + i) * k + o] = d[cell * k + o];
            }
        }
    }
    let f = &total.f;
    let (_, f_denominator) = centred_stats(f, w, k, w_total);
    let mut overall_numerator = vec![0.0; q * k];
    let mut residual = f.clone();
    for a in 0..q {
        let z: Vec<f64> = (0..n * k)
            .map(|ix| pd_rows[a * n * k + ix] + total.delta[a * n * k + ix])
            .collect();
        let (_, s) = centred_stats(&z, w, k, w_total);
        overall_numerator[a * k..(a + 1) * k].copy_from_slice(&s);
        for ix in 0..n * k {
            residual[ix] -= pd_rows[a * n * k + ix];
        }
    }
    drop(total.delta);
    let (_, global_numerator) = centred_stats(&residual, w, k, w_total);

    // Feature selection as in R: largest positive overall numerators (summed over outputs).
    let scores: Vec<f64> = (0..q)
        .map(|a| {
            overall_numerator[a * k..(a + 1) * k]
                .iter()
                .map(|&v| if v < EPS { 0.0 } else { v })
                .sum()
        })
        .collect();
    let all: Vec<usize> = (0..q).collect();
    let pairwise_features = if options.pairwise_m >= 2 {
        strongest(&scores, &all, options.pairwise_m)
    } else {
        Vec::new()
    };
    let threeway_m = options.threeway_m.min(options.pairwise_m);
    let threeway_features = if threeway_m >= 3 && pairwise_features.len() >= 3 {
        pairwise_features[..threeway_m.min(pairwise_features.len())].to_vec()
    } else {
        Vec::new()
    };
    let mut result = HStats {
        n_outputs: k,
        f_denominator,
        global_numerator,
        overall_numerator,
        pairwise_features: pairwise_features.clone(),
        pairs: Vec::new(),
        threeway_features: threeway_features.clone(),
        triples: Vec::new(),
    };
    if pairwise_features.len() < 2 {
        monitor.checkpoint(1000, 1000)?;
        return Ok(result);
    }

    // Pass 2: leaves testing at least two pairwise features, with their fail masses.
    let mut role = vec![0u8; p];
    for &a in &pairwise_features {
        role[feats[a]] = 2;
    }
    for &a in &threeway_features {
        role[feats[a]] = 3;
    }
    let tracked: Vec<bool> = role.iter().map(|&r| r > 0).collect();
    ensure_fits(
        &format!(
            "pairwise statistics for {} features on this forest",
            pairwise_features.len()
        ),
        interaction_bytes(forest, &tracked),
        "lower pairwise_m",
    )?;
    let walk = Walk {
        forest,
        columns: &columns,
        cells: &cells,
        role: &role,
        n_rows: n,
    };
    // Records per block of trees, kept in tree order whatever the number of threads.
    let mut records: Vec<Vec<LeafRecord>> = Vec::with_capacity(blocks.len());
    let phase = Phase {
        inner: monitor,
        from: 400,
        to: 600,
    };
    for_each_chunk_cancellable(&pool, blocks.len(), groups, &phase, |start, end, cancel| {
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
                            value: leaf.value.to_vec(),
                            feats: leaf.feats.iter().map(|&a| a as u32).collect(),
                            runs: leaf.runs.to_vec(),
                            masses: FailMasses::tally(leaf, w, &pos),
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
    let leaves: Vec<LeafRecord> = records.into_iter().flatten().collect();
    let m = pairwise_features.len();
    let mut slot = vec![usize::MAX; p];
    for (s, &a) in pairwise_features.iter().enumerate() {
        slot[feats[a]] = s;
    }
    let mut pair_leaves: Vec<Vec<u32>> = vec![Vec::new(); m * m];
    for (id, leaf) in leaves.iter().enumerate() {
        for x1 in 0..leaf.feats.len() {
            for x2 in x1 + 1..leaf.feats.len() {
                let (s1, s2) = (slot[leaf.feats[x1] as usize], slot[leaf.feats[x2] as usize]);
                let (lo, hi) = (s1.min(s2), s1.max(s2));
                pair_leaves[lo * m + hi].push(id as u32);
            }
        }
    }
    let pair_list: Vec<(usize, usize)> = (0..m)
        .flat_map(|s1| (s1 + 1..m).map(move |s2| (s1, s2)))
        .collect();
    let pd_of = |a: usize| &pd_rows[a * n * k..(a + 1) * n * k];
    let indexes: Vec<RowIndex> = pool.install(|| {
        pairwise_features
            .par_iter()
            .map(|&a| RowIndex::new(cells[feats[a]].as_ref().expect("built")))
            .collect()
    });
    let axes: Vec<Axis> = pairwise_features
        .iter()
        .zip(&indexes)
        .map(|(&a, index)| Axis {
            feature: feats[a],
            cells: cells[feats[a]].as_ref().expect("built"),
            index,
        })
        .collect();
    let g_of = |s1: usize, s2: usize| -> Vec<f64> {
        let (lo, hi) = (s1.min(s2), s1.max(s2));
        pair_part(
            &leaves,
            &pair_leaves[lo * m + hi],
            &axes[lo],
            &axes[hi],
            k,
            w_total,
        )
    };
    // Pairwise parts among the three-way features are kept for the three-way stage.
    let t = threeway_features.len();
    ensure_fits(
        &format!("three-way statistics for {t} features on {n} rows"),
        bytes_of::<f64>(&[t * t.saturating_sub(1) / 2, n, k]),
        "lower threeway_m or subsample rows with n_max",
    )?;
    let mut kept: Vec<Vec<f64>> = vec![Vec::new(); t * t];
    let mut pair_out: Vec<(usize, usize, Vec<f64>, Vec<f64>)> = Vec::with_capacity(pair_list.len());
    let to = if t >= 3 { 900 } else { 1000 };
    let phase = Phase {
        inner: monitor,
        from: 600,
        to,
    };
    for_each_chunk(
        &pool,
        pair_list.len(),
        (groups * 8).max(1),
        &phase,
        |start, end| {
            let part: Vec<_> = pair_list[start..end]
                .par_iter()
                .map(|&(s1, s2)| {
                    let g = g_of(s1, s2);
                    let (a, b) = (pairwise_features[s1], pairwise_features[s2]);
                    let (_, num) = centred_stats(&g, w, k, w_total);
                    let (pa, pb) = (pd_of(a), pd_of(b));
                    let joint: Vec<f64> = (0..n * k).map(|ix| g[ix] + pa[ix] + pb[ix]).collect();
                    let (_, den) = centred_stats(&joint, w, k, w_total);
                    let keep = if s2 < t { Some((s1 * t + s2, g)) } else { None };
                    ((a.min(b), a.max(b), num, den), keep)
                })
                .collect();
            for (row, keep) in part {
                pair_out.push(row);
                if let Some((slot, g)) = keep {
                    kept[slot] = g;
                }
            }
            Ok(())
        },
    )?;
    result.pairs = pair_out;

    if t >= 3 {
        let mut triple_list = Vec::new();
        for s1 in 0..t {
            for s2 in s1 + 1..t {
                for s3 in s2 + 1..t {
                    triple_list.push([s1, s2, s3]);
                }
            }
        }
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
        let mut triple_out = Vec::with_capacity(triple_list.len());
        let phase = Phase {
            inner: monitor,
            from: 900,
            to: 1000,
        };
        for_each_chunk(
            &pool,
            triple_list.len(),
            groups.max(1),
            &phase,
            |start, end| {
                let part: Vec<_> = triple_list[start..end]
                    .par_iter()
                    .map(|&[s1, s2, s3]| {
                        let g3 = triple_part(
                            &leaves,
                            &triple_leaves[(s1 * t + s2) * t + s3],
                            [&axes[s1], &axes[s2], &axes[s3]],
                            k,
                            w_total,
                        );
                        let (_, num) = centred_stats(&g3, w, k, w_total);
                        let (g12, g13, g23) =
                            (&kept[s1 * t + s2], &kept[s1 * t + s3], &kept[s2 * t + s3]);
                        let (a, b, c) = (
                            pairwise_features[s1],
                            pairwise_features[s2],
                            pairwise_features[s3],
                        );
                        let (pa, pb, pc) = (pd_of(a), pd_of(b), pd_of(c));
                        let joint: Vec<f64> = (0..n * k)
                            .map(|ix| {
                                g3[ix] + g12[ix] + g13[ix] + g23[ix] + pa[ix] + pb[ix] + pc[ix]
                            })
                            .collect();
                        let (_, den) = centred_stats(&joint, w, k, w_total);
                        let mut key = [a, b, c];
                        key.sort_unstable();
                        (key, num, den)
                    })
                    .collect();
                triple_out.extend(part);
                Ok(())
            },
        )?;
        result.triples = triple_out;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::ForestParts;
    use crate::monitor::Silent;
    use crate::predict::predict;
    use ndarray::Array2;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn unit(&mut self) -> f64 {
            self.next() as f64 / (1u64 << 31) as f64
        }
    }

    /// A random forest over `p` features: `trees` trees up to `depth` deep, thresholds and data
    /// on a coarse grid so that ties and equal thresholds occur; `vector` leaves hold `k` values.
    fn random_forest(
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

    fn random_data(rng: &mut Rng, n: usize, p: usize) -> Array2<f64> {
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
        for mode in [None, Some(true), Some(false)] {
            crate::interaction::pairs::test_mode::force(mode);
            check_random_forests();
        }
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
