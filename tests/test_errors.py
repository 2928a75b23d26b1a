"""Every error path of loading and predicting: the exception class, and a message naming it."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import (
    AdaBoostRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

import treelens as tl
from treelens import _core
from treelens.exceptions import (
    FeatureNameError,
    InvalidInputError,
    ModelFormatError,
    TreelensError,
    UnsupportedModelError,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(31)
    X = rng.normal(size=(120, 3))
    return X, X[:, 0] + X[:, 1] ** 2


@pytest.fixture(scope="module")
def booster(xy):
    return xgb.train({"nthread": 1, "max_depth": 2}, xgb.DMatrix(xy[0], xy[1], nthread=1), 3)


@pytest.fixture(scope="module")
def lgb_text(xy):
    b = lgb.train({"verbose": -1, "num_threads": 1, "num_leaves": 4}, lgb.Dataset(*xy), 4)
    return b.model_to_string()


def test_exception_hierarchy():
    assert issubclass(InvalidInputError, ValueError) and issubclass(
        InvalidInputError, TreelensError
    )
    assert issubclass(FeatureNameError, InvalidInputError)
    assert issubclass(UnsupportedModelError, TypeError)
    assert issubclass(ModelFormatError, ValueError)


# --- unsupported and unfitted estimators --------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: LinearRegression().fit(X, y),
        lambda X, y: AdaBoostRegressor(n_estimators=3, random_state=0).fit(X, y),
    ],
    ids=["LinearRegression", "AdaBoostRegressor"],
)
def test_unsupported_sklearn_estimator_names_the_supported_ones(xy, make):
    est = make(*xy)
    with pytest.raises(UnsupportedModelError) as err:
        tl.load(est)
    msg = str(err.value)
    assert type(est).__name__ in msg
    for name in (
        "RandomForestRegressor",
        "GradientBoostingClassifier",
        "HistGradientBoostingRegressor",
    ):
        assert name in msg


def test_unsupported_sklearn_variants(xy):
    X, y = xy
    gb = GradientBoostingRegressor(init=LinearRegression(), n_estimators=3).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="init=LinearRegression"):
        tl.load(gb)
    multi = RandomForestClassifier(n_estimators=2).fit(X, np.c_[y > 0, y > 1].astype(int))
    with pytest.raises(UnsupportedModelError, match="multi-output"):
        tl.load(multi)


@pytest.mark.parametrize(
    "est",
    [
        RandomForestRegressor(),
        DecisionTreeRegressor(),
        GradientBoostingRegressor(),
        HistGradientBoostingRegressor(),
        xgb.XGBRegressor(),
        xgb.XGBClassifier(),
        lgb.LGBMRegressor(),
        lgb.LGBMClassifier(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_unfitted_estimators(est):
    with pytest.raises(UnsupportedModelError, match="not fitted"):
        tl.load(est)


@pytest.mark.parametrize("obj", [object(), 3, {"trees": []}, None, 2.5])
def test_unknown_objects_list_what_is_accepted(obj):
    with pytest.raises(UnsupportedModelError, match="treelens accepts.*xgboost Booster.*lightgbm"):
        tl.load(obj)


def test_dump_options_on_other_models(xy):
    est = RandomForestRegressor(n_estimators=2).fit(*xy)
    with pytest.raises(UnsupportedModelError, match="XGBoost dumps only"):
        tl.load(est, base_score=0.5)
    with pytest.raises(UnsupportedModelError, match="iteration_range applies to XGBoost"):
        tl.load(est, iteration_range=(0, 1))


# --- XGBoost ------------------------------------------------------------------------------------


def test_xgboost_gblinear(xy):
    b = xgb.train({"booster": "gblinear", "nthread": 1}, xgb.DMatrix(*xy), 2)
    with pytest.raises(UnsupportedModelError, match="'gblinear'.*supported: gbtree, dart"):
        tl.load(b)


def test_xgboost_unsupported_objective_names_the_supported_ones(booster):
    doc = json.loads(bytes(booster.save_raw("json")))
    doc["learner"]["objective"]["name"] = "reg:mystery"
    with pytest.raises(UnsupportedModelError, match="'reg:mystery'.*reg:squarederror.*rank:ndcg"):
        tl.load(json.dumps(doc).encode())
    with pytest.raises(UnsupportedModelError, match="'survival:unknown'"):
        tl.load(booster.get_dump(dump_format="json"), base_score=0.5, objective="survival:unknown")


def test_xgboost_iteration_range_outside_the_model(booster):
    with pytest.raises(UnsupportedModelError, match=r"iteration_range \(0, 9\).*3 iterations"):
        tl.load(booster, iteration_range=(0, 9))
    with pytest.raises(UnsupportedModelError, match="not available for dumps"):
        tl.load(booster.get_dump(dump_format="json"), base_score=0.5, iteration_range=(0, 1))


def test_xgboost_corrupt_documents(booster, tmp_path):
    raw_json = bytes(booster.save_raw("json"))
    raw_ubj = bytes(booster.save_raw("ubj"))
    cases = {
        "truncated JSON": (raw_json[: len(raw_json) // 2], "JSON model is corrupt or truncated"),
        "truncated UBJSON": (raw_ubj[: len(raw_ubj) // 2], "UBJSON model is truncated"),
        "UBJSON missing one byte": (raw_ubj[:-1], "truncated"),
        "UBJSON bad marker": (b"{" + b"i\x03abc" + b"?" + raw_ubj[7:], "UBJSON"),
        "JSON without a learner": (b'{"version": [3, 2, 0]}', "not an XGBoost model document"),
        "JSON of another shape": (b'{"learner": 5}', "not an XGBoost model document"),
        "empty bytes": (b"", "does not start with"),
        "garbage bytes": (b"\x00\x01\x02garbage", "does not start with"),
    }
    for name, (data, pattern) in cases.items():
        with pytest.raises(ModelFormatError, match=pattern):
            tl.load(data)
        assert name
        path = tmp_path / "model.json"
        path.write_bytes(data)
        with pytest.raises(ModelFormatError):
            tl.load(path)
    doc = json.loads(raw_json)
    tree = doc["learner"]["gradient_booster"]["model"]["trees"][0]
    tree["left_children"][0] = 10**6  # child index out of range
    with pytest.raises(ModelFormatError, match="outside the tree"):
        tl.load(json.dumps(doc).encode())
    doc = json.loads(raw_json)
    del doc["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"]
    with pytest.raises(ModelFormatError, match="lacks the field 'split_conditions'"):
        tl.load(json.dumps(doc).encode())
    doc = json.loads(raw_json)
    doc["learner"]["gradient_booster"]["model"]["trees"][0]["split_indices"][0] = 99
    with pytest.raises(ModelFormatError, match="feature 99.*3 features"):
        tl.load(json.dumps(doc).encode())
    doc = json.loads(raw_json)
    doc["learner"]["learner_model_param"]["base_score"] = "[abc]"
    with pytest.raises(ModelFormatError, match="base_score"):
        tl.load(json.dumps(doc).encode())


def test_xgboost_dump_errors(booster, tmp_path):
    dump = booster.get_dump(dump_format="json", with_stats=True)
    with pytest.raises(UnsupportedModelError, match="no base score: pass base_score="):
        tl.load(dump)
    path = tmp_path / "dump.json"
    booster.dump_model(path, dump_format="json", with_stats=True)
    with pytest.raises(UnsupportedModelError, match="base_score="):
        tl.load(path)
    with pytest.raises(ModelFormatError, match="not JSON.*dump_format='json'"):
        tl.load(booster.get_dump(), base_score=0.5)
    with pytest.raises(ModelFormatError, match="non-empty list"):
        tl.load([], base_score=0.5)
    with pytest.raises(ModelFormatError, match="base_score has 2 values for 1 outputs"):
        tl.load(dump, base_score=[0.5, 0.5])
    with pytest.raises(ModelFormatError, match="feature_names="):
        tl.load(
            [
                json.dumps(
                    {
                        "nodeid": 0,
                        "split": "age",
                        "split_condition": 1.0,
                        "yes": 1,
                        "no": 2,
                        "missing": 1,
                        "children": [{"nodeid": 1, "leaf": 1.0}, {"nodeid": 2, "leaf": 2.0}],
                    }
                )
            ],
            base_score=0.5,
        )
    # A pruned tree's node ids have gaps: they are renumbered.
    gappy = tl.load(
        [
            json.dumps(
                {
                    "nodeid": 0,
                    "split": "f0",
                    "split_condition": 1.0,
                    "yes": 1,
                    "no": 5,
                    "missing": 1,
                    "children": [{"nodeid": 1, "leaf": 1.0}, {"nodeid": 5, "leaf": 2.0}],
                }
            )
        ],
        base_score=0.0,
    )
    np.testing.assert_array_equal(gappy.predict(np.array([[0.0], [2.0]])), [1.0, 2.0])
    stump = {
        "nodeid": 0,
        "split": "f7",
        "split_condition": 1.0,
        "yes": 1,
        "no": 2,
        "missing": 1,
        "children": [{"nodeid": 1, "leaf": 1.0}, {"nodeid": 2, "leaf": 2.0}],
    }
    with pytest.raises(ModelFormatError, match="feature 7 of 3"):
        tl.load([json.dumps(stump)], base_score=0.5, n_features=3)


# --- LightGBM -----------------------------------------------------------------------------------


def test_lightgbm_linear_tree(xy):
    b = lgb.train({"verbose": -1, "num_threads": 1, "linear_tree": True}, lgb.Dataset(*xy), 3)
    with pytest.raises(UnsupportedModelError, match="linear trees.*linear_tree=True"):
        tl.load(b)


def test_lightgbm_unsupported_objective(lgb_text, tmp_path):
    path = tmp_path / "m.txt"
    path.write_text(lgb_text.replace("objective=regression", "objective=my_objective"))
    with pytest.raises(UnsupportedModelError, match="'my_objective'.*regression.*lambdarank"):
        tl.load(path)


def test_lightgbm_corrupt_files(lgb_text, tmp_path):
    cut = lgb_text.index("Tree=2") + 40  # inside the third tree
    cases = {
        "truncated inside the trees": (lgb_text[:cut], "truncated"),
        "header only": ("tree\nversion=v4\n", "lacks num_class/max_feature_idx|truncated"),
        "tree count differs from tree_sizes": (
            lgb_text.replace("tree_sizes=", "tree_sizes=10 "),
            "header lists 5 tree sizes",
        ),
        "non-number leaf value": (lgb_text.replace("leaf_value=", "leaf_value=abc "), "non-number"),
        "too few leaf values": (
            lgb_text.replace("leaf_value=", "leaf_value=1 ", 1).replace(
                "num_leaves=4", "num_leaves=3", 1
            ),
            "has .* values, expected",
        ),
        "child out of range": (
            lgb_text.replace("left_child=1", "left_child=40", 1),
            "outside the tree",
        ),
        "unknown categorical split": (
            lgb_text.replace("decision_type=2", "decision_type=3", 1),
            "lacks cat_boundaries",
        ),
    }
    for name, (text, pattern) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.txt"
        path.write_text(text)
        with pytest.raises(ModelFormatError, match=pattern):
            tl.load(path)


def test_model_files_that_are_not_models(tmp_path):
    with pytest.raises(ModelFormatError, match="no model file at"):
        tl.load(tmp_path / "missing.json")
    with pytest.raises(ModelFormatError, match="no model file at"):
        tl.load(tmp_path)  # a directory
    for content in (b"", b"   \n\t"):
        (tmp_path / "empty.txt").write_bytes(content)
        with pytest.raises(ModelFormatError, match="is empty"):
            tl.load(tmp_path / "empty.txt")
    (tmp_path / "other.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ModelFormatError, match="not a model treelens can read.*LightGBM"):
        tl.load(tmp_path / "other.csv")
    (tmp_path / "bin.txt").write_bytes(b"tree\n\xff\xfe\x00")
    with pytest.raises(ModelFormatError, match="not text"):
        tl.load(tmp_path / "bin.txt")


# --- input errors -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def named_model(xy):
    X, y = xy
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    return tl.load(RandomForestRegressor(n_estimators=2, random_state=0).fit(df, y)), df


def test_wrong_shapes(named_model):
    model, df = named_model
    X = df.to_numpy()
    with pytest.raises(InvalidInputError, match="X has 2 columns, but the model was trained on 3"):
        model.predict(X[:, :2])
    with pytest.raises(InvalidInputError, match="2-D.*1-D.*reshape"):
        model.predict(X[0])
    with pytest.raises(InvalidInputError, match="2-D.*3-D"):
        model.predict(X[None])
    with pytest.raises(InvalidInputError, match="2-D.*0-D"):
        model.predict(np.float64(1.0))


@pytest.mark.parametrize(
    "bad",
    [
        np.array([["1.5", "2", "3"]]),  # numbers as strings are still text
        np.array([["a", "b", "c"]]),
        np.array([[1.0, "x", 3.0]], dtype=object),
        np.array([[1 + 2j, 0, 0]]),
        np.array([["2020-01-01", "2020-01-02", "2020-01-03"]], dtype="datetime64[D]"),
    ],
    ids=["numeric strings", "strings", "object with text", "complex", "datetime"],
)
def test_non_numeric_arrays(named_model, bad):
    model, _ = named_model
    with pytest.raises(InvalidInputError, match="not numeric"):
        model.predict(bad)


def test_non_numeric_dataframe_columns(named_model):
    model, df = named_model
    for column in (["x"] * len(df), ["1.5"] * len(df), pd.Timestamp("2020-01-01")):
        with pytest.raises(InvalidInputError, match="column 'b' is not numeric"):
            model.predict(df.assign(b=column))
    with pytest.raises(InvalidInputError, match="column 'b' is not numeric"):
        model.predict(df.assign(b=pd.array(["u"] * len(df), dtype="string")))


def test_dataframe_name_mismatch(named_model):
    model, df = named_model
    with pytest.raises(FeatureNameError, match=r"missing \['c'\], unexpected \['z', 'y'\]"):
        model.predict(df.rename(columns={"c": "z"}).assign(y=1.0))


def test_sparse_input_of_another_kind(named_model):
    sparse = pytest.importorskip("scipy.sparse")
    model, df = named_model
    with pytest.raises(InvalidInputError, match="dtype complex128"):
        model.predict(sparse.csr_matrix(df.to_numpy().astype(complex)))
    with pytest.raises(InvalidInputError, match="has 2 columns, but the model"):
        model.predict(sparse.csr_matrix(df.to_numpy()[:, :2]))


# --- the core refuses malformed forests ---------------------------------------------------------


def _parts(**override):
    """A valid two-tree forest (a stump and a leaf) as keyword arguments of _core.Forest."""
    parts = dict(
        n_features=2,
        n_outputs=1,
        base_score=np.zeros(1),
        average=False,
        less_equal=True,
        f32_inputs=False,
        tree_start=np.array([0, 3, 4], dtype=np.int64),
        tree_output=np.array([0, 0], dtype=np.int64),
        feature=np.array([1, -1, -1, -1], dtype=np.int64),
        threshold=np.array([0.5, 0, 0, 0], dtype=np.float64),
        left=np.array([1, -1, -1, -1], dtype=np.int64),
        right=np.array([2, -1, -1, -1], dtype=np.int64),
        default_left=np.array([True, False, False, False]),
        missing=np.zeros(4, dtype=np.uint8),
        cover=np.ones(4),
        values=np.array([0.0, 1.0, 2.0, 10.0]),
        category_set=np.full(4, -1, dtype=np.int64),
        category_offsets=np.zeros(1, dtype=np.int64),
        category_words=np.zeros(0, dtype=np.uint32),
        category_members_left=np.zeros(0, dtype=bool),
        category_truncate_first=False,
    )
    parts.update(override)
    return parts


def test_core_accepts_the_valid_forest():
    forest = _core.Forest(**_parts())
    out = forest.predict(np.array([[0.0, 0.5], [0.0, 0.6], [0.0, np.nan]]))
    np.testing.assert_array_equal(out[:, 0], [11.0, 12.0, 11.0])


@pytest.mark.parametrize(
    "override,pattern",
    [
        (dict(left=np.array([7, -1, -1, -1])), "child 7 outside the tree"),
        (dict(right=np.array([-5, -1, -1, -1])), "child -5 outside the tree"),
        (dict(left=np.array([0, -1, -1, -1])), "not after its parent"),
        (dict(feature=np.array([2, -1, -1, -1])), "feature 2, but the model has 2 features"),
        (dict(threshold=np.array([np.nan, 0, 0, 0])), "NaN threshold"),
        (dict(tree_output=np.array([0, 3])), "feeds output 3"),
        (dict(values=np.zeros(3)), "values has 3 entries, expected 4"),
        (dict(cover=np.zeros(5)), "cover has 5 entries"),
        (dict(tree_start=np.array([1, 3, 4])), "tree_start must begin with 0"),
        (dict(tree_start=np.array([0, 3, 3, 4]), tree_output=np.array([0, 0, 0])), "no nodes"),
        (dict(tree_start=np.array([0, -3, 4])), "negative"),
        (dict(missing=np.array([9, 0, 0, 0], dtype=np.uint8)), "missing-value kind 9"),
        (dict(category_set=np.array([0, -1, -1, -1])), "categorical set 0 of 0"),
        (dict(category_offsets=np.array([0, 5])), "category_offsets"),
        (dict(n_outputs=0, base_score=np.zeros(0)), "at least one output"),
        (dict(base_score=np.zeros(2)), "base_score has 2 entries"),
    ],
)
def test_core_rejects_malformed_forests(override, pattern):
    with pytest.raises(ModelFormatError, match=pattern):
        _core.Forest(**_parts(**override))


def test_core_rejects_wrong_columns_at_predict():
    forest = _core.Forest(**_parts())
    with pytest.raises(InvalidInputError, match="3 columns.*2 features"):
        forest.predict(np.zeros((2, 3)))


# --- fuzzing: corrupted files raise treelens errors, never anything else ------------------------


@pytest.fixture(scope="module")
def model_bytes(booster, lgb_text):
    return {
        "ubj": bytes(booster.save_raw("ubj")),
        "json": bytes(booster.save_raw("json")),
        "lightgbm": lgb_text.encode(),
    }


@pytest.mark.parametrize("kind", ["ubj", "json", "lightgbm"])
@given(data=st.data())
def test_corrupted_model_files_raise_treelens_errors(model_bytes, kind, data, tmp_path_factory):
    raw = bytearray(model_bytes[kind])
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        if len(raw) < 2:
            break
        pos = data.draw(st.integers(0, len(raw) - 1), label="pos")
        op = data.draw(st.sampled_from(["set", "delete", "truncate", "insert"]), label="op")
        if op == "set":
            raw[pos] = data.draw(st.integers(0, 255), label="byte")
        elif op == "delete":
            del raw[pos : pos + data.draw(st.integers(1, 20), label="n")]
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8), label="bytes")
        else:
            del raw[pos:]
    path = tmp_path_factory.mktemp("fuzz") / "model.bin"
    path.write_bytes(bytes(raw))
    try:
        model = tl.load(path)
        if model.n_features <= 10_000:
            model.predict(np.zeros((2, model.n_features)))
    except TreelensError:
        pass  # any other exception type fails the test


def _paths(node, prefix=()):
    """Paths to every dict entry and to the first and last element of every list."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list) and node:
        for i in sorted({0, len(node) - 1}):
            yield from _paths(node[i], prefix + (i,))


