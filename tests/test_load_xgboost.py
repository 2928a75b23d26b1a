"""Prediction parity with XGBoost: every booster, objective, input form and model format.

Two checks per model:

* **Branches, exactly.** ``Booster.predict(pred_leaf=True)`` says which leaf XGBoost reaches in
  every tree; the float64 sum of those leaves' stored values (plus the base margin) must equal
  treelens' margin to 1e-12. This proves treelens takes XGBoost's branch for every row and tree,
  which the float32-accumulated margin alone could not.
* **Margins, to float32 rounding.** XGBoost sums leaf values in float32, so
  ``predict(output_margin=True)`` carries a rounding error of about one float32 ulp per tree
  added: <= T * 2**-24 * (1 + |margin|) ~ 1e-6 relative for the <= 20 trees used here. The bound
  ``|diff| <= 1e-5 * (1 + |margin|)`` covers that with margin, while every leaf value of these
  models is far larger than 1e-5 (checked in ``_check``), so a single wrong leaf fails it.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import treelens as tl

from _parity import assert_parity, edge_rows, orders, xgb_thresholds

F32_TOL = 1e-5

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# One thread for XGBoost: OpenMP threads spin on a shared 2-core machine and slow tests 10x.
def _train(params, dtrain, rounds):
    return xgb.train({"nthread": 1, **params}, dtrain, rounds)


def _dmatrix(*args, **kwargs):
    return xgb.DMatrix(*args, nthread=1, **kwargs)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n, p = 240, 5
    X = rng.normal(size=(n, p))
    X[:, 3] = rng.integers(0, 5, n)
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * (X[:, 3] % 3) + 0.1 * rng.normal(size=n)
    Xnan = X.copy()
    Xnan[rng.random((n, p)) < 0.1] = np.nan
    return dict(
        rng=rng,
        X=X,
        Xnan=Xnan,
        y=y,
        yb=(y > np.median(y)).astype(int),
        y3=np.digitize(y, np.quantile(y, [0.33, 0.66])),
        ypos=np.exp(y / 3),
        Y2=np.c_[y, X[:, 2] ** 2],
    )


_DOCS: dict[int, tuple] = {}


def _doc(booster) -> dict:
    """The booster's JSON document (parsed once per booster: models are not changed here)."""
    hit = _DOCS.get(id(booster))
    if hit is None or hit[0] is not booster:
        hit = _DOCS[id(booster)] = (booster, json.loads(bytes(booster.save_raw("json"))))
    return hit[1]


def leaf_margin(booster, dmatrix, model, iteration_range=(0, 0)) -> np.ndarray:
    """The float64 margin of the leaves XGBoost itself reaches (pred_leaf), plus the base."""
    doc = _doc(booster)
    gb = doc["learner"]["gradient_booster"]
    mdoc = gb["model"] if gb["name"] == "gbtree" else gb["gbtree"]["model"]
    weights = gb.get("weight_drop")
    indptr = np.asarray(mdoc["iteration_indptr"])
    begin, end = iteration_range
    end = end or len(indptr) - 1
    selected = range(indptr[begin], indptr[end])
    # pred_leaf only takes ranges from 0: drop the leading trees' columns.
    leaves = np.asarray(booster.predict(dmatrix, pred_leaf=True, iteration_range=(0, end)))
    leaves = leaves.reshape(dmatrix.num_row(), -1).astype(np.int64)[:, indptr[begin] :]
    assert leaves.shape[1] == len(selected)
    k = model.n_outputs
    out = np.zeros((dmatrix.num_row(), k))
    for col, i in enumerate(selected):
        tree = mdoc["trees"][i]
        value = np.asarray(tree["split_conditions"], dtype=np.float32).astype(np.float64)
        w = 1.0 if weights is None else float(np.float32(weights[i]))  # float32 in XGBoost
        out[:, mdoc["tree_info"][i]] += value[leaves[:, col]] * w
    out += np.asarray(model.forest.base_score)
    return out[:, 0] if k == 1 else out


def _min_leaf(booster) -> float:
    doc = _doc(booster)
    gb = doc["learner"]["gradient_booster"]
    mdoc = gb["model"] if gb["name"] == "gbtree" else gb["gbtree"]["model"]
    values = [
        abs(v)
        for t in mdoc["trees"]
        for left, v in zip(t["left_children"], t["split_conditions"])
        if left < 0
    ]
    return float(np.median(values))


