"""Path-dependent TreeSHAP on real fitted models equals a brute-force enumeration over all
feature subsets of the cover-weighted conditional expectations (Lundberg et al. 2020).

The oracle reads the trees straight from the libraries (sklearn ``tree_`` arrays, XGBoost's JSON
dump), not from treelens' loaders, and evaluates the definition directly."""

from __future__ import annotations

import json
from itertools import combinations
from math import factorial

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import treelens as tl

TOL = 1e-10


class Tree:
    """A binary tree for the oracle: decision(node, x) -> go left?"""

    def __init__(self, feature, left, right, cover, value, decide):
        self.feature, self.left, self.right = feature, left, right
        self.cover, self.value, self.decide = cover, value, decide

    def cond(self, node, x, known):
        if self.left[node] < 0:
            return np.asarray(self.value[node], dtype=np.float64)
        f = self.feature[node]
        if f in known:
            child = self.left[node] if self.decide(node, x) else self.right[node]
            return self.cond(child, x, known)
        total = 0.0
        for c in (self.left[node], self.right[node]):
            total = total + self.cover[c] / self.cover[node] * self.cond(c, x, known)
        return total


def sklearn_trees(est):
    """(trees, weight, k) of a fitted sklearn tree model: each tree with the output it feeds
    (None: its leaves hold one value per output, e.g. class fractions of forest classifiers)."""
    estimators = getattr(est, "estimators_", None)
    classifier = hasattr(est, "classes_")
    if estimators is None:
        pairs, weight = [(est, None)], 1.0
    elif isinstance(estimators, np.ndarray):  # gradient boosting: (n_stages, k)
        pairs = [(e, o) for row in estimators for o, e in enumerate(row)]
        weight = est.learning_rate
        classifier = False
    else:
        pairs, weight = [(e, None) for e in estimators], 1.0 / len(estimators)
    trees = []
    for e, output in pairs:
        t = e.tree_
        thr = t.threshold

        def decide(node, x, t=t, thr=thr):
            return np.float32(x[t.feature[node]]) <= thr[node]

        if classifier:
            v = t.value[:, 0, :]
            value = v / v.sum(axis=1, keepdims=True)
        else:
            value = t.value[:, 0, :1]
        tree = Tree(
            t.feature, t.children_left, t.children_right, t.weighted_n_node_samples, value, decide
        )
        trees.append((tree, output))
    k = trees[0][0].value.shape[1] if trees[0][1] is None else estimators.shape[1]
    return trees, weight, k


def xgboost_trees(booster):
    """Trees from XGBoost's JSON model (full float32 precision, unlike the text dump)."""
    doc = json.loads(booster.save_raw("json"))
    trees = []
    for t in doc["learner"]["gradient_booster"]["model"]["trees"]:
        left = np.asarray(t["left_children"], dtype=int)
        right = np.asarray(t["right_children"], dtype=int)
        feature = np.asarray(t["split_indices"], dtype=int)
        cond = np.asarray(t["split_conditions"], dtype=np.float32)
        cover = np.asarray(t["sum_hessian"], dtype=np.float32).astype(np.float64)
        # Leaves keep their value in split_conditions.
        value = cond.astype(np.float64)

        def decide(node, x, feature=feature, cond=cond):
            return np.float32(x[feature[node]]) < cond[node]

        trees.append((Tree(feature, left, right, cover, value[:, None], decide), 0))
    return trees


def margin_given(trees, weight, k, x, known):
    """The cover-weighted conditional expectation of the ensemble given the features `known`."""
    out = np.zeros(k)
    for tree, output in trees:
        v = tree.cond(0, x, known)
        if output is None:
            out += weight * v
        else:
            out[output] += weight * v[0]
    return out


def brute_force(trees, weight, k, base, x, p):
    """(phi (p, k), interactions (p, p, k)) of one row by subset enumeration."""
    v = {}
    for r in range(p + 1):
        for s in combinations(range(p), r):
            v[s] = base + margin_given(trees, weight, k, x, set(s))

    def val(s):
        return v[tuple(sorted(s))]

    phi = np.zeros((p, k))
    inter = np.zeros((p, p, k))
    for i in range(p):
        rest = [j for j in range(p) if j != i]
        for r in range(p):
            w = factorial(r) * factorial(p - r - 1) / factorial(p)
            for s in combinations(rest, r):
                phi[i] += w * (val(s + (i,)) - val(s))
        for j in rest:
            others = [q for q in rest if q != j]
            for r in range(p - 1):
                w = factorial(r) * factorial(p - r - 2) / factorial(p - 1)
                for s in combinations(others, r):
                    d = val(s + (i, j)) - val(s + (i,)) - val(s + (j,)) + val(s)
                    inter[i, j] += 0.5 * w * d
        inter[i, i] = phi[i] - inter[i, rest].sum(axis=0)
    return phi, inter


