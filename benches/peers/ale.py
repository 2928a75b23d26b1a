"""ALE on W1: all 50 features, 10,000 rows, against PyALE and alibi on the same bins.

Every library computes the same estimator (each row predicted at its bin's two edges, bin means
accumulated and centred), so the ratio is what each spends around and inside the predictions.
PyALE (``PyALE.ale``, quantile bins, ``grid_size=20``) is timed with the fitted XGBoost model's
own ``predict`` (2 threads), as a user runs it; alibi's estimator (``alibi.explainers.ale.ale_num``,
what ``ALE.explain`` runs per feature) with XGBoost's ``inplace_predict`` on treelens' edges (its
``explain`` cannot run under numpy 2: it calls ``np.percentile(interpolation=...)``; alibi pins
numpy < 2, so install it with ``pip install --no-deps alibi spacy scikit-image``). treelens
is timed from the fitted estimator (``tl.load`` once, then ``tl.ale`` per feature) with load and
kernel reported apart. The curves are checked against each other.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np

import treelens as tl

from .timing import best_of


def run(quick: bool) -> list[dict]:
    import pandas as pd

    from workloads import w1

    est, X, _ = w1()
    est.set_params(n_jobs=2)
    booster = est.get_booster()
    booster.set_param({"nthread": 2})
    n = 2000 if quick else 10000
    Xn = np.ascontiguousarray(X[:n])
    p = Xn.shape[1]
    frame = pd.DataFrame(Xn, columns=[f"f{j}" for j in range(p)])
    rows = []

    t = time.perf_counter()
    model = tl.load(est)
    load = time.perf_counter() - t
    ours = {}

    def treelens_all():
        for j in range(p):
            ours[j] = tl.ale(model, Xn, j, grid_resolution=20, n_jobs=2)

    kernel = best_of(treelens_all, repeat=2)
    total = load + kernel
    workload = f"W1 ALE 50 features x 20 bins, {n} rows"

    logging.getLogger("PyALE").setLevel(logging.WARNING)
    from PyALE import ale as pyale

    class XGBoostPredict:
        def predict(self, frame):
            return est.predict(frame.to_numpy())

    theirs = {}

    def pyale_all():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for j in range(p):
                theirs[j] = pyale(
                    frame,
                    XGBoostPredict(),
                    [f"f{j}"],
                    grid_size=20,
                    include_CI=False,
                    plot=False,
                )

    t_pyale = best_of(pyale_all, repeat=1)
    diff_pyale = max(
        float(np.max(np.abs(theirs[j]["eff"].to_numpy() - ours[j].average[0]))) for j in range(p)
    )
    same_edges = all(
        np.array_equal(theirs[j].index.to_numpy(), ours[j].grid_values[0]) for j in range(p)
    )
    rows.append(
        dict(
            workload=workload,
            method="PyALE (XGBoost predict)",
            rows=n,
            seconds=t_pyale,
            note=f"same bins: {same_edges}",
        )
    )

    t_alibi = None
    try:
        logging.getLogger("alibi").setLevel(logging.ERROR)
        from alibi.explainers.ale import ale_num

        def predictor(Z):
            return np.asarray(booster.inplace_predict(Z), dtype=np.float64)[:, None]

        alibi_out = {}

        def alibi_all():
            for j in range(p):
                alibi_out[j] = ale_num(predictor, Xn, j, feature_grid_points=ours[j].grid_values[0])

        t_alibi = best_of(alibi_all, repeat=1)
        diff_alibi = max(
            float(np.max(np.abs(alibi_out[j][1][:, 0] - ours[j].average[0]))) for j in range(p)
        )
        rows.append(
            dict(
                workload=workload,
                method="alibi ale_num (XGBoost inplace_predict)",
                rows=n,
                seconds=t_alibi,
            )
        )
    except ImportError as e:
        diff_alibi = None
        rows.append(
            dict(
                workload=workload,
                method="alibi",
                rows=n,
                seconds=float("nan"),
                note=f"not installed: {e}",
            )
        )

    note = f"load {load:.3f}s + kernel {kernel:.3f}s; max |diff| PyALE {diff_pyale:.1e}"
    if diff_alibi is not None:
        note += f", alibi {diff_alibi:.1e}"
        note += f"; x{t_alibi / total:.1f} vs alibi"
    rows.append(
        dict(
            workload=workload,
            method="treelens (load + 50 x tl.ale)",
            rows=n,
            seconds=total,
            ratio=t_pyale / total,
            note=note,
        )
    )
    return rows
