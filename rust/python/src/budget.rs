//! `treelens._core.memory_budget` and `treelens._core.ensure_fits`: the core's one memory budget,
//! for the checks the Python layer makes before it converts or allocates anything large.

use crate::errors::CoreError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use treelens_core::memory;

/// The bytes this process may still allocate: a dict with `bytes` (None when nothing is
/// known), `source` (where the smallest bound comes from) and `bounds`, every bound known as
/// `(source, bytes)` pairs.
#[pyfunction]
pub fn memory_budget(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let bounds = memory::bounds();
    let smallest = bounds.iter().min_by_key(|b| b.bytes);
    let out = PyDict::new(py);
    out.set_item("bytes", smallest.map(|b| b.bytes))?;
    out.set_item("source", smallest.map(|b| b.source.clone()))?;
    let all: Vec<(String, u64)> = bounds.into_iter().map(|b| (b.source, b.bytes)).collect();
    out.set_item("bounds", all)?;
    Ok(out)
}

/// Raises `OutputTooLargeError` when `needed_bytes` exceed the budget (or `max_bytes`), with
/// the sizes, the budget's source and `way_out`.
#[pyfunction]
#[pyo3(signature = (what, needed_bytes, way_out, *, max_bytes=None))]
pub fn ensure_fits(
    what: &str,
    needed_bytes: u64,
    way_out: &str,
    max_bytes: Option<u64>,
) -> PyResult<()> {
    Ok(memory::ensure_fits_within(what, needed_bytes, way_out, max_bytes).map_err(CoreError)?)
}
