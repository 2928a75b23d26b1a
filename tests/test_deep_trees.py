"""Every method on trees 10,000 to 100,000 levels deep: nothing recurses on depth, nothing
allocates a depth-squared table, and the numbers still equal independent oracles.

The deep trees are chains (each split has a leaf on one side), what scikit-learn grows on
alternating labels. One is a real fit; the deeper ones are scikit-learn trees whose node arrays
are set directly (scikit-learn's own ``predict`` is then the oracle) or ``treelens._core.Forest``
chains built from the loader's arrays.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.tree._tree import Tree

import treelens as tl
from treelens import _core
from treelens.model import Model

DEPTH = 12_000
P = 3


def _chain_nodes(depth: int, n_features: int, rng) -> dict:
    """A chain: internal node ``i`` (index ``2i``) splits on feature ``i % n_features`` at
    ``i // n_features + 0.5``; its left child is a leaf, its right child the next split."""
    n = 2 * depth + 1
    i = np.arange(depth)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n)
    left[2 * i] = 2 * i + 1
    right[2 * i] = 2 * i + 2
    feature[2 * i] = i % n_features
    threshold[2 * i] = i // n_features + 0.5
    cover = np.ones(n)
    cover[2 * i] = depth - i + 1
    values = rng.normal(size=n)
    return dict(
        left=left, right=right, feature=feature, threshold=threshold, cover=cover, values=values
    )


def _sklearn_chain(depth: int, n_features: int, seed: int = 0) -> DecisionTreeRegressor:
    """A scikit-learn regressor whose tree is a chain of ``depth`` splits."""
    rng = np.random.default_rng(seed)
    est = DecisionTreeRegressor().fit(rng.normal(size=(8, n_features)), rng.normal(size=8))
    c = _chain_nodes(depth, n_features, rng)
    state = est.tree_.__getstate__()
    nodes = np.zeros(len(c["left"]), dtype=state["nodes"].dtype)
    nodes["left_child"] = c["left"]
    nodes["right_child"] = c["right"]
    nodes["feature"] = np.where(c["feature"] < 0, -2, c["feature"])
    nodes["threshold"] = np.where(c["feature"] < 0, -2.0, c["threshold"])
    nodes["n_node_samples"] = c["cover"].astype(np.int64)
    nodes["weighted_n_node_samples"] = c["cover"]
    state.update(
        max_depth=depth,
        node_count=len(nodes),
        nodes=nodes,
        values=c["values"].reshape(-1, 1, 1),
    )
    # A fresh Tree object (setting the state of the fitted one in place corrupts its memory).
    tree = Tree(n_features, np.ones(1, dtype=np.intp), 1)
    tree.__setstate__(state)
    est.tree_ = tree
    return est


def _core_chains(depth: int, n_features: int, n_trees: int, seed: int = 0) -> Model:
    """``n_trees`` chains of ``depth`` splits, summed, built through ``treelens._core.Forest``."""
    rng = np.random.default_rng(seed)
    parts = [_chain_nodes(depth, n_features, rng) for _ in range(n_trees)]
    sizes = [len(p["left"]) for p in parts]
    n = sum(sizes)
    forest = _core.Forest(
        n_features=n_features,
        n_outputs=1,
        base_score=np.array([0.25]),
        average=False,
        less_equal=True,
        f32_inputs=False,
        tree_start=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        tree_output=np.zeros(n_trees, dtype=np.int64),
        feature=np.concatenate([p["feature"] for p in parts]),
        threshold=np.concatenate([p["threshold"] for p in parts]),
        left=np.concatenate([p["left"] for p in parts]),
        right=np.concatenate([p["right"] for p in parts]),
        default_left=np.zeros(n, dtype=bool),
        missing=np.zeros(n, dtype=np.uint8),
        cover=np.concatenate([p["cover"] for p in parts]),
        values=np.concatenate([p["values"] for p in parts]),
        category_set=np.full(n, -1, dtype=np.int64),
        category_offsets=np.zeros(1, dtype=np.int64),
        category_words=np.zeros(0, dtype=np.uint32),
        category_members_left=np.zeros(0, dtype=bool),
        category_truncate_first=False,
    )
    return Model(forest=forest, feature_names=None, objective="reg:squarederror")


