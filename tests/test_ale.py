"""tl.ale: against a brute-force implementation of Apley & Zhu's formulas written here, PyALE's
numbers (1-D and 2-D), exact recovery of additive models, weights as replicated rows, and
refusals."""

from __future__ import annotations

import logging
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from PyALE import ale as pyale
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor

import treelens as tl
from treelens.exceptions import FeatureNameError, InvalidInputError

logging.getLogger("PyALE").setLevel(logging.WARNING)


def friedman(n=400, p=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, size=(n, p))
    y = 10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(p)]), y + rng.normal(size=n)


@pytest.fixture(scope="module")
def regression():
    X, y = friedman()
    return X, RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0).fit(X, y)


def brute_ale_1d(f, X, j, edges, w=None):
    """The paper's estimator, row by row: mean difference per bin (bins right-closed, the
    lowest edge in the first), accumulated, centred by the bin-weighted mean of the average of
    each bin's two edge values."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if w is None else np.asarray(w, dtype=np.float64)
    K = len(edges) - 1
    sums, weights = np.zeros(K), np.zeros(K)
    for i, row in enumerate(X):
        b = next(b for b in range(K) if row[j] <= edges[b + 1] or b == K - 1)
        if b > 0 and row[j] <= edges[b]:
            raise AssertionError("bins are right-closed")
        lo, hi = row.copy(), row.copy()
        lo[j], hi[j] = edges[b], edges[b + 1]
        sums[b] += w[i] * (f(hi[None])[0] - f(lo[None])[0])
        weights[b] += w[i]
    acc = np.concatenate([[0.0], np.cumsum(sums / weights)])
    centre = sum(weights[b] * (acc[b] + acc[b + 1]) / 2 for b in range(K)) / weights.sum()
    return acc - centre


def test_first_order_equals_the_papers_formulas(regression):
    X, model = regression
    for j, res in [(0, 20), (2, 7), (3, 50)]:
        out = tl.ale(model, X, f"f{j}", grid_resolution=res)
        edges = out.grid_values[0]
        ref = brute_ale_1d(model.predict, X, j, edges)
        np.testing.assert_allclose(out.average[0], ref, rtol=0, atol=1e-12)
        assert out.features == [f"f{j}"]
        assert out.counts.sum() == len(X)
        # The centred curve has weighted mean zero over the bins' midpoints.
        mid = (out.average[0][:-1] + out.average[0][1:]) / 2
        assert abs(np.average(mid, weights=out.counts)) < 1e-12


class Predictor:
    """What PyALE calls: an object with predict."""

    def __init__(self, f):
        self.f = f

    def predict(self, X):
        return self.f(X)


@pytest.mark.parametrize("kind", ["sklearn", "xgboost", "lightgbm"])
def test_equal_to_pyale_in_one_and_two_dimensions(kind):
    X, y = friedman(n=600, seed=1)
    if kind == "sklearn":
        est = RandomForestRegressor(n_estimators=15, max_depth=7, random_state=0).fit(X, y)
    elif kind == "xgboost":
        est = xgb.XGBRegressor(n_estimators=40, max_depth=4).fit(X, y)
    else:
        est = lgb.LGBMRegressor(n_estimators=40, num_leaves=15, verbose=-1).fit(X, y)
    model = tl.load(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for feature in ["f0", "f3"]:
            out = tl.ale(model, X, feature, grid_resolution=20)
            # The same predictions: the algorithms must agree to rounding.
            ref = pyale(
                X, Predictor(model.predict), [feature], grid_size=20, plot=False, include_CI=False
            )
            np.testing.assert_array_equal(out.grid_values[0], ref.index.to_numpy())
            np.testing.assert_allclose(out.average[0], ref["eff"].to_numpy(), atol=1e-12)
            np.testing.assert_array_equal(out.counts, ref["size"].to_numpy()[1:])
            # The library's own predictions (float32 inside XGBoost and LightGBM's text).
            own = pyale(X, est, [feature], grid_size=20, plot=False, include_CI=False)
            tol = 1e-12 if kind == "sklearn" else 1e-4
            np.testing.assert_allclose(out.average[0], own["eff"].to_numpy(), atol=tol)
        out2 = tl.ale(model, X, ["f0", "f1"], grid_resolution=8)
        ref2 = pyale(X, Predictor(model.predict), ["f0", "f1"], grid_size=8, plot=False)
        np.testing.assert_array_equal(out2.grid_values[0], ref2.index.to_numpy())
        np.testing.assert_array_equal(out2.grid_values[1], ref2.columns.to_numpy())
        np.testing.assert_allclose(out2.average[0], ref2.to_numpy(), atol=1e-12)
        assert out2.counts.shape == (8, 8) and out2.counts.sum() == len(X)


def brute_ale_2d(f, X, j, k, e0, e1):
    """ALEPlot's second-order estimator with loops: cell means of the second difference (an
    empty cell takes the nearest non-empty cell's, by centres scaled by the ranges),
    accumulated, minus each feature's first-order part and the mean."""
    X = np.asarray(X, dtype=np.float64)
    K0, K1 = len(e0) - 1, len(e1) - 1

    def bin_of(v, e):
        return max(int(np.searchsorted(e, v, side="left")), 1) - 1

    sums, n = np.zeros((K0, K1)), np.zeros((K0, K1))
    for row in X:
        a, b = bin_of(row[j], e0), bin_of(row[k], e1)
        corner = {}
        for da in (0, 1):
            for db in (0, 1):
                r = row.copy()
                r[j], r[k] = e0[a + da], e1[b + db]
                corner[da, db] = f(r[None])[0]
        sums[a, b] += corner[1, 1] - corner[1, 0] - corner[0, 1] + corner[0, 0]
        n[a, b] += 1
    delta = np.zeros((K0, K1))
    cells = [(a, b) for a in range(K0) for b in range(K1)]
    centre = {
        (a, b): (
            (e0[a] + e0[a + 1]) / (2 * (e0[-1] - e0[0])),
            (e1[b] + e1[b + 1]) / (2 * (e1[-1] - e1[0])),
        )
        for a, b in cells
    }
    full = [c for c in cells if n[c] > 0]
    for c in cells:
        if n[c] > 0:
            delta[c] = sums[c] / n[c]
        else:
            near = min(
                full,
                key=lambda o: (
                    (centre[o][0] - centre[c][0]) ** 2 + (centre[o][1] - centre[c][1]) ** 2
                ),
            )
            delta[c] = sums[near] / n[near]
    F = np.zeros((K0 + 1, K1 + 1))
    for a in range(1, K0 + 1):
        for b in range(1, K1 + 1):
            F[a, b] = delta[:a, :b].sum()
    f0, f1 = np.zeros(K0 + 1), np.zeros(K1 + 1)
    for a in range(1, K0 + 1):
        step = sum(
            n[a - 1, b - 1] * ((F[a, b] - F[a - 1, b]) + (F[a, b - 1] - F[a - 1, b - 1])) / 2
            for b in range(1, K1 + 1)
        )
        f0[a] = f0[a - 1] + (step / n[a - 1].sum() if n[a - 1].sum() else 0.0)
    for b in range(1, K1 + 1):
        step = sum(
            n[a - 1, b - 1] * ((F[a, b] - F[a, b - 1]) + (F[a - 1, b] - F[a - 1, b - 1])) / 2
            for a in range(1, K0 + 1)
        )
        f1[b] = f1[b - 1] + (step / n[:, b - 1].sum() if n[:, b - 1].sum() else 0.0)
    G = F - f0[:, None] - f1[None, :]
    mean = (
        sum(
            n[a - 1, b - 1] * (G[a - 1, b - 1] + G[a, b] + G[a - 1, b] + G[a, b - 1]) / 4
            for a in range(1, K0 + 1)
            for b in range(1, K1 + 1)
        )
        / n.sum()
    )
    return G - mean


