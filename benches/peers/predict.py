"""Native prediction against each library's own predict (W1 and a random forest)."""

from __future__ import annotations

import numpy as np

import treelens as tl

from . import timing


def run(quick: bool) -> list[dict]:
    import xgboost as xgb

    from workloads import random_forest_regressor, w1

    rows = []
    n = 2000 if quick else 10000
    est, X, _ = w1()
    X = X[:n]
    model = tl.load(est)
    booster = est.get_booster()
    booster.set_param({"nthread": 2})
    ours = timing.best_of(lambda: model.predict(X, n_jobs=2))
    # inplace_predict: Booster.predict on one DMatrix would return a cached result.
    peer = timing.best_of(lambda: booster.inplace_predict(X, predict_type="margin"))
    diff = float(
        np.max(np.abs(model.predict(X) - booster.predict(xgb.DMatrix(X), output_margin=True)))
    )
    rows.append(
        dict(workload="W1 predict", method="xgboost predict", rows=n, seconds=peer, ratio=None)
    )
    rows.append(
        dict(workload="W1 predict", method="treelens", rows=n, seconds=ours, ratio=peer / ours,
             note=f"max |diff| {diff:.1e}")
    )  # fmt: skip

    rf, Xr, _ = random_forest_regressor()
    Xr = Xr[:n]
    rfm = tl.load(rf)
    rf.set_params(n_jobs=2)
    ours = timing.best_of(lambda: rfm.predict(Xr, n_jobs=2))
    peer = timing.best_of(lambda: rf.predict(Xr))
    rows.append(dict(workload="RF predict", method="sklearn predict", rows=n, seconds=peer))
    rows.append(
        dict(workload="RF predict", method="treelens", rows=n, seconds=ours, ratio=peer / ours)
    )
    return rows
