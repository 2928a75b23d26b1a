//! Interventional SHAP values of a transformed output (probability, log loss), as shap defines
//! them: for each pair (x, z) the exact raw-margin Shapley values of the game
//! `v(S) = f(x_S, z_notS)` are rescaled by `(g(f(x)) - g(f(z))) / (f(x) - f(z))` (by 1 when
//! `f(x) == f(z)`), so that they sum to `g(f(x)) - g(f(z))`; then averaged over the background.
//!
//! The factor depends on the pair, so nothing can be aggregated per tree: the cost is
//! `O(rows x background x reachable nodes)`, parallel over rows.

use super::pairs::{decision_words, decisions, PairWalker};
use super::sink::{finish_interactions, Sink};
use super::weights::Weights;
use super::Background;
use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::monitor::{Monitor, PollOnly};
use crate::parallel::{items_per_chunk, watched};
use ndarray::ArrayView2;
use rayon::prelude::*;

/// The function `g` of the raw margin that is explained.
#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    /// `g(m) = 1 / (1 + exp(-s m))`, per output (shap's "probability" for log-odds models);
    /// `s` is the model's sigmoid scale (1 but for LightGBM's `sigmoid` parameter).
    Logistic { scale: f64 },
    /// `g(m) = log(1 + exp(s m)) - y s m` with `y` in {0, 1} per row (shap's "log_loss" for
    /// binary log-odds models, the log loss of the probability `1 / (1 + exp(-s m))`); one output.
    LogisticLoss { y: Vec<f64>, scale: f64 },
    /// `g(m) = -log(m_c)` for the row's class `c`, when the margin is already a probability
    /// (scikit-learn forest classifiers); the result has one output.
    NegLogOutput(Vec<usize>),
}

impl Transform {
    /// Number of outputs of the explained quantity.
    pub fn n_outputs(&self, forest: &Forest) -> usize {
        match self {
            Transform::Logistic { .. } => forest.n_outputs(),
            _ => 1,
        }
    }

    /// `(source output, g(margin))` for explained output `o` of row `row`.
    fn apply(&self, row: usize, o: usize, margins: &[f64]) -> (usize, f64) {
        match self {
            Transform::Logistic { scale } => (o, logistic(scale * margins[o])),
            Transform::LogisticLoss { y, scale } => {
                let m = scale * margins[0];
                (0, softplus(m) - y[row] * m)
            }
            Transform::NegLogOutput(c) => (c[row], -margins[c[row]].ln()),
        }
    }

    /// `g` at a background row's margins, for the explained row `row`.
    fn at_background(&self, row: usize, o: usize, margins: &[f64]) -> f64 {
        self.apply(row, o, margins).1
    }
}

#[inline]
fn logistic(m: f64) -> f64 {
    1.0 / (1.0 + (-m).exp())
}

#[inline]
fn softplus(m: f64) -> f64 {
    if m > 0.0 {
        m + (-m).exp().ln_1p()
    } else {
        m.exp().ln_1p()
    }
}

/// Checks the transform against the forest and the rows.
pub fn check(transform: &Transform, forest: &Forest, n: usize) -> Result<()> {
    match transform {
        Transform::Logistic { scale } | Transform::LogisticLoss { scale, .. }
            if !(scale.is_finite() && *scale > 0.0) =>
        {
            Err(Error::InvalidInput(format!(
                "the sigmoid scale must be finite and positive, got {scale}"
            )))
        }
        Transform::Logistic { .. } => Ok(()),
        Transform::LogisticLoss { y, .. } => {
            if forest.n_outputs() != 1 {
                return Err(Error::InvalidInput(
                    "the logistic log loss needs a model with one output".into(),
                ));
            }
            if y.len() != n {
                return Err(Error::InvalidInput(format!(
                    "y has {} labels for {n} rows",
                    y.len()
                )));
            }
            if y.iter().any(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::InvalidInput(
                    "labels for the logistic log loss must be 0 or 1".into(),
                ));
            }
            Ok(())
        }
        Transform::NegLogOutput(c) => {
            if c.len() != n {
                return Err(Error::InvalidInput(format!(
                    "y has {} labels for {n} rows",
                    c.len()
                )));
            }
            if let Some(&bad) = c.iter().find(|&&v| v >= forest.n_outputs()) {
                return Err(Error::InvalidInput(format!(
                    "class index {bad} is out of range for a model with {} outputs",
                    forest.n_outputs()
                )));
            }
            Ok(())
        }
    }
}

/// Most 64-bit words of background branch decisions kept at once (256 MiB).
const DECISION_WORDS_BUDGET: usize = 32 << 20;

