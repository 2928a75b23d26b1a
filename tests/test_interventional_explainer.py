"""Interventional TreeSHAP through the public tl.TreeExplainer (skipped where it is not built)."""

from __future__ import annotations

import numpy as np
import pytest

import treelens as tl
from treelens.interventional import InterventionalExplainer


@pytest.fixture(scope="module")
def binary():
    import xgboost as xgb
    from sklearn.datasets import make_classification

    X, y = make_classification(300, 6, random_state=0)
    return xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X, y), X, y


@pytest.mark.parametrize("perturbation", ["auto", "interventional"])
def test_tree_explainer_uses_background(binary, perturbation):
    est, X, _ = binary
    ex = tl.TreeExplainer(est, data=X[:40], feature_perturbation=perturbation)
    direct = InterventionalExplainer(est, X[:40])
    values = ex.shap_values(X[:10])
    assert values.shape == (10, 6)
    np.testing.assert_array_equal(values, direct.shap_values(X[:10])[:, :, 0])
    assert ex.expected_value == pytest.approx(direct.expected_value, abs=1e-12)
    margin = est.predict(X[:10], output_margin=True)
    np.testing.assert_allclose(values.sum(axis=1) + ex.expected_value, margin, atol=1e-5)
    inter = ex.shap_interaction_values(X[:4])
    assert inter.shape == (4, 6, 6)
    np.testing.assert_allclose(inter.sum(axis=2), values[:4], atol=1e-10)


def test_tree_explainer_probability_and_weights(binary):
    est, X, _ = binary
    w = np.linspace(0.5, 2.0, 40)
    ex = tl.TreeExplainer(est, data=X[:40], data_weights=w, model_output="probability")
    values = ex.shap_values(X[:10])
    proba = est.predict_proba(X[:10])[:, 1]
    np.testing.assert_allclose(values.sum(axis=1) + ex.expected_value, proba, atol=1e-7)
    background = est.predict_proba(X[:40])[:, 1]
    assert ex.expected_value == pytest.approx(np.average(background, weights=w), abs=1e-7)
    explanation = ex(X[:3])
    assert explanation.values.shape == (3, 6)


def test_tree_explainer_log_loss(binary):
    """As in shap, the log-loss expected value is a function of y; the Explanation carries the
    per-row base values, and values + base equal each row's loss."""
    est, X, y = binary
    ex = tl.TreeExplainer(est, data=X[:40], model_output="log_loss")
    assert callable(ex.expected_value)
    values = ex.shap_values(X[:10], y[:10])
    p = est.predict_proba(X[:10])[:, 1].astype(np.float64)
    loss = -(y[:10] * np.log(p) + (1 - y[:10]) * np.log(1 - p))
    base = np.asarray(ex.expected_value(y[:10]), dtype=np.float64).reshape(-1)
    np.testing.assert_allclose(values.sum(axis=1) + base, loss, atol=1e-5)
    explanation = ex(X[:10], y[:10])
    np.testing.assert_allclose(explanation.base_values.reshape(-1), base, atol=1e-12)
    np.testing.assert_allclose(explanation.values, values, atol=0)
