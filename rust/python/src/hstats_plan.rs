//! `treelens._core.hstats_*`: H statistics over partitions (see treelens/hstats_partitioned.py).
//!
//! Plans and partials travel as bytes, so that Dask and Spark pickle them as they are.

use crate::errors::CoreError;
use crate::forest::PyForest;
use crate::hstats::result_dict;
use crate::monitor::run_core;
use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use treelens_core::interaction::plan_codec::{
    decode_partial, decode_plan, encode_partial, encode_plan,
};
use treelens_core::interaction::{merge_partials, HStatsOptions, Plan};

fn plan_of(bytes: &[u8]) -> PyResult<Plan> {
    decode_plan(bytes).map_err(|e| CoreError(e).into())
}

/// A new plan, as bytes.
#[pyfunction]
#[pyo3(signature = (forest, features, *, pairwise_m, threeway_m))]
pub fn hstats_plan<'py>(
    py: Python<'py>,
    forest: &PyForest,
    features: Vec<usize>,
    pairwise_m: usize,
    threeway_m: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let options = HStatsOptions {
        features,
        pairwise_m,
        threeway_m,
    };
    let plan = Plan::new(&forest.inner, options).map_err(CoreError)?;
    Ok(PyBytes::new(py, &encode_plan(&plan)))
}

/// `(next stage's index, its name or None when complete)`.
#[pyfunction]
pub fn hstats_stage(plan: &[u8]) -> PyResult<(usize, Option<&'static str>)> {
    let plan = plan_of(plan)?;
    let name = treelens_core::interaction::partitioned::STAGES
        .get(plan.stage)
        .copied();
    Ok((plan.stage, name))
}

/// One partition's part of the plan's next stage, as bytes.
#[pyfunction]
#[pyo3(signature = (forest, plan, x, w, *, n_jobs=None))]
pub fn hstats_partial<'py>(
    py: Python<'py>,
    forest: &PyForest,
    plan: &[u8],
    x: PyReadonlyArray2<'py, f64>,
    w: PyReadonlyArray1<'py, f64>,
    n_jobs: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let x = x.as_array();
    let w = w.as_array().to_vec();
    let f = &*forest.inner;
    let bytes = run_core(py, n_jobs, None, |threads, monitor| {
        let plan = decode_plan(plan)?;
        let part = plan.partial(f, x, &w, threads, monitor)?;
        Ok(encode_partial(&part))
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// Two partials of the same stage as one, as bytes.
#[pyfunction]
pub fn hstats_merge<'py>(py: Python<'py>, a: &[u8], b: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = run_core(py, Some(1), None, |_, _| {
        let merged = merge_partials(decode_partial(a)?, decode_partial(b)?)?;
        Ok(encode_partial(&merged))
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// The plan advanced by the merged partial of all partitions, as bytes.
#[pyfunction]
pub fn hstats_advance<'py>(
    py: Python<'py>,
    forest: &PyForest,
    plan: &[u8],
    total: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let f = &*forest.inner;
    let bytes = run_core(py, Some(1), None, |_, _| {
        let plan = decode_plan(plan)?.advance(f, decode_partial(total)?)?;
        Ok(encode_plan(&plan))
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// The statistics of a complete plan, as the dict `treelens._core.hstats` returns.
#[pyfunction]
pub fn hstats_result<'py>(
    py: Python<'py>,
    forest: &PyForest,
    plan: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    let plan = plan_of(plan)?;
    let q = plan.options.features.len();
    let result = plan.result(&forest.inner).map_err(CoreError)?;
    result_dict(py, result, q)
}
