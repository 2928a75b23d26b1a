"""Prediction parity with LightGBM: objectives, boosting modes, missing types, categories, files.

LightGBM predicts in float64 with the thresholds written to its model text at full precision,
so ``predict(raw_score=True)`` and treelens agree to 1e-9 (in practice exactly).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import treelens as tl

from _parity import assert_parity, edge_rows, lgb_thresholds, orders

RTOL = ATOL = 1e-9

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

BASE = {"verbose": -1, "num_threads": 1, "num_leaves": 8, "min_data_in_leaf": 5, "seed": 0}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(13)
    n, p = 300, 5
    X = rng.normal(size=(n, p))
    X[:, 3] = rng.integers(0, 8, n)
    X[:, 4] = np.round(X[:, 4])  # many exact zeros
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.4 * (X[:, 3] % 3) + 0.3 * X[:, 4]
    y = y + 0.1 * rng.normal(size=n)
    Xnan = X.copy()
    Xnan[rng.random((n, p)) < 0.1] = np.nan
    Xnan[rng.random((n, p)) < 0.05] = 0.0
    return dict(
        rng=rng,
        X=X,
        Xnan=Xnan,
        y=y,
        yb=(y > np.median(y)).astype(int),
        y3=np.digitize(y, np.quantile(y, [0.33, 0.66])),
        ypos=np.exp(y / 3),
    )


def _train(params, X, y, rounds=12, **dataset):
    return lgb.train({**BASE, **params}, lgb.Dataset(X, y, **dataset), rounds)


def _check(label, booster, X, *, model=None, ref=None):
    model = tl.load(booster) if model is None else model
    if ref is None:
        ref = booster.predict(X, raw_score=True)
    assert_parity(model.predict(X), ref, rtol=RTOL, atol=ATOL, label=f"lightgbm {label}")
    return model


def _edge_check(label, booster, X):
    """At every threshold and its neighbours, NaN/0/+-inf, float32 and float64, C and F order."""
    model = tl.load(booster)
    Xe = edge_rows(X, lgb_thresholds(booster), rng=np.random.default_rng(0))
    for Xf in orders(Xe).values():
        _check(label, booster, Xf, model=model)
    return model


OBJECTIVES = [
    ("regression", "y", {}, "identity"),
    ("regression_l1", "y", {}, "identity"),
    ("huber", "y", {"alpha": 0.9}, "identity"),
    ("fair", "y", {}, "identity"),
    ("quantile", "y", {"alpha": 0.2}, "identity"),
    ("mape", "ypos", {}, "identity"),
    ("poisson", "ypos", {}, "exp"),
    ("gamma", "ypos", {}, "exp"),
    ("tweedie", "ypos", {}, "exp"),
    ("binary", "yb", {}, "logistic"),
    ("cross_entropy", "yb", {}, "logistic"),
    ("multiclass", "y3", {"num_class": 3}, "softmax"),
    ("multiclassova", "y3", {"num_class": 3}, "logistic"),
]


@pytest.mark.parametrize("objective,labels,extra,link", OBJECTIVES, ids=[o[0] for o in OBJECTIVES])
def test_objectives(data, objective, labels, extra, link):
    booster = _train({"objective": objective, **extra}, data["Xnan"], data[labels])
    model = _edge_check(objective, booster, data["Xnan"])
    assert model.objective.split()[0] == objective
    assert model.link == link
    assert model.n_outputs == extra.get("num_class", 1)
    if link in ("identity", "exp", "logistic", "softmax") and objective != "multiclassova":
        natural = model.transform_margin(model.predict(data["Xnan"]))
        np.testing.assert_allclose(natural, booster.predict(data["Xnan"]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("objective", ["lambdarank", "rank_xendcg"])
def test_ranking(data, objective):
    rel = np.random.default_rng(1).integers(0, 4, len(data["y"]))
    booster = _train({"objective": objective}, data["Xnan"], rel, group=[10] * 30)
    _edge_check(objective, booster, data["Xnan"])


@pytest.mark.parametrize("use_missing", [True, False])
@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_missing_types(data, use_missing, zero_as_missing):
    params = {"use_missing": use_missing, "zero_as_missing": zero_as_missing}
    booster = _train(params, data["Xnan"], data["y"])
    text = booster.model_to_string()
    kinds = {
        (int(d) >> 2) & 3
        for line in text.splitlines()
        if line.startswith("decision_type=")
        for d in line.split("=")[1].split()
    }
    if not use_missing:
        assert kinds == {0}  # missing type None: NaN read as 0
    elif zero_as_missing:
        assert 1 in kinds  # missing type Zero
    else:
        assert 2 in kinds  # missing type NaN
    _edge_check(
        f"missing use_missing={use_missing} zero_as_missing={zero_as_missing}",
        booster,
        data["Xnan"],
    )
    # Rows of zeros, tiny values beside LightGBM's zero threshold (1e-35), and NaN.
    X = data["X"][:12].copy()
    X[:, 4] = [0.0, -0.0, 1e-36, -1e-36, 1e-35, 2e-35, -2e-35, np.nan, 1e-300, 5e-324, 1.0, -1.0]
    _check("missing (near-zero values)", booster, X)


def test_categorical_numpy_indices(data):
    X = data["Xnan"].copy()
    booster = _train(
        {"min_data_per_group": 5, "cat_smooth": 1, "max_cat_to_onehot": 2},
        X,
        data["y"],
        categorical_feature=[3],
    )
    assert any(
        line.startswith("num_cat=") and line != "num_cat=0"
        for line in booster.model_to_string().splitlines()
    )
    Xt = X[:16].copy()
    # Unseen, negative, fractional (truncated: -0.5 -> 0, 2.7 -> 2), huge and NaN categories.
    Xt[:, 3] = [
        0,
        1,
        2,
        3,
        7,
        8,
        50,
        -1,
        -0.5,
        2.7,
        1e10,
        np.nan,
        2**31,
        2**32 + 1,
        -(2.0**31),
        0.9,
    ]
    for Xf in (X, Xt):
        _check("categorical (numpy indices)", booster, Xf)
    _edge_check("categorical (numpy indices)", booster, X)


@pytest.mark.parametrize("use_missing", [True, False])
def test_categorical_one_hot_and_missing(data, use_missing):
    X = data["Xnan"].copy()
    booster = _train(
        {"max_cat_to_onehot": 16, "use_missing": use_missing}, X, data["y"], categorical_feature=[3]
    )
    Xt = X[:8].copy()
    Xt[:, 3] = [np.nan, 0, -0.5, -1, 3, 9, 0.2, 7]
    _check(f"categorical one-hot use_missing={use_missing}", booster, Xt)


@pytest.fixture(scope="module")
def frame(data):
    rng = np.random.default_rng(14)
    n = len(data["y"])
    df = pd.DataFrame(
        {
            "a": data["Xnan"][:, 0],
            "colour": pd.Categorical(rng.choice(["red", "green", "blue", "cyan", "pink"], n)),
            "b": data["Xnan"][:, 1],
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n)),
        }
    )
    df.loc[rng.random(n) < 0.1, "colour"] = np.nan
    y = data["y"] + df["colour"].cat.codes.to_numpy() % 3 + (df["size"] == "L").to_numpy() * 1.5
    return df, y


def test_categorical_pandas(frame):
    df, y = frame
    est = lgb.LGBMRegressor(
        n_estimators=12,
        num_leaves=8,
        min_child_samples=5,
        verbose=-1,
        n_jobs=1,
        min_data_per_group=5,
        cat_smooth=1,
    )
    est.fit(df, y)
    model = tl.load(est)
    assert model.pandas_categorical == [
        list(df["colour"].cat.categories),
        list(df["size"].cat.categories),
    ]
    assert model.feature_names == list(df.columns)
    _check(
        "categorical (pandas)", est.booster_, df, model=model, ref=est.predict(df, raw_score=True)
    )
    # Categories in another order: LightGBM maps values through pandas_categorical, as do we.
    re = df.copy()
    re["colour"] = re["colour"].cat.reorder_categories(["pink", "red", "green", "cyan", "blue"])
    _check(
        "categorical (pandas, reordered)",
        est.booster_,
        re,
        model=model,
        ref=est.predict(re, raw_score=True),
    )
    # A category unseen in training goes where LightGBM sends it (like missing: right).
    unseen = df.copy()
    unseen["size"] = pd.Categorical(unseen["size"].astype(object).where(df.index % 5 > 0, "XL"))
    _check(
        "categorical (pandas, unseen)",
        est.booster_,
        unseen,
        model=model,
        ref=est.predict(unseen, raw_score=True),
    )


def test_categorical_pandas_saved_file(frame, tmp_path):
    df, y = frame
    booster = lgb.train({**BASE, "min_data_per_group": 5}, lgb.Dataset(df, y), 10)
    path = tmp_path / "model.txt"
    booster.save_model(path)
    model = tl.load(path)
    assert model.pandas_categorical is not None
    _check("categorical (pandas, saved file)", booster, df, model=model)


def test_sklearn_estimators(data):
    X = data["Xnan"]
    reg = lgb.LGBMRegressor(n_estimators=10, num_leaves=8, verbose=-1, n_jobs=1).fit(X, data["y"])
    _check("LGBMRegressor", reg.booster_, X, model=tl.load(reg), ref=reg.predict(X, raw_score=True))
    for labels in ("yb", "y3"):
        clf = lgb.LGBMClassifier(n_estimators=8, num_leaves=8, verbose=-1, n_jobs=1)
        clf.fit(X, np.array(["a", "b", "c"])[data[labels]])
        model = _check(
            f"LGBMClassifier {len(clf.classes_)}-class",
            clf.booster_,
            X,
            model=tl.load(clf),
            ref=clf.predict(X, raw_score=True),
        )
        np.testing.assert_array_equal(model.classes, clf.classes_)
        proba = model.transform_margin(model.predict(X))
        if proba.ndim == 1:
            proba = np.c_[1 - proba, proba]
        np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_saved_model_file_and_string(data, tmp_path):
    booster = _train({"objective": "multiclass", "num_class": 3}, data["Xnan"], data["y3"])
    path = tmp_path / "lgb_model.txt"
    booster.save_model(path)
    ref = booster.predict(data["Xnan"], raw_score=True)
    _check("saved model file", booster, data["Xnan"], model=tl.load(path), ref=ref)
    _check("saved model file (str path)", booster, data["Xnan"], model=tl.load(str(path)), ref=ref)
    # A file read back by LightGBM itself predicts the same.
    again = lgb.Booster(model_file=str(path))
    _check("model file reloaded", again, data["Xnan"])


def test_random_forest_mode(data):
    """rf boosting (average_output): treelens' margin is the average over trees.

    LightGBM's predict(raw_score=True) returns the *sum* over trees in rf mode (it divides only
    in predict()), so the margin is compared with raw_score / iterations, and its link with
    predict().
    """
    params = {"boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.7, "feature_fraction": 0.8}
    booster = _train(params, data["Xnan"], data["y"], rounds=10)
    model = tl.load(booster)
    ref = booster.predict(data["Xnan"], raw_score=True) / booster.num_trees()
    _check("rf (average_output)", booster, data["Xnan"], model=model, ref=ref)
    np.testing.assert_allclose(
        model.predict(data["Xnan"]), booster.predict(data["Xnan"]), rtol=1e-12, atol=1e-14
    )
    binary = _train({**params, "objective": "binary"}, data["Xnan"], data["yb"], rounds=10)
    m2 = tl.load(binary)
    ref2 = binary.predict(data["Xnan"], raw_score=True) / binary.num_trees()
    _check("rf binary (average_output)", binary, data["Xnan"], model=m2, ref=ref2)
    np.testing.assert_allclose(
        m2.transform_margin(m2.predict(data["Xnan"])), binary.predict(data["Xnan"]), rtol=1e-12
    )


def test_stumps_and_single_leaf_trees(data):
    # min_data_in_leaf above n: every tree is one leaf (the boost from the average).
    booster = _train({"min_data_in_leaf": 1000}, data["X"], data["y"], rounds=3)
    assert "num_leaves=1" in booster.model_to_string()
    _check("single-leaf trees", booster, data["X"])
    booster = _train({"num_leaves": 2}, data["Xnan"], data["y"], rounds=8)
    _edge_check("stumps (num_leaves=2)", booster, data["Xnan"])
    # A constant target gives single-leaf trees after the first.
    booster = _train({}, data["X"], np.full(len(data["y"]), 3.0), rounds=3)
    _check("constant target", booster, data["X"])


def test_early_stopping_best_iteration(data):
    X, y = data["Xnan"], data["y"]
    train = lgb.Dataset(X[:200], y[:200])
    valid = lgb.Dataset(X[200:], y[200:], reference=train)
    booster = lgb.train(
        {**BASE, "learning_rate": 0.3, "num_leaves": 31},
        train,
        300,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(3, verbose=False)],
        keep_training_booster=True,  # keep the trees after the best iteration
    )
    assert 0 < booster.best_iteration < booster.current_iteration()
    model = tl.load(booster)
    assert model.n_trees == booster.best_iteration  # as Booster.predict, the best iteration
    _check("early stopping (Booster)", booster, X, model=model)
    est = lgb.LGBMRegressor(n_estimators=300, learning_rate=0.9, verbose=-1, n_jobs=1)
    est.fit(
        X[:200],
        y[:200],
        eval_set=[(X[200:], y[200:])],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )
    assert est.best_iteration_ < 300
    _check(
        "early stopping (LGBMRegressor)",
        est.booster_,
        X,
        model=tl.load(est),
        ref=est.predict(X, raw_score=True),
    )


def test_feature_names_and_reordered_frame(data):
    names = ["alpha", "beta", "gamma", "delta", "eps"]
    df = pd.DataFrame(data["Xnan"], columns=names)
    booster = lgb.train(BASE, lgb.Dataset(df, data["y"]), 6)
    model = tl.load(booster)
    assert model.feature_names == names
    ref = booster.predict(df, raw_score=True)
    assert_parity(model.predict(df[names[::-1]]), ref, rtol=RTOL, atol=ATOL)
    # Trained without names: LightGBM's Column_i placeholders are not feature names.
    plain = _train({}, data["Xnan"], data["y"], rounds=3)
    assert tl.load(plain).feature_names is None


def test_binary_sigmoid_scale_in_the_link(data):
    """With sigmoid != 1, LightGBM's probability is 1 / (1 + exp(-s * m)): the margin is exact
    and the link carries the scale."""
    booster = _train({"objective": "binary", "sigmoid": 2.0}, data["Xnan"], data["yb"])
    model = _check("binary sigmoid=2", booster, data["Xnan"])
    natural = model.transform_margin(model.predict(data["Xnan"]))
    np.testing.assert_allclose(natural, booster.predict(data["Xnan"]), rtol=1e-12)


def test_cross_entropy_lambda_softplus_link(data):
    """cross_entropy_lambda predicts ln(1 + e^m); permutation importance scores that."""
    from sklearn.inspection import permutation_importance

    y01 = (data["y"] - data["y"].min()) / np.ptp(data["y"])
    est = lgb.LGBMRegressor(objective="xentlambda", n_estimators=8, verbose=-1)
    est.fit(data["Xnan"], y01)
    model = tl.load(est)
    assert model.link == "softplus"
    natural = model.transform_margin(model.predict(data["Xnan"]))
    np.testing.assert_allclose(natural, est.predict(data["Xnan"]), rtol=1e-12, atol=1e-15)
    kw = dict(n_repeats=3, random_state=0)
    ours = tl.permutation_importance(est, data["Xnan"], y01, **kw)
    theirs = permutation_importance(est, data["Xnan"], y01, **kw)
    np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-9)
