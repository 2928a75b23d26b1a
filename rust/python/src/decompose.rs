//! The functional decomposition: a thin wrapper over `treelens_core::decompose`.

use crate::forest::PyForest;
use crate::monitor::run_core;
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use treelens_core::decompose::decompose as decompose_core;

type Components<'py> = (
    Bound<'py, PyArrayDyn<f64>>,
    Bound<'py, PyArrayDyn<f64>>,
    Option<Bound<'py, PyArrayDyn<f64>>>,
    Vec<Vec<u32>>,
    Bound<'py, PyArrayDyn<f64>>,
);

fn array<'py>(py: Python<'py>, v: Vec<f64>, shape: &[usize]) -> Bound<'py, PyArrayDyn<f64>> {
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v)
        .expect("the core sized it")
        .into_pyarray(py)
}

/// `(intercept (k,), main (n, p, k), pairwise (n, p, p, k) or None, sets, higher (n, sets, k))`
/// of the raw margin's decomposition against the background up to `max_order` (None: all).
#[pyfunction]
#[pyo3(signature = (forest, x, background, weights=None, *, max_order=None, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn decompose<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    background: PyReadonlyArray2<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    max_order: Option<usize>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Components<'py>> {
    let (x, bg) = (x.as_array(), background.as_array());
    let w = weights.as_ref().map(|w| w.as_array());
    let f = &*forest.inner;
    let d = run_core(py, n_jobs, progress, |threads, monitor| {
        decompose_core(f, x, bg, w, max_order, threads, monitor)
    })?;
    let (n, p, k, s) = (d.n_rows, d.n_features, d.n_outputs, d.sets.len());
    let pairwise = if max_order.is_none_or(|m| m >= 2) {
        Some(array(py, d.pairwise, &[n, p, p, k]))
    } else {
        None
    };
    Ok((
        array(py, d.intercept, &[k]),
        array(py, d.main, &[n, p, k]),
        pairwise,
        d.sets,
        array(py, d.higher, &[n, s, k]),
    ))
}