def _check(
    label,
    model,
    booster,
    X,
    *,
    exact=True,
    iteration_range=(0, 0),
    missing=np.nan,
    ref=None,
    dmatrix=None,
):
    """treelens' margin vs XGBoost's (float32 tolerance) and vs XGBoost's leaves (exact)."""
    if dmatrix is None:
        dmatrix = _dmatrix(X, missing=missing, enable_categorical=True)
    if ref is None:
        ref = booster.predict(dmatrix, output_margin=True, iteration_range=iteration_range)
    got = model.predict(X)
    assert_parity(got, ref, rtol=F32_TOL, atol=F32_TOL, label=f"xgboost {label}")
    # A wrong leaf would move the margin by a typical leaf value: far beyond the tolerance.
    assert _min_leaf(booster) > 20 * F32_TOL * (1 + np.abs(ref).max())
    if exact:
        oracle = leaf_margin(booster, dmatrix, model, iteration_range)
        assert_parity(got, oracle, rtol=1e-12, atol=1e-12, label=f"xgboost {label} (leaves)")
    return got


def _finite_for_xgboost(X):
    """XGBoost refuses +-inf (and values that overflow float32) unless missing=inf."""
    ok = np.all(np.isnan(X) | (np.abs(X) <= np.finfo(np.float32).max), axis=1)
    return X[ok]


def _edge_check(label, booster, X, **kw):
    """Also at every threshold, its float32 rounding and neighbours, +-inf, and all dtypes."""
    model = tl.load(booster, **kw)
    rng = np.random.default_rng(0)
    Xe = _finite_for_xgboost(edge_rows(X, xgb_thresholds(booster), rng=rng))
    for Xf in orders(Xe).values():
        _check(f"{label}", model, booster, Xf, iteration_range=kw.get("iteration_range") or (0, 0))
    return model


OBJECTIVES = [
    ("reg:squarederror", "y", {}),
    ("reg:logistic", "yb", {}),
    ("binary:logistic", "yb", {}),
    ("binary:logitraw", "yb", {}),
    ("binary:hinge", "yb", {}),
    ("multi:softprob", "y3", {"num_class": 3}),
    ("multi:softmax", "y3", {"num_class": 3}),
    ("count:poisson", "ypos", {}),
    ("reg:gamma", "ypos", {}),
    ("reg:tweedie", "ypos", {"tweedie_variance_power": 1.4}),
    ("reg:absoluteerror", "y", {}),
    ("reg:pseudohubererror", "y", {}),
    ("reg:squaredlogerror", "ypos", {}),
    ("reg:quantileerror", "y", {"quantile_alpha": 0.3}),
    ("survival:cox", "ypos", {}),
]


@pytest.mark.parametrize("objective,labels,extra", OBJECTIVES, ids=[o[0] for o in OBJECTIVES])
@pytest.mark.parametrize("base_score", [None, 0.3])
def test_objectives_booster(data, objective, labels, extra, base_score):
    params = {"objective": objective, "max_depth": 4, "eta": 0.5, **extra}
    if base_score is not None and objective not in ("survival:cox",):
        params["base_score"] = base_score
    booster = _train(params, _dmatrix(data["Xnan"], data[labels]), 12)
    model = _edge_check(f"{objective}{' base_score' if base_score else ''}", booster, data["Xnan"])
    assert model.objective == objective
    expected_link = {
        "reg:logistic": "logistic",
        "binary:logistic": "logistic",
        "multi:softprob": "softmax",
        "multi:softmax": "softmax",
        "count:poisson": "exp",
        "reg:gamma": "exp",
        "reg:tweedie": "exp",
        "survival:cox": "exp",
    }.get(objective, "identity")
    assert model.link == expected_link
    if objective in ("binary:logistic", "reg:logistic", "multi:softprob", "count:poisson"):
        natural = booster.predict(_dmatrix(data["Xnan"]))
        got = model.transform_margin(model.predict(data["Xnan"]))
        np.testing.assert_allclose(got, natural, rtol=1e-5, atol=1e-6)


