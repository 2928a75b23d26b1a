"""Models are validated completely at load: every tree is a tree, every index, flag and declared
size is in its domain (checked before anything is allocated from it), every value is finite; and
readers cope with any depth. Each case names the corruption and checks the message names it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.tree import DecisionTreeRegressor

import treelens as tl
from treelens import _core
from treelens.exceptions import ModelFormatError, UnsupportedModelError
from treelens.loaders.forest_builder import ForestBuilder

# ----- the core's Forest ------------------------------------------------------------------------


def _parts(**override):
    """Root 0 splits into 1 and 2; node 1 into leaves 3 and 4."""
    parts = dict(
        n_features=2,
        n_outputs=1,
        base_score=np.zeros(1),
        average=False,
        less_equal=True,
        f32_inputs=False,
        tree_start=np.array([0, 5], dtype=np.int64),
        tree_output=np.array([0], dtype=np.int64),
        feature=np.array([0, 1, -1, -1, -1], dtype=np.int64),
        threshold=np.array([0.5, 0.5, 0, 0, 0], dtype=np.float64),
        left=np.array([1, 3, -1, -1, -1], dtype=np.int64),
        right=np.array([2, 4, -1, -1, -1], dtype=np.int64),
        default_left=np.zeros(5, dtype=bool),
        missing=np.zeros(5, dtype=np.uint8),
        cover=np.array([4.0, 3.0, 1.0, 2.0, 1.0]),
        values=np.array([0.0, 0.0, 1.0, 2.0, 3.0]),
        category_set=np.full(5, -1, dtype=np.int64),
        category_offsets=np.zeros(1, dtype=np.int64),
        category_words=np.zeros(0, dtype=np.uint32),
        category_members_left=np.zeros(0, dtype=bool),
        category_truncate_first=False,
    )
    parts.update(override)
    return parts


@pytest.mark.parametrize(
    "override,pattern",
    [
        # Node 1 points at the root's right child: a DAG (two parents), which used to load.
        (dict(left=np.array([1, 2, -1, -1, -1])), r"tree 0: node 2 has two parents"),
        (dict(right=np.array([1, 4, -1, -1, -1])), r"node 1 has two parents"),
        (dict(feature=np.array([0, -1, -1, -1, -1])), r"node 3 is not reached from the root"),
        (dict(feature=np.array([0, -2, -1, -1, -1])), r"tree 0, node 1: split feature -2"),
        (dict(values=np.array([0, 0, 1, np.nan, 3.0])), r"tree 0, node 3: leaf value NaN"),
        (dict(values=np.array([0, 0, np.inf, 2, 3.0])), r"tree 0, node 2: leaf value inf"),
        (dict(cover=np.array([4, 3, np.nan, 2, 1.0])), r"tree 0, node 2: cover NaN"),
        (dict(base_score=np.array([np.inf])), r"base_score of output 0 is inf"),
        (dict(tree_start=np.array([0, 7, 5])), r"tree 0 ends at node 7"),
    ],
)
def test_core_refuses_what_is_not_a_tree(override, pattern):
    if "tree_start" in override:
        override["tree_output"] = np.zeros(2, dtype=np.int64)
    with pytest.raises(ModelFormatError, match=pattern):
        _core.Forest(**_parts(**override))


def test_core_refuses_a_dag_that_once_gave_wrong_shap_values():
    """The shared child was counted twice: additivity was off silently. Now refused."""
    dag = _parts(left=np.array([1, 2, -1, -1, -1]), right=np.array([2, 4, -1, -1, -1]))
    with pytest.raises(ModelFormatError, match="two parents"):
        _core.Forest(**dag)


def test_vector_leaves_need_every_value_finite():
    vals = np.arange(15.0)
    vals[14] = np.nan  # the last of leaf 4's three values
    with pytest.raises(ModelFormatError, match="tree 0, node 4: leaf value NaN"):
        _core.Forest(
            **_parts(
                n_outputs=3,
                base_score=np.zeros(3),
                tree_output=np.array([-1], dtype=np.int64),
                values=vals,
            )
        )


def test_builder_refuses_a_split_on_a_negative_feature():
    """A negative split feature used to make the node a leaf, silently."""
    b = ForestBuilder(n_features=2, n_outputs=1, less_equal=True, f32_inputs=False)
    with pytest.raises(ModelFormatError, match="node 1 splits on the negative feature -3"):
        b.add_tree(
            feature=[0, -3, -1, -1, -1],
            threshold=[0.5] * 5,
            left=[1, 3, -1, -1, -1],
            right=[2, 4, -1, -1, -1],
            default_left=[0] * 5,
            cover=[1.0] * 5,
            values=[0.0] * 5,
        )
    with pytest.raises(ModelFormatError, match="default_left flags are not all 0 or 1"):
        b.add_tree(
            feature=[-1], threshold=[0], left=[-1], right=[-1], default_left=[2], cover=[1],
            values=[0],
        )  # fmt: skip


# ----- XGBoost ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) ** 2 + rng.normal(scale=0.1, size=300)
    return X, y


@pytest.fixture(scope="module")
def booster(data):
    X, y = data
    return xgb.train({"max_depth": 4, "nthread": 1}, xgb.DMatrix(X, y), 6)


@pytest.fixture(scope="module")
def cat_booster():
    import pandas as pd

    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {"a": rng.normal(size=400), "c": pd.Categorical(rng.choice(list("pqrstu"), 400))}
    )
    y = df["a"] + df["c"].isin(["p", "r"]) * 2.0
    est = xgb.XGBRegressor(
        n_estimators=4, max_depth=3, enable_categorical=True, max_cat_to_onehot=1, n_jobs=1
    )
    est.fit(df, y)
    return est.get_booster()


def _doc(booster):
    return json.loads(bytes(booster.save_raw("json")))


def _trees(doc):
    return doc["learner"]["gradient_booster"]["model"]["trees"]


def _load_doc(doc):
    return tl.load(json.dumps(doc).encode())


def _refused(doc, pattern):
    with pytest.raises(ModelFormatError, match=pattern):
        _load_doc(doc)


def test_xgboost_tree_info_out_of_range(booster):
    """tree_info=-1 used to reach a panic shown as 'internal error'."""
    for bad in (-1, 1, 2**40):
        doc = _doc(booster)
        doc["learner"]["gradient_booster"]["model"]["tree_info"][2] = bad
        _refused(doc, rf"tree_info says tree 2 feeds output {bad}, but the model has 1 output")


def test_xgboost_default_left_and_split_type_domains(booster):
    doc = _doc(booster)
    _trees(doc)[0]["default_left"][0] = 2
    _refused(doc, "tree 0: default_left holds values other than 0/1")
    doc = _doc(booster)
    _trees(doc)[1]["split_type"][0] = 7
    _refused(doc, "tree 1: split_type holds values other than 0")
    doc = _doc(booster)
    _trees(doc)[0]["split_indices"][0] = 1.5
    _refused(doc, "split_indices is not a list of integers")


def test_xgboost_dag_and_negative_feature(booster):
    doc = _doc(booster)
    tree = _trees(doc)[0]
    tree["right_children"][0] = tree["left_children"][0]  # both children the same node
    _refused(doc, r"XGBoost tree 0: node \d+ has 2 parents")
    doc = _doc(booster)
    _trees(doc)[0]["split_indices"][0] = -5
    _refused(doc, "splits on the negative feature -5")


def test_xgboost_covers_must_add_up(booster):
    """A corrupt cover skews path-dependent SHAP silently: a node's cover is its children's sum
    in every library (here within float32 rounding), so one far off is refused."""
    doc = _doc(booster)
    tree = _trees(doc)[0]
    tree["sum_hessian"][tree["left_children"][0]] *= 1000.0
    _refused(doc, r"tree 0, node 0: its cover .* is not the sum of its children's")
    doc = _doc(booster)
    _trees(doc)[1]["sum_hessian"][0] = 1e-320  # a child's share would overflow
    _refused(doc, "tree 1, node 0")


def test_xgboost_leaf_values_must_be_finite(booster):
    doc = _doc(booster)
    tree = _trees(doc)[0]
    leaf = tree["left_children"].index(-1)
    tree["split_conditions"][leaf] = float("nan")
    _refused(doc, r"tree 0, node \d+: leaf value NaN is not finite")
    doc = _doc(booster)
    _trees(doc)[3]["sum_hessian"][0] = float("inf")
    _refused(doc, r"tree 3, node 0: cover inf is not finite")


@pytest.mark.parametrize(
    "field,value,pattern",
    [
        ("num_feature", str(10**12), "num_feature is 1000000000000"),
        ("num_target", str(10**9), "num_target is 1000000000"),
        ("num_class", str(10**9), "num_class is 1000000000"),
        ("num_class", "7", "declares 7 outputs for 6 trees"),
        ("num_feature", "-3", "num_feature is -3"),
        ("num_feature", "abc", "num_feature is 'abc'"),
    ],
)
def test_xgboost_declared_sizes_are_checked_first(booster, field, value, pattern):
    """These used to allocate from the declared size: 8 GB RSS or a bare MemoryError."""
    doc = _doc(booster)
    doc["learner"]["learner_model_param"][field] = value
    start = time.perf_counter()
    _refused(doc, pattern)
    assert time.perf_counter() - start < 2.0


def test_xgboost_size_leaf_vector_checked_against_its_values(booster):
    doc = _doc(booster)
    _trees(doc)[0]["tree_param"]["size_leaf_vector"] = str(10**9)
    _refused(doc, "tree 0 size_leaf_vector is 1000000000")


def test_xgboost_categorical_fields(cat_booster):
    def cat_tree(doc):
        return next(t for t in _trees(doc) if len(t["categories_nodes"]))

    doc = _doc(cat_booster)
    cat_tree(doc)["categories_segments"][0] = -1
    _refused(doc, "segment lies outside its")
    doc = _doc(cat_booster)
    cat_tree(doc)["categories_sizes"][0] = 10**6
    _refused(doc, "segment lies outside its")
    doc = _doc(cat_booster)
    cat_tree(doc)["categories_nodes"][0] = 10**6
    _refused(doc, "categories_nodes names a node outside the tree")
    doc = _doc(cat_booster)
    cat_tree(doc)["categories_nodes"][0] = -1
    _refused(doc, "categories_nodes names a node outside the tree")
    doc = _doc(cat_booster)
    tree = cat_tree(doc)
    tree["categories"][tree["categories_segments"][0]] = 2**31 - 2
    start = time.perf_counter()
    _refused(doc, "category 2147483646 in a categorical split exceeds")
    assert time.perf_counter() - start < 2.0


def test_xgboost_json_and_ubjson_give_identical_shap_values(booster, cat_booster, data):
    """JSON writes float32 values as decimals; read back rounded, both formats load the same
    model bit for bit (covers used to differ: SHAP values 1.3e-8 apart). A logistic model has
    covers (hessians) that are not integers."""
    import pandas as pd

    X, y = data
    logistic = xgb.train(
        {"max_depth": 4, "nthread": 1, "objective": "binary:logistic"},
        xgb.DMatrix(X, y > np.median(y)),
        5,
    )
    for b, rows in ((booster, X), (logistic, X), (cat_booster, None)):
        from_json = tl.load(bytes(b.save_raw("json")))
        from_ubj = tl.load(bytes(b.save_raw("ubj")))
        if rows is None:
            rng = np.random.default_rng(2)
            cats = pd.Categorical(rng.choice(list("pqrstu"), 50), categories=list("pqrstu"))
            rows = pd.DataFrame({"a": rng.normal(size=50), "c": cats})
        a = tl.TreeExplainer(from_json).shap_values(rows)
        c = tl.TreeExplainer(from_ubj).shap_values(rows)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(from_json.predict(rows), from_ubj.predict(rows))


def test_xgboost_pruned_trees_with_deleted_nodes(data, tmp_path):
    """The exact method with gamma prunes nodes but keeps them, unreached, in the file; a dump
    skips them, leaving gaps in its node ids. Both load, and predict as XGBoost does."""
    X, y = data
    b = xgb.train(
        {"tree_method": "exact", "gamma": 2.0, "max_depth": 6, "nthread": 1}, xgb.DMatrix(X, y), 4
    )
    doc = _doc(b)
    assert any(int(t["tree_param"]["num_deleted"]) > 0 for t in _trees(doc))
    ref = b.predict(xgb.DMatrix(X), output_margin=True)
    base = float(doc["learner"]["learner_model_param"]["base_score"].strip("[]"))
    for model in (
        tl.load(bytes(b.save_raw("json"))),
        tl.load(bytes(b.save_raw("ubj"))),
        tl.load(b.get_dump(dump_format="json", with_stats=True), base_score=base, n_features=4),
    ):
        np.testing.assert_allclose(model.predict(X), ref, rtol=1e-6, atol=1e-6)
    # A node reached from nowhere that is not marked deleted is refused.
    tree = next(t for t in _trees(doc) if int(t["tree_param"]["num_deleted"]) > 0)
    orphan = next(
        i for i in range(1, len(tree["parents"])) if tree["split_indices"][i] == 2**31 - 1
    )
    tree["split_indices"][orphan] = 0
    _refused(doc, f"node {orphan} is not reached from the root")


# ----- UBJSON -----------------------------------------------------------------------------------


def test_ubjson_tiny_file_declaring_a_huge_container_is_refused_instantly():
    """25 bytes declaring 10**8 nulls used to take 11-38 s and 926 MB."""
    for data in (
        b"[$Z#L" + (10**8).to_bytes(8, "big") + b"\x00" * 12,
        b"[#L" + (10**8).to_bytes(8, "big") + b"Z" * 14,
        b"{#L" + (10**8).to_bytes(8, "big") + b"i\x01aZ" * 3,
        b"[$d#L" + (10**8).to_bytes(8, "big") + b"\x00" * 12,
    ):
        assert len(data) <= 25
        start = time.perf_counter()
        with pytest.raises(ModelFormatError, match="a container typed|declares 100000000 elem"):
            tl.load(b"{" + data[1:] if data[:1] == b"{" else b"{i\x01a" + data)
        assert time.perf_counter() - start < 0.5


def test_ubjson_typed_containers_hold_numbers_only():
    """XGBoost types only numeric arrays; a typed container of strings or containers is corrupt
    (and a typed container of nulls would be a count backed by no bytes)."""
    for kind in (b"S", b"C", b"[", b"{", b"H", b"Z", b"T"):
        data = b"{i\x01a[$" + kind + b"#i\x02" + b"i\x01x" * 2 + b"}"
        with pytest.raises(ModelFormatError, match="a container typed"):
            tl.load(data)


def test_ubjson_any_nesting_depth_without_recursion():
    deep = b"{i\x01a" + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(ModelFormatError, match="not an XGBoost model document"):
        tl.load(deep)


def test_corrupt_ubjson_does_not_lead_with_a_utf8_error(booster):
    raw = bytearray(booster.save_raw("ubj"))
    raw[len(raw) // 2 :] = b"\xff" * (len(raw) - len(raw) // 2)
    with pytest.raises(ModelFormatError) as e:
        tl.load(bytes(raw))
    assert "UBJSON" in str(e.value) and "utf-8" not in str(e.value).lower()[:60]


# ----- XGBoost dumps ----------------------------------------------------------------------------


def _chain_dump(depth: int) -> str:
    """A dump whose tree is a chain of `depth` splits on f0 at 0, 1, 2, ...: x goes left (a leaf
    worth k) at the first split k with x < k."""
    leaf = {"nodeid": 2 * depth, "leaf": float(depth), "cover": 1.0}
    node = leaf
    for k in reversed(range(depth)):
        node = {
            "nodeid": 2 * k,
            "split": "f0",
            "split_condition": float(k),
            "yes": 2 * k + 1,
            "no": 2 * k + 2,
            "missing": 2 * k + 2,
            "cover": float(depth - k + 1),
            "children": [{"nodeid": 2 * k + 1, "leaf": float(k), "cover": 1.0}, node],
        }
    # json.dumps itself recurses: write the nesting by hand.
    return _dump_text(node)


def _dump_text(root) -> str:
    out = []
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        children = item.get("children")
        head = {k: v for k, v in item.items() if k != "children"}
        text = json.dumps(head)
        if not children:
            out.append(text)
            continue
        out.append(text[:-1] + ', "children": [')
        stack.append("]}")
        stack.append(children[1])
        stack.append(", ")
        stack.append(children[0])
    return "".join(out)


def test_dump_of_any_depth_loads():
    """Python's json module raises RecursionError beyond ~1000 levels."""
    depth = 20_000
    text = _chain_dump(depth)
    with pytest.raises(RecursionError):
        json.loads(text)
    model = tl.load([text], base_score=0.0)
    x = np.array([[-1.0], [0.0], [0.5], [123.0], [19_999.0], [1e9], [np.nan]])
    np.testing.assert_array_equal(model.predict(x), [0.0, 1.0, 1.0, 124.0, 20_000.0, depth, depth])


