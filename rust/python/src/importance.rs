//! Permutation importance: array conversion around `treelens_core::importance`.

use crate::errors::CoreError;
use crate::forest::PyForest;
use crate::monitor::run_core;
use numpy::{IntoPyArray, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use treelens_core::importance::{
    baseline_scores, permutation_scores, ClassRule, Link, Metric, Permutations, Target, Task,
};

#[allow(clippy::too_many_arguments)]
fn task_and_target(
    kind: &str,
    link: &str,
    n_classes: usize,
    rule: &str,
    auc_on_margin: bool,
    link_scale: f64,
    proba_f32: bool,
    metrics: &[String],
    y_values: Option<PyReadonlyArray1<f64>>,
    y_classes: Option<PyReadonlyArray1<i64>>,
    weight: Option<PyReadonlyArray1<f64>>,
    n_rows: usize,
) -> PyResult<(Task, Vec<Metric>, Target)> {
    let link = Link::parse(link).map_err(CoreError)?;
    let task = match kind {
        "regression" => Task::Regression { link },
        "classification" => Task::Classification {
            n_classes,
            link,
            rule: ClassRule::parse(rule).map_err(CoreError)?,
            auc_on_margin,
            link_scale,
            proba_f32,
        },
        other => {
            return Err(CoreError(treelens_core::Error::InvalidInput(format!(
                "unknown task {other:?} (accepted: regression, classification)"
            )))
            .into())
        }
    };
    let metrics = metrics
        .iter()
        .map(|m| Metric::parse(m))
        .collect::<treelens_core::Result<Vec<_>>>()
        .map_err(CoreError)?;
    let classes = match y_classes {
        Some(c) => c
            .as_array()
            .iter()
            .map(|&v| {
                usize::try_from(v).map_err(|_| {
                    CoreError(treelens_core::Error::InvalidInput(format!(
                        "negative class index {v}"
                    )))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let target = Target {
        values: y_values.map_or_else(Vec::new, |v| v.as_array().iter().copied().collect()),
        classes,
        weight: weight.map(|w| w.as_array().iter().copied().collect()),
        n_rows,
    };
    Ok((task, metrics, target))
}

/// Scores of the unpermuted model on `x`, one per metric.
#[pyfunction]
#[pyo3(signature = (forest, x, *, kind, link, n_classes, rule, auc_on_margin, metrics,
    link_scale=1.0, proba_f32=false, y_values=None, y_classes=None, weight=None, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn importance_baseline<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    kind: &str,
    link: &str,
    n_classes: usize,
    rule: &str,
    auc_on_margin: bool,
    metrics: Vec<String>,
    link_scale: f64,
    proba_f32: bool,
    y_values: Option<PyReadonlyArray1<'py, f64>>,
    y_classes: Option<PyReadonlyArray1<'py, i64>>,
    weight: Option<PyReadonlyArray1<'py, f64>>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Vec<f64>> {
    let x = x.as_array();
    let (task, metrics, target) = task_and_target(
        kind,
        link,
        n_classes,
        rule,
        auc_on_margin,
        link_scale,
        proba_f32,
        &metrics,
        y_values,
        y_classes,
        weight,
        x.nrows(),
    )?;
    let forest = &*forest.inner;
    run_core(py, n_jobs, progress, |threads, monitor| {
        baseline_scores(forest, x, &task, &metrics, &target, threads, monitor)
    })
}

/// Scores with each unit of columns permuted: shape (n_units, n_repeats, n_metrics).
#[pyfunction]
#[pyo3(signature = (forest, x, perms, units, *, kind, link, n_classes, rule, auc_on_margin,
    metrics, link_scale=1.0, proba_f32=false, y_values=None, y_classes=None, weight=None, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn importance_permuted<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    perms: PyReadonlyArray2<'py, u32>,
    units: Vec<Vec<usize>>,
    kind: &str,
    link: &str,
    n_classes: usize,
    rule: &str,
    auc_on_margin: bool,
    metrics: Vec<String>,
    link_scale: f64,
    proba_f32: bool,
    y_values: Option<PyReadonlyArray1<'py, f64>>,
    y_classes: Option<PyReadonlyArray1<'py, i64>>,
    weight: Option<PyReadonlyArray1<'py, f64>>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Bound<'py, PyArray3<f64>>, Vec<f64>)> {
    let x = x.as_array();
    let perms = perms.as_array();
    let (task, metrics, target) = task_and_target(
        kind,
        link,
        n_classes,
        rule,
        auc_on_margin,
        link_scale,
        proba_f32,
        &metrics,
        y_values,
        y_classes,
        weight,
        x.nrows(),
    )?;
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