def test_survival_aft(data):
    d = _dmatrix(data["Xnan"])
    d.set_float_info("label_lower_bound", data["ypos"])
    d.set_float_info("label_upper_bound", data["ypos"] * 1.5)
    booster = _train({"objective": "survival:aft", "base_score": 0.8, "eta": 0.5}, d, 10)
    _edge_check("survival:aft", booster, data["Xnan"])


def test_base_score_forms_in_model_documents(data):
    """base_score as "5E-1" (xgboost < 3.1) and "[5E-1]" (>= 3.1) read the same."""
    booster = _train({"base_score": 0.5, "max_depth": 2}, _dmatrix(data["X"], data["y"]), 5)
    doc = json.loads(bytes(booster.save_raw("json")))
    ref = tl.load(booster).predict(data["X"])
    for form in ("5E-1", "[5E-1]", "0.5", "[5.0E-1]"):
        doc["learner"]["learner_model_param"]["base_score"] = form
        got = tl.load(json.dumps(doc).encode()).predict(data["X"])
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("kind", ["XGBRegressor", "XGBClassifier-2", "XGBClassifier-3"])
def test_xgbmodel_estimators(data, kind):
    if kind == "XGBRegressor":
        est = xgb.XGBRegressor(n_jobs=1, n_estimators=12, max_depth=4).fit(data["Xnan"], data["y"])
    else:
        y = data["yb"] if kind.endswith("2") else data["y3"]
        est = xgb.XGBClassifier(n_jobs=1, n_estimators=8, max_depth=4).fit(data["Xnan"], y)
    model = tl.load(est)
    assert model.estimator is est
    ref = est.predict(data["Xnan"], output_margin=True)
    _check(kind, model, est.get_booster(), data["Xnan"], ref=ref)
    if kind.startswith("XGBClassifier"):
        np.testing.assert_array_equal(model.classes, est.classes_)


@pytest.mark.parametrize("objective", ["rank:pairwise", "rank:ndcg", "rank:map"])
def test_ranker(data, objective):
    rng = np.random.default_rng(2)
    qid = np.repeat(np.arange(24), 10)
    rel = rng.integers(0, 4, len(qid)) if objective != "rank:map" else rng.integers(0, 2, len(qid))
    est = xgb.XGBRanker(n_jobs=1, objective=objective, n_estimators=10, max_depth=4)
    est.fit(data["Xnan"], rel, qid=qid)
    ref = est.predict(data["Xnan"], output_margin=True)
    _check(objective, tl.load(est), est.get_booster(), data["Xnan"], ref=ref)


def test_dart(data):
    params = {"booster": "dart", "rate_drop": 0.4, "skip_drop": 0.0, "max_depth": 3, "eta": 0.5}
    booster = _train(params, _dmatrix(data["Xnan"], data["y"]), 12)
    weights = _doc(booster)["learner"]["gradient_booster"]["weight_drop"]
    assert len(set(np.round(weights, 6))) > 1  # trees really carry different weights
    _edge_check("dart rate_drop=0.4", booster, data["Xnan"])


def test_random_forest_mode_and_multiclass_forest(data):
    params = {
        "num_parallel_tree": 4,
        "subsample": 0.7,
        "colsample_bynode": 0.7,
        "eta": 1.0,
        "max_depth": 4,
    }
    booster = _train(params, _dmatrix(data["Xnan"], data["y"]), 3)
    model = _edge_check("num_parallel_tree=4", booster, data["Xnan"])
    assert model.n_trees == 12
    booster = _train(
        {**params, "objective": "multi:softprob", "num_class": 3},
        _dmatrix(data["Xnan"], data["y3"]),
        2,
    )
    _edge_check("num_parallel_tree=4 multiclass", booster, data["Xnan"])
    # iteration_range counts forests (iterations), not trees.
    _edge_check(
        "num_parallel_tree=4 iteration_range", booster, data["Xnan"], iteration_range=(1, 2)
    )