def test_deep_lossguide_dump_matches_xgboost(tmp_path):
    """A real lossguide tree of depth ~800: alternating labels make every split peel off one
    end point."""
    n = 800
    X = np.arange(n, dtype=np.float64)[:, None]
    y = (np.arange(n) % 2).astype(float)
    params = {
        "tree_method": "hist",
        "grow_policy": "lossguide",
        "max_depth": 0,
        "max_leaves": n,
        "max_bin": n + 1,
        "min_child_weight": 0,
        "reg_lambda": 0,
        "eta": 1.0,
        "base_score": 0.5,
        "nthread": 1,
    }
    b = xgb.train(params, xgb.DMatrix(X, y), 1)
    dump = b.get_dump(dump_format="json", with_stats=True)
    with pytest.raises(RecursionError):
        json.loads(dump[0])
    ref = b.predict(xgb.DMatrix(X), output_margin=True)
    model = tl.load(dump, base_score=0.5)
    np.testing.assert_allclose(model.predict(X), ref, rtol=1e-6, atol=1e-6)
    path = tmp_path / "deep_dump.json"
    b.dump_model(path, dump_format="json", with_stats=True)
    np.testing.assert_array_equal(tl.load(path, base_score=0.5).predict(X), model.predict(X))
    assert model.forest.max_depth > 699


