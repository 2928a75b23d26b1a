"""Sparse inputs (scipy sparse matrices and arrays, xgboost.DMatrix) read as each model's own
library reads them: an absent entry is missing for XGBoost (as ``DMatrix(csr)``), 0 for
scikit-learn and LightGBM (their predict on a sparse matrix equals predict on ``toarray()``); a
stored entry is its value (a stored 0 is 0, also for XGBoost). Checked against each library's
own prediction on the same sparse input, and against XGBoost's own SHAP (pred_contribs)."""

from __future__ import annotations

import sys
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import GradientBoostingRegressor, IsolationForest, RandomForestRegressor

import treelens as tl
from treelens.exceptions import InvalidInputError

from _limited_child import run_child

FORMATS = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array, sp.coo_array]
#: XGBoost sums its leaves in float32: its own predictions and contributions are float32-sized.
XGB_TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(240, 5))
    X[rng.random(X.shape) < 0.45] = 0.0
    y = (X[:, 0] > 0) * 2.0 + X[:, 1] - 0.5 * (X[:, 2] == 0)
    return X, y


@pytest.fixture(scope="module")
def booster(data):
    """Trained with the zeros as missing values, so reading an absent entry as 0 would take
    other branches than XGBoost takes."""
    X, y = data
    dense_nan = np.where(X == 0, np.nan, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xgb.train(
            {"max_depth": 4, "eta": 0.5, "nthread": 1},
            xgb.DMatrix(dense_nan, label=y),
            num_boost_round=6,
        )


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.__name__)
def test_xgboost_reads_absent_entries_as_missing(data, booster, fmt):
    X, _ = data
    S = fmt(X)
    own = booster.predict(xgb.DMatrix(S), output_margin=True)
    contribs = booster.predict(xgb.DMatrix(S), pred_contribs=True)
    model = tl.load(booster)
    np.testing.assert_allclose(model.predict(S), own, **XGB_TOL)
    ex = tl.TreeExplainer(booster)
    values = ex.shap_values(S)
    np.testing.assert_allclose(values, contribs[:, :-1], **XGB_TOL)
    # Additivity against XGBoost's own prediction on the sparse input.
    np.testing.assert_allclose(values.sum(axis=1) + ex.expected_value, own, **XGB_TOL)
    # Densifying with 0 is not the same input for XGBoost: the test can tell them apart.
    assert np.abs(model.predict(X) - own).max() > 0.1


def test_xgboost_sklearn_api_on_sparse(data):
    X, y = data
    est = xgb.XGBRegressor(n_estimators=5, max_depth=3, n_jobs=1)
    est.fit(np.where(X == 0, np.nan, X), y)
    S = sp.csr_matrix(X)
    np.testing.assert_allclose(tl.load(est).predict(S), est.predict(S), **XGB_TOL)
    values = tl.TreeExplainer(est).shap_values(S)
    own = est.get_booster().predict(xgb.DMatrix(S), pred_contribs=True)
    np.testing.assert_allclose(values, own[:, :-1], **XGB_TOL)


def test_xgboost_stored_zero_is_a_value(data, booster):
    """A zero stored in the CSR is the number 0 (XGBoost keeps it), not a missing value."""
    X, _ = data
    rows = X[:40].copy()
    rows[:, 2] = np.nan  # absent below
    stored = sp.csr_matrix(np.nan_to_num(rows, nan=1.0))
    stored.data[:] = np.where(np.isnan(rows) | (rows == 0), 0.0, rows)[stored.nonzero()]
    assert stored.nnz > np.count_nonzero(stored.toarray())  # zeros are stored explicitly
    own = booster.predict(xgb.DMatrix(stored), output_margin=True)
    np.testing.assert_allclose(tl.load(booster).predict(stored), own, **XGB_TOL)
    absent = booster.predict(xgb.DMatrix(sp.csr_matrix(np.nan_to_num(rows))), output_margin=True)
    assert np.abs(own - absent).max() > 0.1


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.__name__)
def test_lightgbm_and_sklearn_read_absent_entries_as_zero(data, fmt):
    X, y = data
    Xn = X.copy()
    Xn[::7, 3] = np.nan  # stored NaN: missing for LightGBM
    S = fmt(Xn)
    lg = lgb.LGBMRegressor(n_estimators=6, num_leaves=8, verbose=-1, n_jobs=1).fit(Xn, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LightGBM converts COO and says so
        own = lg.predict(S, raw_score=True)
        contribs = lg.predict(S, pred_contrib=True)
    contribs = contribs.toarray() if sp.issparse(contribs) else contribs  # sparse in, sparse out
    np.testing.assert_allclose(tl.load(lg).predict(S), own, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        tl.TreeExplainer(lg).shap_values(S), contribs[:, :-1], rtol=1e-9, atol=1e-9
    )
    S0 = fmt(X)
    for est in (
        RandomForestRegressor(n_estimators=3, max_depth=5, random_state=0, n_jobs=1),
        GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=0),
    ):
        est.fit(X, y)
        np.testing.assert_allclose(tl.load(est).predict(S0), est.predict(S0), rtol=1e-12)
    forest = IsolationForest(n_estimators=5, random_state=0).fit(X)
    dense = tl.TreeExplainer(forest).shap_values(X)
    np.testing.assert_array_equal(tl.TreeExplainer(forest).shap_values(S0), dense)