@pytest.mark.parametrize("strategy", ["one_output_per_tree", "multi_output_tree"])
def test_multi_target(data, strategy):
    params = {"multi_strategy": strategy, "tree_method": "hist", "max_depth": 3, "eta": 0.5}
    booster = _train(params, _dmatrix(data["Xnan"], data["Y2"]), 8)
    model = tl.load(booster)
    assert model.n_outputs == 2
    np.testing.assert_allclose(model.base_score, np.mean(data["Y2"], axis=0), rtol=1e-6)
    exact = strategy == "one_output_per_tree"  # pred_leaf has no vector-leaf form
    Xe = edge_rows(data["Xnan"], xgb_thresholds(booster), rng=np.random.default_rng(1))
    Xe = _finite_for_xgboost(Xe)
    for Xf in orders(Xe).values():
        ref = booster.predict(_dmatrix(Xf), output_margin=True)
        if not exact:
            assert_parity(
                model.predict(Xf),
                ref,
                rtol=F32_TOL,
                atol=F32_TOL,
                label=f"xgboost multi-target {strategy}",
            )
        else:
            _check(f"multi-target {strategy}", model, booster, Xf)
    if strategy == "multi_output_tree":
        # The layout: vector leaves; leaf_weights hold them (a leaf's right child indexes them).
        tree = _doc(booster)["learner"]["gradient_booster"]["model"]["trees"][0]
        assert int(tree["tree_param"]["size_leaf_vector"]) == 2
        assert len(tree["leaf_weights"]) == 2 * sum(1 for c in tree["left_children"] if c < 0)


def test_iteration_range_and_early_stopping(data):
    X, y = data["Xnan"], data["y"]
    est = xgb.XGBRegressor(
        n_jobs=1, n_estimators=300, learning_rate=0.8, max_depth=6, early_stopping_rounds=3
    )
    est.fit(X[:160], y[:160], eval_set=[(X[160:], y[160:])], verbose=False)
    booster = est.get_booster()
    assert est.best_iteration + 1 < booster.num_boosted_rounds()
    model = tl.load(est)  # XGBModel.predict uses the best iteration: so does tl.load
    assert model.n_trees == est.best_iteration + 1
    _check(
        "early stopping (best_iteration)",
        model,
        booster,
        X,
        ref=est.predict(X, output_margin=True),
        iteration_range=(0, est.best_iteration + 1),
    )
    # A Booster uses every round, as Booster.predict does.
    _check("early stopping Booster (all rounds)", tl.load(booster), booster, X)
    for rng_ in [(0, 2), (1, 4), (3, booster.num_boosted_rounds())]:
        _check(
            f"iteration_range {rng_}",
            tl.load(booster, iteration_range=rng_),
            booster,
            X,
            iteration_range=rng_,
        )


def test_missing_value_on_xgbmodel(data):
    X = data["X"].copy()
    rng = np.random.default_rng(4)
    X[rng.random(X.shape) < 0.15] = -999.0
    est = xgb.XGBRegressor(n_jobs=1, n_estimators=10, max_depth=4, missing=-999.0).fit(X, data["y"])
    model = tl.load(est)
    ref = est.predict(X, output_margin=True)
    _check("missing=-999 (XGBModel)", model, est.get_booster(), X, ref=ref, missing=-999.0)
    # -999 and NaN are both missing.
    Xn = np.where(X == -999.0, np.nan, X)
    assert_parity(model.predict(Xn), ref, rtol=F32_TOL, atol=F32_TOL)


def test_default_left_both_ways(data):
    """NaN in training and test: each split learns a default direction; both occur."""
    booster = _train({"max_depth": 5, "eta": 0.5}, _dmatrix(data["Xnan"], data["y"]), 10)
    dl = [
        v
        for t in _doc(booster)["learner"]["gradient_booster"]["model"]["trees"]
        for v, c in zip(t["default_left"], t["left_children"])
        if c >= 0
    ]
    assert 0 < sum(dl) < len(dl)
    X = data["Xnan"].copy()
    X[:, 0] = np.nan  # NaN at the root feature too
    _check("default_left", tl.load(booster), booster, X)


# --- saved formats ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(data):
    booster = _train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.5},
        _dmatrix(data["Xnan"], data["y3"]),
        6,
    )
    return booster


