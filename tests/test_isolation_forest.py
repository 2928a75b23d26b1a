"""scikit-learn's IsolationForest: the margin is the mean path length E[h(x)] (what shap explains),
from which scikit-learn's ``score_samples`` follows; SHAP values of it equal a brute-force
enumeration read straight from the fitted trees, and shap's."""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pytest

import treelens as tl

sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
IsolationForest = sklearn_ensemble.IsolationForest


def _c(n):
    """Average path length of an unsuccessful search in a binary search tree of n points."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 5))
    X[:6] += 5.0  # a few outliers
    return X


CONFIGS = [
    dict(n_estimators=20),
    dict(n_estimators=15, max_features=0.6),
    dict(n_estimators=10, max_samples=40, bootstrap=True),
    dict(n_estimators=12, max_features=3, contamination=0.05),
]


@pytest.mark.parametrize("kw", CONFIGS)
def test_margin_gives_score_samples(data, kw):
    est = IsolationForest(random_state=0, **kw).fit(data)
    margin = tl.load(est).predict(data)
    score = -(2.0 ** (-margin / _c(est.max_samples_)))
    np.testing.assert_allclose(score, est.score_samples(data), rtol=1e-13, atol=0)


def _oracle_trees(est):
    """Per tree: (feature in X's columns, threshold, left, right, cover, leaf path length)."""
    trees = []
    for e, cols in zip(est.estimators_, est.estimators_features_):
        t = e.tree_
        depth = np.zeros(t.node_count)
        stack = [(0, 0)]
        while stack:
            n, d = stack.pop()
            depth[n] = d
            if t.children_left[n] >= 0:
                stack += [(t.children_left[n], d + 1), (t.children_right[n], d + 1)]
        value = depth + _c(t.n_node_samples)
        feature = np.array([cols[f] if f >= 0 else -1 for f in t.feature])
        trees.append(
            (
                feature,
                t.threshold,
                t.children_left,
                t.children_right,
                t.weighted_n_node_samples,
                value,
            )
        )
    return trees


def _expectation(tree, n, x, known):
    feature, threshold, left, right, cover, value = tree
    if left[n] < 0:
        return value[n]
    f = feature[n]
    if f in known:
        child = left[n] if np.float32(x[f]) <= threshold[n] else right[n]
        return _expectation(tree, child, x, known)
    return sum(cover[c] / cover[n] * _expectation(tree, c, x, known) for c in (left[n], right[n]))


def _brute_force_shap(est, x):
    trees = _oracle_trees(est)
    p = len(x)

    def v(known):
        return np.mean([_expectation(t, 0, x, set(known)) for t in trees])

    phi = np.zeros(p)
    for i in range(p):
        rest = [j for j in range(p) if j != i]
        for size in range(p):
            w = factorial(size) * factorial(p - size - 1) / factorial(p)
            for s in combinations(rest, size):
                phi[i] += w * (v(s + (i,)) - v(s))
    return phi, v(())


@pytest.mark.parametrize("kw", CONFIGS[:3])
def test_path_shap_equals_brute_force(data, kw):
    est = IsolationForest(random_state=1, **{**kw, "n_estimators": 4}).fit(data)
    explainer = tl.TreeExplainer(est)
    rows = data[[0, 1, 7, 100]]
    got = explainer.shap_values(rows)
    for x, phi in zip(rows, got):
        want, base = _brute_force_shap(est, x)
        np.testing.assert_allclose(phi, want, rtol=1e-10, atol=1e-10)
        assert explainer.expected_value == pytest.approx(base, rel=1e-12)


def test_matches_shap(data):
    shap = pytest.importorskip("shap")
    est = IsolationForest(random_state=0, n_estimators=25, max_features=0.8).fit(data)
    rows = data[:40]
    ours = tl.TreeExplainer(est)
    theirs = shap.TreeExplainer(est)
    np.testing.assert_allclose(
        ours.shap_values(rows), theirs.shap_values(rows), rtol=1e-10, atol=1e-11
    )
    np.testing.assert_allclose(
        ours.shap_interaction_values(rows[:5]),
        theirs.shap_interaction_values(rows[:5]),
        rtol=1e-10,
        atol=1e-11,
    )
    # Without sample weights shap's base value is the same cover-weighted mean path length.
    assert ours.expected_value == pytest.approx(float(np.ravel(theirs.expected_value)[0]))
    margin = tl.load(est).predict(rows)
    np.testing.assert_allclose(
        ours.shap_values(rows).sum(axis=1) + ours.expected_value, margin, rtol=1e-12
    )


def test_interventional_matches_shap(data):
    shap = pytest.importorskip("shap")
    est = IsolationForest(random_state=0, n_estimators=10).fit(data)
    background = data[50:90]
    rows = data[:20]
    ours = tl.TreeExplainer(est, data=background, feature_perturbation="interventional")
    theirs = shap.TreeExplainer(est, data=background, feature_perturbation="interventional")
    got = ours.shap_values(rows)
    # shap runs isolation forests in float32 here: agreement to its rounding.
    np.testing.assert_allclose(got, theirs.shap_values(rows), rtol=1e-5, atol=1e-6)
    # Exact in float64: values add up to the margin less its mean over the background.
    model = tl.load(est)
    np.testing.assert_allclose(
        got.sum(axis=1),
        model.predict(rows) - model.predict(background).mean(),
        rtol=1e-12,
        atol=1e-12,
    )