def test_two_dimensional_equals_the_formulas_also_with_empty_cells():
    # Correlated features leave cells of the quantile grid empty.
    rng = np.random.default_rng(3)
    a = rng.uniform(size=300)
    X = pd.DataFrame({"a": a, "b": a + 0.05 * rng.normal(size=300), "c": rng.normal(size=300)})
    y = X.a * X.b * 3 + X.c
    model = tl.load(xgb.XGBRegressor(n_estimators=30, max_depth=3).fit(X, y))
    for res in (6, 3):
        out = tl.ale(model, X, ["a", "b"], grid_resolution=res)
        e0, e1 = out.grid_values
        ref = brute_ale_2d(model.predict, X, 0, 1, e0, e1)
        np.testing.assert_allclose(out.average[0], ref, atol=1e-12)
    assert (tl.ale(model, X, ["a", "b"], grid_resolution=6).counts == 0).any()


def test_additive_models_are_recovered_exactly_on_every_grid():
    # Stumps: f(x) = sum_j g_j(x_j), so ALE_j(z) = g_j(z) - constant, whatever the bins.
    X, y = friedman(n=500, seed=2)
    est = xgb.XGBRegressor(n_estimators=60, max_depth=1, learning_rate=0.3).fit(X, y)
    model = tl.load(est)
    base = X.iloc[:1].to_numpy().repeat(1, axis=0)
    for grid in [None, "thresholds", [np.linspace(-0.5, 1.5, 13)]]:
        out = tl.ale(model, X, "f2", grid=grid)
        edges = out.grid_values[0]
        rows = np.repeat(base, len(edges), axis=0)
        rows[:, 2] = edges
        g = model.predict(rows)
        diff = out.average[0] - g
        np.testing.assert_allclose(diff, diff[0], atol=1e-9)


