//! `treelens._core.hstats` and `treelens._core.partial_dependence`.

use crate::forest::PyForest;
use crate::monitor::run_core;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use treelens_core::interaction::{
    hstats as core_hstats, partial_dependence as core_pd, HStats, HStatsOptions,
};

/// H statistics' numerators and denominators, as a dict of arrays (see treelens/hstats.py).
#[pyfunction]
#[pyo3(signature = (forest, x, w, features, *, pairwise_m, threeway_m, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn hstats<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    w: PyReadonlyArray1<'py, f64>,
    features: Vec<usize>,
    pairwise_m: usize,
    threeway_m: usize,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let x = x.as_array();
    let w = w.as_array().to_vec();
    let f = &*forest.inner;
    let options = HStatsOptions {
        features,
        pairwise_m,
        threeway_m,
    };
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        core_hstats(f, x, &w, &options, threads, monitor)
    });
    result_dict(py, result?, options.features.len())
}

/// Exact partial dependence: `(average (g, k), individual (n, g, k) or None)`.
#[pyfunction]
#[pyo3(signature = (forest, x, w, features, grid, *, individual=false, n_jobs=None, progress=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn partial_dependence<'py>(
    py: Python<'py>,
    forest: &PyForest,
    x: PyReadonlyArray2<'py, f64>,
    w: PyReadonlyArray1<'py, f64>,
    features: Vec<usize>,
    grid: PyReadonlyArray2<'py, f64>,
    individual: bool,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Bound<'py, PyArray2<f64>>, Option<Bound<'py, PyArray3<f64>>>)> {
    let x = x.as_array();
    let grid = grid.as_array();
    let w = w.as_array().to_vec();
    let f = &*forest.inner;
    let result = run_core(py, n_jobs, progress, |threads, monitor| {
        core_pd(f, x, &w, &features, grid, individual, threads, monitor)
    });
    let (avg, ice) = result?;
    Ok((avg.into_pyarray(py), ice.map(|a| a.into_pyarray(py))))
}

/// The statistics as the dict `treelens/hstats.py` reads.
pub fn result_dict(py: Python<'_>, r: HStats, q: usize) -> PyResult<Bound<'_, PyDict>> {
    let k = r.n_outputs;
    let out = PyDict::new(py);
    out.set_item("f_denominator", PyArray1::from_vec(py, r.f_denominator))?;
    out.set_item(
        "global_numerator",
        PyArray1::from_vec(py, r.global_numerator),
    )?;
    out.set_item(
        "overall_numerator",
        PyArray1::from_vec(py, r.overall_numerator).reshape([q, k])?,
    )?;
    out.set_item("pairwise_features", r.pairwise_features)?;
    out.set_item("threeway_features", r.threeway_features)?;
    let np = r.pairs.len();
    let mut idx = Vec::with_capacity(np * 2);
    let mut num = Vec::with_capacity(np * k);
    let mut den = Vec::with_capacity(np * k);
    for (a, b, nu, de) in r.pairs {
        idx.push(a as i64);
        idx.push(b as i64);
        num.extend(nu);
        den.extend(de);
    }
    out.set_item("pair_index", PyArray1::from_vec(py, idx).reshape([np, 2])?)?;
    out.set_item(
        "pair_numerator",
        PyArray1::from_vec(py, num).reshape([np, k])?,
    )?;
    out.set_item(
        "pair_denominator",
        PyArray1::from_vec(py, den).reshape([np, k])?,
    )?;
    let nt = r.triples.len();
    let mut idx = Vec::with_capacity(nt * 3);
    let mut num = Vec::with_capacity(nt * k);
    let mut den = Vec::with_capacity(nt * k);
    for (key, nu, de) in r.triples {
        idx.extend(key.iter().map(|&v| v as i64));
        num.extend(nu);
        den.extend(de);
    }
    out.set_item(
        "triple_index",
        PyArray1::from_vec(py, idx).reshape([nt, 3])?,
    )?;
    out.set_item(
        "triple_numerator",
        PyArray1::from_vec(py, num).reshape([nt, k])?,
    )?;
    out.set_item(
        "triple_denominator",
        PyArray1::from_vec(py, den).reshape([nt, k])?,
    )?;
    Ok(out)
}
