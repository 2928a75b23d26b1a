//! Scores computed from native margins, exactly as scikit-learn's scorers compute them.
//!
//! A [`Task`] says how margins become the estimator's responses (regression values, class
//! probabilities, decision values, predicted classes); a [`Metric`] is one of scikit-learn's
//! scorer names, with its sign (`neg_*` scorers return the negated loss).

use crate::error::{Error, Result};
use ndarray::ArrayView2;

/// The function from raw margin to the model's natural output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Identity,
    Logistic,
    Softmax,
    Exp,
    /// `ln(1 + e^m)`: LightGBM's `cross_entropy_lambda`.
    Softplus,
}

impl Link {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "identity" => Ok(Link::Identity),
            "logistic" => Ok(Link::Logistic),
            "softmax" => Ok(Link::Softmax),
            "exp" => Ok(Link::Exp),
            "softplus" => Ok(Link::Softplus),
            other => Err(Error::InvalidInput(format!(
                "unknown link {other:?} (accepted: identity, logistic, softmax, exp, softplus)"
            ))),
        }
    }
}

/// How the estimator's `predict` turns its outputs into a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassRule {
    /// First largest margin (scikit-learn forests on probabilities, HistGradientBoosting and
    /// GradientBoosting multiclass).
    ArgmaxMargin,
    /// First largest probability (XGBoost, LightGBM multiclass).
    ArgmaxProba,
    /// Binary: class 1 when the margin is > 0 (HistGradientBoostingClassifier).
    MarginPositive,
    /// Binary: class 1 when the margin is >= 0 (GradientBoostingClassifier).
    MarginNonNegative,
    /// Binary: class 1 when the probability exceeds 1/2 (XGBoost, LightGBM).
    ProbaAboveHalf,
}

impl ClassRule {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "argmax_margin" => Ok(ClassRule::ArgmaxMargin),
            "argmax_proba" => Ok(ClassRule::ArgmaxProba),
            "margin_positive" => Ok(ClassRule::MarginPositive),
            "margin_nonnegative" => Ok(ClassRule::MarginNonNegative),
            "proba_above_half" => Ok(ClassRule::ProbaAboveHalf),
            other => Err(Error::InvalidInput(format!(
                "unknown class rule {other:?} (accepted: argmax_margin, argmax_proba, \
                 margin_positive, margin_nonnegative, proba_above_half)"
            ))),
        }
    }
}

/// What the model predicts and how its responses are derived from margins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Task {
    /// `link(margin)` per output.
    Regression { link: Link },
    /// Class probabilities from the margin: one logistic output (binary), one margin per class
    /// through softmax, or margins that already are probabilities (`Link::Identity`).
    Classification {
        n_classes: usize,
        link: Link,
        rule: ClassRule,
        /// ROC AUC on binary problems reads the decision function (the margin) rather than
        /// the probability: scikit-learn's scorer prefers `decision_function` when it exists.
        auc_on_margin: bool,
        /// The margin is multiplied by this before the logistic link (LightGBM's `sigmoid`
        /// parameter; 2 for GradientBoostingClassifier's exponential loss). 1 otherwise.
        link_scale: f64,
        /// The estimator returns float32 probabilities (XGBoost): probabilities are rounded to
        /// float32 (so they saturate and tie where XGBoost's do) and the log loss clips them
        /// at float32's epsilon, as scikit-learn does for a float32 array.
        proba_f32: bool,
    },
}

/// A scikit-learn scorer computed natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    R2,
    NegMeanSquaredError,
    NegRootMeanSquaredError,
    NegMeanAbsoluteError,
    Accuracy,
    BalancedAccuracy,
    NegLogLoss,
    RocAuc,
    RocAucOvr,
}

/// The scorer names computed natively, in scikit-learn's spelling.
pub const NATIVE_METRICS: [&str; 9] = [
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
    "accuracy",
    "balanced_accuracy",
    "neg_log_loss",
    "roc_auc",
    "roc_auc_ovr",
];