def test_thresholds_grid_uses_the_models_split_points():
    X, y = friedman(n=300, seed=4)
    est = xgb.XGBRegressor(n_estimators=10, max_depth=3).fit(X, y)
    model = tl.load(est)
    out = tl.ale(model, X, "f0", grid="thresholds")
    dump = est.get_booster().trees_to_dataframe()
    splits = np.unique(dump.loc[dump.Feature == "f0", "Split"].to_numpy(np.float64))
    col = X.f0.to_numpy()
    inside = splits[(splits > col.min()) & (splits < col.max())]
    edges = out.grid_values[0]
    # Every inner edge is a split point; every split point inside the data is an edge unless
    # its bin held no row (merged).
    assert set(edges[1:-1]) <= set(splits.astype(np.float32).astype(np.float64)) | set(splits)
    assert len(edges) >= 2 and len(edges) - 2 <= len(inside)
    assert out.counts.min() > 0


def test_weights_are_replicated_rows():
    X, y = friedman(n=200, seed=5)
    est = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)
    est.fit(X, y > np.median(y))
    w = np.random.default_rng(0).integers(0, 4, size=len(X))
    grid = [np.linspace(0, 1, 11)]
    weighted = tl.ale(est, X, "f1", grid=grid, sample_weight=w)
    replicated = tl.ale(est, X.loc[X.index.repeat(w)], "f1", grid=grid)
    np.testing.assert_array_equal(weighted.grid_values[0], replicated.grid_values[0])
    np.testing.assert_allclose(weighted.average, replicated.average, atol=1e-12)
    np.testing.assert_allclose(weighted.counts, replicated.counts)


def test_classifiers_probability_margin_and_multiclass():
    X, y = friedman(n=300, seed=6)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    est = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, labels)
    model = tl.load(est)
    proba = tl.ale(est, X, "f0")
    margin = tl.ale(est, X, "f0", response_method="raw")
    assert proba.average.shape == margin.average.shape == (3, len(proba.grid_values[0]))
    edges = proba.grid_values[0]
    ref = brute_ale_1d(lambda r: model.transform_margin(model.predict(r))[:, 2], X, 0, edges)
    np.testing.assert_allclose(proba.average[2], ref, atol=1e-12)
    ref = brute_ale_1d(lambda r: model.predict(r)[:, 1], X, 0, edges)
    np.testing.assert_allclose(margin.average[1], ref, atol=1e-12)
    binary = xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(X, labels == 2)
    assert tl.ale(binary, X, "f3").average.shape[0] == 1


def test_missing_values_constant_features_and_arrays():
    X, y = friedman(n=200, seed=7)
    est = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    Xn = X.copy()
    Xn.loc[:9, "f0"] = np.nan
    with_nan = tl.ale(est, Xn, "f0")
    assert with_nan.counts.sum() == len(X) - 10
    Xc = X.copy()
    Xc["f4"] = 0.5
    flat = tl.ale(est, Xc, "f4")
    assert flat.grid_values[0].tolist() == [0.5] and flat.average.tolist() == [[0.0]]
    arr = tl.ale(est, X.to_numpy(), 1)
    assert arr.features == ["f1"]  # the model's names for an array
    np.testing.assert_allclose(arr.average, tl.ale(est, X, "f1").average, atol=1e-12)


def test_refusals_name_the_problem(regression):
    X, model = regression
    with pytest.raises(InvalidInputError, match="one feature or a pair"):
        tl.ale(model, X, ["f0", "f1", "f2"])
    with pytest.raises(InvalidInputError, match="thresholds"):
        tl.ale(model, X, "f0", grid="quantiles")
    with pytest.raises(FeatureNameError):
        tl.ale(model, X, "nope")
    with pytest.raises(InvalidInputError, match="grid_resolution"):
        tl.ale(model, X, "f0", grid_resolution=0)
    with pytest.raises(InvalidInputError, match="no rows"):
        tl.ale(model, X.iloc[:0], "f0")
    with pytest.raises(InvalidInputError, match="finite"):
        tl.ale(model, X, "f0", grid=[[0.1, np.nan]])
    with pytest.raises(InvalidInputError, match="one array of bin edges per feature"):
        tl.ale(model, X, ["f0", "f1"], grid=[[0.1, 0.5]])
    Xn = X.copy()
    Xn["f0"] = np.nan
    with pytest.raises(InvalidInputError, match="no row has a value"):
        tl.ale(model, Xn, "f0")
    Xi = X.copy()
    Xi.loc[3, "f1"] = np.inf
    with pytest.raises(InvalidInputError, match="infinite"):
        tl.ale(model, Xi, ["f0", "f1"])
