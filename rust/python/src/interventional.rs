//! Interventional (background-data) TreeSHAP: thin wrappers over `treelens_core::interventional`.

use crate::errors::CoreError;
use crate::forest::PyForest;
use crate::monitor::run_core;
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use treelens_core::interventional::{self, Transform};

/// Raw-margin interventional SHAP values `(n, p, k)`, or interactions `(n, p, p, k)`.
#[pyfunction]
#[pyo3(signature = (forest, x, background, weights=None, *, interactions=false, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn interventional_shap_values<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    background: PyReadonlyArray2<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    interactions: bool,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let (x, bg) = (x.as_array(), background.as_array());
    let w = weights.as_ref().map(|w| w.as_array());
    let f = &*forest.inner;
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        if interactions {
            interventional::interaction_values(f, x, bg, w, threads, monitor)
        } else {
            interventional::shap_values(f, x, bg, w, threads, monitor)
        }
    });
    Ok(result?.into_pyarray(py))
}

fn transform(name: &str, y: Option<Vec<f64>>, scale: f64) -> PyResult<Transform> {
    let need_y = || {
        y.clone().ok_or_else(|| {
            CoreError(treelens_core::Error::InvalidInput(format!(
                "the {name} transform needs labels"
            )))
        })
    };
    Ok(match name {
        "logistic" => Transform::Logistic { scale },
        "logistic_loss" => Transform::LogisticLoss {
            y: need_y()?,
            scale,
        },
        "neg_log_output" => {
            Transform::NegLogOutput(need_y()?.into_iter().map(|v| v as usize).collect())
        }
        other => {
            return Err(CoreError(treelens_core::Error::InvalidInput(format!(
                "unknown transform {other:?} (accepted: logistic, logistic_loss, neg_log_output)"
            )))
            .into())
        }
    })
}

/// Interventional SHAP values (or interactions) of a transformed output, shap's per-pair rescaling.
/// `transform`: "logistic", "logistic_loss" (y in {0, 1}) or "neg_log_output" (y = class index);
/// `scale`: the sigmoid's scale for the logistic transforms (`g` sees `scale * margin`).
#[pyfunction]
#[pyo3(signature = (forest, x, background, weights=None, *, transform, y=None, scale=1.0, interactions=false, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn interventional_transformed_values<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    background: PyReadonlyArray2<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    transform: &str,
    y: Option<PyReadonlyArray1<'py, f64>>,
    scale: f64,
    interactions: bool,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let t = self::transform(transform, y.map(|y| y.as_array().to_vec()), scale)?;
    let (x, bg) = (x.as_array(), background.as_array());
    let w = weights.as_ref().map(|w| w.as_array());
    let f = &*forest.inner;
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        interventional::transformed_values(f, x, bg, w, &t, interactions, threads, monitor)
    });
    Ok(result?.into_pyarray(py))
}
