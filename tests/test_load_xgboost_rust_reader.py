"""The Rust reader of XGBoost models builds bitwise the forest the previous Python reader built.

``_xgboost_oracle`` is the Python reader treelens used before (kept only here): for a matrix of
models (regression, binary, multiclass, dart, categorical, random-forest rounds, vector leaves,
pruned trees, iteration ranges, early stopping), from live estimators, UBJSON and JSON bytes and
files, every array of the forest's state must be identical, byte for byte, and so must the
model's metadata. Corrupt inputs (every prefix, byte changes, documents with fields broken)
raise what the oracle raised, never a panic.
"""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import treelens as tl
from treelens.exceptions import ModelFormatError, TreelensError, UnsupportedModelError

import _xgboost_oracle as oracle

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
    assert new.feature_types == old.feature_types
    assert (new.objective, new.link, new.trees_per_round) == (
        old.objective,
        old.link,
        old.trees_per_round,
    )
    assert (new.classes is None) == (old.classes is None)
    if new.classes is not None:
        np.testing.assert_array_equal(new.classes, old.classes)
    assert new.frame_categories.keys() == old.frame_categories.keys()
    for j in new.frame_categories:
        np.testing.assert_array_equal(new.frame_categories[j], old.frame_categories[j])


def _train(params, X, y, rounds=6):
    return xgb.train({"nthread": 1, "max_depth": 4, **params}, xgb.DMatrix(X, y), rounds)


@pytest.fixture(scope="module")
def boosters():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.3 * rng.normal(size=300)
    yb = (y > 0).astype(int)
    y3 = np.digitize(y, [-0.5, 0.5])
    cats = pd.DataFrame(
        {
            "a": X[:, 0],
            "c": pd.Categorical(rng.choice(list("pqrstu"), 300), categories=list("pqrstu")),
            "d": pd.Categorical(rng.integers(0, 40, 300)),
        }
    )
    yc = X[:, 0] + (cats["c"].cat.codes % 2) + 0.1 * (cats["d"].cat.codes.to_numpy() % 5)
    out = {
        "regression": _train({}, X, y),
        "binary": _train({"objective": "binary:logistic"}, X, yb),
        "multiclass": _train({"objective": "multi:softprob", "num_class": 3}, X, y3),
        "poisson": _train({"objective": "count:poisson"}, X, np.exp(y / 3)),
        "dart": _train({"booster": "dart", "rate_drop": 0.4, "skip_drop": 0.0, "seed": 1}, X, y, 8),
        "forest_rounds": _train(
            {"num_parallel_tree": 3, "subsample": 0.7, "colsample_bynode": 0.6}, X, y, 3
        ),
        "multiclass_forest": _train(
            {"objective": "multi:softmax", "num_class": 3, "num_parallel_tree": 2}, X, y3, 3
        ),
        "pruned": _train({"tree_method": "exact", "gamma": 2.0, "max_depth": 6}, X, y, 4),
        "vector_leaves": _train(
            {"multi_strategy": "multi_output_tree", "tree_method": "hist", "max_depth": 3},
            X,
            np.column_stack([y, -y, y**2]),
            4,
        ),
        "categorical": xgb.train(
            {"nthread": 1, "max_depth": 4, "max_cat_to_onehot": 1},
            xgb.DMatrix(cats, yc, enable_categorical=True),
            6,
        ),
        "deep": _train({"max_depth": 12, "min_child_weight": 0}, X, y, 3),
    }
    named = _train({}, pd.DataFrame(X, columns=list("vwxyz")), y, 3)
    out["named"] = named
    return out


def _old_from_booster(booster, iteration_range=None):
    return oracle.load_bytes(
        bytes(booster.save_raw("json")),
        iteration_range=iteration_range,
        feature_names=booster.feature_names,
    )


def test_every_model_and_format_loads_bitwise_as_before(boosters, tmp_path):
    for name, b in boosters.items():
        old = _old_from_booster(b)
        assert_same_model(tl.load(b), old)
        for fmt in ("ubj", "json"):
            raw = bytes(b.save_raw(fmt))
            # Bytes and files carry the document's own names (a Booster may override them).
            assert_same_model(tl.load(raw), oracle.load_bytes(raw))
            path = tmp_path / f"{name}.{fmt}"
            b.save_model(path)
            assert_same_model(tl.load(path), oracle.load_bytes(path.read_bytes()))
        n_rounds = b.num_boosted_rounds()
        for r in ((0, 1), (1, n_rounds), (0, n_rounds)):
            assert_same_model(tl.load(b, iteration_range=r), _old_from_booster(b, r))


def test_estimators_with_early_stopping_and_classes(boosters):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(200, 4))
    y = X[:, 0] + 0.5 * rng.normal(size=200)
    est = xgb.XGBRegressor(n_estimators=40, max_depth=3, early_stopping_rounds=3, n_jobs=1)
    est.fit(X[:150], y[:150], eval_set=[(X[150:], y[150:])], verbose=False)
    assert est.best_iteration < 39
    model = tl.load(est)
    assert_same_model(model, _old_from_booster(est.get_booster(), (0, est.best_iteration + 1)))
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1)
    clf.fit(X, np.digitize(y, [0.0, 1.0]))
    old = _old_from_booster(clf.get_booster())
    old.classes = clf.classes_
    assert_same_model(tl.load(clf), old)


