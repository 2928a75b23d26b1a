//! Accumulated local effects: a thin wrapper over `treelens_core::ale`.

use crate::forest::PyForest;
use crate::monitor::run_core;
use numpy::{IntoPyArray, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use treelens_core::ale::{corner_sums, Binned};

/// Per row and corner of its bin (cell), the weighted leaf values summed over the trees whose
/// splits separate the bin's edges (and, with `reference`, the same trees at the row itself):
/// shape `(n, corners[+1], k)`.
#[pyfunction]
#[pyo3(signature = (forest, x, columns, edges, bins, *, reference=false, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn ale_corner_sums<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    columns: Vec<usize>,
    edges: Vec<PyReadonlyArray1<'py, f64>>,
    bins: Vec<PyReadonlyArray1<'py, i64>>,
    reference: bool,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    if columns.len() != edges.len() || columns.len() != bins.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "columns, edges and bins must have one entry per feature",
        ));
    }
    let x = x.as_array();
    let features: Vec<Binned> = columns
        .iter()
        .zip(&edges)
        .zip(&bins)
        .map(|((&column, e), b)| Binned {
            column,
            edges: e.as_array(),
            bins: b.as_array(),
        })
        .collect();
    let (n, k) = (x.nrows(), forest.inner.n_outputs());
    let width = (1usize << features.len().min(2)) + usize::from(reference);
    let f = &*forest.inner;
    let sums = run_core(py, n_jobs, progress, |threads, monitor| {
        corner_sums(f, x, &features, reference, threads, monitor)
    })?;
    Ok(ndarray::Array3::from_shape_vec((n, width, k), sums)
        .expect("the core sized it")
        .into_pyarray(py))
}