REPLACEMENTS = [None, "x", "[1E0,", [], {}, [[1]], -1, 10**9, 1.5, True, float("nan")]


@settings(max_examples=150)
@given(data=st.data())
def test_structurally_corrupted_xgboost_documents(booster, data):
    """Delete any key or element, or give it a value of another type: a treelens error or a
    working model, never a bare KeyError/TypeError/IndexError."""
    doc = json.loads(bytes(booster.save_raw("json")))
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans(), label="delete"):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(st.sampled_from(REPLACEMENTS), label="value")
    try:
        model = tl.load(json.dumps(doc).encode())
        if model.n_features <= 10_000:
            model.predict(np.zeros((2, model.n_features)))
    except TreelensError:
        pass


@settings(max_examples=150)
@given(data=st.data())
def test_structurally_corrupted_lightgbm_files(lgb_text, data, tmp_path_factory):
    lines = lgb_text.splitlines()
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    action = data.draw(st.sampled_from(["delete", "value", "garble"]), label="action")
    if action == "delete":
        del lines[i]
    elif "=" in lines[i]:
        key = lines[i].split("=", 1)[0]
        value = data.draw(st.sampled_from(["", "x", "-1", "1e400", "999999999", "1 2", "nan"]))
        lines[i] = f"{key}={value}"
    else:
        lines[i] = data.draw(st.sampled_from(["=", "Tree=", "end of trees", "tree", "x=1"]))
    path = tmp_path_factory.mktemp("lgbfuzz") / "model.txt"
    path.write_text("\n".join(lines))
    try:
        model = tl.load(path)
        if model.n_features <= 10_000:
            model.predict(np.zeros((2, model.n_features)))
    except TreelensError:
        pass