def test_dump_children_must_agree_with_yes_no_missing():
    node = {
        "nodeid": 0, "split": "f0", "split_condition": 1.0, "yes": 1, "no": 2, "missing": 1,
        "children": [{"nodeid": 1, "leaf": 1.0}, {"nodeid": 2, "leaf": 2.0}],
    }  # fmt: skip
    for change, pattern in (
        ({"no": 3}, "has children"),
        ({"missing": 7}, "missing=7"),
        ({"yes": 2}, "two distinct children"),
        ({"children": [{"nodeid": 1, "leaf": 1.0}]}, "two distinct children"),
        ({"children": [{"nodeid": 1, "leaf": 1.0}, {"nodeid": 1, "leaf": 1.0}]}, "children"),
        ({"split": "f1", "split_condition": [2**31 - 2]}, "exceeds the largest id"),
    ):
        bad = {**node, **change}
        with pytest.raises(ModelFormatError, match=pattern):
            tl.load([json.dumps(bad)], base_score=0.0)


def test_dart_dump_needs_tree_weights(data):
    """A dart dump carries no tree weights: predictions were off by up to 3.9, silently."""
    X, y = data
    params = {"booster": "dart", "rate_drop": 0.4, "skip_drop": 0.0, "max_depth": 3, "eta": 0.5}
    b = xgb.train({**params, "nthread": 1}, xgb.DMatrix(X, y), 8)
    doc = _doc(b)
    weights = doc["learner"]["gradient_booster"]["weight_drop"]
    base = float(doc["learner"]["learner_model_param"]["base_score"].strip("[]"))
    dump = b.get_dump(dump_format="json", with_stats=True)
    ref = b.predict(xgb.DMatrix(X), output_margin=True)
    model = tl.load(dump, base_score=base, tree_weights=weights, booster="dart")
    np.testing.assert_allclose(model.predict(X), ref, rtol=1e-6, atol=1e-6)
    with pytest.raises(UnsupportedModelError, match="tree_weights="):
        tl.load(dump, base_score=base, booster="dart")
    with pytest.raises(ModelFormatError, match="one finite weight per tree"):
        tl.load(dump, base_score=base, tree_weights=weights[:-1])


