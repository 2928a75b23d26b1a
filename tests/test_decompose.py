"""tl.decompose: against brute-force inclusion-exclusion over the (replicated) background on
small fitted models, completeness, the interventional SHAP identity, column order, weights and
refusals."""

from __future__ import annotations

import itertools

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier

import treelens as tl
from treelens.exceptions import InvalidInputError


def data(n=120, p=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).round(1)
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + (X[:, 3] if p > 3 else 0) * X[:, 0] * X[:, 2]
    return X, y


def brute_components(model, x, background):
    """m_S(x) for every subset S (tuples of column indices), from v(U) = mean over the
    background of f(x_U, z_notU) by inclusion-exclusion, with the model's own predictions."""
    p = x.shape[0]
    value = {}
    for r in range(p + 1):
        for U in itertools.combinations(range(p), r):
            hybrid = background.copy()
            hybrid[:, list(U)] = x[list(U)]
            value[U] = model.predict(hybrid).mean(axis=0)
    comps = {}
    for r in range(p + 1):
        for S in itertools.combinations(range(p), r):
            comps[S] = sum(
                (-1) ** (len(S) - len(U)) * value[U]
                for q in range(len(S) + 1)
                for U in itertools.combinations(S, q)
            )
    return comps


def models():
    X, y = data()
    labels = np.digitize(y, np.quantile(y, [0.3, 0.7]))
    return X, {
        "gbm": GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0).fit(X, y),
        "xgb_multiclass": xgb.XGBClassifier(n_estimators=6, max_depth=3).fit(X, labels),
        "lgb": lgb.LGBMRegressor(n_estimators=8, num_leaves=8, verbose=-1).fit(X, y),
        "rf_classifier": RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(
            X, labels
        ),
    }


@pytest.mark.parametrize("name", ["gbm", "xgb_multiclass", "lgb", "rf_classifier"])
def test_every_component_equals_inclusion_exclusion(name):
    X, fitted = models()
    model = tl.load(fitted[name])
    rows, background = X[:6], X[40:52]
    # Integer weights: the weighted decomposition equals the one against replicated rows.
    w = np.random.default_rng(1).integers(0, 3, size=len(background)).astype(float)
    w[0] = 1.0
    replicated = np.repeat(background, w.astype(int), axis=0)
    dec = tl.decompose(model, rows, data=background, data_weights=w, max_order=None)
    p = X.shape[1]
    for i, x in enumerate(rows):
        comps = brute_components(model, x, replicated)
        np.testing.assert_allclose(dec.intercept, comps[()], atol=1e-9, rtol=0)
        for S, ref in comps.items():
            if not S:
                continue
            got = dec.component([f"x{j}" for j in S])[i]
            np.testing.assert_allclose(got, ref, atol=1e-9, rtol=0, err_msg=f"{name} {S}")
        # Completeness: every component sums to the prediction.
        np.testing.assert_allclose(dec.total()[i], model.predict(x[None])[0], atol=1e-9)
    assert dec.main.shape[:2] == (6, p) and dec.pairwise.shape[:3] == (6, p, p)


def test_interventional_shap_is_the_shared_sum_of_components():
    X, y = data(n=300, p=6, seed=2)
    est = xgb.XGBRegressor(n_estimators=40, max_depth=4).fit(X, y)
    background = X[:80]
    dec = tl.decompose(est, X[100:140], data=background, max_order=None)
    phi = tl.TreeExplainer(est, data=background, feature_perturbation="interventional")
    phi = phi.shap_values(X[100:140])
    share = dec.main.copy()
    share += dec.pairwise.sum(axis=2) / 2
    for S, values in dec.higher.items():
        for name in S:
            share[:, int(name[1:])] += values / len(S)
    np.testing.assert_allclose(share, phi, atol=1e-9)
    np.testing.assert_allclose(dec.total(), tl.load(est).predict(X[100:140]), atol=1e-9)
    assert max(len(S) for S in dec.higher) >= 3


