"""Prediction parity with scikit-learn: every supported estimator, loss and input form.

scikit-learn computes in float64 (after rounding inputs to float32 for CART trees), as treelens
does, so the margins agree to 1e-12 relative (the sums may differ in summation order only).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import ensemble as E
from sklearn import tree as T

import treelens as tl

from _parity import assert_parity, edge_rows, hgb_thresholds, orders, sklearn_thresholds

RTOL, ATOL = 1e-12, 1e-13

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n, p = 240, 5
    X = rng.normal(size=(n, p))
    X[:, 3] = rng.integers(0, 6, n)  # repeated values: thresholds lie between them
    X[:, 4] = np.round(X[:, 4], 1)
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.3 * (X[:, 3] % 3) + 0.1 * rng.normal(size=n)
    Xnan = X.copy()
    Xnan[rng.random((n, p)) < 0.08] = np.nan
    yb = (y > np.median(y)).astype(int)
    y3 = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    return dict(rng=rng, X=X, Xnan=Xnan, y=y, yb=yb, y3=y3, Y2=np.c_[y, X[:, 2] ** 2])


def _check(label, est, X, method, *, rng, finite_only=False, nan_ok=True):
    """Compares treelens with ``est.<method>`` on X, edge rows and every dtype / memory order."""
    model = tl.load(est)
    if hasattr(est, "_predictors"):
        thresholds = hgb_thresholds(est)
    else:
        thresholds = sklearn_thresholds(est)
    Xe = edge_rows(X, thresholds, rng=rng)
    keep = np.ones(len(Xe), dtype=bool)
    if finite_only:  # sklearn's CART estimators refuse +-inf (and values beyond float32)
        keep &= np.all(np.isnan(Xe) | (np.abs(Xe) < 3e38), axis=1)
    if not nan_ok:
        keep &= ~np.isnan(Xe).any(axis=1)
    Xe = Xe[keep]
    for form, Xf in orders(Xe).items():
        if form.startswith("f32"):
            Xf = Xf[np.all(np.isnan(Xf) | np.isfinite(Xf), axis=1)]
        ref = np.asarray(getattr(est, method)(Xf), dtype=np.float64)
        if ref.ndim == 2 and ref.shape[1] == 1:
            ref = ref[:, 0]
        assert_parity(model.predict(Xf), ref, rtol=RTOL, atol=ATOL, label=f"sklearn {label}")
    return model


# --- CART trees and forests -------------------------------------------------------------------

REGRESSORS = {
    "DecisionTreeRegressor": lambda: T.DecisionTreeRegressor(max_depth=6, random_state=0),
    "ExtraTreeRegressor": lambda: T.ExtraTreeRegressor(max_depth=6, random_state=0),
    "RandomForestRegressor": lambda: E.RandomForestRegressor(
        n_estimators=12, max_depth=6, random_state=0
    ),
    "ExtraTreesRegressor": lambda: E.ExtraTreesRegressor(
        n_estimators=12, max_depth=6, random_state=0
    ),
}
CLASSIFIERS = {
    "DecisionTreeClassifier": lambda: T.DecisionTreeClassifier(max_depth=6, random_state=0),
    "ExtraTreeClassifier": lambda: T.ExtraTreeClassifier(max_depth=6, random_state=0),
    "RandomForestClassifier": lambda: E.RandomForestClassifier(
        n_estimators=12, max_depth=6, random_state=0
    ),
    "ExtraTreesClassifier": lambda: E.ExtraTreesClassifier(
        n_estimators=12, max_depth=6, random_state=0
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSORS))
@pytest.mark.parametrize("targets", [1, 2])
@pytest.mark.parametrize("missing", [False, True])
def test_cart_regressors(data, name, targets, missing):
    X = data["Xnan"] if missing else data["X"]
    y = data["y"] if targets == 1 else data["Y2"]
    est = REGRESSORS[name]().fit(X, y)
    model = _check(
        f"{name} {targets}-target{' NaN' if missing else ''}",
        est,
        X,
        "predict",
        rng=data["rng"],
        finite_only=True,
    )
    assert model.n_outputs == targets
    assert model.link == "identity" and model.classes is None


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
@pytest.mark.parametrize("labels", ["yb", "y3"])
@pytest.mark.parametrize("missing", [False, True])
def test_cart_classifiers_probabilities(data, name, labels, missing):
    X = data["Xnan"] if missing else data["X"]
    y = np.array(["neg", "pos", "mid"])[data[labels]]
    est = CLASSIFIERS[name]().fit(X, y)
    model = _check(
        f"{name} {len(est.classes_)}-class{' NaN' if missing else ''}",
        est,
        X,
        "predict_proba",
        rng=data["rng"],
        finite_only=True,
    )
    # One output per class, binary included, in the estimator's class order.
    assert model.n_outputs == len(est.classes_)
    assert model.margin_is_probability
    np.testing.assert_array_equal(model.classes, est.classes_)


def test_cart_infinities_follow_the_tree(data):
    """sklearn's predict refuses +-inf, but its trees route them: compare with tree_.predict."""
    est = E.RandomForestRegressor(n_estimators=5, max_depth=5, random_state=0)
    est.fit(data["Xnan"], data["y"])
    X = data["X"][:20].copy()
    X[:10, 0] = np.inf
    X[10:, 1] = -np.inf
    X[::3, 2] = 1e300  # beyond float32: rounds to +inf
    x32 = X.astype(np.float32)
    ref = np.mean([e.tree_.predict(x32)[:, 0] for e in est.estimators_], axis=0)
    assert_parity(tl.load(est).predict(X), ref, rtol=RTOL, atol=ATOL, label="sklearn RF +-inf")