/// Fills `out` (`n` blocks, `(p, k_out)` or `(p, p, k_out)` each).
#[allow(clippy::too_many_arguments)]
pub fn values(
    forest: &Forest,
    x: &ArrayView2<f64>,
    bg: &Background,
    transform: &Transform,
    interactions: bool,
    out: &mut [f64],
    pool: &rayon::ThreadPool,
    monitor: &dyn Monitor,
) -> Result<()> {
    let n = x.nrows();
    let p = forest.n_features();
    let k = forest.n_outputs();
    let k_out = transform.n_outputs(forest);
    let threads = pool.current_num_threads();
    let fx = crate::predict::predict(forest, x.view(), threads, &PollOnly(monitor))?;
    let fz = crate::predict::predict(forest, bg.data.view(), threads, &PollOnly(monitor))?;
    // Every background row's branch decisions, once: a pair walk then reads bits.
    // (Up to 256 MiB of bits; beyond that the walks evaluate the splits themselves.)
    let words = decision_words(forest);
    let use_bits = bg.rows().saturating_mul(words) <= DECISION_WORDS_BUDGET;
    let mut zbits = vec![0u64; if use_bits { bg.rows() * words } else { 0 }];
    let zbits_ref = &mut zbits;
    let leaves_z: Vec<usize> = watched(pool, monitor, |_| {
        zbits_ref
            .par_chunks_mut(words)
            .zip(bg.data.axis_iter(ndarray::Axis(0)))
            .for_each(|(bits, z)| decisions(forest, z.as_slice().expect("standard layout"), bits));
        // Trees where x and z reach the same leaf contribute nothing: the hybrids follow that
        // path.
        Ok((0..bg.rows())
            .into_par_iter()
            .flat_map_iter(|zi| {
                let z = bg.data.row(zi);
                let z = z.to_vec();
                (0..forest.n_trees()).map(move |t| forest.leaf(t, &z))
            })
            .collect())
    })?;
    let n_trees = forest.n_trees();
    let weights = Weights::for_forest(forest)?;
    let per_row = if interactions {
        p * p * k_out
    } else {
        p * k_out
    };
    let raw_row = if interactions { p * p * k } else { p * k };
    let stride = if interactions { p * p } else { p };
    // Chunks sized by work: a row costs a walk of every tree per background row.
    let row_cost = crate::predict::row_cost(forest) * bg.rows() as f64;
    let chunk = items_per_chunk(row_cost, threads, threads);
    let mut done = 0;
    monitor.checkpoint(0, n)?;
    while done < n {
        let end = (done + chunk).min(n);
        let out = &mut *out;
        watched(pool, monitor, |cancel| {
            out[done * per_row..end * per_row]
                .par_chunks_mut(per_row)
                .enumerate()
                .for_each(|(i, dst)| {
                    let r = done + i;
                    let xr = x.row(r);
                    let xr = xr.as_slice().expect("standard layout");
                    let mx = fx.row(r);
                    let mx = mx.as_slice().unwrap();
                    let mut walker = PairWalker::new(p);
                    let mut tmp = vec![0.0; raw_row];
                    let mut xbits = vec![0u64; words];
                    decisions(forest, xr, &mut xbits);
                    let leaves_x: Vec<usize> = (0..n_trees).map(|t| forest.leaf(t, xr)).collect();
                    for (zi, &w) in bg.weights.iter().enumerate() {
                        if w == 0.0 {
                            continue;
                        }
                        if zi % 64 == 0 && cancel.is_set() {
                            return;
                        }
                        let zr = bg.data.row(zi);
                        let zr = zr.as_slice().expect("standard layout");
                        let lz = &leaves_z[zi * n_trees..(zi + 1) * n_trees];
                        let mz = fz.row(zi);
                        let mz = mz.as_slice().unwrap();
                        tmp.iter_mut().for_each(|v| *v = 0.0);
                        {
                            let mut sink = Sink {
                                out: &mut tmp,
                                p,
                                k,
                                interactions,
                            };
                            for t in 0..n_trees {
                                if leaves_x[t] == lz[t] {
                                    continue;
                                }
                                if use_bits {
                                    let zb = &zbits[zi * words..(zi + 1) * words];
                                    walker.add_tree_decided(
                                        forest, t, &xbits, zb, 1.0, &weights, &mut sink,
                                    );
                                } else {
                                    walker.add_tree(forest, t, xr, zr, 1.0, &weights, &mut sink);
                                }
                            }
                        }
                        for o in 0..k_out {
                            let (src, gx) = transform.apply(r, o, mx);
                            let gz = transform.at_background(r, o, mz);
                            let scale = if mx[src] == mz[src] {
                                1.0
                            } else {
                                (gx - gz) / (mx[src] - mz[src])
                            };
                            let c = w * scale;
                            for e in 0..stride {
                                dst[e * k_out + o] += c * tmp[e * k + src];
                            }
                        }
                    }
                    if interactions {
                        // The rescaled diagonal already holds rescaled Shapley values.
                        finish_interactions(dst, p, k_out);
                    }
                });
            cancel.check()
        })?;
        done = end;
        monitor.checkpoint(done, n)?;
    }
    Ok(())
}
