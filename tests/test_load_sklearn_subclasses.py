"""Subclasses of scikit-learn's tree models, from other packages or the user's own, load by
``isinstance``: imbalanced-learn's BalancedRandomForestClassifier, a user's RandomForestRegressor
and HistGradientBoostingClassifier; their predictions and SHAP values match the library's and
shap's. Ensembles that are not scikit-learn forests (bagging of pipelines) are refused."""

from __future__ import annotations

import numpy as np
import pytest

import treelens as tl
from treelens.exceptions import UnsupportedModelError

shap = pytest.importorskip("shap")
imblearn_ensemble = pytest.importorskip("imblearn.ensemble")
from sklearn.ensemble import (  # noqa: E402
    HistGradientBoostingClassifier,
    RandomForestRegressor,
)


class MyForest(RandomForestRegressor):
    """A user's subclass, defined outside scikit-learn."""

    def predict_twice(self, X):
        return 2 * self.predict(X)


class MyBoosting(HistGradientBoostingClassifier):
    pass


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] - 2 * X[:, 1] * (X[:, 2] > 0) + 0.2 * rng.normal(size=300)
    return X, y, (y > 0.8).astype(int)


def test_balanced_random_forest(data):
    X, _, yc = data
    est = imblearn_ensemble.BalancedRandomForestClassifier(
        n_estimators=12, max_depth=6, random_state=0, sampling_strategy="all", replacement=True,
        bootstrap=False,
    ).fit(X, yc)  # fmt: skip
    model = tl.load(est)
    np.testing.assert_allclose(model.predict(X), est.predict_proba(X), rtol=1e-12, atol=1e-15)
    rows = X[:30]
    ours = tl.TreeExplainer(est)
    theirs = shap.TreeExplainer(est)
    np.testing.assert_allclose(
        ours.shap_values(rows), theirs.shap_values(rows), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(ours.expected_value, theirs.expected_value, rtol=1e-12)


def test_user_subclass_of_random_forest(data):
    X, y, _ = data
    est = MyForest(n_estimators=10, max_depth=6, random_state=0).fit(X, y)
    assert type(est).__module__ != "sklearn.ensemble._forest"
    model = tl.load(est)
    np.testing.assert_allclose(model.predict(X), est.predict(X), rtol=1e-12, atol=1e-12)
    rows = X[:30]
    np.testing.assert_allclose(
        tl.TreeExplainer(est).shap_values(rows),
        shap.TreeExplainer(est).shap_values(rows),
        rtol=1e-9,
        atol=1e-12,
    )


def test_user_subclass_of_hist_gradient_boosting(data):
    X, _, yc = data
    est = MyBoosting(max_iter=15, random_state=0).fit(X, yc)
    model = tl.load(est)
    assert model.link == "logistic"
    np.testing.assert_allclose(model.predict(X), est.decision_function(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(model.classes, est.classes_)


def test_bagging_of_pipelines_is_refused(data):
    X, _, yc = data
    est = imblearn_ensemble.BalancedBaggingClassifier(n_estimators=3, random_state=0).fit(X, yc)
    with pytest.raises(UnsupportedModelError, match="BalancedBaggingClassifier"):
        tl.load(est)
