"""tl.permutation_importance against scikit-learn's, scorer by scorer and library by library.

Tolerances: 1e-9 (absolute, or relative to the score's scale for errors in y's units) wherever
the library predicts in float64 (scikit-learn forests and boosting, LightGBM). XGBoost predicts
in float32 (its margins, probabilities and predict outputs are float32 arrays), so its scores
agree to float32 rounding: we compare with a float32-sized tolerance there.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.inspection import permutation_importance as sk_permutation_importance

import treelens as tl

N = 240
REGRESSION_SCORERS = [
    None,
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
]
BINARY_SCORERS = [None, "accuracy", "balanced_accuracy", "neg_log_loss", "roc_auc", "roc_auc_ovr"]
MULTICLASS_SCORERS = [None, "accuracy", "balanced_accuracy", "neg_log_loss", "roc_auc_ovr"]
OPTIONS = [
    {},
    {"max_samples": 0.6},
    {"sample_weight": "random"},
    {"max_samples": 100, "sample_weight": "random"},
]


def _regression_data():
    X, y = make_regression(N, 5, n_informative=4, noise=0.5, random_state=0)
    X[::17, 1] = np.nan
    return X, y


def _classification_data(n_classes):
    X, y = make_classification(
        N, 5, n_informative=4, n_redundant=0, n_classes=n_classes, random_state=1
    )
    return X, y


REGRESSORS = {
    "rf": lambda: RandomForestRegressor(12, max_depth=6, random_state=0),
    "gb": lambda: GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0),
    "hgb": lambda: HistGradientBoostingRegressor(max_iter=15, random_state=0),
    "xgb": lambda: xgb.XGBRegressor(n_estimators=15, max_depth=3, n_jobs=1),
    "lgbm": lambda: lgb.LGBMRegressor(n_estimators=15, num_leaves=7, verbose=-1, n_jobs=1),
}
CLASSIFIERS = {
    # Fully grown: leaf probabilities are 0/1, so probabilities carry no rounding ties.
    "rf": lambda: RandomForestClassifier(12, random_state=0),
    "gb": lambda: GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0),
    "xgb": lambda: xgb.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1),
    "lgbm": lambda: lgb.LGBMClassifier(n_estimators=15, num_leaves=7, verbose=-1, n_jobs=1),
}


def _tolerance(kind):
    return 2e-6 if kind == "xgb" else 1e-9


def _options(opts, n):
    out = dict(opts)
    if out.get("sample_weight") == "random":
        out["sample_weight"] = np.random.RandomState(5).uniform(0.2, 2.0, n)
    return out


def _compare(ours, theirs, tol, scale=1.0):
    for key in ("importances", "importances_mean", "importances_std"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=tol * scale)
    assert ours.importances.shape == theirs.importances.shape


@pytest.mark.parametrize("kind", list(REGRESSORS))
def test_regressors_match_sklearn(kind):
    X, y = _regression_data()
    if kind == "gb":
        X = np.nan_to_num(X)
    est = REGRESSORS[kind]().fit(X, y)
    model = tl.load(est)
    for opts in OPTIONS:
        kw = _options(opts, N)
        for scoring in REGRESSORS and REGRESSION_SCORERS:
            theirs = sk_permutation_importance(
                est, X, y, scoring=scoring, n_repeats=3, random_state=11, **kw
            )
            ours = tl.permutation_importance(
                model, X, y, scoring=scoring, n_repeats=3, random_state=11, n_jobs=2, **kw
            )
            scale = 1.0 if scoring in (None, "r2") else float(np.var(y))
            if kind == "xgb":
                scale = max(scale, float(np.var(y)) ** 0.5)
            _compare(ours, theirs, _tolerance(kind), scale)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", list(CLASSIFIERS))
def test_classifiers_match_sklearn(kind, n_classes):
    X, y = _classification_data(n_classes)
    labels = np.array(["cat", "dog", "eel"])[:n_classes]
    est = CLASSIFIERS[kind]()
    if kind in ("xgb",):
        est.fit(X, y)
        y_used = y
    else:
        est.fit(X, labels[y])
        y_used = labels[y]
    scorers = BINARY_SCORERS if n_classes == 2 else MULTICLASS_SCORERS
    for opts in OPTIONS:
        kw = _options(opts, N)
        theirs = sk_permutation_importance(
            est, X, y_used, scoring=[s for s in scorers if s], n_repeats=3, random_state=4, **kw
        )
        ours = tl.permutation_importance(
            est, X, y_used, scoring=[s for s in scorers if s], n_repeats=3, random_state=4, **kw
        )
        assert set(ours) == set(theirs)
        for name in theirs:
            _compare(ours[name], theirs[name], _tolerance(kind))
        default_theirs = sk_permutation_importance(
            est, X, y_used, n_repeats=2, random_state=4, **kw
        )
        default_ours = tl.permutation_importance(est, X, y_used, n_repeats=2, random_state=4, **kw)
        _compare(default_ours, default_theirs, _tolerance(kind))