def test_dmatrix_is_read_with_its_names_and_missing_values(data, booster):
    X, y = data
    dense_nan = np.where(X == 0, np.nan, X)
    ex = tl.TreeExplainer(booster)
    ref = ex.shap_values(dense_nan)
    np.testing.assert_array_equal(ex.shap_values(xgb.DMatrix(dense_nan)), ref)
    # Its own missing value: zeros dropped when it is built.
    np.testing.assert_array_equal(ex.shap_values(xgb.DMatrix(X, missing=0.0)), ref)
    # Names: matched to a model's by name, results in the DMatrix's order.
    names = ["a", "b", "c", "d", "e"]
    named = xgb.train(
        {"max_depth": 3, "nthread": 1},
        xgb.DMatrix(dense_nan, label=y, feature_names=names),
        num_boost_round=4,
    )
    perm = [3, 0, 4, 2, 1]
    shuffled = xgb.DMatrix(dense_nan[:, perm], feature_names=[names[j] for j in perm])
    e = tl.TreeExplainer(named)(shuffled)
    assert e.feature_names == [names[j] for j in perm]
    np.testing.assert_array_equal(e.values, tl.TreeExplainer(named).shap_values(dense_nan)[:, perm])
    # shap's Explanation holds a DMatrix's data as its CSR matrix.
    assert sp.issparse(e.data) and e.data.shape == X.shape
    # For any model, a DMatrix's absent entries are missing: LightGBM reads them as NaN.
    lg = lgb.LGBMRegressor(n_estimators=4, verbose=-1, n_jobs=1).fit(dense_nan, y)
    np.testing.assert_allclose(
        tl.load(lg).predict(xgb.DMatrix(dense_nan)), lg.predict(dense_nan, raw_score=True)
    )
    with pytest.raises(InvalidInputError, match="QuantileDMatrix"):
        tl.load(booster).predict(xgb.QuantileDMatrix(dense_nan))


@pytest.mark.parametrize("fmt", [sp.csr_matrix, sp.coo_array])
def test_explanation_keeps_the_sparse_input_as_shap_does(data, booster, fmt):
    X, _ = data
    S = fmt(X)
    e = tl.TreeExplainer(booster)(S)
    assert sp.issparse(e.data) and e.data.format == "csr"
    if fmt is sp.csr_matrix:
        assert e.data is S  # not even copied
    np.testing.assert_array_equal(e.data.toarray(), X)
    np.testing.assert_array_equal(e[:5].data.toarray(), X[:5])
    np.testing.assert_array_equal(e[3].data, X[3])


def test_sparse_float32_blocks_and_predict_blocks(data, booster, monkeypatch):
    """Explained and predicted a few rows at a time: the same numbers."""
    X, _ = data
    S = sp.coo_matrix(X)
    ex = tl.TreeExplainer(booster)
    ref = ex.shap_values(S)
    pred = tl.load(booster).predict(S)
    monkeypatch.setattr(tl.memory, "CONVERSION_BYTES", 8 * 5 * 17)
    np.testing.assert_array_equal(ex.shap_values(S, dtype=np.float32), ref.astype(np.float32))
    np.testing.assert_array_equal(tl.load(booster).predict(S), pred)
    np.testing.assert_array_equal(tl.load(booster).predict(xgb.DMatrix(S)), pred)


