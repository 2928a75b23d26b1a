//! `treelens._core.Forest`: the core forest behind a Python handle.

use crate::errors::CoreError;
use crate::monitor::run_core;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;
use treelens_core::{Forest, ForestParts};

#[pyclass(name = "Forest", module = "treelens._core", frozen)]
pub struct PyForest {
    pub inner: Arc<Forest>,
}

fn vec<T: numpy::Element + Copy>(a: PyReadonlyArray1<T>) -> Vec<T> {
    a.as_array().iter().copied().collect()
}

#[pymethods]
impl PyForest {
    #[new]
    #[pyo3(signature = (*, n_features, n_outputs, base_score, average, less_equal, f32_inputs,
        tree_start, tree_output, feature, threshold, left, right, default_left, missing, cover,
        values, category_set, category_offsets, category_words, category_members_left,
        category_truncate_first))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        n_features: usize,
        n_outputs: usize,
        base_score: PyReadonlyArray1<f64>,
        average: bool,
        less_equal: bool,
        f32_inputs: bool,
        tree_start: PyReadonlyArray1<i64>,
        tree_output: PyReadonlyArray1<i64>,
        feature: PyReadonlyArray1<i64>,
        threshold: PyReadonlyArray1<f64>,
        left: PyReadonlyArray1<i64>,
        right: PyReadonlyArray1<i64>,
        default_left: PyReadonlyArray1<bool>,
        missing: PyReadonlyArray1<u8>,
        cover: PyReadonlyArray1<f64>,
        values: PyReadonlyArray1<f64>,
        category_set: PyReadonlyArray1<i64>,
        category_offsets: PyReadonlyArray1<i64>,
        category_words: PyReadonlyArray1<u32>,
        category_members_left: PyReadonlyArray1<bool>,
        category_truncate_first: bool,
    ) -> PyResult<Self> {
        let to_usize = |a: PyReadonlyArray1<i64>, name: &str| -> PyResult<Vec<usize>> {
            a.as_array()
                .iter()
                .map(|&v| {
                    usize::try_from(v).map_err(|_| {
                        CoreError(treelens_core::Error::InvalidModel(format!(
                            "{name} holds the negative value {v}"
                        )))
                        .into()
                    })
                })
                .collect()
        };
        let parts = ForestParts {
            n_features,
            n_outputs,
            base_score: vec(base_score),
            average,
            less_equal,
            f32_inputs,
            tree_start: to_usize(tree_start, "tree_start")?,
            tree_output: vec(tree_output),
            feature: vec(feature),
            threshold: vec(threshold),
            left: vec(left),
            right: vec(right),
            default_left: vec(default_left),
            missing: vec(missing),
            cover: vec(cover),
            values: vec(values),
            category_set: vec(category_set),
            category_offsets: to_usize(category_offsets, "category_offsets")?,
            category_words: vec(category_words),
            category_members_left: vec(category_members_left),
            category_truncate_first,
        };
        let forest = Forest::new(parts).map_err(CoreError)?;
        Ok(PyForest {
            inner: Arc::new(forest),
        })
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.inner.n_features()
    }
    #[getter]
    fn n_outputs(&self) -> usize {
        self.inner.n_outputs()
    }
    #[getter]
    fn n_trees(&self) -> usize {
        self.inner.n_trees()
    }
    #[getter]
    fn n_nodes(&self) -> usize {
        self.inner.n_nodes()
    }
    #[getter]
    fn max_depth(&self) -> usize {
        self.inner.max_depth()
    }
    #[getter]
    fn base_score(&self) -> Vec<f64> {
        self.inner.base_score().to_vec()
    }

    /// The forest of the first `n` trees (averaged forests average over those), for shap's
    /// `tree_limit`.
    fn first_trees(&self, n: usize) -> PyResult<Self> {
        let forest = self.inner.first_trees(n).map_err(CoreError)?;
        Ok(PyForest {
            inner: Arc::new(forest),
        })
    }

    /// The output each tree feeds (-1: its leaves hold a value per output), shape (n_trees,).
    #[getter]
    fn tree_output<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let f = &self.inner;
        let out: Vec<i64> = (0..f.n_trees())
            .map(|t| f.tree_output(t).map_or(-1, |o| o as i64))
            .collect();
        PyArray1::from_vec(py, out)
    }

    /// Pickling: the forest is rebuilt, and checked again, from the parts it was made of.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyDict>,))> {
        let p = self.inner.parts();
        let as_i64 = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<i64>>();
        let d = PyDict::new(py);
        d.set_item("n_features", p.n_features)?;
        d.set_item("n_outputs", p.n_outputs)?;
        d.set_item("base_score", PyArray1::from_vec(py, p.base_score))?;
        d.set_item("average", p.average)?;
        d.set_item("less_equal", p.less_equal)?;
        d.set_item("f32_inputs", p.f32_inputs)?;
        d.set_item("tree_start", PyArray1::from_vec(py, as_i64(&p.tree_start)))?;
        d.set_item("tree_output", PyArray1::from_vec(py, p.tree_output))?;
        d.set_item("feature", PyArray1::from_vec(py, p.feature))?;
        d.set_item("threshold", PyArray1::from_vec(py, p.threshold))?;
        d.set_item("left", PyArray1::from_vec(py, p.left))?;
        d.set_item("right", PyArray1::from_vec(py, p.right))?;
        d.set_item("default_left", PyArray1::from_vec(py, p.default_left))?;
        d.set_item("missing", PyArray1::from_vec(py, p.missing))?;
        d.set_item("cover", PyArray1::from_vec(py, p.cover))?;
        d.set_item("values", PyArray1::from_vec(py, p.values))?;
        d.set_item("category_set", PyArray1::from_vec(py, p.category_set))?;
        d.set_item(
            "category_offsets",
            PyArray1::from_vec(py, as_i64(&p.category_offsets)),
        )?;
        d.set_item("category_words", PyArray1::from_vec(py, p.category_words))?;
        d.set_item(
            "category_members_left",
            PyArray1::from_vec(py, p.category_members_left),
        )?;
        d.set_item("category_truncate_first", p.category_truncate_first)?;
        let restore = py.get_type::<PyForest>().getattr("_restore")?;
        Ok((restore, (d,)))
    }

    /// Rebuilds a pickled forest from its parts (see `__reduce__`).
    #[staticmethod]
    fn _restore<'py>(state: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
        state.py().get_type::<PyForest>().call((), Some(state))
    }

    /// Raw margin, shape (n_rows, n_outputs).
    #[pyo3(signature = (x, *, n_jobs=None, progress=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        n_jobs: Option<i64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = x.as_array();
        let forest = &*self.inner;
        let result = run_core(py, n_jobs, progress, |threads, monitor| {
            treelens_core::predict::predict(forest, x, threads, monitor)
        });
        Ok(result?.into_pyarray(py))
    }
}