def test_sklearn_regressor_with_sample_weight_and_dataframe(data):
    cols = [f"c{i}" for i in range(data["X"].shape[1])]
    df = pd.DataFrame(data["Xnan"], columns=cols)
    w = np.random.default_rng(0).uniform(0.1, 3, len(df))
    est = E.RandomForestRegressor(n_estimators=8, max_depth=5, random_state=0)
    est.fit(df, data["y"], sample_weight=w)
    model = tl.load(est)
    assert model.feature_names == cols
    assert_parity(model.predict(df), est.predict(df), rtol=RTOL, atol=ATOL, label="sklearn RF df")
    # The same names in another order are put back in the model's order.
    shuffled = df[cols[::-1]]
    assert_parity(model.predict(shuffled), est.predict(df), rtol=RTOL, atol=ATOL)


# --- GradientBoosting -------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "huber", "quantile"])
@pytest.mark.parametrize("init", [None, "zero"])
def test_gradient_boosting_regressor(data, loss, init):
    est = E.GradientBoostingRegressor(
        loss=loss, init=init, n_estimators=15, max_depth=3, learning_rate=0.3, random_state=0
    ).fit(data["X"], data["y"])
    model = _check(
        f"GradientBoostingRegressor {loss}{' init=zero' if init else ''}",
        est,
        data["X"],
        "predict",
        rng=data["rng"],
        finite_only=True,
        nan_ok=False,
    )
    assert model.link == "identity"


@pytest.mark.parametrize(
    "labels,loss", [("yb", "log_loss"), ("yb", "exponential"), ("y3", "log_loss")]
)
@pytest.mark.parametrize("init", [None, "zero"])
def test_gradient_boosting_classifier(data, labels, loss, init):
    est = E.GradientBoostingClassifier(
        loss=loss, init=init, n_estimators=10, max_depth=3, random_state=0
    ).fit(data["X"], data[labels])
    k = len(est.classes_)
    model = _check(
        f"GradientBoostingClassifier {k}-class {loss}{' init=zero' if init else ''}",
        est,
        data["X"],
        "decision_function",
        rng=data["rng"],
        finite_only=True,
        nan_ok=False,
    )
    assert model.n_outputs == (1 if k == 2 else k)
    if loss == "log_loss":
        proba = est.predict_proba(data["X"])
        natural = model.transform_margin(model.predict(data["X"]))
        if k == 2:
            natural = np.c_[1 - natural, natural]
        np.testing.assert_allclose(natural, proba, rtol=1e-10, atol=1e-12)


def test_gradient_boosting_with_subsample_and_max_features(data):
    est = E.GradientBoostingRegressor(
        n_estimators=10, subsample=0.6, max_features=2, random_state=1
    ).fit(data["X"], data["y"])
    _check(
        "GradientBoostingRegressor subsample",
        est,
        data["X"],
        "predict",
        rng=data["rng"],
        finite_only=True,
        nan_ok=False,
    )


# --- HistGradientBoosting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss", ["squared_error", "absolute_error", "poisson", "gamma", "quantile"]
)
def test_hist_gradient_boosting_regressor(data, loss):
    y = data["y"]
    if loss in ("poisson", "gamma"):
        y = np.exp(y / 2)
    kw = {"quantile": 0.3} if loss == "quantile" else {}
    est = E.HistGradientBoostingRegressor(loss=loss, max_iter=15, max_leaf_nodes=8, **kw)
    est.fit(data["Xnan"], y)
    # predict is the link of the raw margin: compare with the raw prediction.
    model = _check(
        f"HistGradientBoostingRegressor {loss}", est, data["Xnan"], "_raw_predict", rng=data["rng"]
    )
    natural = model.transform_margin(model.predict(data["Xnan"]))
    np.testing.assert_allclose(natural, est.predict(data["Xnan"]), rtol=1e-12)
    assert model.link == ("exp" if loss in ("poisson", "gamma") else "identity")


@pytest.mark.parametrize("labels", ["yb", "y3"])
def test_hist_gradient_boosting_classifier(data, labels):
    est = E.HistGradientBoostingClassifier(max_iter=10, max_leaf_nodes=8).fit(
        data["Xnan"], data[labels]
    )
    k = len(est.classes_)
    model = _check(
        f"HistGradientBoostingClassifier {k}-class",
        est,
        data["Xnan"],
        "decision_function",
        rng=data["rng"],
    )
    assert model.link == ("logistic" if k == 2 else "softmax")