def _rows(n: int, depth: int, n_features: int, seed: int = 1) -> np.ndarray:
    """Rows that stop at every depth of a chain (integer values miss the .5 thresholds)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, depth // n_features + 1, size=(n, n_features)).astype(np.float64)


@pytest.fixture(scope="module")
def chain():
    est = _sklearn_chain(DEPTH, P)
    return est, tl.load(est), _rows(60, DEPTH, P)


def test_the_fixture_is_deep(chain):
    est, model, _ = chain
    assert est.get_depth() == DEPTH
    assert model.forest.max_depth == DEPTH


def test_predict_equals_sklearn(chain):
    est, model, x = chain
    np.testing.assert_array_equal(model.predict(x), est.predict(x))


def test_path_shap_values_are_locally_accurate(chain):
    est, model, x = chain
    ex = tl.TreeExplainer(model)
    sv = ex.shap_values(x)
    np.testing.assert_allclose(sv.sum(axis=1) + ex.expected_value, est.predict(x), atol=1e-9)


def test_interaction_values_sum_to_shap_values_and_reduce(chain):
    _, model, x = chain
    ex = tl.TreeExplainer(model)
    inter = ex.shap_interaction_values(x)
    np.testing.assert_allclose(inter.sum(axis=2), ex.shap_values(x), atol=1e-9)
    np.testing.assert_allclose(inter, inter.transpose(0, 2, 1), atol=1e-12)
    summary = ex.shap_interaction_values(x, reduce="mean_abs")
    np.testing.assert_allclose(summary, np.abs(inter).mean(axis=0), atol=1e-12)


def _exact_interventional(predict, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Mean over background rows of the exact Shapley values of v(S) = f(x_S, z_notS), by
    enumerating all subsets (few features)."""
    n, p = x.shape
    subsets = list(itertools.product([0, 1], repeat=p))
    hybrid = np.array([[np.where(s, xi, zj) for s in subsets] for xi in x for zj in z])
    v = predict(hybrid.reshape(-1, p)).reshape(n, len(z), len(subsets))
    index = {s: i for i, s in enumerate(subsets)}
    phi = np.zeros((n, p))
    for s in subsets:
        size = sum(s)
        for j in range(p):
            if s[j]:
                continue
            w = math.factorial(size) * math.factorial(p - size - 1) / math.factorial(p)
            with_j = tuple(1 if q == j else s[q] for q in range(p))
            phi[:, j] += w * (v[:, :, index[with_j]] - v[:, :, index[s]]).mean(axis=1)
    return phi


def test_interventional_shap_equals_enumeration(chain):
    est, model, x = chain
    z = _rows(7, DEPTH, P, seed=5)
    ex = tl.TreeExplainer(model, data=z)
    got = ex.shap_values(x[:12])
    np.testing.assert_allclose(got, _exact_interventional(est.predict, x[:12], z), atol=1e-9)


def test_partial_dependence_equals_brute_force(chain):
    est, model, x = chain
    grid = np.array([0.0, 7.0, 1000.0, 3999.0])
    pd = tl.partial_dependence(model, x, [1], grid=[grid])
    for g, value in enumerate(grid):
        z = x.copy()
        z[:, 1] = value
        assert abs(pd["average"][0, g] - est.predict(z).mean()) < 1e-9


def _centred_pd(predict, x: np.ndarray, cols: list[int]) -> np.ndarray:
    """PD_S at every row by brute force, centred."""
    n = len(x)
    z = np.repeat(x, n, axis=0)  # row i * n + l: x_i
    background = np.tile(x, (n, 1))  # row i * n + l: x_l
    other = [j for j in range(x.shape[1]) if j not in cols]
    z[:, other] = background[:, other]
    pd = predict(z).reshape(n, n).mean(axis=1)
    return pd - pd.mean()


def test_hstats_equal_brute_force(chain):
    est, model, x = chain
    x = x[:30]
    hs = tl.hstats(model, x, pairwise_m=3)
    f = est.predict(x) - est.predict(x).mean()
    pd = [_centred_pd(est.predict, x, [j]) for j in range(P)]
    for j in range(P):
        rest = _centred_pd(est.predict, x, [q for q in range(P) if q != j])
        want = np.mean((f - pd[j] - rest) ** 2) / np.mean(f**2)
        assert abs(hs.h2_overall()[j] - want) < 1e-9
    for j, k in itertools.combinations(range(P), 2):
        jk = _centred_pd(est.predict, x, [j, k])
        want = np.mean((jk - pd[j] - pd[k]) ** 2) / np.mean(jk**2)
        assert abs(hs.h2_pairwise()[j, k] - want) < 1e-9


