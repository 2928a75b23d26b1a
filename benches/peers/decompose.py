"""Functional decomposition on W1 to order 2: 10,000 rows against 1,000 background rows.

No Python library computes it, so the peer is the definition: for each explained row, the value
``v(U) = mean_z f(x_U, z_notU)`` of every feature set with at most two features (1 + 50 + 1,225
sets) from XGBoost's own predictions on the replicated background (``inplace_predict``, 2
threads), then inclusion-exclusion. It is timed on a slice of rows and extrapolated linearly
(each row costs the same 1,276 prediction batches); the slice's components are checked against
treelens'. treelens is timed from the fitted estimator (load, then ``tl.decompose``).
"""

from __future__ import annotations

import time

import numpy as np

import treelens as tl

from .timing import best_of


def _brute(booster, x, background):
    """Intercept, main (p,) and pairwise (p, p) components of one row by inclusion-exclusion."""
    p = x.shape[0]

    def v(cols):
        hybrid = background.copy()
        hybrid[:, cols] = x[cols]
        return float(np.mean(booster.inplace_predict(hybrid, predict_type="margin")))

    v0 = v([])
    single = np.array([v([j]) for j in range(p)])
    main = single - v0
    pair = np.zeros((p, p))
    for a in range(p):
        for b in range(a + 1, p):
            pair[a, b] = pair[b, a] = v([a, b]) - single[a] - single[b] + v0
    return v0, main, pair


def run(quick: bool) -> list[dict]:
    from workloads import w1

    est, X, _ = w1()
    booster = est.get_booster()
    booster.set_param({"nthread": 2})
    n = 2000 if quick else 10000
    m = 200 if quick else 1000
    Xn = np.ascontiguousarray(X[:n])
    background = np.ascontiguousarray(X[n : n + m])
    rows = []

    t = time.perf_counter()
    model = tl.load(est)
    load = time.perf_counter() - t
    result = {}

    def ours():
        result["dec"] = tl.decompose(model, Xn, data=background, max_order=2, n_jobs=2)

    kernel = best_of(ours, repeat=1)
    dec = result["dec"]
    shap_time = best_of(
        lambda: tl.InterventionalExplainer(model, background).shap_values(Xn, n_jobs=2), repeat=1
    )

    n_slice = 1 if quick else 2
    t = time.perf_counter()
    brute = [_brute(booster, Xn[i], background) for i in range(n_slice)]
    per_row = (time.perf_counter() - t) / n_slice
    brute_total = per_row * n
    err = 0.0
    for i, (v0, main, pair) in enumerate(brute):
        err = max(
            err,
            abs(v0 - dec.intercept),
            float(np.max(np.abs(main - dec.main[i]))),
            float(np.max(np.abs(pair - dec.pairwise[i]))),
        )
    workload = f"W1 decomposition order 2, {n} rows x {m} background"
    rows.append(
        dict(
            workload=workload,
            method="brute force (XGBoost predict, extrapolated)",
            rows=n,
            seconds=brute_total,
            note=f"{n_slice} rows timed: {per_row:.2f}s per row",
        )
    )
    total = load + kernel
    rows.append(
        dict(
            workload=workload,
            method="treelens (load + tl.decompose)",
            rows=n,
            seconds=total,
            ratio=brute_total / total,
            note=(
                f"load {load:.3f}s + kernel {kernel:.3f}s; interventional SHAP on the same rows "
                f"{shap_time:.2f}s; max |diff| vs brute force on the slice {err:.1e} "
                "(XGBoost predicts in float32)"
            ),
        )
    )
    return rows
