"""CatBoost: predictions equal to ``predict(prediction_type="RawFormulaVal")``, path-dependent
SHAP equal to CatBoost's own ``ShapValues`` / ``ShapInteractionValues`` and to brute force, for
regressors, binary and multiclass classifiers, NaN modes, one-hot and CTR categorical features
(unseen categories included), non-symmetric trees, JSON and .cbm files; corrupt files and
unsupported models refused.

CatBoost evaluates its trees in float64 over float32 comparisons, as treelens does, so the
predictions agree to rounding (in practice exactly) and SHAP to 1e-9.
"""

from __future__ import annotations

import json
import pickle
import sys
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoost, CatBoostClassifier, CatBoostRegressor, Pool

import treelens as tl
from treelens.exceptions import InvalidInputError, ModelFormatError, UnsupportedModelError
from treelens.loaders.catboost_hash import category_hash, category_of_ctr_key

from _parity import assert_parity, f32_neighbours

RTOL = ATOL = 1e-9
CATS = ["colour", "city", "size"]
#: Categories of many lengths: CityHash takes a different path for 0-16, 17-32, 33-64 and
#: longer texts (and loops over 64-byte blocks beyond).
CITIES = [""] + [f"city-{'x' * k}{k}" for k in (0, 3, 9, 12, 20, 28, 40, 55, 70, 100, 130)]
CITIES += ["Zürich", "東京", "k"]

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _frame(rng, n):
    city = rng.choice(CITIES, n)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "city": city,
            "b": np.round(rng.normal(size=n), 1),
            "size": rng.integers(0, 12, n),
        }
    )
    df.loc[::9, "a"] = np.nan
    rank = pd.Series(city).map({c: i for i, c in enumerate(CITIES)}).to_numpy()
    y = (
        np.nan_to_num(df["a"].to_numpy())
        + (df["colour"] == "red") * df["b"]
        + rank / 6
        + (df["size"] % 4) * 0.5
        + 0.1 * rng.normal(size=n)
    )
    return df, np.asarray(y, dtype=float)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    df, y = _frame(rng, 400)
    test = df.iloc[:40].copy()
    # Categories CatBoost never saw: a CTR feature gets its prior, a one-hot one matches none.
    test.loc[:5, "city"] = ["nowhere", "", "city-" + "y" * 90, "東京", "Zürich ", "K"]
    test.loc[6:9, "colour"] = ["purple", "RED", "green", "blue"]
    test.loc[10:12, "size"] = [99, -3, 5]
    return dict(
        X=df,
        y=y,
        yb=(y > np.median(y)).astype(int),
        y3=np.digitize(y, np.quantile(y, [0.33, 0.66])),
        test=test,
    )


def _fit(est, data, y="y", **fit):
    return est.fit(data["X"], data[y], **fit)


def _params(**extra):
    base = dict(
        iterations=12,
        depth=4,
        verbose=0,
        random_seed=0,
        thread_count=1,
        cat_features=CATS,
        one_hot_max_size=4,  # colour is one-hot; city and size get CTRs
        max_ctr_complexity=1,
        allow_writing_files=False,
    )
    return {**base, **extra}


def _catboost_shap(est, X, kind="ShapValues"):
    cats = est.get_cat_feature_indices()
    return est.get_feature_importance(Pool(X, cat_features=cats), type=kind)