@pytest.mark.parametrize("fmt", ["json", "ubj"])
def test_saved_model_files_and_raw_bytes(data, classifier, fmt, tmp_path):
    path = tmp_path / f"model.{fmt}"
    classifier.save_model(path)
    from_file = tl.load(path)
    from_str_path = tl.load(str(path))
    from_raw = tl.load(classifier.save_raw(fmt))
    from_bytearray = tl.load(bytearray(classifier.save_raw(fmt)))
    ref = _check(f"saved .{fmt}", from_file, classifier, data["Xnan"])
    for m in (from_str_path, from_raw, from_bytearray):
        np.testing.assert_array_equal(m.predict(data["Xnan"]), ref)


def test_json_dump_list_and_file(data, classifier, tmp_path):
    dump = classifier.get_dump(dump_format="json", with_stats=True)
    config = json.loads(classifier.save_config())
    base_text = config["learner"]["learner_model_param"]["base_score"]  # "[a,b,c]"
    base = [float(v) for v in base_text.strip("[]").split(",")]
    kw = dict(objective="multi:softprob", n_outputs=3, n_features=data["X"].shape[1])
    ref = classifier.predict(_dmatrix(data["Xnan"]), output_margin=True)
    for b in (base, base_text, np.asarray(base)):
        model = tl.load(dump, base_score=b, **kw)
        _check("get_dump json list", model, classifier, data["Xnan"])
    path = tmp_path / "dump.json"
    classifier.dump_model(path, dump_format="json", with_stats=True)
    model = tl.load(path, base_score=base_text, **kw)
    _check("dump_model json file", model, classifier, data["Xnan"], ref=ref)


def test_json_dump_regression_with_names_and_categories(data):
    rng = np.random.default_rng(8)
    n = len(data["X"])
    df = pd.DataFrame(data["Xnan"][:, :3], columns=["a", "b", "c"])
    df["k"] = pd.Categorical(rng.choice(["u", "v", "w", "x"], n))
    y = data["y"] + df["k"].cat.codes.to_numpy()
    booster = _train(
        {"max_depth": 3, "max_cat_to_onehot": 1, "base_score": 0.25},
        _dmatrix(df, y, enable_categorical=True),
        6,
    )
    dump = booster.get_dump(dump_format="json", with_stats=True)
    assert any('"split": "k"' in t for t in dump)
    model = tl.load(dump, base_score=0.25, feature_names=list(df.columns))
    X = tl.load(booster).prepare(df)  # category codes in training order
    _check(
        "get_dump json categorical",
        model,
        booster,
        X,
        dmatrix=_dmatrix(df, enable_categorical=True),
    )


# --- categorical -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def categorical(data):
    rng = np.random.default_rng(9)
    n = len(data["X"])
    df = pd.DataFrame(
        {
            "a": data["Xnan"][:, 0],
            "c": pd.Categorical(rng.choice(["x", "y", "z", "w", "v", "q"], n)),
            "b": data["Xnan"][:, 1],
            "d": pd.Categorical(rng.choice(["lo", "hi"], n)),
        }
    )
    df.loc[rng.random(n) < 0.1, "c"] = np.nan
    y = np.nan_to_num(df["a"].to_numpy()) + df["c"].cat.codes.to_numpy() % 3 + (df["d"] == "hi")
    est = xgb.XGBRegressor(
        n_jobs=1,
        n_estimators=10,
        max_depth=4,
        enable_categorical=True,
        max_cat_to_onehot=1,
        tree_method="hist",
    )
    est.fit(df, y)
    return df, est


def test_categorical_pandas(categorical):
    df, est = categorical
    model = tl.load(est)
    ref = est.predict(df, output_margin=True)
    dm = _dmatrix(df, enable_categorical=True)
    _check("categorical (pandas)", model, est.get_booster(), df, ref=ref, dmatrix=dm)
    # Reordered categories: same values, other codes. XGBoost >= 3.1 re-codes; so does treelens.
    re = df.copy()
    re["c"] = re["c"].cat.reorder_categories(["q", "z", "y", "x", "w", "v"])
    re["d"] = re["d"].cat.reorder_categories(["lo", "hi"])
    assert_parity(
        model.predict(re),
        est.predict(re, output_margin=True),
        rtol=F32_TOL,
        atol=F32_TOL,
        label="xgboost categorical (reordered categories)",
    )
    np.testing.assert_array_equal(model.predict(re), model.predict(df))
    # A subset of the categories (fewer levels at predict time) is fine too.
    sub = df[df["c"].isin(["x", "y"])].copy()
    sub["c"] = sub["c"].cat.remove_unused_categories()
    assert_parity(
        model.predict(sub),
        est.predict(sub, output_margin=True),
        rtol=F32_TOL,
        atol=F32_TOL,
        label="xgboost categorical (subset of categories)",
    )


