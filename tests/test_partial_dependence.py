"""Exact partial dependence and ICE against brute force (model predictions on replicated data)
and against sklearn.inspection.partial_dependence(method="brute")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import treelens as tl
from treelens.exceptions import FeatureNameError, InvalidInputError, OutputTooLargeError


def margin(est, Z):
    """The raw margin, shape (n, k): the library's own for sklearn and LightGBM (float64
    sums); for XGBoost (float32 sums inside) treelens' float64 prediction, checked against it."""
    module = type(est).__module__
    if module.startswith("xgboost"):
        own = np.asarray(est.predict(Z, output_margin=True), dtype=np.float64).reshape(len(Z), -1)
        out = tl.load(est).predict(Z).reshape(len(Z), -1)
        np.testing.assert_allclose(out, own, rtol=1e-5, atol=1e-5)
        return out
    if module.startswith("lightgbm"):
        return np.asarray(est.predict(Z, raw_score=True), dtype=np.float64).reshape(len(Z), -1)
    if hasattr(est, "predict_proba") and hasattr(est, "estimators_"):
        return est.predict_proba(Z)
    return np.asarray(est.predict(Z), dtype=np.float64).reshape(len(Z), -1)


def brute(est, X, w, cols, grid_values):
    """(k, n, *shape) ICE and (k, *shape) PD by predicting on replicated data."""
    points = np.array(list(itertools.product(*grid_values)))
    n = len(X)
    Z = np.tile(X, (len(points), 1))
    Z[:, cols] = np.repeat(points, n, axis=0)
    pred = margin(est, Z).reshape(len(points), n, -1)  # (g, n, k)
    shape = tuple(len(g) for g in grid_values)
    k = pred.shape[-1]
    ice = np.moveaxis(pred, -1, 0).transpose(0, 2, 1).reshape((k, n, *shape))
    avg = (pred * w[None, :, None]).sum(axis=1) / w.sum()
    return ice, np.moveaxis(avg, -1, 0).reshape((k, *shape))


def data(seed, n=40, p=4, nan=False):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(n, p)), 1)
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + X[:, -1] + 0.1 * rng.normal(size=n)
    if nan:
        X[rng.random(size=X.shape) < 0.1] = np.nan
    return X, y


def build(name, X, y):
    if name == "sklearn-gbr":
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0).fit(X, y)
    if name == "sklearn-rf-classifier":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y > 0)
    if name == "xgboost":
        import xgboost as xgb

        return xgb.XGBRegressor(n_estimators=10, max_depth=4, n_jobs=1).fit(X, y)
    if name == "xgboost-multiclass":
        import xgboost as xgb

        cls = np.digitize(y, np.quantile(y, [0.33, 0.66]))
        return xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1).fit(X, cls)
    if name == "lightgbm":
        import lightgbm as lgb

        return lgb.LGBMRegressor(
            n_estimators=10, num_leaves=8, min_child_samples=2, min_data_in_bin=1, verbose=-1
        ).fit(X, y)
    raise ValueError(name)


