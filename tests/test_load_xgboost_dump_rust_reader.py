"""The Rust reader of XGBoost JSON dumps builds bitwise the forest the previous Python reader
built, and refuses what it refused.

``_xgboost_dump_oracle`` is that Python reader (kept only here). For dumps of regression,
binary, multiclass, dart (with tree weights), categorical, pruned and deep lossguide models, as
``get_dump`` lists (text, bytes, parsed dicts) and as dump files, every array of the forest must
be identical byte for byte. Broken dumps (fields changed to odd values, nodes rewired, text cut
or changed) must raise the oracle's exception class, with its message where the oracle named the
problem itself.
"""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import treelens as tl
from treelens.exceptions import ModelFormatError, TreelensError
from treelens.loaders.xgboost import from_dump

import _xgboost_dump_oracle as oracle

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _state(model):
    return model.forest.__reduce__()[1][0]


def assert_same_model(new, old):
    a, b = _state(new), _state(old)
    assert a.keys() == b.keys()
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype and x.shape == y.shape, k
        assert x.tobytes() == y.tobytes(), f"{k} differs"
    assert new.feature_names == old.feature_names
    assert (new.objective, new.link) == (old.objective, old.link)


def _train(params, X, y, rounds=5):
    return xgb.train({"nthread": 1, "max_depth": 4, **params}, xgb.DMatrix(X, y), rounds)


