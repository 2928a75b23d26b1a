"""The core's LightGBM text reader against the pure-Python parser it replaced (kept in
tests/_lightgbm_python_oracle.py): the same forest bit for bit on a matrix of real models, and
the same verdict (loaded, ModelFormatError or UnsupportedModelError) on corrupted texts."""

from __future__ import annotations

import random

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import treelens as tl
from treelens.exceptions import ModelFormatError, TreelensError, UnsupportedModelError
from treelens.loaders.lightgbm import from_model_string

from _lightgbm_python_oracle import from_model_string as oracle_from_model_string

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

BASE = {"verbose": -1, "num_threads": 1, "num_leaves": 8, "min_data_in_leaf": 5, "seed": 0}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n, p = 300, 5
    X = rng.normal(size=(n, p))
    X[:, 3] = rng.integers(0, 40, n)
    X[:, 4] = np.round(X[:, 4])
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.4 * (X[:, 3] % 3) + 0.3 * X[:, 4]
    Xnan = X.copy()
    Xnan[rng.random((n, p)) < 0.1] = np.nan
    return {"X": X, "Xnan": Xnan, "y": y, "yb": (y > np.median(y)).astype(int),
            "y3": np.digitize(y, np.quantile(y, [0.33, 0.66])), "ypos": np.exp(y / 3)}  # fmt: skip


def _booster(data, params, *, label="y", x="Xnan", rounds=6, **dataset):
    return lgb.train({**BASE, **params}, lgb.Dataset(data[x], data[label], **dataset), rounds)


