//! `treelens._core`: the thin PyO3 layer over treelens-core.

mod errors;
mod forest;
mod monitor;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<forest::PyForest>()?;
    m.add(
        "available_threads",
        treelens_core::parallel::thread_count(None),
    )?;
    Ok(())
}
