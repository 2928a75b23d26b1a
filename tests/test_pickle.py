"""Loaded models and explainers survive pickling (joblib, multiprocessing) unchanged."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

import treelens as tl

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) > 0).astype(int)
    return X, y


def test_forest_model_and_explainer_round_trip():
    X, y = _data()
    est = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0)
    est.fit(np.nan_to_num(X), y)
    model = tl.load(est)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.forest.n_nodes == model.forest.n_nodes
    ex = pickle.loads(pickle.dumps(tl.TreeExplainer(model)))
    np.testing.assert_array_equal(
        ex.shap_values(X[:20]), tl.TreeExplainer(model).shap_values(X[:20])
    )


def test_categorical_model_round_trip():
    X, y = _data()
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame["c"] = pd.Categorical(np.where(X[:, 2] > 0, "hi", "lo"))
    est = HistGradientBoostingClassifier(
        max_iter=10, categorical_features="from_dtype", random_state=0
    ).fit(frame, y)
    model = tl.load(est)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(frame), model.predict(frame))
    np.testing.assert_allclose(again.predict(frame), est.decision_function(frame), rtol=1e-12)