def small_data(seed, p, n=80):
    rng = np.random.default_rng(seed)
    # Values on a coarse grid are exact in float32, so the float32 comparisons are unambiguous.
    X = np.round(rng.normal(size=(n, p)), 1)
    y = X[:, 0] * 2 + np.sin(3 * X[:, 1 % p]) + X[:, -1] * X[:, 0] + rng.normal(scale=0.1, size=n)
    return X, y


def check(model, trees, weight, k, X, p):
    ex = tl.TreeExplainer(model)
    n = len(X)
    values = ex.shap_values(X).reshape(n, p, k)
    inter = ex.shap_interaction_values(X).reshape(n, p, p, k)
    base = np.atleast_1d(ex.expected_value) - margin_given(trees, weight, k, X[0], set())
    for r, x in enumerate(X):
        phi, phi2 = brute_force(trees, weight, k, base, x, p)
        scale = max(1.0, np.abs(phi).max())
        np.testing.assert_allclose(values[r], phi, rtol=0, atol=TOL * scale)
        np.testing.assert_allclose(inter[r], phi2, rtol=0, atol=TOL * scale)


@given(
    seed=st.integers(0, 10_000),
    p=st.integers(2, 5),
    depth=st.integers(1, 6),
    kind=st.sampled_from(["tree", "forest", "gbr", "forest_classifier", "gbc_multiclass"]),
)
def test_sklearn_models_match_brute_force(seed, p, depth, kind):
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeRegressor

    X, y = small_data(seed, p)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    if kind == "tree":
        model = DecisionTreeRegressor(max_depth=depth, random_state=seed).fit(X, y)
    elif kind == "forest":
        model = RandomForestRegressor(n_estimators=3, max_depth=depth, random_state=seed)
        model.fit(X, y)
    elif kind == "gbr":
        model = GradientBoostingRegressor(n_estimators=3, max_depth=depth, random_state=seed)
        model.fit(X, y)
    elif kind == "forest_classifier":
        model = RandomForestClassifier(n_estimators=3, max_depth=depth, random_state=seed)
        model.fit(X, labels)
    else:
        model = GradientBoostingClassifier(n_estimators=2, max_depth=depth, random_state=seed)
        model.fit(X, labels)
    trees, weight, k = sklearn_trees(model)
    check(model, trees, weight, k, X[:3], p)


@given(seed=st.integers(0, 10_000), p=st.integers(2, 5), depth=st.integers(1, 6))
def test_xgboost_models_match_brute_force(seed, p, depth):
    import xgboost as xgb

    X, y = small_data(seed, p)
    model = xgb.XGBRegressor(n_estimators=3, max_depth=depth, random_state=seed, n_jobs=1)
    model.fit(X, y)
    trees = xgboost_trees(model.get_booster())
    check(model, trees, 1.0, 1, X[:4], p)


def test_unlimited_depth_forest_is_exact():
    """A forest grown without max_depth (depth 30+): exact, local accuracy to 1e-9, and equal to
    shap (whose algorithm is exact too, but polynomial in depth)."""
    shap = pytest.importorskip("shap")
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12000, 12))
    y = X[:, 0] + np.sin(X[:, 1] * 3) + rng.normal(size=12000)
    model = RandomForestRegressor(n_estimators=2, random_state=0).fit(X, y)
    depth = max(e.get_depth() for e in model.estimators_)
    assert depth >= 30
    ex = tl.TreeExplainer(model)
    values = ex.shap_values(X[:20])
    pred = model.predict(X[:20])
    np.testing.assert_allclose(values.sum(axis=1) + ex.expected_value, pred, rtol=1e-9)
    want = shap.TreeExplainer(model).shap_values(X[:20])
    np.testing.assert_allclose(values, want, rtol=0, atol=1e-8 * np.abs(want).max())
    inter = ex.shap_interaction_values(X[:3])
    assert np.all(np.isfinite(inter))
    np.testing.assert_allclose(inter.sum(axis=2), values[:3], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(inter, inter.transpose(0, 2, 1))