@st.composite
def _sparse_rows(draw):
    n = draw(st.integers(0, 12))
    p = 5
    density = draw(st.floats(0.0, 1.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = rng.choice([0.0, np.nan, -1.5, 0.3, 2.0, -0.0, 1e-40], size=(n, p))
    stored = rng.random((n, p)) < density
    return values, stored, draw(st.sampled_from(["csr", "csc", "coo"]))


@settings(max_examples=60, deadline=None)
@given(case=_sparse_rows())
def test_sparse_read_equals_dense_with_absent_as_missing_or_zero(case, data, booster):
    """Reading a sparse matrix equals reading the dense matrix whose absent entries are NaN
    (XGBoost) or 0 (LightGBM); stored entries (zeros, NaN, tiny values) keep their values."""
    values, stored, fmt = case
    n, p = values.shape
    rows, cols = np.nonzero(stored)
    S = sp.coo_matrix((values[rows, cols], (rows, cols)), shape=(n, p)).asformat(fmt)
    X, y = data
    lg = _lightgbm_model(X, y)
    for model, fill in ((tl.load(booster), np.nan), (tl.load(lg), 0.0)):
        dense = np.where(stored, values, fill)
        np.testing.assert_array_equal(model.prepare(S), model.prepare(dense))
        np.testing.assert_array_equal(model.predict(S), model.predict(dense))


_LIGHTGBM = {}


def _lightgbm_model(X, y):
    if "model" not in _LIGHTGBM:
        _LIGHTGBM["model"] = lgb.LGBMRegressor(
            n_estimators=4, num_leaves=6, verbose=-1, n_jobs=1
        ).fit(X, y)
    return _LIGHTGBM["model"]


_CHILD = """
import scipy.sparse as sp
from sklearn.tree import DecisionTreeRegressor

rng = np.random.default_rng(0)
small = rng.random((100, 10))
model = tl.load(DecisionTreeRegressor(max_depth=4, random_state=0).fit(small, small[:, 0]))
rows = 6_000_000  # 480 MB as a dense float64 matrix; 72 MB as CSR with one entry a row
S = sp.csr_matrix(
    (rng.random(rows), rng.integers(0, 10, rows), np.arange(rows + 1)), shape=(rows, 10)
)
check = S[:1000].toarray()
# Less than the dense matrix; room for the predictions, one block and the threads' arenas.
limit_address_space(420 << 20)
before = status("VmHWM:")
pred = model.predict(S)
growth = status("VmHWM:") - before
refusal = refused(lambda: model.prepare(S))
report(growth=growth, same=bool(np.array_equal(pred[:1000], model.predict(check))),
       refusal=refusal, n=int(pred.shape[0]))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc/self/status are Linux's")
def test_sparse_input_larger_than_memory_when_dense_is_predicted_by_blocks():
    """A CSR matrix whose dense float64 form (480 MB) exceeds the process's memory limit is
    predicted a block of rows at a time; what needs it whole is refused before converting."""
    out = run_child(_CHILD)
    assert out["n"] == 6_000_000 and out["same"]
    # Predictions (48 MB) and one block of rows, never the dense matrix.
    assert out["growth"] < 200 << 20, out
    assert out["refusal"] is not None and "X converted to float64" in out["refusal"], out


def test_sparse_input_names_and_errors(data, booster):
    X, _ = data
    with pytest.raises(InvalidInputError, match="has 4 columns, but the model"):
        tl.load(booster).predict(sp.csr_matrix(X[:, :4]))
    df = pd.DataFrame(X, columns=list("abcde"))
    est = RandomForestRegressor(n_estimators=2, max_depth=3, random_state=0).fit(df, X[:, 0])
    # A sparse matrix has no names: read by position, labelled with the model's names.
    assert tl.TreeExplainer(est)(sp.csr_matrix(X)).feature_names == list("abcde")


def test_every_entry_point_reads_sparse_inputs(data, booster):
    """hstats, partial dependence, permutation importance (native and through the estimator's
    scorer), interventional background data and interaction values: a sparse input or DMatrix
    gives what its dense form (absent entries NaN for XGBoost) gives."""
    X, y = data
    dense = np.where(X == 0, np.nan, X)
    S, C = sp.csr_matrix(X), sp.coo_matrix(X)
    for sparse in (C, xgb.DMatrix(S)):
        np.testing.assert_array_equal(
            tl.hstats(booster, sparse, n_max=60, random_state=0).h2_overall(),
            tl.hstats(booster, dense, n_max=60, random_state=0).h2_overall(),
        )
        np.testing.assert_array_equal(
            tl.partial_dependence(booster, sparse, [0])["average"],
            tl.partial_dependence(booster, dense, [0])["average"],
        )
        np.testing.assert_array_equal(
            tl.TreeExplainer(booster).shap_interaction_values(sparse, reduce="mean_abs"),
            tl.TreeExplainer(booster).shap_interaction_values(dense, reduce="mean_abs"),
        )
    np.testing.assert_array_equal(
        tl.TreeExplainer(booster, data=sp.coo_matrix(X[:20])).shap_values(S[:30]),
        tl.TreeExplainer(booster, data=dense[:20]).shap_values(dense[:30]),
    )
    est = xgb.XGBRegressor(n_estimators=4, max_depth=3, n_jobs=1).fit(dense, y)
    for scoring in ("r2", "explained_variance"):  # native, and the estimator's own scorer
        ref = tl.permutation_importance(
            est, dense, y, scoring=scoring, n_repeats=2, max_samples=0.5, random_state=0
        )
        for sparse in (C, xgb.DMatrix(S)):
            out = tl.permutation_importance(
                est, sparse, y, scoring=scoring, n_repeats=2, max_samples=0.5, random_state=0
            )
            np.testing.assert_allclose(out.importances, ref.importances, rtol=1e-12, atol=1e-12)
