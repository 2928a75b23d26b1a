"""Smoke test of an installed treelens, with numpy only (no scikit-learn, no XGBoost, no cargo).

Run by .ci/test-wheel in a fresh virtualenv, and by the release workflow on every platform:
``python .ci/smoke_test.py``. Loads a small saved XGBoost model (``smoke_model.json`` beside
this file: 12 trees of depth 3 on 4 features, trained on rows with NaN) and checks treelens
against oracles written here from the model file alone:

- predictions: the trees walked in plain Python (XGBoost's rule: ``float32(x) < threshold``
  goes left, NaN takes the default branch);
- SHAP values: Shapley values by enumerating every subset of features, with the path-dependent
  value function (a feature outside the subset follows both branches, weighted by cover);
- permutation importance: scikit-learn's draws replayed with numpy's RandomState, each permuted
  table predicted by the oracle and scored by R^2;
- H statistics: Friedman's overall H^2 from the partial dependence functions computed by brute
  force (every row with every other row's values).

Exits non-zero with the first difference found.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sys

import numpy as np

import treelens as tl
from treelens import _core

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "smoke_model.json")


def read_trees(path):
    with open(path) as f:
        doc = json.load(f)
    learner = doc["learner"]
    base = float(learner["learner_model_param"]["base_score"].strip("[]"))
    trees = []
    for t in learner["gradient_booster"]["model"]["trees"]:
        trees.append(
            {
                "left": np.asarray(t["left_children"]),
                "right": np.asarray(t["right_children"]),
                "feature": np.asarray(t["split_indices"]),
                "threshold": np.asarray(t["split_conditions"], dtype=np.float32),
                "default_left": np.asarray(t["default_left"], dtype=bool),
                "cover": np.asarray(t["sum_hessian"], dtype=np.float64),
                # At a leaf, split_conditions holds the leaf value.
                "value": np.asarray(t["split_conditions"], dtype=np.float32).astype(np.float64),
            }
        )
    return base, trees


def goes_left(tree, node, x):
    v = x[tree["feature"][node]]
    if math.isnan(v):
        return bool(tree["default_left"][node])
    return bool(np.float32(v) < tree["threshold"][node])


def predict_row(base, trees, x):
    total = base
    for tree in trees:
        node = 0
        while tree["left"][node] != -1:
            node = tree["left"][node] if goes_left(tree, node, x) else tree["right"][node]
        total += tree["value"][node]
    return total


def path_value(trees, x, subset):
    """E[f | x_S] by the path-dependent rule, without the base score (it cancels)."""
    total = 0.0
    for tree in trees:
        stack = [(0, 1.0)]
        while stack:
            node, w = stack.pop()
            if tree["left"][node] == -1:
                total += w * tree["value"][node]
                continue
            left, right = tree["left"][node], tree["right"][node]
            if tree["feature"][node] in subset:
                stack.append((left if goes_left(tree, node, x) else right, w))
            else:
                c = tree["cover"]
                stack.append((left, w * c[left] / c[node]))
                stack.append((right, w * c[right] / c[node]))
    return total


def brute_force_shap(trees, x, p):
    phi = np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        for size in range(p):
            weight = math.factorial(size) * math.factorial(p - size - 1) / math.factorial(p)
            for s in itertools.combinations(others, size):
                phi[j] += weight * (path_value(trees, x, {*s, j}) - path_value(trees, x, set(s)))
    return phi


def r2(y, pred):
    return 1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)


def brute_force_importance(base, trees, X, y, n_repeats, seed):
    """scikit-learn's permutation_importance, replayed: one seed drawn from random_state; each
    column shuffled n_repeats times by a RandomState of that seed."""
    predict = lambda A: np.array([predict_row(base, trees, r) for r in A])  # noqa: E731
    baseline = r2(y, predict(X))
    random_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    out = np.zeros((X.shape[1], n_repeats))
    for j in range(X.shape[1]):
        rs = np.random.RandomState(random_seed)
        idx = np.arange(X.shape[0])
        Xp = X.copy()
        for r in range(n_repeats):
            # scikit-learn shuffles the index and the column in place, repeat after repeat.
            rs.shuffle(idx)
            Xp[:, j] = Xp[idx, j]
            out[j, r] = baseline - r2(y, predict(Xp))
    return out


def brute_force_h2_overall(base, trees, X):
    n, p = X.shape
    f = np.array([predict_row(base, trees, r) for r in X])
    out = np.zeros(p)
    for j in range(p):
        pd_j = np.zeros(n)
        pd_not = np.zeros(n)
        for i in range(n):
            A = X.copy()
            A[:, j] = X[i, j]  # every row with row i's value of j
            pd_j[i] = np.mean([predict_row(base, trees, r) for r in A])
            B = np.repeat(X[i : i + 1], n, axis=0)
            B[:, j] = X[:, j]  # row i's other values with every row's j
            pd_not[i] = np.mean([predict_row(base, trees, r) for r in B])
        fc, a, b = f - f.mean(), pd_j - pd_j.mean(), pd_not - pd_not.mean()
        out[j] = np.sum((fc - a - b) ** 2) / np.sum(fc**2)
    return out


def check(name, got, want, tol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        sys.exit(f"FAIL {name}: shape {got.shape} != {want.shape}")
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    scale = max(1.0, float(np.max(np.abs(want))))
    if not err <= tol * scale:
        sys.exit(f"FAIL {name}: max |difference| {err:.3e} > {tol:.0e} x {scale:.3g}")
    print(f"ok   {name}: max |difference| {err:.1e}")


def main() -> int:
    print(f"treelens {tl.__version__} from {os.path.dirname(tl.__file__)}")
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}, kernel {_core.simd_kernel}")
    if shutil.which("cargo") is not None and os.environ.get("TREELENS_SMOKE_NO_CARGO"):
        sys.exit("FAIL cargo is on PATH, and this run must show the wheel needs none")
    base, trees = read_trees(MODEL)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 4)).astype(np.float32).astype(np.float64)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[0] = [t["threshold"][0] for t in trees[:4]]  # values exactly on thresholds
    filled = np.nan_to_num(X)
    y = filled[:, 0] + 2 * filled[:, 1] * filled[:, 2] + np.where(filled[:, 3] > 0.3, 1.0, -0.5)

    model = tl.load(MODEL)
    want = np.array([predict_row(base, trees, r) for r in X])
    # XGBoost adds its float32 leaves in float32: agreement to float32 rounding.
    check("predict", model.predict(X).ravel(), want, 1e-6)

    ex = tl.TreeExplainer(MODEL)
    phi = ex.shap_values(X)
    check(
        "SHAP = brute force over all subsets",
        phi,
        [brute_force_shap(trees, r, 4) for r in X],
        1e-12,
    )
    check("SHAP sum to the prediction", phi.sum(axis=1) + ex.expected_value, want, 1e-6)
    inter = ex.shap_interaction_values(X[:5])
    check("interactions sum to SHAP", inter.sum(axis=2), phi[:5], 1e-12)

    pi = tl.permutation_importance(MODEL, X, y, n_repeats=4, random_state=11, scoring="r2")
    want_pi = brute_force_importance(base, trees, X, y, 4, 11)
    check("permutation importance = scikit-learn's draws replayed", pi.importances, want_pi, 1e-9)

    rows = X[:24]
    h = tl.hstats(MODEL, rows, pairwise_m=4)
    check(
        "H^2 overall = brute force", h.h2_overall(), brute_force_h2_overall(base, trees, rows), 1e-9
    )
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