# ----- LightGBM ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lgb_text(data):
    X, y = data
    b = lgb.train(
        {"verbose": -1, "num_threads": 1, "num_leaves": 6, "deterministic": True},
        lgb.Dataset(X, y),
        4,
    )
    return b.model_to_string()


def _replace_first(text: str, key: str, new: str) -> str:
    start = text.index(f"\n{key}=") + 1
    end = text.index("\n", start)
    return text[:start] + f"{key}={new}" + text[end:]


def _tree_field(text: str, key: str) -> list[str]:
    start = text.index(f"\n{key}=") + len(key) + 2
    return text[start : text.index("\n", start)].split()


@pytest.mark.parametrize(
    "key,change,pattern",
    [
        ("left_child", lambda v: [str(len(v))] + v[1:], "left_child 5, outside the tree's 5"),
        ("right_child", lambda v: ["-7"] + v[1:], "right_child -7, outside"),
        ("decision_type", lambda v: ["12"] + v[1:], "decision_type 12"),
        ("decision_type", lambda v: ["16"] + v[1:], "decision_type 16"),
        ("leaf_value", lambda v: ["nan"] + v[1:], "leaf value NaN"),
        ("leaf_count", lambda v: ["-3"] + v[1:], "negative data count"),
        ("split_feature", lambda v: ["1.5"] + v[1:], "split_feature holds a non-integer"),
    ],
)
def test_lightgbm_tree_fields(lgb_text, key, change, pattern, tmp_path):
    text = _replace_first(lgb_text, key, " ".join(change(_tree_field(lgb_text, key))))
    with pytest.raises(ModelFormatError, match=pattern):
        tl.load(_write(tmp_path, text))