def test_hist_gradient_boosting_nan_only_at_predict_time(data):
    """Trained without NaN: sklearn sends NaN to the child with most samples."""
    est = E.HistGradientBoostingRegressor(max_iter=10).fit(data["X"], data["y"])
    _check(
        "HistGradientBoostingRegressor NaN unseen", est, data["Xnan"], "predict", rng=data["rng"]
    )


def _categorical_data(data):
    X = data["X"].copy()
    rng = np.random.default_rng(3)
    X[rng.random(len(X)) < 0.1, 3] = np.nan
    Xt = X.copy()
    # Unknown categories (6..9, 100), negative, non-integer and NaN at predict time.
    Xt[:12, 3] = [6, 7, 9, 100, -1, -0.5, 2.5, np.nan, 0, 5, 1e9, 3]
    return X, Xt


@pytest.mark.parametrize("spec", ["index", "mask"])
def test_hist_gradient_boosting_categorical_numpy(data, spec):
    X, Xt = _categorical_data(data)
    cats = [3] if spec == "index" else [False, False, False, True, False]
    est = E.HistGradientBoostingRegressor(max_iter=15, categorical_features=cats).fit(X, data["y"])
    model = tl.load(est)
    for Xf in (X, Xt):
        assert_parity(
            model.predict(Xf),
            est.predict(Xf),
            rtol=RTOL,
            atol=ATOL,
            label=f"sklearn HistGradientBoostingRegressor categorical ({spec})",
        )


@pytest.mark.parametrize("classes", [2, 3])
def test_hist_gradient_boosting_categorical_from_dtype(data, classes):
    rng = np.random.default_rng(5)
    n = len(data["X"])
    letters = np.array(list("pqrstu"))
    df = pd.DataFrame(
        {
            "a": data["X"][:, 0],
            "s": pd.Categorical(letters[data["X"][:, 3].astype(int)]),
            "b": data["Xnan"][:, 1],
            "t": pd.Categorical(rng.choice(["lo", "hi", "mid"], n)),
        }
    )
    df.loc[rng.random(n) < 0.1, "s"] = np.nan
    y = data["y"] + (df["t"] == "hi") * 1.5
    y = np.digitize(y, np.quantile(y, [0.5] if classes == 2 else [0.33, 0.66]))
    est = E.HistGradientBoostingClassifier(max_iter=10, categorical_features="from_dtype")
    method = "decision_function"
    est.fit(df, y)
    model = tl.load(est)
    assert model.feature_names == ["a", "s", "b", "t"]
    unseen = df.copy()
    unseen["s"] = pd.Categorical(unseen["s"].astype(object).where(rng.random(n) > 0.2, "zzz"))
    # Categories in another order (codes differ, values are the same).
    recoded = df.copy()
    recoded["t"] = recoded["t"].cat.reorder_categories(["mid", "lo", "hi"])
    for frame in (df, unseen, recoded, df[["t", "b", "s", "a"]]):
        ref = getattr(est, method)(frame)
        assert_parity(
            model.predict(frame),
            ref,
            rtol=RTOL,
            atol=ATOL,
            label=f"sklearn HistGradientBoostingClassifier {classes}-class pandas cat.",
        )


def test_hist_gradient_boosting_categorical_regressor_from_dtype(data):
    rng = np.random.default_rng(6)
    n = len(data["X"])
    df = pd.DataFrame(
        {"a": data["Xnan"][:, 0], "s": pd.Categorical(rng.choice(["x", "y", "z", "w"], n))}
    )
    y = data["y"] + df["s"].cat.codes.to_numpy()
    est = E.HistGradientBoostingRegressor(max_iter=10, categorical_features="from_dtype").fit(df, y)
    model = tl.load(est)
    unseen = df.assign(s=pd.Categorical(df["s"].astype(object).where(rng.random(n) > 0.2, "v")))
    for frame in (df, unseen):
        assert_parity(
            model.predict(frame),
            est.predict(frame),
            rtol=RTOL,
            atol=ATOL,
            label="sklearn HistGradientBoostingRegressor pandas categorical",
        )


def test_warm_started_forest_and_early_stopped_hgb(data):
    est = E.RandomForestRegressor(n_estimators=4, warm_start=True, random_state=0)
    est.fit(data["X"], data["y"])
    est.set_params(n_estimators=8)
    est.fit(data["X"], data["y"])
    _check(
        "RandomForestRegressor warm start",
        est,
        data["X"],
        "predict",
        rng=data["rng"],
        finite_only=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hgb = E.HistGradientBoostingRegressor(
            max_iter=200, early_stopping=True, n_iter_no_change=2, validation_fraction=0.3
        ).fit(data["X"], data["y"])
    assert hgb.n_iter_ < 200
    _check(
        "HistGradientBoostingRegressor early stopping", hgb, data["X"], "predict", rng=data["rng"]
    )
