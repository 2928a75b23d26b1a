"""Interventional (background-data) TreeSHAP on W1 against shap and woodelf, in one run.

treelens explains 10,000 rows against 1,000 background rows (2 threads). The peers are timed on
smaller workloads (shap: 200 rows x 100 background; woodelf: 2,000 x 200) and compared two ways:

- throughput: the ratio of (rows x background rows) per second. Fair to shap, whose cost is
  proportional to rows x background; generous to woodelf, whose cost grows with rows + background.
- linear extrapolation of the peer's time to treelens' workload in the quantity its cost grows with
  (rows x background for shap, rows + background for woodelf), divided by treelens' time.

Rows also time treelens on each peer's own workload (a direct same-workload ratio), and check the
values agree. Every timing includes building the explainer (model parsing, background processing)
and computing the values.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from treelens.interventional import InterventionalExplainer

from . import timing


def _shap_time(est, X, bg, model_output="raw"):
    import shap

    holder = {}

    def call():
        # shap draws a progress bar on stderr for long runs: keep it out of the report.
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            ex = shap.TreeExplainer(
                est, bg, feature_perturbation="interventional", model_output=model_output
            )
            holder["v"] = ex.shap_values(X)

    seconds = timing.best_of(call, repeat=1)
    return seconds, np.asarray(holder["v"])


def _woodelf_time(est, X, bg):
    import pandas as pd
    from woodelf import WoodelfExplainer

    cols = [f"f{i}" for i in range(X.shape[1])]
    bg = pd.DataFrame(bg, columns=cols)
    X = pd.DataFrame(X, columns=cols)
    holder = {}

    def call():
        # woodelf prints progress bars and statistics: keep them out of the report.
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            ex = WoodelfExplainer(est, bg)
            holder["v"] = ex.shap_values(X)

    seconds = timing.best_of(call, repeat=1)
    return seconds, np.asarray(holder["v"])


def _ours(est, X, bg, repeat=3, model_output="raw"):
    holder = {}

    def call():
        ex = InterventionalExplainer(est, bg, model_output=model_output)
        holder["v"] = ex.shap_values(X, n_jobs=2)[:, :, 0]

    seconds = timing.best_of(call, repeat=repeat)
    return seconds, holder["v"]


def run(quick: bool) -> list[dict]:
    from workloads import w1

    est, X, _ = w1()
    est.set_params(n_jobs=2)
    background = X[:1000]
    explained = X[1000:]
    n_ours, m_ours = (2000, 1000) if quick else (10000, 1000)
    n_shap, m_shap = (40, 100) if quick else (200, 100)
    n_wood, m_wood = (500, 200) if quick else (2000, 200)

    rows = []
    t_ours, _ = _ours(est, explained[:n_ours], background[:m_ours])
    rows.append(
        dict(
            workload=f"W1 interventional {n_ours}x{m_ours}",
            method="treelens (2 threads)",
            rows=n_ours,
            seconds=t_ours,
            note=f"{n_ours * m_ours / t_ours:,.0f} row-pairs/s",
        )
    )

    # shap: cost ~ rows x background, single-threaded C++.
    t_shap, v_shap = _shap_time(est, explained[:n_shap], background[:m_shap])
    t_same, v_same = _ours(est, explained[:n_shap], background[:m_shap])
    diff = float(np.max(np.abs(v_same - v_shap)) / max(1.0, np.abs(v_shap).max()))
    throughput = (n_ours * m_ours / t_ours) / (n_shap * m_shap / t_shap)
    shap_extrapolated = t_shap * n_ours * m_ours / (n_shap * m_shap)
    rows.append(
        dict(
            workload=f"W1 interventional {n_shap}x{m_shap}",
            method="shap TreeExplainer",
            rows=n_shap,
            seconds=t_shap,
        )
    )
    rows.append(
        dict(
            workload=f"W1 interventional {n_shap}x{m_shap}",
            method="treelens, same workload",
            rows=n_shap,
            seconds=t_same,
            ratio=t_shap / t_same,
            note=f"max rel diff {diff:.1e}",
        )
    )
    rows.append(
        dict(
            workload=f"W1 interventional {n_ours}x{m_ours}",
            method="treelens vs shap (row-pair throughput)",
            rows=n_ours,
            seconds=t_ours,
            ratio=throughput,
            note=f"shap extrapolated x rows*bg: {shap_extrapolated:,.0f}s",
        )
    )

    # woodelf: cost ~ rows + background (vectorised numpy).
    t_wood, v_wood = _woodelf_time(est, explained[:n_wood], background[:m_wood])
    t_same, v_same = _ours(est, explained[:n_wood], background[:m_wood])
    diff = float(np.max(np.abs(v_same - v_wood)) / max(1.0, np.abs(v_wood).max()))
    extrapolated = t_wood * (n_ours + m_ours) / (n_wood + m_wood)
    rows.append(
        dict(
            workload=f"W1 interventional {n_wood}x{m_wood}",
            method="woodelf WoodelfExplainer",
            rows=n_wood,
            seconds=t_wood,
        )
    )
    rows.append(
        dict(
            workload=f"W1 interventional {n_wood}x{m_wood}",
            method="treelens, same workload",
            rows=n_wood,
            seconds=t_same,
            ratio=t_wood / t_same,
            note=f"max rel diff {diff:.1e}",
        )
    )
    rows.append(
        dict(
            workload=f"W1 interventional {n_ours}x{m_ours}",
            method="treelens vs woodelf (rows+bg extrap.)",
            rows=n_ours,
            seconds=t_ours,
            ratio=extrapolated / t_ours,
            note=f"woodelf extrapolated x (rows+bg): {extrapolated:,.1f}s; throughput ratio "
            f"{(n_ours * m_ours / t_ours) / (n_wood * m_wood / t_wood):,.0f}",
        )
    )
    rows.extend(_probability(X, quick))
    return rows


def _probability(X, quick):
    """model_output="probability" (O(rows x background) for both) on a binary XGBoost classifier
    trained on W1's data (y = target above its median), 100 trees of depth 6."""
    import xgboost as xgb

    from workloads import regression_data

    _, y = regression_data()
    clf = xgb.XGBClassifier(n_estimators=100, max_depth=6, tree_method="hist", n_jobs=2)
    clf.fit(X[:5000], (y[:5000] > np.median(y)).astype(int))
    n, m = (40, 100) if quick else (200, 100)
    bg, rows_x = X[:m], X[5000 : 5000 + n]
    t_shap, v_shap = _shap_time(clf, rows_x, bg, "probability")
    t_ours, v_ours = _ours(clf, rows_x, bg, model_output="probability")
    diff = float(np.max(np.abs(v_ours - v_shap)) / max(1e-12, np.abs(v_shap).max()))
    name = f"binary XGB (100x6) probability {n}x{m}"
    return [
        dict(workload=name, method="shap TreeExplainer", rows=n, seconds=t_shap),
        dict(
            workload=name,
            method="treelens (2 threads)",
            rows=n,
            seconds=t_ours,
            ratio=t_shap / t_ours,
            note=f"max rel diff {diff:.1e}",
        ),
    ]
