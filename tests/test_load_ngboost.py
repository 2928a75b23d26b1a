"""NGBoost: one output per distribution parameter (NGBoost's internal parameterisation), equal
to ``pred_param``; SHAP of output j equals shap's ``TreeExplainer(ngb, model_output=j)``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import treelens as tl
from treelens.exceptions import UnsupportedModelError

shap = pytest.importorskip("shap")
ngboost = pytest.importorskip("ngboost")
from ngboost.distns import Exponential, k_categorical  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(250, 5))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.3 * rng.normal(size=250) * (1 + (X[:, 2] > 0))
    return X, y


def _close(got, want):
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * scale)


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(col_sample=0.6, minibatch_frac=0.7)],
    ids=["default", "column_and_row_sampling"],
)
def test_normal_regressor_params(data, kw):
    X, y = data
    ngb = ngboost.NGBRegressor(n_estimators=25, verbose=False, random_state=0, **kw).fit(X, y)
    model = tl.load(ngb)
    assert model.n_outputs == 2 and model.output_names == ["loc", "scale"]
    _close(model.predict(X), ngb.pred_param(X))
    _close(model.predict(X)[:, 0], ngb.predict(X))  # Normal's mean is its loc
    assert list(tl.TreeExplainer(ngb)(X[:3]).output_names) == ["loc", "scale"]


def test_other_distributions(data):
    X, y = data
    exp = ngboost.NGBRegressor(Dist=Exponential, n_estimators=15, verbose=False, random_state=0)
    exp.fit(X, np.exp(y / 4))
    _close(tl.load(exp).predict(X), exp.pred_param(X)[:, 0])
    labels = np.digitize(y, [0.0, 1.0])
    clf = ngboost.NGBClassifier(Dist=k_categorical(3), n_estimators=15, verbose=False)
    clf.fit(X, labels)
    _close(tl.load(clf).predict(X), clf.pred_param(X))


@pytest.mark.parametrize("output", [0, 1])
def test_matches_shap_model_output(data, output):
    X, y = data
    ngb = ngboost.NGBRegressor(n_estimators=25, verbose=False, random_state=0).fit(X, y)
    rows = X[:30]
    ours = tl.TreeExplainer(ngb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = shap.TreeExplainer(ngb, model_output=output)
    np.testing.assert_allclose(
        ours.shap_values(rows)[..., output], theirs.shap_values(rows), rtol=1e-9, atol=1e-12
    )
    assert ours.expected_value[output] == pytest.approx(
        float(np.ravel(theirs.expected_value)[0]), rel=1e-12
    )
    np.testing.assert_allclose(
        ours.shap_values(rows).sum(axis=1) + ours.expected_value,
        ngb.pred_param(rows),
        rtol=1e-9,
        atol=1e-12,
    )


def test_other_base_learners_are_refused(data):
    from sklearn.linear_model import Ridge

    X, y = data
    ngb = ngboost.NGBRegressor(Base=Ridge(), n_estimators=3, verbose=False).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="Ridge"):
        tl.load(ngb)


def test_unfitted_is_refused():
    with pytest.raises(UnsupportedModelError, match="not fitted"):
        tl.load(ngboost.NGBRegressor())