def test_orders_are_consistent_and_pairs_symmetric():
    X, y = data(n=200, p=5, seed=3)
    est = lgb.LGBMRegressor(n_estimators=20, num_leaves=12, verbose=-1).fit(X, y)
    full = tl.decompose(est, X[:30], data=X[50:120], max_order=None)
    two = tl.decompose(est, X[:30], data=X[50:120])
    one = tl.decompose(est, X[:30], data=X[50:120], max_order=1)
    three = tl.decompose(est, X[:30], data=X[50:120], max_order=3)
    np.testing.assert_array_equal(one.main, full.main)
    np.testing.assert_array_equal(two.pairwise, full.pairwise)
    assert one.pairwise is None and two.higher == {}
    assert all(len(S) == 3 for S in three.higher)
    for S, v in three.higher.items():
        np.testing.assert_array_equal(v, full.higher[S])
    np.testing.assert_array_equal(two.pairwise, np.swapaxes(two.pairwise, 1, 2))
    assert np.all(np.diagonal(two.pairwise, axis1=1, axis2=2) == 0)
    with pytest.raises(InvalidInputError, match="order 2"):
        two.component(["x0", "x1", "x2"])


def test_table_columns_in_any_order_and_default_background():
    X, y = data(n=150, p=4, seed=4)
    names = ["a", "b", "c", "d"]
    est = xgb.XGBRegressor(n_estimators=20, max_depth=3).fit(pd.DataFrame(X, columns=names), y)
    shuffled = pd.DataFrame(X[:20], columns=names)[["c", "a", "d", "b"]]
    dec = tl.decompose(est, shuffled, max_order=None)
    ref = tl.decompose(est, pd.DataFrame(X[:20], columns=names), max_order=None)
    assert dec.feature_names == ["c", "a", "d", "b"]
    np.testing.assert_array_equal(dec.main, ref.main[:, [2, 0, 3, 1]])
    np.testing.assert_array_equal(dec.pairwise, ref.pairwise[:, [2, 0, 3, 1]][:, :, [2, 0, 3, 1]])
    np.testing.assert_array_equal(dec.data, shuffled.to_numpy())
    for S, v in ref.higher.items():
        np.testing.assert_array_equal(dec.component(list(S)), v)
    # data=None: the rows themselves are the background.
    own = tl.decompose(est, X[:20], data=X[:20])
    np.testing.assert_array_equal(tl.decompose(est, X[:20]).main, own.main)


def test_threads_do_not_change_a_bit():
    X, y = data(n=400, p=5, seed=5)
    est = xgb.XGBClassifier(n_estimators=15, max_depth=4).fit(X, y > 0)
    a = tl.decompose(est, X, data=X[:100], n_jobs=1, max_order=None)
    b = tl.decompose(est, X, data=X[:100], n_jobs=2, max_order=None)
    np.testing.assert_array_equal(a.main, b.main)
    np.testing.assert_array_equal(a.pairwise, b.pairwise)
    assert a.higher.keys() == b.higher.keys()


def test_refusals():
    X, y = data()
    est = xgb.XGBRegressor(n_estimators=3, max_depth=2).fit(X, y)
    with pytest.raises(InvalidInputError, match="max_order"):
        tl.decompose(est, X, max_order=0)
    with pytest.raises(InvalidInputError, match="no rows"):
        tl.decompose(est, X, data=X[:0])
    with pytest.raises(InvalidInputError, match="data_weights"):
        tl.decompose(est, X, data=X[:5], data_weights=[1, 2])
    with pytest.raises(InvalidInputError, match="all zero"):
        tl.decompose(est, X, data=X[:2], data_weights=[0, 0])
    with pytest.raises(InvalidInputError):
        tl.decompose(est, X[:, :3])
    with pytest.raises(InvalidInputError, match="unknown feature"):
        tl.decompose(est, X[:3]).component(["nope"])