def test_errors_outside_the_document_are_unchanged(boosters):
    b = boosters["regression"]
    with pytest.raises(UnsupportedModelError, match=r"iteration_range \(0, 99\).*6 iterations"):
        tl.load(b, iteration_range=(0, 99))
    with pytest.raises(ModelFormatError):
        tl.load(b, iteration_range=(0,))


def _outcome(load, data):
    try:
        return load(data)
    except TreelensError as e:
        return type(e)
    except Exception:  # the oracle may fail in numpy on nonsense: a format error
        return ModelFormatError


def _same_outcome(data: bytes):
    new = _outcome(tl.load, data)
    old = _outcome(oracle.load_bytes, data)
    if isinstance(new, type) or isinstance(old, type):
        assert new == old, (new, old)
    else:
        assert_same_model(new, old)


def test_every_prefix_of_a_ubjson_model_is_a_format_error(boosters):
    raw = bytes(boosters["regression"][0:1].save_raw("ubj"))
    start = time.perf_counter()
    for end in range(len(raw)):
        with pytest.raises(ModelFormatError):
            tl.load(raw[:end] if raw[:end].strip() else b"{")
    assert time.perf_counter() - start < 10


def test_changed_bytes_and_fields_give_the_oracles_outcome(boosters):
    """Byte changes of a small UBJSON model and broken fields of its documents: an error of the
    oracle's class, or the oracle's forest bit for bit."""
    rng = random.Random(3)
    for name in ("regression", "categorical", "multiclass", "dart"):
        raw = bytes(boosters[name][0:2].save_raw("ubj"))
        for _ in range(150):
            bad = bytearray(raw)
            for _ in range(rng.choice((1, 1, 2, 4))):
                bad[rng.randrange(len(bad))] = rng.choice((0, 1, 0x7F, 0xFF, rng.randrange(256)))
            _same_outcome(bytes(bad))
        doc = json.loads(bytes(boosters[name][0:2].save_raw("json")))
        # Names that are not strings: the oracle kept them, the reader refuses them (below).
        paths = [
            p for p in _leaf_paths(doc) if p[1:2] not in (("feature_names",), ("feature_types",))
        ]
        for _ in range(150):
            d = json.loads(json.dumps(doc))
            path = rng.choice(paths)
            parent = d
            for k in path[:-1]:
                parent = parent[k]
            parent[path[-1]] = rng.choice(
                (-1, 0, 2**31 - 1, 10**12, 1.5, "x", None, [], {}, [1, 2], float("nan"), True)
            )
            _same_outcome(json.dumps(d).encode())


def _leaf_paths(value, path=()):
    """Paths to every scalar and list element of a document (iteratively)."""
    stack = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, dict):
            stack.extend((x, (*p, k)) for k, x in v.items())
        elif isinstance(v, list):
            yield p
            stack.extend((x, (*p, i)) for i, x in enumerate(v[:3]))
        else:
            yield p


def test_feature_names_and_types_must_be_strings(boosters):
    doc = json.loads(bytes(boosters["categorical"].save_raw("json")))
    for field in ("feature_names", "feature_types"):
        for bad in ([1, "c", "d"], "abc", [None] * 3):
            d = json.loads(json.dumps(doc))
            d["learner"][field] = bad
            with pytest.raises(ModelFormatError, match=f"{field} is not a list of strings"):
                tl.load(json.dumps(d).encode())


def test_save_raw_bytearray_is_read_in_place(boosters):
    """A live Booster's save_raw bytearray goes to the core uncopied (as a uint8 view): the same
    model as its bytes; an array that is not contiguous, or not uint8, is refused, not misread."""
    from treelens import _core
    from treelens.loaders import xgboost as xgb_loader

    for name in ("regression", "multiclass", "categorical"):
        raw = boosters[name].save_raw("ubj")
        assert isinstance(raw, bytearray)
        in_place = xgb_loader.from_model_bytes(raw, json=False)
        assert_same_model(in_place, xgb_loader.from_model_bytes(bytes(raw), json=False))
        assert_same_model(tl.load(boosters[name]), in_place)
    raw = boosters["regression"].save_raw("ubj")
    kwargs = dict(
        json=False,
        iteration_range=None,
        feature_names=None,
        objectives=xgb_loader._OBJECTIVES,
        base_margin=xgb_loader.base_margin,
    )
    with pytest.raises(TypeError, match="contiguous uint8 array"):
        _core.read_xgboost_model(np.frombuffer(raw, dtype=np.uint8)[::2], **kwargs)
    for other in (memoryview(raw), np.frombuffer(raw, dtype=np.int8), raw):
        with pytest.raises(TypeError, match="bytes or a one-dimensional uint8 array"):
            _core.read_xgboost_model(other, **kwargs)
