"""The benchmark workloads named in the issues, built once and cached on disk.

W1: xgboost.XGBRegressor(n_estimators=500, max_depth=6, tree_method="hist") trained on
make_regression(n_samples=20000, n_features=50, n_informative=20, noise=1.0, random_state=0).
RF: RandomForestRegressor(100 trees, max_depth=12) on the same data.
RFC: RandomForestClassifier(200 trees, unlimited depth) on 10,000 rows of
make_classification(n_samples=20000, n_features=50, n_informative=20, random_state=0).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("TREELENS_BENCH_CACHE", Path.home() / ".cache" / "treelens-bench"))


def _cached(name: str, build):
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.pkl"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    value = build()
    with path.open("wb") as f:
        pickle.dump(value, f)
    return value


def regression_data():
    from sklearn.datasets import make_regression

    X, y = make_regression(
        n_samples=20000, n_features=50, n_informative=20, noise=1.0, random_state=0
    )
    return X.astype(np.float64), y


def w1():
    """(model, X, y): the W1 XGBoost regressor and its training data."""

    def build():
        import xgboost as xgb

        X, y = regression_data()
        model = xgb.XGBRegressor(
            n_estimators=500, max_depth=6, tree_method="hist", n_jobs=2, random_state=0
        )
        model.fit(X, y)
        return model, X, y

    return _cached("w1", build)


def random_forest_regressor():
    """(model, X, y): RandomForestRegressor(100 trees, max_depth=12) on the W1 data."""

    def build():
        from sklearn.ensemble import RandomForestRegressor

        X, y = regression_data()
        model = RandomForestRegressor(n_estimators=100, max_depth=12, n_jobs=2, random_state=0)
        model.fit(X, y)
        return model, X, y

    return _cached("rf_regressor", build)


def random_forest_classifier():
    """(model, X_test, y_test): RandomForestClassifier(200 trees), fitted on the first half."""

    def build():
        from sklearn.datasets import make_classification
        from sklearn.ensemble import RandomForestClassifier

        X, y = make_classification(n_samples=20000, n_features=50, n_informative=20, random_state=0)
        model = RandomForestClassifier(n_estimators=200, n_jobs=2, random_state=0)
        model.fit(X[:10000], y[:10000])
        return model, X[10000:], y[10000:]

    return _cached("rf_classifier", build)


def lightgbm_large():
    """(booster, X, y): LightGBM, 1,000 trees of up to 255 leaves, on the W1 data (50 features)."""

    def build():
        import lightgbm as lgb

        X, y = regression_data()
        params = {"num_leaves": 255, "verbose": -1, "num_threads": 2, "seed": 0}
        booster = lgb.train(params, lgb.Dataset(X, y), 1000)
        # Pickled as text: a Booster pickles through its model string anyway.
        return booster.model_to_string(), X, y

    import lightgbm as lgb

    text, X, y = _cached("lightgbm_large", build)
    return lgb.Booster(model_str=text), X, y