MODELS = {
    "regression": ({}, "y", {}),
    "binary sigmoid": ({"objective": "binary", "sigmoid": 2.0}, "yb", {}),
    "multiclass": ({"objective": "multiclass", "num_class": 3}, "y3", {}),
    "multiclassova": ({"objective": "multiclassova", "num_class": 3}, "y3", {}),
    "categorical": (
        {"max_cat_to_onehot": 1, "cat_smooth": 1, "min_data_per_group": 5},
        "y",
        {"categorical_feature": [3]},
    ),  # fmt: skip
    "categorical one-hot": ({"max_cat_to_onehot": 64}, "y", {"categorical_feature": [3]}),
    "missing None": ({"use_missing": False}, "y", {}),
    "zero as missing": ({"zero_as_missing": True}, "y", {}),
    "random forest": ({"boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1}, "y", {}),
    "dart": ({"boosting": "dart", "drop_rate": 0.5}, "y", {}),
    "poisson": ({"objective": "poisson"}, "ypos", {}),
    "tweedie": ({"objective": "tweedie"}, "ypos", {}),
    "gamma": ({"objective": "gamma"}, "ypos", {}),
    "cross_entropy": ({"objective": "cross_entropy"}, "yb", {}),
    "cross_entropy_lambda": ({"objective": "cross_entropy_lambda"}, "yb", {}),
    "deep leaves": ({"num_leaves": 64, "min_data_in_leaf": 1}, "y", {}),
}


def _assert_same_model(model, oracle):
    state, expected = model.forest.__reduce__()[1][0], oracle.forest.__reduce__()[1][0]
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            got = state[key]
            assert got.dtype == value.dtype and got.shape == value.shape, key
            assert got.tobytes() == value.tobytes(), key  # bitwise, not approximately
        else:
            assert state[key] == value, key
    for attr in ("feature_names", "objective", "link", "link_scale", "library",
                 "pandas_categorical"):  # fmt: skip
        assert getattr(model, attr) == getattr(oracle, attr), attr
    assert (model.classes is None) == (oracle.classes is None)
    if model.classes is not None:
        assert np.array_equal(model.classes, oracle.classes)


@pytest.mark.parametrize("name", list(MODELS))
def test_forest_bitwise_equal_to_the_python_parser(data, name):
    params, label, dataset = MODELS[name]
    booster = _booster(data, params, label=label, **dataset)
    text = booster.model_to_string()
    model = tl.load(booster)
    _assert_same_model(model, oracle_from_model_string(text))
    # The forest is LightGBM's own: raw margins agree (exactly, in practice).
    rows = data["Xnan"][:50]
    expected = booster.predict(rows, raw_score=True)
    if name == "random forest":
        expected = expected / booster.num_trees()  # LightGBM's raw score sums rf trees
    np.testing.assert_allclose(model.predict(rows), expected, rtol=1e-12, atol=1e-12)


def test_ranking_stumps_single_leaves_and_best_iteration(data):
    group = [30] * 10
    rank = _booster(data, {"objective": "lambdarank"}, label="y3", group=group)
    _assert_same_model(tl.load(rank), oracle_from_model_string(rank.model_to_string()))
    # A constant target: every tree is a single leaf.
    flat = lgb.train(BASE, lgb.Dataset(data["X"], np.ones(len(data["X"]))), 3)
    assert "num_leaves=1" in flat.model_to_string()
    _assert_same_model(tl.load(flat), oracle_from_model_string(flat.model_to_string()))
    X, y = data["X"], data["y"]
    stopped = lgb.train(
        {**BASE, "early_stopping_round": 2},
        lgb.Dataset(X[:200], y[:200]),
        200,
        valid_sets=[lgb.Dataset(X[200:], y[200:])],
        keep_training_booster=True,
    )
    model = tl.load(stopped)
    assert model.forest.n_trees == stopped.best_iteration < stopped.num_trees()
    _assert_same_model(model, oracle_from_model_string(stopped.model_to_string()))


def test_pandas_categorical_line(data):
    df = pd.DataFrame(data["X"][:, :3], columns=["a", "b", "c"])
    df["k"] = pd.Categorical(np.array(list("pqrstuvw"))[data["X"][:, 3].astype(int) % 8])
    booster = lgb.train({**BASE, "max_cat_to_onehot": 1}, lgb.Dataset(df, data["y"]), 5)
    text = booster.model_to_string()
    model = from_model_string(text)
    _assert_same_model(model, oracle_from_model_string(text))
    assert model.pandas_categorical == [list("pqrstuvw")]
    bad = text.replace("pandas_categorical:[", "pandas_categorical:{[")
    with pytest.raises(ModelFormatError, match="pandas_categorical line is not JSON"):
        from_model_string(bad)


def _verdict(load, text):
    try:
        return load(text)
    except UnsupportedModelError:
        return "unsupported"
    except ModelFormatError:
        return "format"


ODD = ["nan", "inf", "-inf", "-1", "-2", "1e400", "abc", "999999999999", "2147483647", "0",
       "1.5", "-7", "4294967296", "", "1e3"]  # fmt: skip


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    keyed = [i for i, line in enumerate(lines) if "=" in line]
    for _ in range(rng.choice([1, 1, 2])):
        i = rng.choice(keyed)
        key, _, value = lines[i].partition("=")
        tokens = value.split(" ")
        what = rng.random()
        if what < 0.5:
            tokens[rng.randrange(len(tokens))] = rng.choice(ODD)
        elif what < 0.65:
            del tokens[rng.randrange(len(tokens))]
        elif what < 0.8:
            tokens.append(rng.choice(tokens))
        elif key in ("left_child", "right_child"):
            j = rng.randrange(len(tokens))
            tokens[j] = str(rng.choice([0, j, -1, -len(tokens) - 2, len(tokens)]))
        else:
            tokens = [rng.choice(ODD)]
        lines[i] = key + "=" + " ".join(tokens)
    return "\n".join(lines)


def test_corrupted_texts_get_the_python_parsers_verdict(data):
    """Mutated values, counts and children: the core loads exactly what the Python parser loaded
    (bitwise) and refuses with the same exception class what it refused."""
    texts = [
        _booster(data, params, label=label, rounds=3, **dataset).model_to_string()
        for params, label, dataset in (MODELS["multiclass"], MODELS["categorical"])
    ]
    rng = random.Random(5)
    loaded = 0
    for _ in range(400):
        text = _mutate(rng, rng.choice(texts))
        got, expected = _verdict(from_model_string, text), _verdict(oracle_from_model_string, text)
        if isinstance(expected, str):
            assert got == expected, (expected, got)
        else:
            assert not isinstance(got, str), got
            _assert_same_model(got, expected)
            loaded += 1
    assert loaded > 20  # the mutations also hit fields that do not matter


def test_every_prefix_is_refused(data):
    text = _booster(data, MODELS["categorical"][0], rounds=2, categorical_feature=[3])
    text = text.model_to_string()
    end = text.index("end of trees")
    for cut in list(range(0, end, max(1, end // 300))) + [end, end + 5]:
        with pytest.raises(ModelFormatError):
            from_model_string(text[:cut])


def test_huge_declared_sizes_are_refused_at_once(data):
    text = _booster(data, {}, rounds=2).model_to_string()
    for old, new, pattern in (
        ("num_leaves=8", "num_leaves=4000000000000000000", "leaf_value has 8 values"),
        ("max_feature_idx=4", "max_feature_idx=99999999999999999999999", "max_feature_idx is"),
        ("num_class=1", "num_class=-3", "num_class is -3"),
    ):
        assert old in text, old
        with pytest.raises(TreelensError, match=pattern):
            from_model_string(text.replace(old, new, 1))