impl Metric {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "r2" => Metric::R2,
            "neg_mean_squared_error" => Metric::NegMeanSquaredError,
            "neg_root_mean_squared_error" => Metric::NegRootMeanSquaredError,
            "neg_mean_absolute_error" => Metric::NegMeanAbsoluteError,
            "accuracy" => Metric::Accuracy,
            "balanced_accuracy" => Metric::BalancedAccuracy,
            "neg_log_loss" => Metric::NegLogLoss,
            "roc_auc" => Metric::RocAuc,
            "roc_auc_ovr" => Metric::RocAucOvr,
            other => {
                return Err(Error::InvalidInput(format!(
                    "scorer {other:?} is not computed natively (native: {})",
                    NATIVE_METRICS.join(", ")
                )))
            }
        })
    }

    fn is_regression(self) -> bool {
        matches!(
            self,
            Metric::R2
                | Metric::NegMeanSquaredError
                | Metric::NegRootMeanSquaredError
                | Metric::NegMeanAbsoluteError
        )
    }
}

/// The true targets: regression values `(n, k)` row-major, or class indices; optional weights.
#[derive(Debug, Clone)]
pub struct Target {
    pub values: Vec<f64>,
    pub classes: Vec<usize>,
    pub weight: Option<Vec<f64>>,
    pub n_rows: usize,
}

impl Target {
    fn w(&self, i: usize) -> f64 {
        self.weight.as_ref().map_or(1.0, |w| w[i])
    }
}