def _write(tmp_path, text: str):
    path = tmp_path / "model.txt"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "key,value,pattern",
    [
        ("num_class", str(10**9), "num_class is 1000000000"),
        ("max_feature_idx", str(10**12), "max_feature_idx"),
        ("num_tree_per_iteration", str(10**9), "num_tree_per_iteration is 1000000000"),
    ],
)
def test_lightgbm_declared_sizes(lgb_text, key, value, pattern, tmp_path):
    text = _replace_first(lgb_text, key, value)
    start = time.perf_counter()
    with pytest.raises(ModelFormatError, match=pattern):
        tl.load(_write(tmp_path, text))
    assert time.perf_counter() - start < 2.0


def test_lightgbm_categorical_boundaries(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=300), "c": rng.integers(0, 40, 300)})
    y = df["a"] + (df["c"] % 3 == 0) * 2.0
    b = lgb.train(
        {
            "verbose": -1,
            "num_threads": 1,
            "num_leaves": 4,
            "max_cat_to_onehot": 1,
            "min_data_per_group": 5,
            "cat_smooth": 1,
        },
        lgb.Dataset(df, y, categorical_feature=["c"]),
        3,
    )
    text = b.model_to_string()
    assert "cat_boundaries=" in text
    bounds = _tree_field(text, "cat_boundaries")
    for new, pattern in (
        ([bounds[0], "999"] + bounds[2:], "do not partition"),
        (["1"] + bounds[1:], "do not partition"),
    ):
        bad = _replace_first(text, "cat_boundaries", " ".join(new))
        with pytest.raises(ModelFormatError, match=pattern):
            tl.load(_write(tmp_path, bad))
    words = _tree_field(text, "cat_threshold")
    bad = _replace_first(text, "cat_threshold", " ".join(["4294967296"] + words[1:]))
    with pytest.raises(ModelFormatError, match="non-uint32"):
        tl.load(_write(tmp_path, bad))


