"""Permutation importance on models and inputs the main suites do not cover, against
scikit-learn's permutation_importance with the same random_state.

Regressions found by a sweep over unseen models: the logistic link's scale (LightGBM's
``sigmoid`` parameter, GradientBoostingClassifier's exponential loss, whose probability is
``expit(2 * raw)``) was ignored by the native log loss, and XGBoost's float32 probabilities
(which saturate at 1.0, tie, and are clipped by scikit-learn's log loss at float32's epsilon)
were scored as float64 ones. Tolerances: 1e-9 for float64 libraries; XGBoost sums its margins
in float32, so its scores agree to float32 rounding (2e-6).
"""

from __future__ import annotations

import copy

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.inspection import permutation_importance as sk_permutation_importance

import treelens as tl

BINARY = ["accuracy", "balanced_accuracy", "neg_log_loss", "roc_auc", "roc_auc_ovr"]
MULTICLASS = ["accuracy", "balanced_accuracy", "neg_log_loss", "roc_auc_ovr"]
REGRESSION = ["r2", "neg_mean_squared_error", "neg_root_mean_squared_error",
              "neg_mean_absolute_error"]  # fmt: skip


def _data(n=240, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    z = X[:, 0] + 2 * X[:, 1] * (X[:, 2] > 0) + 0.3 * rng.normal(size=n)
    return X, z, rng


def _assert_same(est, X, y, scoring, tol, **kw):
    mine = dict(kw, random_state=copy.deepcopy(kw.get("random_state")))  # a RandomState advances
    theirs = sk_permutation_importance(est, X, y, scoring=scoring, **kw)
    ours = tl.permutation_importance(est, X, y, scoring=scoring, **mine)
    if hasattr(theirs, "importances"):
        theirs, ours = {"": theirs}, {"": ours}
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key].importances.shape == theirs[key].importances.shape
        np.testing.assert_allclose(
            ours[key].importances, theirs[key].importances, rtol=0, atol=tol, err_msg=key
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: GradientBoostingClassifier(n_estimators=10, loss="exponential", random_state=0),
        lambda: lgb.LGBMClassifier(
            n_estimators=10, num_leaves=7, sigmoid=2.0, verbose=-1, n_jobs=1
        ),  # fmt: skip
        lambda: lgb.LGBMClassifier(
            n_estimators=10, num_leaves=7, sigmoid=0.4, verbose=-1, n_jobs=1
        ),  # fmt: skip
    ],
    ids=["gb-exponential", "lgbm-sigmoid-2", "lgbm-sigmoid-0.4"],
)
def test_scaled_logistic_link_matches_sklearn(make):
    X, z, rng = _data()
    y = (z + rng.logistic(size=len(z)) > 0).astype(int)
    est = make().fit(X, y)
    w = rng.uniform(0.1, 2.0, len(y))
    _assert_same(est, X, y, BINARY, 1e-9, n_repeats=3, random_state=3)
    _assert_same(est, X, y, "neg_log_loss", 1e-9, n_repeats=2, random_state=3, max_samples=0.6,
                 sample_weight=w)  # fmt: skip
    # The model's own link agrees with predict_proba too.
    model = tl.load(est)
    proba = model.transform_margin(model.predict(X))
    np.testing.assert_allclose(proba, est.predict_proba(X)[:, 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_confident_xgboost_float32_probabilities_match_sklearn(n_classes):
    # Margins reach +-18: XGBoost's float32 probabilities saturate at 1.0 (ties for the ROC AUC)
    # and fall below float32's epsilon (where scikit-learn's log loss clips them).
    X, z, _ = _data(n=300)
    s = X[:, 0] + X[:, 1]
    y = (s > 0).astype(int) if n_classes == 2 else np.digitize(s, [-0.5, 0.5])
    est = xgb.XGBClassifier(n_estimators=120, max_depth=4, learning_rate=1.0, n_jobs=1)
    est.fit(X, y)
    scorers = BINARY if n_classes == 2 else MULTICLASS
    _assert_same(est, X, y, scorers, 2e-6, n_repeats=3, random_state=0)


CLASSIFIERS = {
    "rf": lambda: RandomForestClassifier(8, random_state=0),
    "gb": lambda: GradientBoostingClassifier(n_estimators=8, random_state=0),
    "hgb-categorical": lambda: HistGradientBoostingClassifier(
        max_iter=8, categorical_features="from_dtype", random_state=0
    ),
    "lgbm-categorical": lambda: lgb.LGBMClassifier(
        n_estimators=8, num_leaves=7, min_child_samples=5, verbose=-1, n_jobs=1
    ),
}


def _frame(n=200, seed=1):
    rng = np.random.RandomState(seed)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(["x", "y", "z", "w"], n)),
            "b": rng.normal(size=n),
        }
    )
    effect = df["c"].map({"x": 1.0, "y": -1.0, "z": 0.5, "w": 0.0}).astype(float)
    z = 2 * df["a"] + effect * df["b"] + 0.2 * rng.normal(size=n)
    return df, z, rng