@pytest.fixture(scope="module")
def dumps():
    """(name, dump list, tl.load options) for a matrix of models."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.3 * rng.normal(size=300)
    y3 = np.digitize(y, [-0.5, 0.5])
    cats = pd.DataFrame(
        {
            "a": X[:, 0],
            "c": pd.Categorical(rng.choice(list("pqrstu"), 300), categories=list("pqrstu")),
        }
    )
    yc = X[:, 0] + (cats["c"].cat.codes % 2)
    dart = _train({"booster": "dart", "rate_drop": 0.4, "skip_drop": 0.0, "seed": 1}, X, y, 6)
    weights = json.loads(bytes(dart.save_raw("json")))["learner"]["gradient_booster"]["weight_drop"]
    n = 300  # a lossguide chain: every split peels off one end point, ~300 levels deep
    deep = xgb.train(
        {"tree_method": "hist", "grow_policy": "lossguide", "max_depth": 0, "max_leaves": n,
         "max_bin": n + 1, "min_child_weight": 0, "reg_lambda": 0, "eta": 1.0, "nthread": 1},
        xgb.DMatrix(np.arange(n, dtype=float)[:, None], (np.arange(n) % 2).astype(float)),
        1,
    )  # fmt: skip
    models = [
        ("regression", _train({}, X, y), {"base_score": 0.5}),
        ("binary", _train({"objective": "binary:logistic"}, X, y > 0), {"base_score": 0.4,
         "objective": "binary:logistic"}),
        ("multiclass", _train({"objective": "multi:softprob", "num_class": 3}, X, y3),
         {"base_score": [0.1, 0.2, 0.3], "objective": "multi:softprob", "n_outputs": 3}),
        ("dart", dart, {"base_score": 0.5, "tree_weights": weights, "booster": "dart"}),
        ("pruned", _train({"tree_method": "exact", "gamma": 2.0, "max_depth": 6}, X, y),
         {"base_score": 0.5, "n_features": 7}),
        ("named", _train({}, pd.DataFrame(X, columns=list("vwxyz")), y),
         {"base_score": 0.5, "feature_names": list("vwxyz")}),
        ("categorical", xgb.train({"nthread": 1, "max_depth": 3, "max_cat_to_onehot": 1},
         xgb.DMatrix(cats, yc, enable_categorical=True), 4),
         {"base_score": 0.5, "feature_names": ["a", "c"]}),
        ("deep", deep, {"base_score": 0.5}),
    ]  # fmt: skip
    return [(name, b.get_dump(dump_format="json", with_stats=True), kw) for name, b, kw in models]


def test_every_dump_form_loads_bitwise_as_before(dumps, tmp_path):
    for name, dump, kw in dumps:
        old = oracle.from_dump(dump, **kw)
        assert_same_model(tl.load(dump, **kw), old)
        assert_same_model(tl.load([t.encode() for t in dump], **kw), old)
        if name != "deep":  # json.loads recurses
            assert_same_model(tl.load([json.loads(t) for t in dump], **kw), old)
        path = tmp_path / f"{name}.json"
        path.write_text("[" + ",\n".join(dump) + "]")
        assert_same_model(tl.load(path, **kw), oracle.load_file(path.read_bytes(), **kw))
        # A file may hold each tree as a JSON string too.
        path.write_text(json.dumps(dump))
        assert_same_model(tl.load(path, **kw), old)


def test_deep_dump_predicts_as_xgboost(dumps):
    name, dump, kw = dumps[-1]
    assert name == "deep"
    model = tl.load(dump, **kw)
    assert model.forest.max_depth > 250
    X = np.arange(300, dtype=float)[:, None]
    old = oracle.from_dump(dump, **kw)
    np.testing.assert_array_equal(model.predict(X), old.predict(X))


def _outcome(load):
    try:
        return load()
    except TreelensError as e:
        return (type(e), str(e))
    except Exception as e:  # the oracle may fail in numpy on nonsense: a format error
        return (ModelFormatError, f"{type(e).__name__}: {e}")


def _same_outcome(dump, kw):
    new = _outcome(lambda: tl.load(dump, **kw))
    old = _outcome(lambda: oracle.from_dump(dump, **kw))
    if isinstance(new, tuple) or isinstance(old, tuple):
        assert isinstance(new, tuple) and isinstance(old, tuple), (new, old)
        assert new[0] == old[0], (new, old)
        if "malformed" not in old[1]:  # the JSON parsers word their details differently
            assert _json_detail_cut(new[1]) == _json_detail_cut(old[1])
        return new
    assert_same_model(new, old)
    return None


def _json_detail_cut(message: str) -> str:
    return re.sub(r"not valid JSON: .*?(?=\): dump with|$)", "not valid JSON", message)


ODD = [-1, 0, 1, 2, 3, 2**31 - 1, 2**40, 1.5, -0.0, "x", "f3", "f99", "2.5", "nan", "", None, [],
       {}, [1, 2], [3, -1], [2**31], True, float("nan"), float("inf"), 1e39]  # fmt: skip


def _nodes(tree):
    stack, out = [tree], []
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(c for c in node.get("children", []) if isinstance(c, dict))
    return out


def test_broken_dumps_give_the_oracles_outcome(dumps):
    rng = random.Random(7)
    refused = 0
    for _name, dump, kw in dumps[:-1]:
        trees = [json.loads(t) for t in dump[:3]]
        kw = {**kw, "n_outputs": min(kw.get("n_outputs", 1), len(trees))}
        if "tree_weights" in kw:
            kw["tree_weights"] = kw["tree_weights"][:3]
        for _ in range(120):
            t = json.loads(json.dumps(trees))
            nodes = _nodes(t[rng.randrange(len(t))])
            node = rng.choice(nodes)
            what = rng.random()
            if what < 0.6:
                node[rng.choice([*node, "leaf", "split", "children"])] = rng.choice(ODD)
            elif what < 0.7:
                node.pop(rng.choice(list(node)))
            elif what < 0.85 and "children" in node:
                other = rng.choice(nodes)
                node["children"][rng.randrange(2)] = json.loads(json.dumps(other))
            else:
                node["nodeid"] = rng.choice(nodes)["nodeid"]
            texts = [json.dumps(x) for x in t]
            refused += _same_outcome(texts, kw) is not None
    assert refused > 300


def test_broken_dump_text_and_options_give_the_oracles_outcome(dumps):
    rng = random.Random(8)
    _name, dump, kw = dumps[0]
    text = json.dumps(json.loads(dump[0]))
    for _ in range(200):
        b = bytearray(text.encode())
        for _ in range(rng.choice((1, 2))):
            b[rng.randrange(len(b))] = rng.choice(b'{}[]:,"0-. ex')
        _same_outcome([b.decode(), dump[1]], kw)
    for change in (
        {"n_outputs": 3},
        {"n_outputs": 0},
        {"n_outputs": "x"},
        {"n_features": 1},
        {"n_features": 2**40},
        {"n_features": -1},
        {"feature_names": ["a", "b"]},
        {"feature_names": [1, 2, 3, 4, 5]},
        {"tree_weights": [1.0]},
        {"tree_weights": [[1.0, 2.0]]},
        {"tree_weights": [1.0, float("nan")]},
        {"base_score": [0.5, 0.5]},
        {"base_score": "abc"},
    ):
        _same_outcome(dump[:2], {**kw, **change})
    for bad in ([dump[0], 3], [dump[0], None], [dump[0], "[1, 2]"], [dump[0], "{"]):
        _same_outcome(bad, kw)


def test_dump_file_errors(tmp_path):
    path = tmp_path / "dump.json"
    for text, pattern in (
        ("[]", "non-empty list"),
        ("[1, 2", "corrupt or truncated: not valid JSON"),
        ('[{"nodeid": 0, "leaf": 1.0}, 5]', "tree 1 is not a tree object"),
        ('["{", {"nodeid": 0, "leaf": 1.0}]', "tree 0 is not JSON"),
    ):
        path.write_text(text)
        with pytest.raises(ModelFormatError, match=pattern):
            tl.load(path, base_score=0.5)
    path.write_bytes(b'[{"nodeid": 0, "leaf": 1.0, "x": "\xff"}]')
    with pytest.raises(ModelFormatError, match="not UTF-8"):
        tl.load(path, base_score=0.5)


def test_cyclic_dict_tree_is_refused():
    leaf = {"nodeid": 1, "leaf": 1.0}
    root = {"nodeid": 0, "split": "f0", "split_condition": 1.0, "yes": 1, "no": 2, "missing": 1}
    root["children"] = [leaf, root]
    with pytest.raises(ModelFormatError, match="not a tree"):
        tl.load([root], base_score=0.5)


@pytest.mark.parametrize(
    "dump, options",
    [
        ([b'{"nodeid": 0, "leaf": "\xff"}'], {}),  # bytes that are not UTF-8
        ([{"nodeid": 0, "leaf": 1.0}], {"tree_weights": ["heavy"]}),
        ([{"nodeid": 0, "leaf": 1.0}], {"feature_names": 5}),
        ([{"nodeid": 0, "leaf": 1.0}], {"base_score": [["half"]]}),
    ],
)
def test_malformed_dump_arguments_are_format_errors(dump, options):
    # What Python itself rejects while preparing the dump (decoding, converting options) must
    # surface as ModelFormatError naming the dump, not as a bare ValueError or TypeError.
    kw = {"base_score": 0.5, **options}
    for load in (tl.load, from_dump):
        with pytest.raises(ModelFormatError, match="the XGBoost dump is malformed") as caught:
            load(dump, **kw)
        assert caught.value.__cause__ is None
