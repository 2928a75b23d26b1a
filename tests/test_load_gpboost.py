"""GPBoost boosters (LightGBM text): predictions equal GPBoost's tree-ensemble prediction, SHAP
values its ``pred_contrib`` and shap's, with or without a GP / random-effects model."""

from __future__ import annotations

import numpy as np
import pytest

import treelens as tl

shap = pytest.importorskip("shap")
gpb = pytest.importorskip("gpboost")

PARAMS = dict(objective="regression_l2", verbose=-1, num_leaves=7, learning_rate=0.2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 4))
    group = rng.integers(0, 8, size=300)
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * (group % 3) + 0.2 * rng.normal(size=300)
    return X, y, group


def _check(booster, X, *, tree_prediction):
    model = tl.load(booster)
    np.testing.assert_allclose(model.predict(X), tree_prediction, rtol=1e-12, atol=1e-12)
    rows = X[:30]
    ours = tl.TreeExplainer(booster).shap_values(rows)
    contrib = booster.predict(rows, pred_contrib=True)
    np.testing.assert_allclose(ours, contrib[:, :-1], rtol=1e-9, atol=1e-12)
    return ours


def test_booster(data):
    X, y, _ = data
    booster = gpb.train(params=PARAMS, train_set=gpb.Dataset(X, y), num_boost_round=15)
    ours = _check(booster, X, tree_prediction=booster.predict(X, pred_latent=True))
    np.testing.assert_allclose(
        ours, shap.TreeExplainer(booster).shap_values(X[:30]), rtol=1e-9, atol=1e-12
    )


def test_booster_with_random_effects(data):
    X, y, group = data
    gp_model = gpb.GPModel(group_data=group, likelihood="gaussian")
    booster = gpb.train(
        params=PARAMS,
        train_set=gpb.Dataset(X, y, free_raw_data=False),
        gp_model=gp_model,
        num_boost_round=10,
    )
    # The trees are GPBoost's fixed effects: its prediction that ignores the GP model.
    _check(booster, X, tree_prediction=booster.predict(X, ignore_gp_model=True, pred_latent=True))


def test_sklearn_style_models(data):
    X, y, _ = data
    reg = gpb.GPBoostRegressor(n_estimators=10, num_leaves=7, verbose=-1).fit(X, y)
    np.testing.assert_allclose(tl.load(reg).predict(X), reg.predict(X), rtol=1e-12, atol=1e-12)
    clf = gpb.GPBoostClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(X, y > 0.8)
    model = tl.load(clf)
    np.testing.assert_array_equal(model.classes, clf.classes_)
    np.testing.assert_allclose(
        model.transform_margin(model.predict(X)), clf.predict_proba(X)[:, 1], rtol=1e-12
    )
