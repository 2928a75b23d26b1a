//! Permutation importance: array conversion around `treelens_core::importance`.

use crate::errors::CoreError;
use crate::forest::PyForest;
use crate::monitor::run_core;
use numpy::{IntoPyArray, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use treelens_core::importance::{
    baseline_scores, permutation_scores, ClassRule, Link, Metric, Permutations, Target, Task,
};

/// How margins become scores, as one mapping from Python (every key present; `None` where a
/// target part is absent): the task, the metrics, and the target.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct Scoring<'py> {
    kind: String,
    link: String,
    n_classes: usize,
    rule: String,
    auc_on_margin: bool,
    /// Classifiers: probabilities are `sigmoid(link_scale * margin)` (LightGBM's `sigmoid`).
    link_scale: f64,
    /// Classifiers: probabilities in float32, as XGBoost returns them.
    proba_f32: bool,
    metrics: Vec<String>,
    y_values: Option<PyReadonlyArray1<'py, f64>>,
    y_classes: Option<PyReadonlyArray1<'py, i64>>,
    weight: Option<PyReadonlyArray1<'py, f64>>,
}

impl Scoring<'_> {
    /// The core's task, metrics and target for `n_rows` rows.
    fn parse(&self, n_rows: usize) -> PyResult<(Task, Vec<Metric>, Target)> {
        let invalid = |msg: String| CoreError(treelens_core::Error::InvalidInput(msg));
        let link = Link::parse(&self.link).map_err(CoreError)?;
        let task = match self.kind.as_str() {
            "regression" => Task::Regression { link },
            "classification" => Task::Classification {
                n_classes: self.n_classes,
                link,
                rule: ClassRule::parse(&self.rule).map_err(CoreError)?,
                auc_on_margin: self.auc_on_margin,
                link_scale: self.link_scale,
                proba_f32: self.proba_f32,
            },
            other => {
                return Err(invalid(format!(
                    "unknown task {other:?} (accepted: regression, classification)"
                ))
                .into())
            }
        };
        let metrics = self
            .metrics
            .iter()
            .map(|m| Metric::parse(m))
            .collect::<treelens_core::Result<Vec<_>>>()
            .map_err(CoreError)?;
        let classes = match &self.y_classes {
            Some(c) => c
                .as_array()
                .iter()
                .map(|&v| {
                    usize::try_from(v).map_err(|_| invalid(format!("negative class index {v}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let target = Target {
            values: self
                .y_values
                .as_ref()
                .map_or_else(Vec::new, |v| v.as_array().iter().copied().collect()),
            classes,
            weight: self
                .weight
                .as_ref()
                .map(|w| w.as_array().iter().copied().collect()),
            n_rows,
        };
        Ok((task, metrics, target))
    }
}

/// Scores of the unpermuted model on `x`, one per metric.
#[pyfunction]
#[pyo3(signature = (forest, x, *, scoring, n_jobs=None, progress=None))]
pub fn importance_baseline<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    scoring: Scoring<'py>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Vec<f64>> {
    let x = x.as_array();
    let (task, metrics, target) = scoring.parse(x.nrows())?;
    let forest = &*forest.inner;
    run_core(py, n_jobs, progress, |threads, monitor| {
        baseline_scores(forest, x, &task, &metrics, &target, threads, monitor)
    })
}

/// Scores with each unit of columns permuted: shape (n_units, n_repeats, n_metrics).
#[pyfunction]
#[pyo3(signature = (forest, x, perms, units, *, scoring, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn importance_permuted<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    perms: PyReadonlyArray2<'py, u32>,
    units: Vec<Vec<usize>>,
    scoring: Scoring<'py>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Bound<'py, PyArray3<f64>>, Vec<f64>)> {
    let x = x.as_array();
    let perms = perms.as_array();
    let (task, metrics, target) = scoring.parse(x.nrows())?;
    let forest = &*forest.inner;
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        let p = Permutations {
            x,
            perms,
            units: &units,
        };
        permutation_scores(forest, &p, &task, &metrics, &target, threads, monitor)
    });
    let (scores, unpermuted) = result?;
    Ok((scores.into_pyarray(py), unpermuted))
}
