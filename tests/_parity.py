"""Shared helpers for the prediction-parity tests: tolerances, edge-value rows, thresholds."""

from __future__ import annotations

import json

import numpy as np

#: Largest |treelens - library| seen per case, collected for the report table.
MEASURED: dict[str, float] = {}


def assert_parity(got, expected, *, rtol: float, atol: float, label: str = "") -> float:
    """``|got - expected| <= atol + rtol * |expected|`` element-wise; returns the max difference."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{label}: shape {got.shape} != {expected.shape}"
    assert np.all(np.isfinite(got) == np.isfinite(expected)), f"{label}: finiteness differs"
    diff = np.abs(got - expected)
    bound = atol + rtol * np.abs(expected)
    worst = int(np.argmax(diff - bound)) if diff.size else 0
    assert np.all(diff <= bound), (
        f"{label}: max |diff| {diff.max():.3g} exceeds the bound at flat index {worst} "
        f"(got {got.ravel()[worst]!r}, expected {expected.ravel()[worst]!r})"
    )
    d = float(diff.max()) if diff.size else 0.0
    if label:
        MEASURED[label] = max(MEASURED.get(label, 0.0), d)
    return d


def f32_neighbours(t: float) -> list[float]:
    """``t``, its float64 neighbours, its float32 rounding and that value's float32 neighbours."""
    t = float(t)
    t32 = np.float32(t)
    out = [
        t,
        np.nextafter(t, -np.inf),
        np.nextafter(t, np.inf),
        float(t32),
        float(np.nextafter(t32, np.float32(-np.inf))),
        float(np.nextafter(t32, np.float32(np.inf))),
    ]
    return [float(v) for v in out if np.isfinite(v)]


def edge_rows(X: np.ndarray, thresholds, *, rng, max_pairs: int = 150) -> np.ndarray:
    """Rows of ``X`` with one column set exactly at, and just beside, each split threshold.

    ``thresholds`` is an iterable of (feature, threshold). Also adds NaN, +-inf, 0 and -0 in
    every column, and the training rows themselves.
    """
    X = np.asarray(X, dtype=np.float64)
    pairs = list(dict.fromkeys((int(f), float(t)) for f, t in thresholds))
    if len(pairs) > max_pairs:
        pick = rng.choice(len(pairs), size=max_pairs, replace=False)
        pairs = [pairs[i] for i in pick]
    rows = [X]
    for f, t in pairs:
        values = f32_neighbours(t)
        base = X[rng.integers(0, X.shape[0], size=len(values))].copy()
        base[:, f] = values
        rows.append(base)
    for v in (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 1e-310):
        base = X[rng.integers(0, X.shape[0], size=X.shape[1])].copy()
        base[np.arange(X.shape[1]), np.arange(X.shape[1])] = v
        rows.append(base)
    return np.vstack(rows)


def sklearn_thresholds(est):
    """(feature, threshold) of every split of a fitted sklearn tree / forest / GB model."""
    if hasattr(est, "tree_"):
        trees = [est.tree_]
    else:
        trees = [e.tree_ for e in np.asarray(est.estimators_, dtype=object).ravel()]
    for tree in trees:
        for f, t in zip(tree.feature, tree.threshold):
            if f >= 0:
                yield int(f), float(t)


def hgb_thresholds(est):
    """Numeric splits of a HistGradientBoosting model (on models without categorical features)."""
    for predictors in est._predictors:
        for pred in predictors:
            nodes = pred.nodes
            for node in nodes:
                if not node["is_leaf"] and not node["is_categorical"]:
                    yield int(node["feature_idx"]), float(node["num_threshold"])


def xgb_thresholds(booster):
    doc = json.loads(bytes(booster.save_raw("json")))
    for tree in doc["learner"]["gradient_booster"].get("model", {}).get("trees", []):
        for left, f, t, st in zip(
            tree["left_children"],
            tree["split_indices"],
            tree["split_conditions"],
            tree.get("split_type", [0] * len(tree["left_children"])),
        ):
            if left >= 0 and st == 0:
                yield int(f), float(t)


def lgb_thresholds(booster):
    for info in booster.dump_model()["tree_info"]:
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                if node.get("decision_type") == "<=":
                    yield int(node["split_feature"]), float(node["threshold"])
                stack.extend([node["left_child"], node["right_child"]])


def orders(X: np.ndarray):
    """The same data as float64 C, float64 F, float32 C and float32 F arrays."""
    X = np.asarray(X, dtype=np.float64)
    with np.errstate(over="ignore"):
        return {
            "f64C": np.ascontiguousarray(X),
            "f64F": np.asfortranarray(X),
            "f32C": np.ascontiguousarray(X, dtype=np.float32),
            "f32F": np.asfortranarray(X, dtype=np.float32),
        }
