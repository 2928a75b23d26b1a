//! `treelens._core.read_xgboost_model` / `read_xgboost_dump`: XGBoost's saved model bytes and
//! JSON dumps straight into a forest.

use crate::errors::CoreError;
use crate::forest::PyForest;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::sync::Arc;
use treelens_core::formats::xgboost::{read, BaseTransform, Encoding, Options};
use treelens_core::formats::xgboost_dump::{read_dump, DumpOptions, DumpSource};
use treelens_core::Forest;

/// Reads a model saved by `save_model` / `save_raw` (UBJSON, or JSON when `json`); returns the
/// forest and what the Python model needs. `data` is `bytes`, or a contiguous uint8 array
/// (`save_raw`'s bytearray seen through `numpy.frombuffer`, read where it is rather than
/// copied into `bytes` first) that nothing modifies during the call. `base_margin(objective, base)` maps the base score
/// (output space, one per output) to the margin: numpy's logs, so every path agrees bitwise.
#[pyfunction]
#[pyo3(signature = (data, *, json, iteration_range, feature_names, objectives, base_margin))]
#[allow(clippy::too_many_arguments)]
pub fn read_xgboost_model<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    json: bool,
    iteration_range: Option<(i64, i64)>,
    feature_names: Option<Vec<String>>,
    objectives: Vec<(String, String)>,
    base_margin: Bound<'py, PyAny>,
) -> PyResult<(PyForest, Bound<'py, PyDict>)> {
    let objectives = objectives
        .into_iter()
        .map(|(name, kind)| {
            let t = match kind.as_str() {
                "logit" => BaseTransform::Logit,
                "log" => BaseTransform::Log,
                _ => BaseTransform::Identity,
            };
            (name, t)
        })
        .collect();
    let opts = Options {
        iteration_range,
        feature_names,
        objectives,
    };
    // The buffer protocol is not in the stable ABI before 3.11: other buffers come as a
    // one-dimensional uint8 array (numpy.frombuffer, no copy).
    let array;
    let bytes: &[u8] = match data.cast::<PyBytes>() {
        Ok(b) => b.as_bytes(),
        Err(_) => {
            array = data.extract::<PyReadonlyArray1<u8>>().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(
                    "read_xgboost_model takes bytes or a one-dimensional uint8 array",
                )
            })?;
            array.as_slice().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(
                    "read_xgboost_model takes bytes or a contiguous uint8 array",
                )
            })?
        }
    };
    let encoding = if json {
        Encoding::Json
    } else {
        Encoding::Ubjson
    };
    let doc = py
        .detach(|| treelens_core::error::guarded(|| read(bytes, encoding, &opts)))
        .map_err(CoreError)?;
    let mut parts = doc.parts;
    let raw = PyArray1::from_vec(py, std::mem::take(&mut parts.base_score));
    let margin: PyReadonlyArray1<f64> = base_margin
        .call1((doc.objective.as_str(), raw))?
        .extract()?;
    parts.base_score = margin.as_array().to_vec();
    let forest = py
        .detach(|| treelens_core::error::guarded(|| Forest::new(parts)))
        .map_err(CoreError)?;
    let meta = PyDict::new(py);
    meta.set_item("objective", &doc.objective)?;
    meta.set_item("num_class", doc.num_class)?;
    meta.set_item("feature_names", doc.feature_names)?;
    meta.set_item("feature_types", doc.feature_types)?;
    meta.set_item("trees_per_round", doc.trees_per_round)?;
    let encodings = PyList::empty(py);
    for enc in doc.category_encodings {
        match enc {
            None => encodings.append(py.None())?,
            Some((values, offsets)) => encodings.append((
                PyArray1::from_vec(py, values),
                offsets.map(|o| PyArray1::from_vec(py, o)),
            ))?,
        }
    }
    meta.set_item("category_encodings", encodings)?;
    Ok((
        PyForest {
            inner: Arc::new(forest),
        },
        meta,
    ))
}

/// Reads an XGBoost JSON dump: a file's `text`, or `trees` (each tree's JSON text, None for an
/// item that is no text), straight into a forest. `base_margin(n_outputs)` gives the base score
/// in margin space (the caller parses and checks it after the trees, as before).
#[pyfunction]
#[pyo3(signature = (*, text, trees, n_outputs, n_features, feature_names, tree_weights, base_margin))]
#[allow(clippy::too_many_arguments)]
pub fn read_xgboost_dump<'py>(
    py: Python<'py>,
    text: Option<String>,
    trees: Option<Vec<Option<String>>>,
    n_outputs: i64,
    n_features: Option<i64>,
    feature_names: Option<Vec<Option<String>>>,
    tree_weights: Option<(Vec<f64>, String)>,
    base_margin: Bound<'py, PyAny>,
) -> PyResult<PyForest> {
    let source = match (text, trees) {
        (Some(text), None) => DumpSource::Text(text),
        (None, Some(trees)) => DumpSource::Trees(trees),
        _ => {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "read_xgboost_dump takes text or trees",
            ))
        }
    };
    let opts = DumpOptions {
        n_outputs,
        n_features,
        feature_names,
        tree_weights,
    };
    let mut parts = py
        .detach(|| treelens_core::error::guarded(|| read_dump(&source, &opts)))
        .map_err(CoreError)?;
    drop(source);
    let margin: PyReadonlyArray1<f64> = base_margin.call1((parts.n_outputs,))?.extract()?;
    parts.base_score = margin.as_array().to_vec();
    let forest = py
        .detach(|| treelens_core::error::guarded(|| Forest::new(parts)))
        .map_err(CoreError)?;
    Ok(PyForest {
        inner: Arc::new(forest),
    })
}
