"""Parity with shap.TreeExplainer(model, data, feature_perturbation="interventional").

shap's independent algorithm keeps its Shapley weights and path fractions in float32
(tree_shap.h: ``float *memoized_weights``, ``float *pos_lst``), so it agrees with the exact values
to about 1e-8 relative (measured: at most 1e-8 of the largest value on these models); the
tolerance below is 1e-6 of the largest value. Exactness itself is proven against brute force in
test_interventional.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from treelens.interventional import InterventionalExplainer

shap = pytest.importorskip("shap")

RTOL = 1e-6


def _shap(est, bg, X, model_output="raw", y=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        se = shap.TreeExplainer(
            est, bg, feature_perturbation="interventional", model_output=model_output
        )
        sv = np.asarray(se.shap_values(X, y=y) if y is not None else se.shap_values(X))
    return se, sv if sv.ndim == 3 else sv[..., None]


def _compare(est, bg, X, model_output="raw", y=None):
    se, sv = _shap(est, bg, X, model_output, y)
    te = InterventionalExplainer(est, bg, model_output=model_output)
    tv = te.shap_values(X, y=y)
    assert tv.shape == sv.shape
    scale = max(1.0, np.abs(sv).max())
    np.testing.assert_allclose(tv, sv, rtol=0, atol=RTOL * scale)
    if model_output == "log_loss":
        for label in (0, 1):
            assert te.expected_value(label) == pytest.approx(se.expected_value(label), abs=1e-12)
    else:
        np.testing.assert_allclose(te.expected_value, se.expected_value, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def regression():
    from sklearn.datasets import make_regression

    return make_regression(300, 8, random_state=0)


@pytest.fixture(scope="module")
def classification():
    from sklearn.datasets import make_classification

    return make_classification(300, 8, random_state=0)


def test_sklearn_random_forest_regressor(regression):
    from sklearn.ensemble import RandomForestRegressor

    X, y = regression
    est = RandomForestRegressor(10, max_depth=6, random_state=0).fit(X, y)
    _compare(est, X[100:140], X[:30])


def test_sklearn_classifiers_probability(classification):
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    X, y = classification
    rf = RandomForestClassifier(10, max_depth=5, random_state=0).fit(X, y)
    _compare(rf, X[100:140], X[:30], "probability")
    gb = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    _compare(gb, X[100:140], X[:30])
    _compare(gb, X[100:140], X[:30], "probability")


def test_xgboost_raw_probability_log_loss(regression, classification):
    import xgboost as xgb

    X, y = regression
    _compare(xgb.XGBRegressor(n_estimators=20, max_depth=4, n_jobs=1).fit(X, y), X[100:140], X[:30])
    Xc, yc = classification
    est = xgb.XGBClassifier(n_estimators=20, max_depth=4, n_jobs=1).fit(Xc, yc)
    _compare(est, Xc[100:140], Xc[:30])
    _compare(est, Xc[100:140], Xc[:30], "probability")
    _compare(est, Xc[100:140], Xc[:30], "log_loss", y=yc[:30])