def _check(label, est, X, *, shap=True, interactions=False):
    """treelens' predictions and SHAP values against CatBoost's own on ``X`` (and local
    accuracy of treelens' SHAP values in every case)."""
    model = tl.load(est)
    ref = est.predict(X, prediction_type="RawFormulaVal")
    assert_parity(model.predict(X), ref, rtol=RTOL, atol=ATOL, label=f"catboost {label} predict")
    ex = tl.TreeExplainer(model)
    ours = ex.shap_values(X)
    total = ours.sum(axis=1) + ex.expected_value
    assert_parity(total, model.predict(X), rtol=RTOL, atol=ATOL, label=f"catboost {label} sum")
    if not shap:
        return model
    theirs = _catboost_shap(est, X)
    if theirs.ndim == 3:  # (n, k, p + 1): outputs before features
        theirs = np.moveaxis(theirs, 1, 2)
        expected = theirs[:, -1, :]
        theirs = theirs[:, :-1, :]
    else:
        expected, theirs = theirs[:, -1], theirs[:, :-1]
    assert_parity(ours, theirs, rtol=RTOL, atol=ATOL, label=f"catboost {label} shap")
    assert_parity(
        np.broadcast_to(ex.expected_value, expected.shape),
        expected,
        rtol=RTOL,
        atol=ATOL,
        label=f"catboost {label} expected value",
    )
    if interactions:
        theirs = _catboost_shap(est, X, "ShapInteractionValues")
        if theirs.ndim == 4:  # (n, k, p + 1, p + 1)
            theirs = np.moveaxis(theirs[:, :, :-1, :-1], 1, 3)
        else:
            theirs = theirs[:, :-1, :-1]
        assert_parity(
            ex.shap_interaction_values(X),
            theirs,
            rtol=RTOL,
            atol=ATOL,
            label=f"catboost {label} interactions",
        )
    return model


# -- regressors, classifiers, losses ------------------------------------------------------------


def test_regressor_with_one_hot_and_ctr_categories(data):
    est = _fit(CatBoostRegressor(**_params()), data)
    model = _check("regressor", est, data["test"], interactions=True)
    assert model.link == "identity" and model.n_outputs == 1
    assert model.feature_names == list(data["X"].columns)
    _check("regressor train rows", est, data["X"], shap=False)


def test_binary_classifier(data):
    est = _fit(CatBoostClassifier(**_params()), data, "yb")
    model = _check("binary", est, data["test"])
    assert model.link == "logistic" and list(model.classes) == [0, 1]
    proba = model.transform_margin(model.predict(data["test"]))
    np.testing.assert_allclose(proba, est.predict_proba(data["test"])[:, 1], rtol=1e-12)


def test_multiclass_classifier(data):
    labels = np.array(["low", "mid", "high"])[data["y3"]]
    est = CatBoostClassifier(**_params()).fit(data["X"], labels)
    model = _check("multiclass", est, data["test"], interactions=True)
    assert model.link == "softmax" and model.n_outputs == 3
    assert list(model.classes) == list(est.classes_)
    proba = model.transform_margin(model.predict(data["test"]))
    np.testing.assert_allclose(proba, est.predict_proba(data["test"]), rtol=1e-12)


@pytest.mark.parametrize(
    "loss, target, link",
    [
        ("MAE", "y", "identity"),
        ("Quantile:alpha=0.3", "y", "identity"),
        ("Poisson", "count", "exp"),
        ("Tweedie:variance_power=1.5", "positive", "exp"),
        ("CrossEntropy", "share", "logistic"),
        ("MultiClassOneVsAll", "y3", "logistic"),
    ],
)
def test_losses_and_links(data, loss, target, link):
    y = {
        "count": np.round(np.exp(data["y"] / 4)),
        "positive": np.exp(data["y"] / 4),
        "share": 0.1 + 0.8 * data["yb"],
    }.get(target, data.get(target))
    est = CatBoost(dict(loss_function=loss, **_params(iterations=6))).fit(data["X"], y)
    model = _check(loss, est, data["test"])
    assert model.link == link


def test_ranking_loss(data):
    groups = np.arange(len(data["y"])) // 10
    pool = Pool(data["X"], data["y"], cat_features=CATS, group_id=groups)
    est = CatBoost(dict(loss_function="YetiRank", **_params(iterations=6))).fit(pool)
    assert _check("YetiRank", est, data["test"]).link == "identity"