/// Checks that every metric suits the task and the targets, before any work.
pub fn check_metrics(
    task: &Task,
    metrics: &[Metric],
    target: &Target,
    n_outputs: usize,
) -> Result<()> {
    if let Some(w) = &target.weight {
        if w.len() != target.n_rows {
            return Err(Error::InvalidInput(format!(
                "sample_weight has {} entries for {} rows",
                w.len(),
                target.n_rows
            )));
        }
    }
    match task {
        Task::Regression { link } => {
            if *link == Link::Softmax {
                return Err(Error::InvalidInput(
                    "a regressor cannot have a softmax link".into(),
                ));
            }
            if target.values.len() != target.n_rows * n_outputs {
                return Err(Error::InvalidInput(format!(
                    "y has {} values for {} rows and {n_outputs} outputs",
                    target.values.len(),
                    target.n_rows
                )));
            }
            for m in metrics {
                if !m.is_regression() {
                    return Err(Error::InvalidInput(format!(
                        "scorer {m:?} needs a classifier, but the model is a regressor"
                    )));
                }
            }
        }
        Task::Classification {
            n_classes, link, ..
        } => {
            let expected = match (link, *n_classes) {
                (Link::Logistic, 2) => 1,
                // One-vs-rest (LightGBM's multiclassova): one logistic output per class.
                (Link::Logistic, k) if k > 2 => k,
                (Link::Identity | Link::Softmax, k) => k,
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "a classifier with {n_classes} classes and link {link:?} is not supported"
                    )))
                }
            };
            if expected != n_outputs || *n_classes < 2 {
                return Err(Error::InvalidInput(format!(
                    "a classifier with {n_classes} classes must have {expected} outputs, not {n_outputs}"
                )));
            }
            if target.classes.len() != target.n_rows {
                return Err(Error::InvalidInput(format!(
                    "y has {} labels for {} rows",
                    target.classes.len(),
                    target.n_rows
                )));
            }
            if let Some(c) = target.classes.iter().find(|&&c| c >= *n_classes) {
                return Err(Error::InvalidInput(format!(
                    "class index {c} is not below the {n_classes} classes"
                )));
            }
            let mut present = vec![false; *n_classes];
            target.classes.iter().for_each(|&c| present[c] = true);
            let n_present = present.iter().filter(|&&p| p).count();
            for m in metrics {
                let all_needed = match m {
                    Metric::NegLogLoss => true,
                    Metric::RocAucOvr => *n_classes > 2,
                    _ => false,
                };
                if all_needed && n_present != *n_classes {
                    return Err(Error::InvalidInput(format!(
                        "scorer {} needs every one of the model's {n_classes} classes in y \
                         (y holds {n_present}); scikit-learn raises here too",
                        if *m == Metric::NegLogLoss {
                            "neg_log_loss"
                        } else {
                            "roc_auc_ovr"
                        }
                    )));
                }
                match m {
                    Metric::RocAucOvr if *n_classes > 2 && *link == Link::Logistic => {
                        return Err(Error::InvalidInput(
                            "scorer roc_auc_ovr needs class probabilities that sum to one, but a \
                             one-vs-rest model's (LightGBM multiclassova) do not; scikit-learn \
                             refuses them too"
                                .into(),
                        ));
                    }
                    Metric::RocAuc if *n_classes > 2 => {
                        return Err(Error::InvalidInput(
                            "scorer roc_auc needs a binary classifier; use roc_auc_ovr for multiclass".into(),
                        ));
                    }
                    m if m.is_regression() => {
                        return Err(Error::InvalidInput(format!(
                            "scorer {m:?} needs a regressor, but the model is a classifier"
                        )));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// Reusable buffers for one evaluation.
#[derive(Default)]
pub struct Scratch {
    proba: Vec<f64>,
    pred: Vec<usize>,
    order: Vec<usize>,
    score: Vec<f64>,
}

#[inline]
fn sigmoid(m: f64) -> f64 {
    1.0 / (1.0 + (-m).exp())
}

/// Scores of `margin` (`(n, k)`) against `target` for each metric, in order.
pub fn evaluate(
    task: &Task,
    metrics: &[Metric],
    margin: ArrayView2<f64>,
    target: &Target,
    scratch: &mut Scratch,
    out: &mut [f64],
) {
    match *task {
        Task::Regression { link } => regression(link, metrics, margin, target, out),
        Task::Classification {
            n_classes,
            link,
            rule,
            auc_on_margin,
            link_scale,
            proba_f32,
        } => {
            let n = margin.nrows();
            if proba_f32 {
                fill_proba_f32(link, n_classes, margin, &mut scratch.proba);
            } else {
                fill_proba(link, link_scale, n_classes, margin, &mut scratch.proba);
            }
            let need_pred = metrics
                .iter()
                .any(|m| matches!(m, Metric::Accuracy | Metric::BalancedAccuracy));
            if need_pred {
                scratch.pred.clear();
                for i in 0..n {
                    let p = &scratch.proba[i * n_classes..(i + 1) * n_classes];
                    let c = match rule {
                        ClassRule::ArgmaxMargin => argmax(margin.row(i).iter().copied()),
                        ClassRule::ArgmaxProba => argmax(p.iter().copied()),
                        ClassRule::MarginPositive => usize::from(margin[[i, 0]] > 0.0),
                        ClassRule::MarginNonNegative => usize::from(margin[[i, 0]] >= 0.0),
                        ClassRule::ProbaAboveHalf => usize::from(p[1] > p[0]),
                    };
                    scratch.pred.push(c);
                }
            }
            for (slot, m) in out.iter_mut().zip(metrics) {
                *slot = match m {
                    Metric::Accuracy => accuracy(&scratch.pred, target),
                    Metric::BalancedAccuracy => balanced_accuracy(&scratch.pred, target, n_classes),
                    Metric::NegLogLoss => {
                        let eps = if proba_f32 {
                            f64::from(f32::EPSILON)
                        } else {
                            f64::EPSILON
                        };
                        -log_loss(&scratch.proba, n_classes, target, eps)
                    }
                    Metric::RocAuc | Metric::RocAucOvr if n_classes == 2 => {
                        scratch.score.clear();
                        if *m == Metric::RocAuc && auc_on_margin {
                            let col = margin.ncols() - 1;
                            scratch.score.extend((0..n).map(|i| margin[[i, col]]));
                        } else {
                            scratch
                                .score
                                .extend((0..n).map(|i| scratch.proba[i * 2 + 1]));
                        }
                        let positive: Vec<bool> = target.classes.iter().map(|&c| c == 1).collect();
                        binary_auc(&scratch.score, &positive, target, &mut scratch.order)
                    }
                    Metric::RocAucOvr => {
                        let mut total = 0.0;
                        for c in 0..n_classes {
                            scratch.score.clear();
                            scratch
                                .score
                                .extend((0..n).map(|i| scratch.proba[i * n_classes + c]));
                            let positive: Vec<bool> =
                                target.classes.iter().map(|&y| y == c).collect();
                            total +=
                                binary_auc(&scratch.score, &positive, target, &mut scratch.order);
                        }
                        total / n_classes as f64
                    }
                    _ => f64::NAN,
                };
            }
        }
    }
}

fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = 0;
    let mut best_v = f64::NEG_INFINITY;
    for (i, v) in values.enumerate() {
        // numpy's argmax: the first maximum; NaN counts as the maximum.
        if i == 0 || v > best_v || (v.is_nan() && !best_v.is_nan()) {
            best = i;
            best_v = v;
        }
    }
    best
}

/// Class probabilities, row-major `(n, n_classes)`; for binary the first column is `1 - p`
/// with `p` the positive class's probability, as scikit-learn's binary scorers see it.
fn fill_proba(
    link: Link,
    link_scale: f64,
    n_classes: usize,
    margin: ArrayView2<f64>,
    proba: &mut Vec<f64>,
) {
    let n = margin.nrows();
    proba.clear();
    proba.reserve(n * n_classes);
    for i in 0..n {
        let row = margin.row(i);
        match link {
            Link::Logistic if n_classes > 2 => {
                // One-vs-rest: each class's own sigmoid, not normalised (as LightGBM returns).
                proba.extend(row.iter().map(|&m| sigmoid(link_scale * m)));
            }
            Link::Logistic => {
                let p = sigmoid(link_scale * row[0]);
                proba.push(1.0 - p);
                proba.push(p);
            }
            Link::Softmax => {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let start = proba.len();
                let mut sum = 0.0;
                for &m in row.iter() {
                    let e = (m - max).exp();
                    sum += e;
                    proba.push(e);
                }
                proba[start..].iter_mut().for_each(|p| *p /= sum);
            }
            Link::Identity | Link::Exp | Link::Softplus => {
                if n_classes == 2 {
                    let p = row[1];
                    proba.push(1.0 - p);
                    proba.push(p);
                } else {
                    proba.extend(row.iter().copied());
                }
            }
        }
    }
}

/// Class probabilities as XGBoost computes them, in float32 from the float32 margin: its
/// sigmoid `1 / (1 + exp(-m))` and its softmax (float32 exponentials, sum accumulated in
/// float64) saturate and tie where XGBoost's do. For binary problems the first column is
/// `1 - p` in float32, as `XGBClassifier.predict_proba` computes it.
fn fill_proba_f32(link: Link, n_classes: usize, margin: ArrayView2<f64>, proba: &mut Vec<f64>) {
    proba.clear();
    for row in margin.rows() {
        match link {
            Link::Logistic if n_classes > 2 => {
                proba.extend(row.iter().map(|&m| {
                    let m = m as f32;
                    f64::from(1.0f32 / ((-m).min(88.7f32).exp() + 1.0f32))
                }));
            }
            Link::Logistic => {
                let m = row[0] as f32;
                let p = 1.0f32 / ((-m).min(88.7f32).exp() + 1.0f32);
                proba.push(f64::from(1.0f32 - p));
                proba.push(f64::from(p));
            }
            Link::Softmax => {
                let max = row
                    .iter()
                    .map(|&m| m as f32)
                    .fold(f32::NEG_INFINITY, f32::max);
                let start = proba.len();
                let mut sum = 0.0f64;
                for &m in row.iter() {
                    let e = (m as f32 - max).exp();
                    sum += f64::from(e);
                    proba.push(f64::from(e));
                }
                let sum = sum as f32;
                proba[start..]
                    .iter_mut()
                    .for_each(|p| *p = f64::from(*p as f32 / sum));
            }
            Link::Identity | Link::Exp | Link::Softplus => {
                let start = proba.len();
                if n_classes == 2 {
                    let p = row[1] as f32;
                    proba.push(f64::from(1.0f32 - p));
                    proba.push(f64::from(p));
                } else {
                    proba.extend(row.iter().map(|&p| f64::from(p as f32)));
                }
                debug_assert_eq!(proba.len() - start, n_classes);
            }
        }
    }
}

/// `ln(1 + e^m)` without overflow.
fn softplus(m: f64) -> f64 {
    if m > 0.0 {
        m + (-m).exp().ln_1p()
    } else {
        m.exp().ln_1p()
    }
}

fn regression(
    link: Link,
    metrics: &[Metric],
    margin: ArrayView2<f64>,
    target: &Target,
    out: &mut [f64],
) {
    let n = margin.nrows();
    let k = margin.ncols();
    let pred = |i: usize, o: usize| -> f64 {
        let m = margin[[i, o]];
        match link {
            Link::Identity | Link::Softmax => m,
            Link::Logistic => sigmoid(m),
            Link::Exp => m.exp(),
            Link::Softplus => softplus(m),
        }
    };
    let y = |i: usize, o: usize| target.values[i * k + o];
    let wsum: f64 = (0..n).map(|i| target.w(i)).sum();
    for (slot, m) in out.iter_mut().zip(metrics) {
        let mut total = 0.0;
        for o in 0..k {
            total += match m {
                Metric::R2 => {
                    if n < 2 {
                        f64::NAN
                    } else {
                        let mean = (0..n).map(|i| target.w(i) * y(i, o)).sum::<f64>() / wsum;
                        let num: f64 = (0..n)
                            .map(|i| target.w(i) * (y(i, o) - pred(i, o)).powi(2))
                            .sum();
                        let den: f64 = (0..n).map(|i| target.w(i) * (y(i, o) - mean).powi(2)).sum();
                        if num == 0.0 {
                            1.0
                        } else if den == 0.0 {
                            0.0
                        } else {
                            1.0 - num / den
                        }
                    }
                }
                Metric::NegMeanSquaredError => {
                    -(0..n)
                        .map(|i| target.w(i) * (y(i, o) - pred(i, o)).powi(2))
                        .sum::<f64>()
                        / wsum
                }
                Metric::NegRootMeanSquaredError => -((0..n)
                    .map(|i| target.w(i) * (y(i, o) - pred(i, o)).powi(2))
                    .sum::<f64>()
                    / wsum)
                    .sqrt(),
                Metric::NegMeanAbsoluteError => {
                    -(0..n)
                        .map(|i| target.w(i) * (y(i, o) - pred(i, o)).abs())
                        .sum::<f64>()
                        / wsum
                }
                _ => f64::NAN,
            };
        }
        *slot = total / k as f64;
    }
}

fn accuracy(pred: &[usize], target: &Target) -> f64 {
    let mut hit = 0.0;
    let mut total = 0.0;
    for (i, (&p, &y)) in pred.iter().zip(&target.classes).enumerate() {
        let w = target.w(i);
        total += w;
        if p == y {
            hit += w;
        }
    }
    hit / total
}

fn balanced_accuracy(pred: &[usize], target: &Target, n_classes: usize) -> f64 {
    let mut hit = vec![0.0; n_classes];
    let mut total = vec![0.0; n_classes];
    for (i, (&p, &y)) in pred.iter().zip(&target.classes).enumerate() {
        let w = target.w(i);
        total[y] += w;
        if p == y {
            hit[y] += w;
        }
    }
    // scikit-learn drops classes whose row of the confusion matrix sums to 0 (0/0 = NaN).
    let recalls: Vec<f64> = (0..n_classes)
        .filter(|&c| total[c] != 0.0)
        .map(|c| hit[c] / total[c])
        .collect();
    recalls.iter().sum::<f64>() / recalls.len() as f64
}

/// Weighted mean of `-ln p(y)`, with `p` clipped to `[eps, 1 - eps]` (scikit-learn clips at
/// the epsilon of the probabilities' dtype).
fn log_loss(proba: &[f64], n_classes: usize, target: &Target, eps: f64) -> f64 {
    let mut loss = 0.0;
    let mut total = 0.0;
    for (i, &y) in target.classes.iter().enumerate() {
        let w = target.w(i);
        let p = proba[i * n_classes + y].clamp(eps, 1.0 - eps);
        loss += w * -p.ln();
        total += w;
    }
    loss / total
}

/// Area under the ROC curve of `score` for the positives, weighted, with tied scores grouped
/// (the trapezoid through the tie), as `roc_curve` + `auc`. NaN when one class is absent.
fn binary_auc(score: &[f64], positive: &[bool], target: &Target, order: &mut Vec<usize>) -> f64 {
    let n = score.len();
    let has_pos = positive.iter().any(|&p| p);
    let has_neg = positive.iter().any(|&p| !p);
    if !has_pos || !has_neg {
        return f64::NAN;
    }
    order.clear();
    order.extend(0..n);
    order.sort_unstable_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let (mut tp_prev, mut fp_prev) = (0.0f64, 0.0f64);
    let mut area = 0.0;
    let mut k = 0;
    while k < n {
        let s = score[order[k]];
        while k < n && score[order[k]] == s {
            let i = order[k];
            let w = target.w(i);
            if positive[i] {
                tp += w;
            } else {
                fp += w;
            }
            k += 1;
        }
        area += (fp - fp_prev) * (tp + tp_prev) * 0.5;
        tp_prev = tp;
        fp_prev = fp;
    }
    area / (tp * fp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn target_classes(classes: Vec<usize>, weight: Option<Vec<f64>>) -> Target {
        Target {
            n_rows: classes.len(),
            values: vec![],
            classes,
            weight,
        }
    }

    #[test]
    fn auc_matches_pair_counting() {
        // AUC = P(score_pos > score_neg) + 0.5 P(tie), weighted by w_pos * w_neg.
        let score = [0.1, 0.4, 0.35, 0.8, 0.4, 0.1, 0.9];
        let pos = [false, true, false, true, false, true, false];
        let w = vec![1.0, 2.0, 0.5, 1.5, 1.0, 3.0, 0.7];
        let t = target_classes(
            pos.iter().map(|&p| usize::from(p)).collect(),
            Some(w.clone()),
        );
        let mut order = vec![];
        let auc = binary_auc(&score, &pos, &t, &mut order);
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..7 {
            for j in 0..7 {
                if pos[i] && !pos[j] {
                    let ww = w[i] * w[j];
                    den += ww;
                    num += ww
                        * if score[i] > score[j] {
                            1.0
                        } else if score[i] == score[j] {
                            0.5
                        } else {
                            0.0
                        };
                }
            }
        }
        assert!((auc - num / den).abs() < 1e-14);
    }

    #[test]
    fn balanced_accuracy_skips_absent_classes() {
        let t = target_classes(vec![0, 0, 1, 1], None);
        let pred = [0, 2, 1, 1];
        assert!((balanced_accuracy(&pred, &t, 3) - 0.75).abs() < 1e-15);
    }

    #[test]
    fn r2_of_perfect_and_constant() {
        let margin = Array2::from_shape_vec((3, 1), vec![1.0, 2.0, 3.0]).unwrap();
        let t = Target {
            n_rows: 3,
            values: vec![1.0, 2.0, 3.0],
            classes: vec![],
            weight: None,
        };
        let mut out = [0.0];
        regression(Link::Identity, &[Metric::R2], margin.view(), &t, &mut out);
        assert_eq!(out[0], 1.0);
        let t = Target {
            n_rows: 3,
            values: vec![2.0, 2.0, 2.0],
            classes: vec![],
            weight: None,
        };
        regression(Link::Identity, &[Metric::R2], margin.view(), &t, &mut out);
        assert_eq!(out[0], 0.0);
    }
}