@pytest.mark.parametrize("labels", ["strings", "odd-ints"])
@pytest.mark.parametrize("kind", sorted(CLASSIFIERS))
def test_frames_labels_and_series_match_sklearn(kind, labels):
    df, z, rng = _frame()
    if labels == "strings":
        y = pd.Series(np.where(z + rng.logistic(size=len(z)) > 0, "yes", "no"))
        scorers = BINARY
    else:  # classes_ == [-1, 3, 7]
        y = pd.Series(np.array([-1, 3, 7])[np.digitize(z, [-1, 1])])
        scorers = MULTICLASS
    X = df if "categorical" in kind else df.assign(c=df["c"].cat.codes)
    est = CLASSIFIERS[kind]().fit(X, y)
    w = rng.uniform(0.2, 2.0, len(y))
    _assert_same(est, X, y, {s: s for s in scorers}, 1e-9, n_repeats=2, random_state=5,
                 max_samples=120, sample_weight=w)  # fmt: skip
    _assert_same(est, X, y, None, 1e-9, n_repeats=1, random_state=np.random.RandomState(2))


@pytest.mark.parametrize(
    "make",
    [
        lambda: HistGradientBoostingRegressor(max_iter=8, loss="poisson", random_state=0),
        lambda: lgb.LGBMRegressor(
            n_estimators=8, num_leaves=7, objective="tweedie", verbose=-1, n_jobs=1
        ),  # fmt: skip
        lambda: lgb.LGBMRegressor(
            n_estimators=8, num_leaves=7, objective="cross_entropy", verbose=-1, n_jobs=1
        ),  # fmt: skip
    ],
    ids=["hgb-poisson", "lgbm-tweedie", "lgbm-cross-entropy"],
)
def test_linked_regressors_match_sklearn(make):
    X, z, rng = _data()
    y = 1 / (1 + np.exp(-z)) if "cross" in repr(make()) else np.exp(0.5 * z)
    est = make().fit(X, y)
    _assert_same(est, X, y, REGRESSION, 1e-9, n_repeats=7, random_state=1, max_samples=0.5,
                 sample_weight=rng.uniform(0.2, 2.0, len(y)))  # fmt: skip


def test_multi_output_extra_trees_and_seeded_global_state():
    X, z, rng = _data()
    Y = np.column_stack([z, X[:, 3] ** 2])
    est = ExtraTreesRegressor(8, max_depth=6, random_state=0).fit(X, Y)
    _assert_same(est, X, Y, REGRESSION, 1e-9, n_repeats=2, random_state=1, max_samples=100,
                 sample_weight=rng.uniform(0.2, 2.0, len(z)))  # fmt: skip
    np.random.seed(42)  # noqa: NPY002 - random_state=None draws from the global state
    theirs = sk_permutation_importance(est, X, Y, n_repeats=3, random_state=None)
    np.random.seed(42)  # noqa: NPY002 - random_state=None draws from the global state
    ours = tl.permutation_importance(est, X, Y, n_repeats=3, random_state=None)
    np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-9)


