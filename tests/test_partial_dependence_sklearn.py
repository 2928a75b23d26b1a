"""partial_dependence follows scikit-learn's conventions: response_method, the default grid
(mquantiles), categorical features and the result's layout, checked against
sklearn.inspection.partial_dependence(method="brute") (which predicts on replicated data, a
brute-force oracle) and drawn by PartialDependenceDisplay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import treelens as tl
from treelens.exceptions import InvalidInputError
from treelens.partial_dependence import mquantiles


def _data(seed=0, n=160):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 3] = np.round(X[:, 3])  # few distinct values: its grid is them
    y = X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * X[:, 3]
    return X, y


def _estimator(name, X, y):
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn import ensemble

    binary = (y > 0).astype(int)
    classes = np.digitize(y, [-0.5, 0.5])
    counts = np.exp(y / 3)
    return {
        "gb-regressor": lambda: ensemble.GradientBoostingRegressor(n_estimators=8).fit(X, y),
        "gb-binary": lambda: ensemble.GradientBoostingClassifier(n_estimators=8).fit(X, binary),
        "gb-multiclass": lambda: ensemble.GradientBoostingClassifier(n_estimators=5).fit(
            X, classes
        ),
        "rf-binary": lambda: ensemble.RandomForestClassifier(n_estimators=4, random_state=0).fit(
            X, binary
        ),
        "rf-multiclass": lambda: ensemble.RandomForestClassifier(
            n_estimators=4, random_state=0
        ).fit(X, classes),
        "hgb-poisson": lambda: ensemble.HistGradientBoostingRegressor(
            max_iter=8, loss="poisson"
        ).fit(X, counts),
        "xgb-binary": lambda: xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1).fit(
            X, binary
        ),
        "lgb-multiclass": lambda: lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, classes),
        "lgb-poisson": lambda: lgb.LGBMRegressor(
            n_estimators=5, objective="poisson", verbose=-1
        ).fit(X, counts),
    }[name]()


KINDS = [
    ("gb-regressor", "auto"),
    ("gb-binary", "auto"),
    ("gb-binary", "decision_function"),
    ("gb-multiclass", "predict_proba"),
    ("gb-multiclass", "decision_function"),
    ("rf-binary", "auto"),
    ("rf-multiclass", "auto"),
    ("hgb-poisson", "auto"),
    ("xgb-binary", "predict_proba"),
    ("lgb-multiclass", "auto"),
    ("lgb-poisson", "auto"),
]


@pytest.mark.parametrize(("name", "response_method"), KINDS)
@pytest.mark.parametrize("features", [[0], [2, 3]])
def test_equals_sklearn_brute(name, response_method, features):
    """Same grid (bit for bit), same layout, same numbers as scikit-learn's brute method."""
    from sklearn.inspection import partial_dependence as sk_partial_dependence

    X, y = _data()
    est = _estimator(name, X, y)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    ref = sk_partial_dependence(
        est,
        X,
        features,
        method="brute",
        kind="both",
        response_method=response_method,
        grid_resolution=12,
        sample_weight=w,
    )
    res = tl.partial_dependence(
        est,
        X,
        features,
        kind="both",
        response_method=response_method,
        grid_resolution=12,
        sample_weight=w,
    )
    assert len(res.grid_values) == len(ref["grid_values"])
    for mine, theirs in zip(res.grid_values, ref["grid_values"]):
        np.testing.assert_array_equal(mine, theirs)
    # XGBoost sums its trees in float32 in its own predict_proba.
    tol = 1e-6 if name.startswith("xgb") else 1e-10
    for key in ("average", "individual"):
        assert res[key].shape == ref[key].shape
        np.testing.assert_allclose(res[key], ref[key], rtol=tol, atol=tol)


