"""PyOD's IForest wraps scikit-learn's IsolationForest: treelens loads the wrapped forest, whose
margin gives PyOD's decision_function, and explains it as shap does."""

from __future__ import annotations

import numpy as np
import pytest

import treelens as tl
from treelens.exceptions import UnsupportedModelError

shap = pytest.importorskip("shap")
iforest = pytest.importorskip("pyod.models.iforest")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(250, 4))
    X[:5] += 4.0
    return X


def test_margin_gives_pyod_scores(data):
    from sklearn.ensemble._iforest import _average_path_length

    det = iforest.IForest(n_estimators=15, max_features=0.75, random_state=0).fit(data)
    model = tl.load(det)
    assert model.estimator is det
    c = _average_path_length([det.detector_.max_samples_])[0]
    score = -(2.0 ** (-model.predict(data) / c))
    np.testing.assert_allclose(score, det.detector_.score_samples(data), rtol=1e-13)
    # PyOD's outlier score is the negated sklearn decision function.
    np.testing.assert_allclose(
        -(score - det.detector_.offset_), det.decision_function(data), rtol=1e-12, atol=1e-14
    )


def test_matches_shap(data):
    det = iforest.IForest(n_estimators=20, random_state=1).fit(data)
    rows = data[:30]
    ours = tl.TreeExplainer(det)
    theirs = shap.TreeExplainer(det)
    np.testing.assert_allclose(
        ours.shap_values(rows), theirs.shap_values(rows), rtol=1e-10, atol=1e-11
    )
    assert ours.expected_value == pytest.approx(float(np.ravel(theirs.expected_value)[0]))


def test_unfitted_is_refused():
    with pytest.raises(UnsupportedModelError, match="not fitted"):
        tl.load(iforest.IForest())