def test_lightgbm_one_vs_rest_multiclass_matches_sklearn():
    # multiclassova: one sigmoid per class, not normalised; predict is their argmax. Scored
    # natively (it used to be refused); roc_auc_ovr is refused, as scikit-learn refuses it.
    X, z, rng = _data()
    y = np.digitize(z, [-1, 1])
    est = lgb.LGBMClassifier(n_estimators=8, num_leaves=7, objective="multiclassova",
                             verbose=-1, n_jobs=1).fit(X, y)  # fmt: skip
    scorers = ["accuracy", "balanced_accuracy", "neg_log_loss"]
    _assert_same(est, X, y, scorers, 1e-9, n_repeats=3, random_state=2, max_samples=0.7,
                 sample_weight=rng.uniform(0.2, 2.0, len(y)))  # fmt: skip
    _assert_same(est, X, y, None, 1e-9, n_repeats=2, random_state=2)
    with pytest.raises(tl.exceptions.InvalidInputError, match="sum to one"):
        tl.permutation_importance(est, X, y, scoring="roc_auc_ovr")


@pytest.mark.parametrize("library", ["sklearn", "lightgbm", "xgboost"])
def test_reordered_frame_rows_follow_its_columns(library):
    # A DataFrame with the model's names in another order is read in the model's order
    # (model.prepare); the importances must still follow X's columns, as scikit-learn's rows
    # do, and groups must name X's columns. They followed the model's order, and groups given
    # by name permuted the wrong columns.
    rng = np.random.RandomState(0)
    df = pd.DataFrame(rng.normal(size=(120, 4)), columns=["a", "b", "c", "d"])
    y = 3 * df["a"] + df["b"] * df["c"] + 0.1 * rng.normal(size=120)
    est = {
        "sklearn": lambda: HistGradientBoostingRegressor(max_iter=8, random_state=0),
        "lightgbm": lambda: lgb.LGBMRegressor(n_estimators=8, num_leaves=7, verbose=-1),
        "xgboost": lambda: xgb.XGBRegressor(n_estimators=8, max_depth=3, n_jobs=1),
    }[library]().fit(df, y)
    order = ["c", "a", "d", "b"]
    kw = dict(n_repeats=2, random_state=3, scoring="neg_mean_squared_error")
    want = sk_permutation_importance(est, df, y, **kw).importances
    got = tl.permutation_importance(est, df[order], y, **kw).importances
    idx = [list(df.columns).index(c) for c in order]
    np.testing.assert_allclose(got, want[idx], rtol=0, atol=2e-6 if library == "xgboost" else 1e-9)
    groups = [["a", "b"], ["c"], [0, 2]]  # [0, 2] = X's columns "c" and "d"
    got = tl.permutation_importance(est, df[order], y, groups=groups, **kw).importances
    want = tl.permutation_importance(est, df, y, groups=[["a", "b"], ["c"], ["c", "d"]], **kw)
    np.testing.assert_array_equal(got, want.importances)


def _pd_models():
    rng = np.random.RandomState(2)
    X = np.round(rng.normal(size=(40, 3)), 1)
    z = X[:, 0] * X[:, 1] + np.sin(X[:, 2])
    three = np.digitize(z, np.quantile(z, [0.33, 0.66]))
    return X, {
        "gb-3-classes": GradientBoostingClassifier(n_estimators=6, random_state=0).fit(X, three),
        "rf-binary": RandomForestClassifier(5, max_depth=4, random_state=0).fit(X, z > 0),
        "lgbm-poisson": lgb.LGBMRegressor(
            n_estimators=6,
            num_leaves=5,
            objective="poisson",
            min_child_samples=2,
            min_data_in_bin=1,
            n_jobs=1,
            verbose=-1,
        ).fit(X, np.exp(z / 2)),
    }


