//! Path-dependent TreeSHAP: SHAP values, interaction values and their summaries over rows.

use crate::errors::CoreError;
use crate::forest::PyForest;
use crate::monitor::run_core;
use numpy::{IntoPyArray, PyArray1, PyArray3, PyArray4, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use treelens_core::shap::{self, Reduce};
use treelens_core::Error;

/// Expected value per output under the path-dependent game (no feature known).
#[pyfunction]
pub fn path_expected_value(forest: &PyForest) -> PyResult<Vec<f64>> {
    Ok(shap::expected_value(&forest.inner).map_err(CoreError)?)
}

/// Node covers measured on `data` (weighted row counts reaching each node), shape (n_nodes,).
#[pyfunction]
#[pyo3(signature = (forest, data, weights=None))]
pub fn path_data_covers<'py>(
    py: Python<'py>,
    forest: &PyForest,
    data: PyReadonlyArray2<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let data = data.as_array();
    let w = weights.as_ref().map(|w| w.as_array().to_vec());
    let forest = &*forest.inner;
    let covers = run_core(py, None, None, |threads, monitor| {
        shap::data_covers(forest, data, w.as_deref(), threads, monitor)
    })?;
    Ok(covers.into_pyarray(py))
}

/// SHAP values, shape (n_rows, n_features, n_outputs).
#[pyfunction]
#[pyo3(signature = (forest, x, *, n_jobs=None, progress=None, max_bytes=None))]
pub fn path_shap_values<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
    max_bytes: Option<u64>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let x = x.as_array();
    let forest = &*forest.inner;
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        shap::shap_values(forest, x, threads, monitor, max_bytes)
    });
    Ok(result?.into_pyarray(py))
}

/// SHAP interaction values, shape (n_rows, n_features, n_features, n_outputs).
#[pyfunction]
#[pyo3(signature = (forest, x, *, n_jobs=None, progress=None, max_bytes=None))]
pub fn path_shap_interaction_values<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
    max_bytes: Option<u64>,
) -> PyResult<Bound<'py, PyArray4<f64>>> {
    let x = x.as_array();
    let forest = &*forest.inner;
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        shap::shap_interaction_values(forest, x, threads, monitor, max_bytes)
    });
    Ok(result?.into_pyarray(py))
}

/// Interaction values reduced over rows ("mean_abs" or "mean"), shape (p, p, n_outputs).
#[pyfunction]
#[pyo3(signature = (forest, x, reduce, *, n_jobs=None, progress=None))]
pub fn path_shap_interaction_summary<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    reduce: &str,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let reduce = match reduce {
        "mean_abs" => Reduce::MeanAbs,
        "mean" => Reduce::Mean,
        other => {
            return Err(CoreError(Error::InvalidInput(format!(
                "reduce={other:?} is not supported; use \"mean_abs\", \"mean\" or None"
            )))
            .into())
        }
    };
    let x = x.as_array();
    let forest = &*forest.inner;
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        shap::shap_interaction_summary(forest, x, reduce, threads, monitor)
    });
    Ok(result?.into_pyarray(py))
}

/// Saabas values (shap's `approximate=True`), shape (n_rows, n_features, n_outputs).
#[pyfunction]
#[pyo3(signature = (forest, x, *, n_jobs=None, progress=None))]
pub fn saabas_values<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let x = x.as_array();
    let forest = &*forest.inner;
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        shap::saabas::saabas_values(forest, x, threads, monitor)
    });
    Ok(result?.into_pyarray(py))
}