@pytest.mark.parametrize(
    "ctr, target",
    [
        (["Borders", "Counter"], "y"),
        # A prior away from 0 makes an absent category's Counter, (0 + prior) / (denominator
        # + 1), differ from (0 + prior) / (0 + 1).
        (["Counter:Prior=2/1"], "y"),
        (["Buckets", "BinarizedTargetMeanValue"], "y"),
        (["Borders", "Buckets", "Counter"], "yb"),
        (["Borders", "Buckets", "Counter"], "y3"),
    ],
)
def test_ctr_types(data, ctr, target):
    """Every CTR type CatBoost trains on CPU, over regression, binary and multiclass targets
    (Borders counts the classes above each target border)."""
    cls = CatBoostRegressor if target == "y" else CatBoostClassifier
    est = _fit(cls(**_params(simple_ctr=ctr, one_hot_max_size=1)), data, target)
    doc = json.loads(_json_text(est))
    used = {c["ctr_type"] for c in doc["features_info"]["ctrs"]}
    asked = {c.split(":")[0] for c in ctr}
    assert used <= asked and len(used) >= min(2, len(asked))
    _check(f"ctr {'+'.join(ctr)} {target}", est, data["test"])


def test_scale_and_bias(data):
    est = _fit(CatBoostClassifier(**_params()), data, "y3")
    est.set_scale_and_bias(0.7, [0.3, -1.0, 2.0])
    model = _check("scale and bias", est, data["test"], shap=False)  # CatBoost's SHAP refuses it
    np.testing.assert_allclose(model.base_score, [0.3, -1.0, 2.0])


@pytest.mark.parametrize(
    "loss, link",
    [
        ("MultiRMSE", "identity"),
        ("MultiQuantile:alpha=0.2,0.8", "identity"),
        ("MultiLogloss", "logistic"),
    ],
)
def test_multi_output_losses_without_categories(data, loss, link):
    X = data["X"][["a", "b"]]
    if loss == "MultiLogloss":
        Y = np.c_[data["yb"], data["y3"] == 2].astype(int)
    elif loss == "MultiRMSE":
        Y = np.c_[data["y"], -2 * data["y"]]
    else:
        Y = data["y"]
    est = CatBoost(dict(loss_function=loss, **_params(cat_features=None))).fit(X, Y)
    model = _check(loss, est, data["test"][["a", "b"]])
    assert model.n_outputs == 2 and model.link == link


@pytest.mark.parametrize("grow_policy", ["Depthwise", "Lossguide"])
def test_non_symmetric_trees(data, grow_policy):
    extra = {"max_leaves": 12} if grow_policy == "Lossguide" else {}
    est = _fit(CatBoostRegressor(**_params(grow_policy=grow_policy, **extra)), data)
    # CatBoost's own ShapValues of non-symmetric trees are not locally accurate where a tree
    # has empty (zero-weight) nodes: they miss the prediction by up to O(1). treelens' values
    # are checked against brute force over feature subsets instead (below).
    _check(grow_policy, est, data["test"], shap=False)


# -- missing values and borders ----------------------------------------------------------------


