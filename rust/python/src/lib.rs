//! `treelens._core`: the thin PyO3 layer over treelens-core.

mod ale;
mod budget;
mod decompose;
mod errors;
mod forest;
mod hstats;
mod hstats_plan;
mod importance;
mod interventional;
mod lightgbm;
mod monitor;
mod shap;
mod xgboost;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // TREELENS_SIMD is read once, here: a value that names no kernel, or one this CPU cannot
    // run, stops the import with what is accepted rather than being ignored.
    let kernel = treelens_core::simd::choice().map_err(pyo3::exceptions::PyValueError::new_err)?;
    // The version is defined once, in the Cargo workspace; the wheel's metadata reads it too.
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("simd_kernel", kernel.name())?;
    let supported: Vec<&str> = treelens_core::simd::supported()
        .iter()
        .map(|k| k.name())
        .collect();
    m.add("simd_kernels", supported)?;
    m.add_class::<forest::PyForest>()?;
    m.add_function(wrap_pyfunction!(ale::ale_corner_sums, m)?)?;
    m.add_function(wrap_pyfunction!(budget::memory_budget, m)?)?;
    m.add_function(wrap_pyfunction!(budget::ensure_fits, m)?)?;
    m.add_function(wrap_pyfunction!(decompose::decompose, m)?)?;
    m.add_function(wrap_pyfunction!(hstats::hstats, m)?)?;
    m.add_function(wrap_pyfunction!(hstats::partial_dependence, m)?)?;
    m.add_function(wrap_pyfunction!(hstats_plan::hstats_plan, m)?)?;
    m.add_function(wrap_pyfunction!(hstats_plan::hstats_stage, m)?)?;
    m.add_function(wrap_pyfunction!(hstats_plan::hstats_partial, m)?)?;
    m.add_function(wrap_pyfunction!(hstats_plan::hstats_merge, m)?)?;
    m.add_function(wrap_pyfunction!(hstats_plan::hstats_advance, m)?)?;
    m.add_function(wrap_pyfunction!(hstats_plan::hstats_result, m)?)?;
    m.add_function(wrap_pyfunction!(
        interventional::interventional_shap_values,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        interventional::interventional_transformed_values,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(importance::importance_baseline, m)?)?;
    m.add_function(wrap_pyfunction!(lightgbm::lightgbm_forest, m)?)?;
    m.add_function(wrap_pyfunction!(importance::importance_permuted, m)?)?;
    m.add_function(wrap_pyfunction!(shap::path_expected_value, m)?)?;
    m.add_function(wrap_pyfunction!(shap::path_shap_values, m)?)?;
    m.add_function(wrap_pyfunction!(shap::saabas_values, m)?)?;
    m.add_function(wrap_pyfunction!(shap::path_shap_interaction_values, m)?)?;
    m.add_function(wrap_pyfunction!(shap::path_shap_interaction_summary, m)?)?;
    m.add_function(wrap_pyfunction!(shap::path_data_covers, m)?)?;
    m.add_function(wrap_pyfunction!(xgboost::read_xgboost_model, m)?)?;
    m.add_function(wrap_pyfunction!(xgboost::read_xgboost_dump, m)?)?;
    m.add("max_threads", treelens_core::parallel::max_threads())?;
    m.add(
        "available_threads",
        treelens_core::parallel::thread_count(None),
    )?;
    Ok(())
}
