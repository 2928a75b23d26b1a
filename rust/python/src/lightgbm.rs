//! `treelens._core.lightgbm_forest`: LightGBM model text read by the core, GIL released.

use crate::errors::CoreError;
use crate::forest::PyForest;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

/// Reads LightGBM model text into a forest. Returns the forest and a dict with the header's
/// `key=value` pairs (`header`), the unparsed `pandas_categorical` JSON (or None) and `n_trees`.
#[pyfunction]
#[pyo3(signature = (text, *, supported_objectives))]
pub fn lightgbm_forest<'py>(
    py: Python<'py>,
    text: &str,
    supported_objectives: Vec<String>,
) -> PyResult<(PyForest, Bound<'py, PyDict>)> {
    let objectives: Vec<&str> = supported_objectives.iter().map(String::as_str).collect();
    let model = py
        .detach(|| {
            treelens_core::error::guarded(|| {
                treelens_core::formats::lightgbm::parse(text, &objectives)
            })
        })
        .map_err(CoreError)?;
    let header = PyDict::new(py);
    for (k, v) in &model.header {
        header.set_item(k, v)?;
    }
    let meta = PyDict::new(py);
    meta.set_item("header", header)?;
    meta.set_item("pandas_categorical", model.pandas_categorical)?;
    meta.set_item("n_trees", model.n_trees)?;
    Ok((
        PyForest {
            inner: Arc::new(model.forest),
        },
        meta,
    ))
}