@pytest.mark.parametrize("nan_mode", ["Min", "Max", "Forbidden"])
def test_nan_modes_and_values_at_borders(nan_mode):
    """NaN goes where the feature's nan_value_treatment sends it (AsFalse: left, AsTrue: right,
    AsIs: compared, so left); values at, just below and just above each float32 border."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.2 * rng.normal(size=300)
    if nan_mode != "Forbidden":
        X[rng.random(X.shape) < 0.1] = np.nan
    est = CatBoostRegressor(
        iterations=10, depth=3, verbose=0, nan_mode=nan_mode, allow_writing_files=False
    ).fit(X, y)
    doc = json.loads(_json_text(est))
    rows = [np.nan_to_num(X[:20])]
    for f in doc["features_info"]["float_features"]:
        for border in f["borders"]:
            with np.errstate(over="ignore"):  # nan_mode Min/Max add a border at -+FLT_MAX
                values = f32_neighbours(border)
            for v in values + [np.nan, np.inf, -np.inf]:
                row = np.zeros((1, 3))
                row[0, f["flat_feature_index"]] = v
                rows.append(row)
    _check(f"nan {nan_mode}", est, np.vstack(rows), shap=False)


# -- categorical inputs --------------------------------------------------------------------------


def test_category_hash_is_catboosts(data):
    """The CTR tables list every category of the training data under a key made from its hash:
    the keys decode to exactly the hashes treelens computes for those texts."""
    est = _fit(CatBoostRegressor(**_params(one_hot_max_size=1)), data)
    doc = json.loads(_json_text(est))
    for column in ("city", "size"):
        index = [c["feature_id"] for c in doc["features_info"]["categorical_features"]]
        element = {"cat_feature_index": index.index(column)}
        element["combination_element"] = "cat_feature_value"
        ident = json.dumps({"identifier": [element], "type": "Borders"}, separators=(",", ":"))
        table = doc["ctr_data"][ident]
        keys = table["hash_map"][:: table["hash_stride"]]
        decoded = {category_of_ctr_key(int(k)) for k in keys} - {None}
        assert decoded == {category_hash(v) for v in data["X"][column]}


def test_category_hash_of_random_texts():
    """Random texts of every length up to 300 bytes (ASCII and multi-byte UTF-8): each decoded
    CTR key equals treelens' hash of the text."""
    rng = np.random.default_rng(2)
    alphabet = list("abcXYZ019 -_.,;") + ["é", "ß", "中", "🙂"]
    texts = sorted({"".join(rng.choice(alphabet, k)) for k in range(0, 300, 2)})
    column = np.repeat(texts, 3)
    y = np.arange(column.size) % 7 + rng.normal(size=column.size)
    est = CatBoostRegressor(
        iterations=2, depth=2, verbose=0, cat_features=[0], one_hot_max_size=1,
        max_ctr_complexity=1, allow_writing_files=False,
    ).fit(pd.DataFrame({"t": column}), y)  # fmt: skip
    table = next(iter(json.loads(_json_text(est))["ctr_data"].values()))
    keys = table["hash_map"][:: table["hash_stride"]]
    decoded = {category_of_ctr_key(int(k)) for k in keys} - {None}
    assert decoded == {category_hash(t) for t in texts}


def test_numpy_object_array_with_cat_feature_indices(data):
    X = data["X"].to_numpy(dtype=object)
    cat_idx = [1, 2, 4]
    est = CatBoostRegressor(**_params(cat_features=cat_idx)).fit(X, data["y"])
    test = data["test"].to_numpy(dtype=object)
    model = _check("numpy object array", est, test)
    assert model.feature_names is None
    # Integer categories given as a numeric array (CatBoost refuses floats; integral values are
    # read as the integers they are).
    numeric = X[:, [0, 3, 4]].astype(float)
    est = CatBoostRegressor(**_params(cat_features=[2])).fit(
        X[:, [0, 3, 4]].astype(object), data["y"]
    )
    ref = est.predict(X[:, [0, 3, 4]], prediction_type="RawFormulaVal")
    assert_parity(tl.load(est).predict(numeric), ref, rtol=RTOL, atol=ATOL, label="catboost ints")