def test_permutation_importance_equals_sklearn(chain):
    est, model, x = chain
    y = est.predict(x) + np.random.default_rng(3).normal(size=len(x))
    got = tl.permutation_importance(model, x, y, n_repeats=3, random_state=0)
    want = sk_permutation_importance(est, x, y, n_repeats=3, random_state=0)
    np.testing.assert_allclose(got.importances, want.importances, rtol=1e-9, atol=1e-12)


def test_path_dependent_explainer_with_data_covers(chain):
    est, model, x = chain
    ex = tl.TreeExplainer(model, data=x, feature_perturbation="tree_path_dependent")
    sv = ex.shap_values(x[:10])
    np.testing.assert_allclose(sv.sum(axis=1) + ex.expected_value, est.predict(x[:10]), atol=1e-9)


def test_real_fit_on_alternating_labels():
    """What scikit-learn grows on alternating labels: a chain as deep as the data is long."""
    n = 1500
    x = np.c_[np.arange(n, dtype=np.float64), np.ones(n)]
    y = np.arange(n) % 2
    est = DecisionTreeClassifier(random_state=0).fit(x, y)
    assert est.get_depth() == n - 1
    model = tl.load(est)
    np.testing.assert_array_equal(model.predict(x), est.predict_proba(x))
    ex = tl.TreeExplainer(model)
    sv = ex.shap_values(x[::50])
    np.testing.assert_allclose(
        sv.sum(axis=1) + ex.expected_value, model.predict(x[::50]), atol=1e-9
    )
    hs = tl.hstats(model, x[::10])
    assert np.all(np.isfinite(hs.h2_overall()))
    pd = tl.partial_dependence(model, x, [0], grid=[np.array([10.0, 11.0])])
    for g, value in enumerate([10.0, 11.0]):
        z = x.copy()
        z[:, 0] = value
        # scikit-learn's layout: the positive class of a binary classifier.
        np.testing.assert_allclose(pd["average"][:, g], est.predict_proba(z)[:, 1].mean())


def test_chains_100000_deep():
    """Synthetic forests of two chains 100,000 splits deep: prediction, SHAP values and
    interventional SHAP against their identities, in linear memory."""
    depth = 100_000
    model = _core_chains(depth, P, n_trees=2)
    assert model.forest.max_depth == depth
    x = _rows(40, depth, P, seed=7)
    pred = model.predict(x)
    # Each chain's leaf by direct evaluation: the first split whose threshold the row is below.
    forest_values = model.forest.__reduce__()[1][0]["values"]
    want = np.full(len(x), 0.25)
    for t in range(2):
        values = forest_values[t * (2 * depth + 1) : (t + 1) * (2 * depth + 1)]
        for r, row in enumerate(x):
            stop = min(int(row[f]) * P + f for f in range(P))
            want[r] += values[2 * stop + 1] if stop < depth else values[2 * depth]
    np.testing.assert_allclose(pred, want, atol=1e-12)
    ex = tl.TreeExplainer(model)
    sv = ex.shap_values(x)
    np.testing.assert_allclose(sv.sum(axis=1) + ex.expected_value, pred, atol=1e-9)
    z = _rows(5, depth, P, seed=8)
    inter = tl.TreeExplainer(model, data=z).shap_values(x[:8])
    np.testing.assert_allclose(inter, _exact_interventional(model.predict, x[:8], z), atol=1e-9)


def test_paths_with_more_than_64_features():
    """Interventional SHAP walks (row, background) pairs through trees whose paths test more
    than 64 distinct features; on a 10,000-deep chain over 70 features it is still additive."""
    p = 70
    depth = 10_000
    model = _core_chains(depth, p, n_trees=1)
    x = _rows(6, depth, p, seed=9)
    z = _rows(4, depth, p, seed=10)
    sv = tl.TreeExplainer(model, data=z).shap_values(x)
    np.testing.assert_allclose(
        sv.sum(axis=1), model.predict(x) - model.predict(z).mean(), atol=1e-9
    )
