//! `treelens._core`: the thin PyO3 layer over treelens-core.

mod errors;
mod forest;
mod importance;
mod monitor;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<forest::PyForest>()?;
    m.add_function(wrap_pyfunction!(importance::importance_baseline, m)?)?;
    m.add_function(wrap_pyfunction!(importance::importance_permuted, m)?)?;
    m.add(
        "available_threads",
        treelens_core::parallel::thread_count(None),
    )?;
    Ok(())
}