def test_pandas_categorical_and_integer_columns(data):
    est = _fit(CatBoostRegressor(**_params()), data)
    model = tl.load(est)
    test = data["test"].copy()
    ref = est.predict(test, prediction_type="RawFormulaVal")
    as_categorical = test.assign(
        colour=pd.Categorical(test["colour"]),
        city=pd.Categorical(test["city"]),
        size=pd.Categorical(test["size"]),
    )
    assert_parity(model.predict(as_categorical), ref, rtol=RTOL, atol=ATOL)
    assert_parity(model.predict(test[test.columns[::-1]]), ref, rtol=RTOL, atol=ATOL)
    # Booleans are read as CatBoost reads them ("1" / "0").
    flags = test.assign(size=(test["size"] % 2 == 1))
    ref = est.predict(flags, prediction_type="RawFormulaVal")
    assert_parity(model.predict(flags), ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("bad", [np.nan, None, 2.5])
def test_values_catboost_refuses_are_refused(data, bad):
    est = _fit(CatBoostRegressor(**_params()), data)
    test = data["test"].iloc[:3].astype({"city": object})
    test.iloc[1, test.columns.get_loc("city")] = bad
    with pytest.raises(Exception):  # noqa: B017 - CatBoost's own error class
        est.predict(test)
    with pytest.raises(InvalidInputError, match="city"):
        tl.load(est).predict(test)


def test_ctr_over_feature_combinations_is_refused():
    rng = np.random.default_rng(1)
    n = 600
    u, v = rng.integers(0, 30, n), rng.integers(0, 30, n)
    df = pd.DataFrame({"u": [f"u{i}" for i in u], "v": [f"v{i}" for i in v]})
    y = (u * 7 + v * 13) % 5 + 0.05 * rng.normal(size=n)  # a function of the pair only
    est = CatBoostRegressor(
        iterations=10,
        depth=4,
        verbose=0,
        cat_features=["u", "v"],
        one_hot_max_size=1,
        max_ctr_complexity=2,
        allow_writing_files=False,
    ).fit(df, y)
    doc = json.loads(_json_text(est))
    assert any(len(c["elements"]) > 1 for c in doc["features_info"]["ctrs"])
    with pytest.raises(UnsupportedModelError, match="max_ctr_complexity=1"):
        tl.load(est)


def test_multi_target_ctrs_are_refused(data):
    Y = np.c_[data["y"], -data["y"]]
    est = CatBoostRegressor(**_params(loss_function="MultiRMSE", one_hot_max_size=1))
    est.fit(data["X"], Y)
    with pytest.raises(UnsupportedModelError, match="CTRs"):
        tl.load(est)


# -- SHAP by definition ------------------------------------------------------------------------


def _oracle_trees(doc):
    """Each tree of a CatBoost JSON export as a function (x, known features) -> (value,
    weight): the cover-weighted conditional expectation, read straight from the file."""
    floats = doc["features_info"]["float_features"]
    flat = {f["feature_index"]: f["flat_feature_index"] for f in floats}
    nan_right = {f["feature_index"]: f["nan_value_treatment"] == "AsTrue" for f in floats}

    def holds(split, x):
        v = x[flat[split["float_feature_index"]]]
        if np.isnan(v):
            return nan_right[split["float_feature_index"]]
        return np.float32(v) > np.float32(split["border"])

    def mix(a, b):
        (va, wa), (vb, wb) = a, b
        w = wa + wb
        return ((va * wa + vb * wb) / w if w > 0 else (va + vb) / 2), w

    def nested(node, x, known):
        if "split" not in node:
            return np.float64(node["value"]), float(node["weight"])
        a, b = nested(node["left"], x, known), nested(node["right"], x, known)
        if flat[node["split"]["float_feature_index"]] in known:
            return (b if holds(node["split"], x) else a)[0], a[1] + b[1]
        return mix(a, b)

    def oblivious(tree, x, known, level=0, leaf=0):
        splits = tree["splits"]
        depth = len(splits)
        if level == depth:
            return np.float64(tree["leaf_values"][leaf]), float(tree["leaf_weights"][leaf])
        split = splits[depth - 1 - level]  # the last split is the root
        a = oblivious(tree, x, known, level + 1, 2 * leaf)
        b = oblivious(tree, x, known, level + 1, 2 * leaf + 1)
        if flat[split["float_feature_index"]] in known:
            return (b if holds(split, x) else a)[0], a[1] + b[1]
        return mix(a, b)

    if "oblivious_trees" in doc:
        return [lambda x, k, t=t: oblivious(t, x, k) for t in doc["oblivious_trees"]]
    return [lambda x, k, t=t: nested(t, x, k) for t in doc["trees"]]


def _brute_force(trees, x, p):
    value = {}
    for r in range(p + 1):
        for s in combinations(range(p), r):
            value[s] = sum(t(x, set(s))[0] for t in trees)
    phi = np.zeros(p)
    for i in range(p):
        rest = [j for j in range(p) if j != i]
        for r in range(p):
            w = factorial(r) * factorial(p - r - 1) / factorial(p)
            for s in combinations(rest, r):
                phi[i] += w * (value[tuple(sorted(s + (i,)))] - value[s])
    return phi


@pytest.mark.parametrize("grow_policy", ["SymmetricTree", "Depthwise", "Lossguide"])
def test_path_shap_equals_brute_force(grow_policy):
    rng = np.random.default_rng(5)
    p = 4
    X = np.round(rng.normal(size=(120, p)), 1)
    y = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + X[:, 3] * X[:, 0]
    X[rng.random(X.shape) < 0.1] = np.nan
    extra = {"max_leaves": 8} if grow_policy == "Lossguide" else {}
    est = CatBoostRegressor(
        iterations=4,
        depth=3,
        verbose=0,
        random_seed=0,
        grow_policy=grow_policy,
        allow_writing_files=False,
        **extra,
    ).fit(X, y)
    trees = _oracle_trees(json.loads(_json_text(est)))
    rows = np.vstack([X[:6], rng.normal(size=(2, p))])
    ours = tl.TreeExplainer(tl.load(est)).shap_values(rows)
    for r, x in enumerate(rows):
        assert_parity(ours[r], _brute_force(trees, x, p), rtol=0, atol=1e-10)


def test_interventional_shap_and_permutation_importance(data):
    from sklearn.inspection import permutation_importance

    est = _fit(CatBoostRegressor(**_params()), data)
    model = tl.load(est)
    X = data["test"]
    ex = tl.TreeExplainer(model, data=data["X"].iloc[:30], feature_perturbation="interventional")
    values = ex.shap_values(X)
    assert_parity(values.sum(axis=1) + ex.expected_value, model.predict(X), rtol=RTOL, atol=ATOL)
    kw = dict(n_repeats=3, random_state=0)
    ours = tl.permutation_importance(est, data["X"], data["y"], **kw)
    theirs = permutation_importance(est, data["X"], data["y"], **kw)
    assert_parity(ours.importances, theirs.importances, rtol=RTOL, atol=ATOL)
    copy = pickle.loads(pickle.dumps(model))
    assert_parity(copy.predict(X), model.predict(X), rtol=0, atol=0)


# -- files ---------------------------------------------------------------------------------------


def _json_text(est) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.json"
        est.save_model(str(path), format="json")
        return path.read_text()


def test_json_and_cbm_files(data, tmp_path, monkeypatch):
    est = _fit(CatBoostClassifier(**_params()), data, "y3")
    ref = est.predict(data["test"], prediction_type="RawFormulaVal")
    est.save_model(str(tmp_path / "m.json"), format="json")
    est.save_model(str(tmp_path / "m.cbm"))
    for name in ("m.json", "m.cbm"):
        for source in (tmp_path / name, str(tmp_path / name), (tmp_path / name).read_bytes()):
            model = tl.load(source)
            assert_parity(model.predict(data["test"]), ref, rtol=RTOL, atol=ATOL, label=name)
            assert model.link == "softmax" and list(model.classes) == [0, 1, 2]
    # Without catboost, a .cbm file is refused with the way out.
    real = sys.modules["catboost"]
    monkeypatch.setitem(sys.modules, "catboost", None)
    with pytest.raises(UnsupportedModelError, match="format='json'"):
        tl.load(tmp_path / "m.cbm")
    (tmp_path / "bad.cbm").write_bytes(b"CBM1" + b"\0" * 40)
    monkeypatch.setitem(sys.modules, "catboost", real)
    with pytest.raises(ModelFormatError):
        tl.load(tmp_path / "bad.cbm")


def _corrupt(doc, how):
    tree = doc["oblivious_trees"][1]
    if how == "leaf values":
        tree["leaf_values"] = tree["leaf_values"][:-1]
    elif how == "leaf weights":
        tree["leaf_weights"][0] = -1.0
    elif how == "no leaf weights":
        del tree["leaf_weights"]
    elif how == "deep":
        tree["splits"] = tree["splits"] * 20
    elif how == "split index":
        for t in doc["oblivious_trees"]:
            for s in t["splits"]:
                if s["split_type"] == "OnlineCtr":
                    s["split_index"] = 10**6
    elif how == "border":
        tree["splits"][0]["border"] = "high"
    elif how == "feature":
        doc["features_info"]["float_features"][0]["flat_feature_index"] = 2
    elif how == "no loss":
        del doc["model_info"]["params"]
    elif how == "ctr table":
        for table in doc["ctr_data"].values():
            table["hash_map"] = table["hash_map"][:-1]
    return json.dumps(doc)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "leaf values",
        "leaf weights",
        "no leaf weights",
        "deep",
        "split index",
        "border",
        "feature",
        "no loss",
        "ctr table",
    ],
)
def test_corrupt_json_is_a_format_error(data, tmp_path, how):
    est = _fit(CatBoostRegressor(**_params()), data)
    text = _json_text(est)
    text = text[: len(text) // 2] if how == "truncated" else _corrupt(json.loads(text), how)
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ModelFormatError):
        tl.load(path)