def test_categorical_unseen_category_is_refused(categorical):
    df, est = categorical
    model = tl.load(est)
    unseen = df.copy()
    unseen["c"] = pd.Categorical(unseen["c"].astype(object).where(unseen.index % 7 > 0, "zz"))
    with pytest.raises(Exception, match="not in the training set"):
        est.predict(unseen, output_margin=True)  # XGBoost refuses the unseen category...
    with pytest.raises(tl.exceptions.InvalidInputError, match="'zz'.*did not see in training"):
        model.predict(unseen)  # ...and so does treelens, naming it


def test_categorical_numpy_feature_types(data):
    """Categories as codes in a numpy matrix (feature_types 'c'): raw codes, no re-coding."""
    rng = np.random.default_rng(10)
    X = data["Xnan"][:, :3].copy()
    X[:, 2] = rng.integers(0, 7, len(X))
    y = data["y"] + (X[:, 2] % 3)
    dm = _dmatrix(X, y, feature_types=["q", "q", "c"], enable_categorical=True)
    booster = _train({"max_depth": 4, "max_cat_to_onehot": 1}, dm, 8)
    Xt = X.copy()
    Xt[:8, 2] = [-1, -0.5, 0.5, 6.9, 7, 40, np.nan, 2**24]  # invalid and unseen codes
    _check(
        "categorical (numpy codes)",
        tl.load(booster),
        booster,
        Xt,
        dmatrix=_dmatrix(Xt, feature_types=["q", "q", "c"], enable_categorical=True),
    )


def test_one_hot_categorical_splits(data):
    """max_cat_to_onehot above the number of categories: one-vs-rest splits."""
    rng = np.random.default_rng(12)
    df = pd.DataFrame({"a": data["X"][:, 0], "c": pd.Categorical(rng.choice(list("abc"), 240))})
    y = data["y"] + (df["c"] == "b") * 2
    est = xgb.XGBRegressor(n_jobs=1, n_estimators=6, enable_categorical=True, max_cat_to_onehot=8)
    est.fit(df, y)
    _check(
        "categorical one-hot",
        tl.load(est),
        est.get_booster(),
        df,
        ref=est.predict(df, output_margin=True),
        dmatrix=_dmatrix(df, enable_categorical=True),
    )