@pytest.mark.parametrize("name", ["gb-3-classes", "rf-binary", "lgbm-poisson"])
def test_partial_dependence_of_the_response_matches_sklearn_brute(name):
    # treelens' PD follows scikit-learn's response_method: the response is averaged (the
    # positive class only for binary classifiers); response_method="raw" averages the margin,
    # and the response's PD is then the mean of transform_margin over the raw curves.
    from sklearn.inspection import partial_dependence as sk_partial_dependence

    X, models = _pd_models()
    est = models[name]
    model = tl.load(est)
    for cols in ([0], [1, 2]):
        theirs = sk_partial_dependence(est, X, cols, method="brute", grid_resolution=1000)
        ours = tl.partial_dependence(model, X, cols, grid=theirs["grid_values"])
        np.testing.assert_allclose(ours["average"], theirs["average"], rtol=0, atol=1e-12)
        raw = tl.partial_dependence(
            model, X, cols, grid=theirs["grid_values"], kind="both", response_method="raw"
        )
        ice = np.moveaxis(raw["individual"], 0, -1)  # (n, *grid, k)
        response = model.transform_margin(ice if model.n_outputs > 1 else ice[..., 0])
        if response.ndim == ice.ndim - 1:
            response = response[..., None]
        pd_response = np.moveaxis(response.mean(axis=0), -1, 0)
        if name == "rf-binary":  # scikit-learn keeps the positive class only
            assert raw["average"].shape[0] == 2
            pd_response = pd_response[1:]
        np.testing.assert_allclose(pd_response, theirs["average"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            raw["average"], ice.mean(axis=0).transpose(-1, *range(len(cols))), atol=1e-12
        )


def _replicated(X, S):
    """n * n rows: block i is X with the columns S set to row i's values (categories kept)."""
    n = len(X)
    Z = pd.concat([X] * n, ignore_index=True)
    for c in S:
        name = X.columns[c]
        values = X[name].to_numpy()[np.repeat(np.arange(n), n)]
        Z[name] = pd.Series(values, dtype=X[name].dtype)
    return Z


@pytest.mark.parametrize("library", ["hgb", "lightgbm", "xgboost"])
def test_hstats_on_categorical_frames_equal_brute_force(library):
    # Friedman and Popescu's statistics (R hstats' definitions, as hstats documents them) from
    # partial dependence functions computed by predicting on replicated DataFrames.
    rng = np.random.RandomState(4)
    n = 24
    X = pd.DataFrame(
        {
            "a": np.round(rng.normal(size=n), 1),
            "c": pd.Categorical(rng.choice(["x", "y", "z"], n)),
            "b": np.round(rng.normal(size=n), 1),
        }
    )
    y = X["a"] * X["c"].map({"x": 1.0, "y": -1.0, "z": 0.3}).astype(float) + X["b"]
    est = {
        "hgb": lambda: HistGradientBoostingRegressor(
            max_iter=8, min_samples_leaf=2, categorical_features="from_dtype", random_state=0
        ),
        "lightgbm": lambda: lgb.LGBMRegressor(
            n_estimators=8,
            num_leaves=6,
            min_child_samples=2,
            min_data_in_bin=1,
            min_data_per_group=1,
            cat_smooth=0,
            verbose=-1,
            n_jobs=1,
        ),  # fmt: skip
        "xgboost": lambda: xgb.XGBRegressor(
            n_estimators=8, max_depth=3, enable_categorical=True, n_jobs=1
        ),
    }[library]().fit(X, y)
    model = tl.load(est)
    w = rng.uniform(0.2, 2.0, n)

    def wmean(v):
        return (w * v).sum() / w.sum()

    def centred_pd(S):
        pred = model.predict(_replicated(X, S)).reshape(n, n)  # treelens' own predict
        pd_ = (pred * w[None, :]).sum(axis=1) / w.sum()
        return pd_ - wmean(pd_)

    # The oracle's predictions are the library's own (up to XGBoost's float32 sums).
    own = est.predict(_replicated(X, [1]))
    mine = model.transform_margin(model.predict(_replicated(X, [1])))
    np.testing.assert_allclose(mine, own, rtol=0, atol=2e-5 if library == "xgboost" else 1e-12)
    hs = tl.hstats(est, X, sample_weight=w, pairwise_m=None, threeway_m=None)
    assert hs.features == ["a", "c", "b"]
    f = model.predict(X)
    f = f - wmean(f)
    one = [centred_pd([j]) for j in range(3)]
    rest = [centred_pd([k for k in range(3) if k != j]) for j in range(3)]
    den = wmean(f**2)
    overall = np.array([wmean((f - one[j] - rest[j]) ** 2) for j in range(3)])
    overall = np.where(overall < 1e-10, 0.0, overall) / den
    np.testing.assert_allclose(hs.h2_overall(), overall, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hs.h2(), wmean((f - sum(one)) ** 2) / den, rtol=1e-9, atol=1e-12)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        jk = centred_pd([a, b])
        num = wmean((jk - one[a] - one[b]) ** 2)
        if min(overall[a], overall[b]) == 0:  # not selected: documented as NaN
            assert np.isnan(hs.h2_pairwise()[a, b]) and num < 1e-10
            continue
        want = num / wmean(jk**2)
        np.testing.assert_allclose(hs.h2_pairwise()[a, b], want, rtol=1e-9, atol=1e-12)
    t = f  # with three features, the triple's PD is the centred prediction
    d = t - rest[2] - rest[1] - rest[0] + one[0] + one[1] + one[2]
    if min(overall) > 0:
        (value,) = hs.h2_threeway().values()
        np.testing.assert_allclose(value, wmean(d**2) / wmean(t**2), rtol=1e-9, atol=1e-12)
    else:
        assert hs.h2_threeway() == {} and wmean(d**2) < 1e-10


@pytest.mark.parametrize("objective", ["binary:hinge", "binary:logitraw"])
def test_xgboost_margin_classifiers_are_scored_by_sklearn(objective, tmp_path):
    # predict_proba of these objectives is not a probability of the margin: the native scorers
    # used to refuse them ("must have 2 outputs, not 1"); the live estimator is now scored by
    # scikit-learn, and a model without one is refused by name.
    X, z, _ = _data(n=150)
    y = (z > 0).astype(int)
    est = xgb.XGBClassifier(n_estimators=5, max_depth=2, objective=objective, n_jobs=1)
    est.fit(X, y)
    _assert_same(est, X, y, None, 0, n_repeats=2, random_state=1)
    _assert_same(est, X, y, ["accuracy", "roc_auc"], 0, n_repeats=2, random_state=1)
    path = tmp_path / "model.json"
    est.save_model(path)
    with pytest.raises(tl.exceptions.InvalidInputError, match="classes|binary:"):
        tl.permutation_importance(str(path), X, y, scoring="accuracy")


def test_last_bit_leaf_ties_match_sklearn_roc_auc():
    """Two leaves of a tree differing in the last bit: the library's rounded sums tie where
    exact sums do not; near-tied rows are scored on the library's own float sums."""
    rng = np.random.RandomState(7)
    X = np.round(rng.normal(size=(250, 1)), 1)
    y = (2 * X[:, 0] + 0.5 * rng.normal(size=250) > 0).astype(int)
    est = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    _assert_same(est, X, y, "roc_auc", 1e-9, n_repeats=3, random_state=0)


@pytest.mark.parametrize("kind", ["rf_d5", "et_d6", "gb", "hgb", "lgb"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_ties_on_integer_features_match_sklearn(kind, n_classes):
    """Integer features make many rows reach leaves whose float sums tie or nearly tie: ROC AUC
    and accuracy must still equal scikit-learn's exactly."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        RandomForestClassifier,
    )

    make = {
        "rf_d5": lambda: RandomForestClassifier(20, max_depth=5, random_state=0),
        "et_d6": lambda: ExtraTreesClassifier(20, max_depth=6, random_state=0),
        "gb": lambda: GradientBoostingClassifier(n_estimators=20, random_state=0),
        "hgb": lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0),
        "lgb": lambda: pytest.importorskip("lightgbm").LGBMClassifier(
            n_estimators=20, verbose=-1, n_jobs=1
        ),
    }[kind]
    rng = np.random.RandomState(n_classes)
    X = np.round(rng.normal(size=(300, 5)) * 1.5)
    z = X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=300)
    y = (z > 0).astype(int) if n_classes == 2 else np.digitize(z, [-1, 1])
    est = make().fit(X, y)
    for scoring in (
        "accuracy",
        "balanced_accuracy",
        "roc_auc" if n_classes == 2 else "roc_auc_ovr",
    ):
        _assert_same(est, X, y, scoring, 1e-9, n_repeats=3, random_state=1)
