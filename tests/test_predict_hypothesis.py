"""Hypothesis: random matrices full of edge values against each library's own predict.

A few fixed models per library (fitted once per module); hypothesis draws matrices of random
shape, dtype and memory order whose entries are mostly the values where trees are fragile:
split thresholds exactly, their float64 and float32 neighbours and float32 roundings, NaN,
+-0, subnormals, huge values and (where the library accepts them) +-inf.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import ensemble as E

import treelens as tl

from _parity import (
    assert_parity,
    f32_neighbours,
    hgb_thresholds,
    lgb_thresholds,
    sklearn_thresholds,
    xgb_thresholds,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

P = 4
F32_MAX = float(np.finfo(np.float32).max)
SPECIAL = [
    0.0,
    -0.0,
    5e-324,  # smallest float64 subnormal (float32: 0)
    -5e-324,
    float(np.float32(1.4e-45)),  # smallest float32 subnormal
    float(np.finfo(np.float32).tiny),
    1e-35,  # LightGBM's zero threshold and its neighbours
    float(np.float32(1e-35)),
    -float(np.float32(1e-35)),
    float(np.nextafter(np.float32(1e-35), np.float32(1))),
    1e-36,
    -1e-36,
    F32_MAX,
    -F32_MAX,
    1e30,
    -1e30,
    np.nan,
]
BEYOND_F32 = [1e39, -1e39, 1e300, -1e300, np.inf, -np.inf]


def _edges(thresholds) -> list[float]:
    values = []
    for _, t in thresholds:
        values.extend(f32_neighbours(t))
    return sorted(set(values))


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(41)
    n = 200
    X = rng.normal(size=(n, P))
    X[:, 2] = rng.integers(0, 5, n)
    y = X[:, 0] + X[:, 1] ** 2 + (X[:, 2] % 2) + 0.1 * rng.normal(size=n)
    Xnan = X.copy()
    Xnan[rng.random(X.shape) < 0.1] = np.nan
    Xz = Xnan.copy()
    Xz[rng.random(X.shape) < 0.1] = 0.0
    yb = (y > np.median(y)).astype(int)
    out = {}
    rf = E.RandomForestRegressor(n_estimators=6, max_depth=6, random_state=0, n_jobs=1)
    rf.fit(Xnan, y)
    out["sklearn RandomForestRegressor"] = (rf, rf.predict, sklearn_thresholds(rf), False)
    gbc = E.GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X, yb)
    out["sklearn GradientBoostingClassifier"] = (
        gbc,
        gbc.decision_function,
        sklearn_thresholds(gbc),
        False,
    )
    hgb = E.HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=8).fit(Xnan, y > 0.8)
    out["sklearn HistGradientBoostingClassifier"] = (
        hgb,
        hgb.decision_function,
        hgb_thresholds(hgb),
        True,
    )
    booster = xgb.train(
        {"nthread": 1, "max_depth": 4, "eta": 0.5}, xgb.DMatrix(Xnan, y, nthread=1), 8
    )
    out["xgboost Booster"] = (
        booster,
        lambda Z: booster.predict(xgb.DMatrix(Z, nthread=1), output_margin=True),
        xgb_thresholds(booster),
        False,
    )
    lg = lgb.train(
        {"verbose": -1, "num_threads": 1, "num_leaves": 8, "min_data_in_leaf": 5},
        lgb.Dataset(Xz, y, categorical_feature=[2]),
        8,
    )
    out["lightgbm Booster"] = (
        lg,
        lambda Z: lg.predict(Z, raw_score=True),
        lgb_thresholds(lg),
        True,
    )
    lz = lgb.train(
        {"verbose": -1, "num_threads": 1, "num_leaves": 8, "zero_as_missing": True},
        lgb.Dataset(Xz, yb),
        8,
    )
    out["lightgbm Booster zero_as_missing"] = (
        lz,
        lambda Z: lz.predict(Z, raw_score=True),
        lgb_thresholds(lz),
        True,
    )
    return {k: (tl.load(v[0]), v[1], [tuple(t) for t in v[2]], v[3]) for k, v in out.items()}


@st.composite
def matrices(draw, edges, allow_beyond_f32):
    pool = edges + SPECIAL + (BEYOND_F32 if allow_beyond_f32 else [])
    bound = 1e300 if allow_beyond_f32 else 1e30
    element = st.one_of(
        st.sampled_from(pool),
        st.sampled_from(pool),  # twice: mostly edge values
        st.floats(-bound, bound, allow_nan=False, width=64),
        st.floats(-4, 4, width=32),
    )
    n = draw(st.integers(1, 40))
    X = draw(hnp.arrays(np.float64, (n, P), elements=element))
    if draw(st.booleans()):
        with np.errstate(over="ignore"):
            X = X.astype(np.float32)
    if draw(st.booleans()):
        X = np.asfortranarray(X)
    return X


def _tolerance(name):
    if name.startswith("xgboost"):
        return dict(rtol=1e-5, atol=1e-5)  # XGBoost accumulates in float32
    if name.startswith("lightgbm"):
        return dict(rtol=1e-9, atol=1e-9)
    return dict(rtol=1e-12, atol=1e-13)


NAMES = [
    "sklearn RandomForestRegressor",
    "sklearn GradientBoostingClassifier",
    "sklearn HistGradientBoostingClassifier",
    "xgboost Booster",
    "lightgbm Booster",
    "lightgbm Booster zero_as_missing",
]


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_edge_matrices_match_the_library(fitted, name, data):
    model, predict, thresholds, allow_beyond_f32 = fitted[name]
    X = data.draw(matrices(_edges(thresholds), allow_beyond_f32), label="X")
    if name == "sklearn GradientBoostingClassifier":
        X = np.where(np.isnan(X), 0.0, X)  # GradientBoosting refuses NaN
    ref = np.asarray(predict(X), dtype=np.float64)
    assert_parity(model.predict(X), ref, label=f"hypothesis {name}", **_tolerance(name))


@given(
    t=st.floats(-1e6, 1e6, allow_nan=False, width=32),
    steps=st.integers(-3, 3),
    less_equal=st.booleans(),
    f32_inputs=st.booleans(),
)
def test_single_split_at_float32_neighbours(t, steps, less_equal, f32_inputs):
    """A hand-built stump: the branch at x = t moved by a few float32 / float64 ulps."""
    from treelens import _core

    forest = _core.Forest(
        n_features=1,
        n_outputs=1,
        base_score=np.zeros(1),
        average=False,
        less_equal=less_equal,
        f32_inputs=f32_inputs,
        tree_start=np.array([0, 3]),
        tree_output=np.array([0]),
        feature=np.array([0, -1, -1]),
        threshold=np.array([float(t), 0, 0]),
        left=np.array([1, -1, -1]),
        right=np.array([2, -1, -1]),
        default_left=np.array([True, False, False]),
        missing=np.zeros(3, dtype=np.uint8),
        cover=np.ones(3),
        values=np.array([0.0, -1.0, 1.0]),
        category_set=np.full(3, -1),
        category_offsets=np.zeros(1, dtype=np.int64),
        category_words=np.zeros(0, dtype=np.uint32),
        category_members_left=np.zeros(0, bool),
        category_truncate_first=False,
    )
    x32 = np.float32(t)
    for _ in range(abs(steps)):
        x32 = np.nextafter(x32, np.float32(np.sign(steps) * np.inf))
    x64 = float(x32)
    for x in (x64, np.nextafter(x64, -np.inf), np.nextafter(x64, np.inf)):
        v = float(np.float32(x)) if f32_inputs else x
        goes_left = v <= t if less_equal else v < t
        got = forest.predict(np.array([[x]]))[0, 0]
        assert got == (-1.0 if goes_left else 1.0), (x, t, less_equal, f32_inputs)