ODD_VALUES = [
    -1, 0, 2**31, 2**32 + 5, 2**64, -(2**63), 10**30, 1e308, -0.0, 3.5e38, float("nan"),
    float("inf"), "x", "", "18446744073709551615", None, True, [], {}, [1, 2], {"a": 1},
]  # fmt: skip


def _paths(doc):
    """Every (container, key) of a document, found with an explicit stack."""
    out, stack = [], [doc]
    while stack:
        node = stack.pop()
        for k, v in node.items() if isinstance(node, dict) else enumerate(node):
            out.append((node, k))
            if isinstance(v, (dict, list)):
                stack.append(v)
    return out


def test_fuzzed_json_loads_or_is_refused(data, tmp_path):
    """Seeded mutations of real CatBoost models (odd values anywhere, lists cut or grown):
    each loads, predicting finite values whose SHAP values add up, or raises a treelens
    error; never any other exception."""
    import random

    from treelens.exceptions import TreelensError

    models = [
        _fit(CatBoostClassifier(**_params(iterations=3, depth=3)), data, "y3"),
        _fit(CatBoostRegressor(**_params(iterations=3, grow_policy="Lossguide")), data),
    ]
    texts = []
    for est in models:
        doc = json.loads(_json_text(est))
        doc["model_info"] = {"params": doc["model_info"]["params"]}  # keep the loss only
        texts.append(json.dumps(doc))
    rng = random.Random(0)
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(240):
        doc = json.loads(texts[case % 2])
        for _ in range(rng.choice([1, 1, 2, 3])):
            container, key = rng.choice(_paths(doc))
            value = container[key]
            if isinstance(value, list) and value and rng.random() < 0.4:
                container[key] = value[:-1] if rng.random() < 0.5 else value + value[:1]
            else:
                container[key] = rng.choice(ODD_VALUES)
        path = tmp_path / f"case{case}.json"
        path.write_text(json.dumps(doc))
        try:
            model = tl.load(path)
        except TreelensError:
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        X = data["test"].iloc[:8]
        try:
            pred = model.predict(X)
        except InvalidInputError:
            continue  # e.g. a feature turned categorical: the frame no longer fits
        assert np.all(np.isfinite(pred)), f"case {case}"
        ex = tl.TreeExplainer(model)
        values = ex.shap_values(X)
        # Terms as large as the largest leaf may cancel: the rounding scales with them.
        scale = max(1.0, float(np.abs(values).max()))
        total = values.sum(axis=1) + ex.expected_value
        assert_parity(total, pred, rtol=1e-9, atol=1e-9 * scale, label="")
    assert outcomes["loaded"] > 10 and outcomes["refused"] > 10, outcomes


def test_unsupported_loss_and_unfitted_model(data):
    est = _fit(CatBoostRegressor(**_params(loss_function="RMSEWithUncertainty")), data)
    with pytest.raises(UnsupportedModelError, match="RMSEWithUncertainty"):
        tl.load(est)
    with pytest.raises(UnsupportedModelError, match="not fitted"):
        tl.load(CatBoostRegressor(allow_writing_files=False))
