"""Groups against a brute-force oracle, random shapes and seeds, the slow path, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.metrics import make_scorer, mean_squared_error, r2_score, roc_auc_score

import treelens as tl
from treelens.exceptions import InvalidInputError


def _data(n=150, p=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, p))
    y = X[:, 0] + 2 * X[:, 1] * (X[:, 2] > 0) + 0.1 * rng.normal(size=n)
    return X, y


def _brute_force(predict, score, X, y, groups, n_repeats, random_state, max_samples=None, w=None):
    """Importances by direct enumeration: the draws written out, the model predicting every
    permuted matrix in full."""
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1)
    n = X.shape[0]
    baseline = score(y, predict(X), w)
    out = np.zeros((len(groups), n_repeats))
    for g, group in enumerate(groups):
        rng = np.random.RandomState(seed)
        if max_samples is not None and max_samples < n:
            from sklearn.utils.random import sample_without_replacement

            rows = sample_without_replacement(n, max_samples, random_state=rng)
            Xg, yg, wg = X[rows].copy(), y[rows], None if w is None else w[rows]
        else:
            Xg, yg, wg = X.copy(), y, w
        idx = np.arange(Xg.shape[0])
        for r in range(n_repeats):
            rng.shuffle(idx)
            Xg[:, group] = Xg[idx][:, group]
            out[g, r] = baseline - score(yg, predict(Xg), wg)
    return out


def _r2(y, p, w):
    return r2_score(y, p, sample_weight=w)


def test_groups_match_brute_force():
    X, y = _data()
    X[::9, 3] = np.nan
    est = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y)
    model = tl.load(est)
    groups = [[0, 1], [2], [3, 4, 0], [4]]
    w = np.random.RandomState(3).uniform(0.5, 2, X.shape[0])
    for max_samples in (1.0, 100):
        ours = tl.permutation_importance(
            model, X, y, groups=groups, n_repeats=4, random_state=7, sample_weight=w,
            max_samples=max_samples,
        )  # fmt: skip
        want = _brute_force(
            model.predict, _r2, X, y, groups, 4, 7,
            max_samples=None if max_samples == 1.0 else max_samples, w=w,
        )  # fmt: skip
        np.testing.assert_allclose(ours.importances, want, rtol=0, atol=1e-10)
        assert ours.importances.shape == (4, 4)


def test_single_column_groups_equal_columns_and_names_work():
    X, y = _data(p=4)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = RandomForestRegressor(10, max_depth=5, random_state=0).fit(frame, y)
    by_column = tl.permutation_importance(est, frame, y, n_repeats=3, random_state=1)
    by_group = tl.permutation_importance(
        est, frame, y, groups=[["a"], ["b"], ["c"], ["d"]], n_repeats=3, random_state=1
    )
    np.testing.assert_array_equal(by_column.importances, by_group.importances)
    theirs = sk_permutation_importance(est, frame, y, n_repeats=3, random_state=1)
    np.testing.assert_allclose(by_column.importances, theirs.importances, rtol=0, atol=1e-12)
    pair = tl.permutation_importance(est, frame, y, groups=[["a", "c"]], n_repeats=3,
                                     random_state=1)  # fmt: skip
    want = _brute_force(est.predict, _r2, X, y, [[0, 2]], 3, 1)
    np.testing.assert_allclose(pair.importances, want, rtol=0, atol=1e-10)


def test_classifier_groups_with_roc_auc_match_brute_force():
    X, y = _data(n=200)
    labels = (y > 0).astype(int)
    est = RandomForestClassifier(15, random_state=0).fit(X, labels)
    model = tl.load(est)
    groups = [[0, 1], [2, 3]]

    def auc(yy, proba, w):
        return roc_auc_score(yy, proba[:, 1], sample_weight=w)

    ours = tl.permutation_importance(model, X, labels, scoring="roc_auc", groups=groups,
                                     n_repeats=3, random_state=2)  # fmt: skip
    want = _brute_force(est.predict_proba, auc, X, labels, groups, 3, 2)
    np.testing.assert_allclose(ours.importances, want, rtol=0, atol=1e-10)


def test_multi_output_regression_matches_sklearn():
    X, y = _data()
    Y = np.column_stack([y, X[:, 3] - y])
    est = RandomForestRegressor(8, max_depth=5, random_state=0).fit(X, Y)
    for scoring in (None, "neg_mean_absolute_error", "neg_root_mean_squared_error"):
        ours = tl.permutation_importance(est, X, Y, scoring=scoring, n_repeats=3, random_state=0)
        theirs = sk_permutation_importance(est, X, Y, scoring=scoring, n_repeats=3,
                                           random_state=0)  # fmt: skip
        np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-10)


def test_categorical_splits_match_sklearn():
    # Continuous columns besides the categorical one: the leaf sums of different rows do not
    # coincide (see the note on ties in treelens.importance).
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.randint(0, 6, 300), rng.normal(size=300), rng.normal(size=300)])
    X[::13, 0] = np.nan
    logit = (np.nan_to_num(X[:, 0]) % 3 == 1) * 2.0 - 1.0 + X[:, 1] + 0.5 * X[:, 2]
    labels = (logit + rng.logistic(size=300) > 0).astype(int)
    est = HistGradientBoostingClassifier(max_iter=10, categorical_features=[0],
                                         random_state=0).fit(X, labels)  # fmt: skip
    for scoring in ("accuracy", "neg_log_loss", "roc_auc"):
        ours = tl.permutation_importance(est, X, labels, scoring=scoring, n_repeats=4,
                                         random_state=5)  # fmt: skip
        theirs = sk_permutation_importance(est, X, labels, scoring=scoring, n_repeats=4,
                                           random_state=5)  # fmt: skip
        np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-9)


def test_slow_path_scorers_match_sklearn():
    X, y = _data()
    est = GradientBoostingRegressor(n_estimators=10, random_state=0).fit(X, y)
    scorer = make_scorer(mean_squared_error, greater_is_better=False)
    for scoring in (scorer, "explained_variance", ["r2", "explained_variance"],
                    {"mse": scorer, "r2": "r2"}):  # fmt: skip
        ours = tl.permutation_importance(est, X, y, scoring=scoring, n_repeats=2,
                                         random_state=3, max_samples=0.5)  # fmt: skip
        theirs = sk_permutation_importance(est, X, y, scoring=scoring, n_repeats=2,
                                           random_state=3, max_samples=0.5)  # fmt: skip
        if isinstance(theirs, dict) and not hasattr(theirs, "importances"):
            assert set(ours) == set(theirs)
            for key in theirs:
                np.testing.assert_allclose(ours[key].importances, theirs[key].importances,
                                           rtol=0, atol=1e-9)  # fmt: skip
        else:
            np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-9)


def test_random_state_instance_advances_like_sklearn():
    X, y = _data()
    est = RandomForestRegressor(5, max_depth=4, random_state=0).fit(X, y)
    a, b = np.random.RandomState(9), np.random.RandomState(9)
    for _ in range(2):
        ours = tl.permutation_importance(est, X, y, n_repeats=2, random_state=a)
        theirs = sk_permutation_importance(est, X, y, n_repeats=2, random_state=b)
        np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-12)


def test_file_model_without_estimator_refuses_slow_scorers(tmp_path):
    xgb = pytest.importorskip("xgboost")
    X, y = _data()
    est = xgb.XGBRegressor(n_estimators=5, max_depth=3).fit(X, y)
    path = tmp_path / "m.json"
    est.save_model(path)
    model = tl.load(str(path))
    ok = tl.permutation_importance(model, X, y, scoring="neg_mean_squared_error", n_repeats=2)
    assert ok.importances.shape == (5, 2)
    with pytest.raises(InvalidInputError, match="live estimator"):
        tl.permutation_importance(model, X, y, scoring="explained_variance")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y=np.zeros(3)), "rows"),
        (dict(scoring="no_such_scorer"), "unknown scorer"),
        (dict(max_samples=0), "max_samples"),
        (dict(max_samples=1.5), "max_samples"),
        (dict(max_samples=10**6), "max_samples"),
        (dict(n_repeats=0), "n_repeats"),
        (dict(n_repeats=2.5), "n_repeats"),
        (dict(groups=[[0, 99]]), "column"),
        (dict(groups=[[]]), "empty"),
        (dict(sample_weight=np.ones(4)), "sample_weight"),
        (dict(scoring="accuracy"), "classifier"),
    ],
)
def test_bad_input_raises(kwargs, match):
    X, y = _data(n=60)
    est = RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, y)
    args = dict(y=y)
    args.update(kwargs)
    yy = args.pop("y")
    with pytest.raises(InvalidInputError, match=match):
        tl.permutation_importance(est, X, yy, **args)


def test_bad_labels_raise():
    X, y = _data(n=60)
    labels = np.where(y > 0, "yes", "no")
    est = RandomForestClassifier(3, random_state=0).fit(X, labels)
    with pytest.raises(InvalidInputError, match="unknown"):
        tl.permutation_importance(est, X, np.where(y > 0, "yes", "maybe"))
    with pytest.raises(InvalidInputError, match="NaN"):
        tl.permutation_importance(est, X, np.where(y > 0, 1.0, np.nan))
    with pytest.raises(InvalidInputError, match="NaN"):
        reg = RandomForestRegressor(3, random_state=0).fit(X, y)
        tl.permutation_importance(reg, X, np.where(y > 0, y, np.nan))


@given(
    n=st.integers(4, 60),
    p=st.integers(1, 4),
    n_repeats=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    frac=st.sampled_from([1.0, 0.5, 0.9]),
)
def test_random_shapes_and_seeds_match_sklearn(n, p, n_repeats, seed, frac):
    rng = np.random.RandomState(seed % 1000)
    X = rng.normal(size=(n, p)).round(1)
    y = X.sum(axis=1) + rng.normal(size=n)
    est = RandomForestRegressor(4, max_depth=4, random_state=0).fit(X, y)
    kw = dict(n_repeats=n_repeats, random_state=seed, max_samples=frac)
    if int(frac * n) < 1:
        return
    for scoring in ("neg_mean_squared_error", "neg_mean_absolute_error"):
        ours = tl.permutation_importance(est, X, y, scoring=scoring, **kw)
        theirs = sk_permutation_importance(est, X, y, scoring=scoring, **kw)
        np.testing.assert_allclose(ours.importances, theirs.importances, rtol=1e-12, atol=1e-12)


def test_many_repeats_and_small_samples_match_sklearn():
    X, y = _data(n=90, p=3)
    est = RandomForestRegressor(5, max_depth=5, random_state=0).fit(X, y)
    for kw in (
        dict(n_repeats=70),
        dict(n_repeats=3, max_samples=7),
        dict(n_repeats=2, max_samples=89),
    ):
        ours = tl.permutation_importance(est, X, y, random_state=1, **kw)
        theirs = sk_permutation_importance(est, X, y, random_state=1, **kw)
        np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_samples", [5, 500, 995])
def test_numpy_sampler_draws_like_sklearn(n_samples):
    from sklearn.utils.random import sample_without_replacement

    from treelens.importance import _sample_without_replacement_numpy

    want = sample_without_replacement(1000, n_samples, random_state=np.random.RandomState(3))
    got = _sample_without_replacement_numpy(1000, n_samples, np.random.RandomState(3))
    np.testing.assert_array_equal(got, want)