def test_classifier_default_is_probability_not_log_odds():
    X, y = _data(2)
    est = _estimator("gb-binary", X, y)
    proba = tl.partial_dependence(est, X, [0], grid_resolution=5)
    raw = tl.partial_dependence(est, X, [0], grid_resolution=5, response_method="raw")
    assert np.all((proba.average > 0) & (proba.average < 1))
    ice = tl.partial_dependence(est, X, [0], grid_resolution=5, kind="individual")
    # The mean of the probabilities, not the probability of the mean log-odds.
    np.testing.assert_allclose(proba.average[0], ice.individual[0].mean(axis=0), rtol=1e-12)
    assert not np.allclose(proba.average, 1 / (1 + np.exp(-raw.average)), rtol=1e-6)


@given(
    values=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=60
    ),
    lo=st.floats(0, 1),
    hi=st.floats(0, 1),
)
def test_mquantiles_equals_scipy(values, lo, hi):
    from scipy.stats.mstats import mquantiles as scipy_mquantiles

    np.testing.assert_array_equal(
        mquantiles(np.array(values), [lo, hi]),
        np.asarray(scipy_mquantiles(np.array(values), prob=[lo, hi])),
    )


def test_categorical_features_use_their_values():
    X, y = _data(3)
    X[:, 1] = np.random.default_rng(3).integers(0, 40, len(X))
    est = _estimator("gb-regressor", X, y)
    for spec in ([1], [False, True, False, False], ["x1"]):
        res = tl.partial_dependence(est, X, [1], categorical_features=spec, grid_resolution=5)
        np.testing.assert_array_equal(res.grid_values[0], np.unique(X[:, 1]))
    named = tl.partial_dependence(
        est, X, "b", feature_names=list("abcd"), categorical_features=["b"], grid_resolution=5
    )
    np.testing.assert_array_equal(named.grid_values[0], np.unique(X[:, 1]))
    assert named.features == ["b"]
    plain = tl.partial_dependence(est, X, [1], grid_resolution=5)
    assert plain.grid_values[0].size == 5


def test_display_draws_the_result():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import PartialDependenceDisplay

    X, y = _data(4)
    est = _estimator("gb-binary", X, y)
    results = [tl.partial_dependence(est, X, f, kind="both", grid_resolution=8) for f in (0, 3)]
    deciles = {j: np.quantile(X[:, j], np.arange(0.1, 1.0, 0.1)) for j in (0, 3)}
    display = PartialDependenceDisplay(
        results,
        features=[(0,), (3,)],
        feature_names=["a", "b", "c", "d"],
        target_idx=0,
        deciles=deciles,
        kind="both",
    )
    display.plot()
    # One axes per feature; each with the ICE lines of every row and the average last.
    assert display.lines_.shape == (1, 2, len(X) + 1)
    for j, res in enumerate(results):
        drawn = display.lines_[0, j, -1]
        np.testing.assert_array_equal(drawn.get_xdata(), res.grid_values[0])
        np.testing.assert_allclose(drawn.get_ydata(), res.average[0])
    plt.close("all")


def test_refusals():
    X, y = _data(5)
    regressor = _estimator("gb-regressor", X, y)
    forest = _estimator("rf-binary", X, y)
    with pytest.raises(InvalidInputError, match="recursion"):
        tl.partial_dependence(regressor, X, [0], method="recursion")
    with pytest.raises(InvalidInputError, match="classifiers"):
        tl.partial_dependence(regressor, X, [0], response_method="predict_proba")
    with pytest.raises(InvalidInputError, match="decision_function"):
        tl.partial_dependence(forest, X, [0], response_method="decision_function")
    with pytest.raises(InvalidInputError, match="grid_resolution"):
        tl.partial_dependence(regressor, X, [0], grid_resolution=1)
    with pytest.raises(InvalidInputError, match="percentiles"):
        tl.partial_dependence(regressor, X, [0], percentiles=(0.9, 0.1))
    constant = X.copy()
    constant[:, 0] = 1.0
    constant[:3, 0] = [0.0, 2.0, 3.0]
    with pytest.raises(InvalidInputError, match="too close"):
        tl.partial_dependence(regressor, constant, [0], grid_resolution=3)
