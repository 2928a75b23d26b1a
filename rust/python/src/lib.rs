//! `treelens._core`: the thin PyO3 layer over treelens-core.

mod errors;
mod forest;
mod monitor;
mod shap;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<forest::PyForest>()?;
    m.add_function(wrap_pyfunction!(shap::path_expected_value, m)?)?;
    m.add_function(wrap_pyfunction!(shap::path_shap_values, m)?)?;
    m.add_function(wrap_pyfunction!(shap::path_shap_interaction_values, m)?)?;
    m.add_function(wrap_pyfunction!(shap::path_shap_interaction_summary, m)?)?;
    m.add(
        "available_threads",
        treelens_core::parallel::thread_count(None),
    )?;
    Ok(())
}