NAMES = ["sklearn-gbr", "sklearn-rf-classifier", "xgboost", "xgboost-multiclass", "lightgbm"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cols", [[0], [2, 1], [0, 1, 3]])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_brute_force(name, cols, weighted):
    nan = name.startswith(("xgboost", "lightgbm"))
    X, y = data(1, nan=nan)
    est = build(name, X, y)
    rng = np.random.default_rng(2)
    w = rng.uniform(0.2, 3.0, len(X)) if weighted else None
    grid = [np.unique(np.append(rng.choice(X[:, j], 5), np.nan if nan else 0.0)) for j in cols]
    res = tl.partial_dependence(
        est, X, cols, grid=grid, sample_weight=w, kind="both", response_method="raw"
    )
    ice, avg = brute(est, X, np.ones(len(X)) if w is None else w, cols, res.grid_values)
    np.testing.assert_allclose(res.average, avg, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.individual, ice, rtol=1e-9, atol=1e-12)
    assert res.features == [f"x{j}" for j in cols]


@given(
    n=st.integers(1, 15),
    p=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    library=st.sampled_from(["sklearn-gbr", "xgboost", "lightgbm"]),
    weighted=st.booleans(),
    n_cols=st.integers(1, 3),
)
def test_hypothesis_equals_brute_force(n, p, seed, library, weighted, n_cols):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(max(n, 3), p)), 1)
    y = X.sum(axis=1) + X[:, 0] * X[:, -1] + rng.normal(size=len(X))
    est = build(library, X, y)
    X = X[:n]
    cols = [int(j) for j in rng.permutation(p)[: min(n_cols, p)]]
    w = rng.uniform(0.1, 2.0, n) if weighted else None
    res = tl.partial_dependence(est, X, cols, sample_weight=w, kind="both", response_method="raw")
    ice, avg = brute(est, X, np.ones(n) if w is None else w, cols, res.grid_values)
    np.testing.assert_allclose(res.average, avg, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.individual, ice, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("model", ["gbr", "rf", "hgb", "tree"])
@pytest.mark.parametrize("features", [[1], [0, 2]])
def test_matches_sklearn_brute(model, features):
    from sklearn import ensemble, tree
    from sklearn.inspection import partial_dependence as sk_partial_dependence

    X, y = data(3, n=120)
    est = {
        "gbr": ensemble.GradientBoostingRegressor(n_estimators=20, random_state=0),
        "rf": ensemble.RandomForestRegressor(n_estimators=10, random_state=0),
        "hgb": ensemble.HistGradientBoostingRegressor(max_iter=20, random_state=0),
        "tree": tree.DecisionTreeRegressor(max_depth=6, random_state=0),
    }[model].fit(X, y)
    ref = sk_partial_dependence(est, X, features, method="brute", kind="both", grid_resolution=10)
    res = tl.partial_dependence(est, X, features, grid=ref["grid_values"], kind="both")
    assert res.average.shape == ref["average"].shape
    np.testing.assert_allclose(res.average, ref["average"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.individual, ref["individual"], rtol=1e-9, atol=1e-12)


def test_default_grid_and_names():
    import pandas as pd

    X, y = data(4, n=200)
    X[:, 3] = np.round(X[:, 3])  # few unique values
    X[:, 2] = np.random.default_rng(4).normal(size=200)  # many
    est = build("sklearn-gbr", X, y)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    res = tl.partial_dependence(est, frame, ["c", "d"])
    assert res.features == ["c", "d"]
    np.testing.assert_array_equal(res.grid_values[1], np.unique(X[:, 3]))
    from scipy.stats.mstats import mquantiles

    lo, hi = mquantiles(X[:, 2], [0.05, 0.95])
    np.testing.assert_allclose(res.grid_values[0], np.linspace(lo, hi, 100))
    assert res.average.shape == (1, 100, len(np.unique(X[:, 3])))
    assert "individual" not in res
    by_index = tl.partial_dependence(est, X, [2, 3], grid_resolution=100)
    np.testing.assert_array_equal(by_index.average, res.average)
    ice = tl.partial_dependence(est, X, 2, grid_resolution=7, kind="individual")
    assert ice.individual.shape == (1, 200, 7) and "average" not in ice


def test_bad_input():
    X, y = data(5)
    est = build("sklearn-gbr", X, y)
    with pytest.raises(FeatureNameError):
        tl.partial_dependence(est, X, ["nope"])
    with pytest.raises(InvalidInputError, match="out of range"):
        tl.partial_dependence(est, X, [7])
    with pytest.raises(InvalidInputError, match="kind"):
        tl.partial_dependence(est, X, [0], kind="mean")
    with pytest.raises(InvalidInputError, match="grid"):
        tl.partial_dependence(est, X, [0, 1], grid=[np.arange(3)])
    with pytest.raises(InvalidInputError, match="sample_weight"):
        tl.partial_dependence(est, X, [0], sample_weight=np.ones(3))
    # ICE for 40 rows on 10^12 grid points would need 650 TB: refused up front (against the
    # memory budget, on any machine).
    big = [np.linspace(-1, 1, 10_000)] * 3
    with pytest.raises(OutputTooLargeError, match="grid"):
        tl.partial_dependence(est, X, [0, 1, 2], grid=big, kind="individual")