# ----- scikit-learn -----------------------------------------------------------------------------


def test_sklearn_modified_tree_arrays_are_checked(data):
    X, y = data
    X = np.nan_to_num(X)
    for change, pattern in (
        (lambda t: t.children_left.__setitem__(1, t.children_right[0]), "two parents"),
        (lambda t: t.feature.__setitem__(0, -7), "negative feature -7"),
        (lambda t: t.feature.__setitem__(0, 99), "feature 99, but the model has 4"),
        (lambda t: t.value.__setitem__((t.children_left == -1).argmax(), np.nan), "leaf value"),
        (lambda t: t.threshold.__setitem__(0, np.nan), "NaN threshold"),
    ):
        est = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y)
        change(est.tree_)
        with pytest.raises(ModelFormatError, match=pattern):
            tl.load(est)


# ----- under a memory limit ---------------------------------------------------------------------


def test_hostile_sizes_are_refused_under_a_memory_limit(booster, lgb_text, tmp_path):
    """In a process capped at 1 GiB of address space, hostile declared sizes raise treelens
    errors instead of a MemoryError or an abort."""
    doc = _doc(booster)
    doc["learner"]["learner_model_param"]["num_target"] = str(10**6)
    (tmp_path / "a.json").write_text(json.dumps(doc))
    (tmp_path / "b.ubj").write_bytes(b"{i\x01a[$Z#L" + (10**9).to_bytes(8, "big") + b"}")
    (tmp_path / "c.txt").write_text(_replace_first(lgb_text, "num_class", str(10**9)))
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        import treelens as tl
        from treelens.exceptions import ModelFormatError
        for name in ("a.json", "b.ubj", "c.txt"):
            try:
                tl.load({str(tmp_path)!r} + "/" + name)
            except ModelFormatError as e:
                print("refused", name)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["refused a.json", "refused b.ubj", "refused c.txt"]