def test_feature_names_from_booster(data):
    names = ["f_a", "f_b", "f_c", "f_d", "f_e"]
    df = pd.DataFrame(data["Xnan"], columns=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = xgb.XGBRegressor(n_jobs=1, n_estimators=5).fit(df, data["y"])
    model = tl.load(est)
    assert model.feature_names == names
    ref = est.predict(df, output_margin=True)
    assert_parity(model.predict(df[names[::-1]]), ref, rtol=F32_TOL, atol=F32_TOL)


def test_missing_value_is_compared_in_float32(data):
    """XGBoost compares float32(x) with float32(missing): values that round to it are missing."""
    X = data["X"].copy()
    X[np.random.default_rng(5).random(X.shape) < 0.2] = 0.1
    est = xgb.XGBRegressor(n_jobs=1, n_estimators=6, max_depth=3, missing=0.1).fit(X, data["y"])
    model = tl.load(est)
    Xt = X[:8].copy()
    Xt[:, 0] = [
        0.1,
        float(np.float32(0.1)),
        np.nextafter(0.1, 1),
        np.nextafter(0.1, 0),
        0.1000000001,
        np.nan,
        0.10001,
        -0.1,
    ]
    for Xf in (Xt, Xt.astype(np.float32)):
        assert_parity(
            model.predict(Xf),
            est.predict(Xf, output_margin=True),
            rtol=F32_TOL,
            atol=F32_TOL,
            label="xgboost missing=0.1 (float32 comparison)",
        )
    prepared = model.prepare(Xt)
    assert np.isnan(prepared[:6, 0]).all() and not np.isnan(prepared[6:, 0]).any()


def test_missing_zero_with_categorical_codes(data):
    """missing=0 also makes category code 0 missing in XGBoost; treelens does the same."""
    rng = np.random.default_rng(6)
    df = pd.DataFrame({"a": data["X"][:, 0], "c": pd.Categorical(rng.choice(["x", "y", "z"], 240))})
    df.loc[rng.random(240) < 0.2, "a"] = 0.0
    y = df["a"] + (df["c"] == "x") * 2
    est = xgb.XGBRegressor(
        n_jobs=1,
        n_estimators=5,
        max_depth=3,
        missing=0.0,
        enable_categorical=True,
        max_cat_to_onehot=1,
    ).fit(df, y)
    assert_parity(
        tl.load(est).predict(df),
        est.predict(df, output_margin=True),
        rtol=F32_TOL,
        atol=F32_TOL,
        label="xgboost missing=0 with categories",
    )


def test_categories_with_non_ascii_names(data):
    """xgboost 3.2 stores non-ASCII category names with inconsistent offsets: loading must not
    fail, and the training frame (categories in training order) predicts as XGBoost does."""
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {"a": data["X"][:, 0], "c": pd.Categorical(rng.choice(["é", "東京", "z"], 240))}
    )
    y = df["a"] + (df["c"] == "東京") * 2
    est = xgb.XGBRegressor(n_jobs=1, n_estimators=5, enable_categorical=True, max_cat_to_onehot=1)
    est.fit(df, y)
    model = tl.load(est)
    assert_parity(
        model.predict(df),
        est.predict(df, output_margin=True),
        rtol=F32_TOL,
        atol=F32_TOL,
        label="xgboost categorical (non-ASCII names)",
    )


def test_categories_with_ascii_names_from_saved_files(categorical, tmp_path):
    df, est = categorical
    re = df.copy()
    re["c"] = re["c"].cat.reorder_categories(["v", "w", "x", "y", "z", "q"])
    for ext in ("json", "ubj"):
        est.save_model(tmp_path / f"cat.{ext}")
        model = tl.load(tmp_path / f"cat.{ext}")
        assert sorted(model.frame_categories[1]) == sorted(df["c"].cat.categories)
        assert_parity(
            model.predict(re),
            est.predict(re, output_margin=True),
            rtol=F32_TOL,
            atol=F32_TOL,
            label=f"xgboost categorical (saved .{ext}, reordered)",
        )


@pytest.mark.parametrize("strategy", ["one_output_per_tree", "multi_output_tree"])
def test_multi_quantile_regression(data, strategy):
    """reg:quantileerror with several alphas: one output per quantile."""
    params = {
        "objective": "reg:quantileerror",
        "quantile_alpha": [0.1, 0.5, 0.9],
        "multi_strategy": strategy,
        "max_depth": 3,
    }
    booster = _train(params, _dmatrix(data["Xnan"], data["y"]), 6)
    model = tl.load(booster)
    assert model.n_outputs == 3
    ref = booster.predict(_dmatrix(data["Xnan"]), output_margin=True)
    assert_parity(
        model.predict(data["Xnan"]),
        ref,
        rtol=F32_TOL,
        atol=F32_TOL,
        label=f"xgboost multi-quantile ({strategy})",
    )


def test_dart_dump_with_tree_weights(data):
    """get_dump() of a dart model lacks the trees' weights (weight_drop): passed as
    ``tree_weights``, the dump loads as the model."""
    params = {"booster": "dart", "rate_drop": 0.4, "skip_drop": 0.0, "max_depth": 3, "eta": 0.5}
    booster = _train(params, _dmatrix(data["X"], data["y"]), 8)
    base = json.loads(booster.save_config())["learner"]["learner_model_param"]["base_score"]
    weights = _doc(booster)["learner"]["gradient_booster"]["weight_drop"]
    model = tl.load(
        booster.get_dump(dump_format="json", with_stats=True),
        base_score=base,
        n_features=data["X"].shape[1],
        tree_weights=weights,
        booster="dart",
    )
    ref = booster.predict(_dmatrix(data["X"]), output_margin=True)
    assert_parity(model.predict(data["X"]), ref, rtol=F32_TOL, atol=F32_TOL)
