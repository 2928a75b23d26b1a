"""Path-dependent TreeSHAP: treelens against its peers, timed side by side in one run.

Workloads (benches/workloads.py):
- W1 (XGBRegressor, 500 trees, depth 6, 50 features): SHAP values of 10,000 rows with 2 threads
  against XGBoost ``pred_contribs``, FastTreeSHAP v2 (``fasttreeshap-fixed``, ``n_jobs=2``) and
  woodelf; interaction values against XGBoost ``pred_interactions``.
- RF (RandomForestRegressor, 100 trees, max_depth=12): SHAP values against ``shap.TreeExplainer``.

Each peer explains as many rows as it can in a reasonable time; speed is compared in rows per
second (every method's cost is linear in the rows). ``ratio_vs_<peer>`` is treelens' rate over the
peer's. Run ``python benches/peers/path_shap.py [--quick]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402

THREADS = 2


def _time(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _row(workload, method, rows, seconds, **extra):
    return {"workload": workload, "method": method, "rows": rows, "seconds": seconds, **extra}


def _with_ratios(rows: list[dict], ours: str) -> list[dict]:
    """Adds ``ratio_vs_<method>`` (treelens rows/s over the peer's) to treelens' rows."""
    by_workload: dict[str, list[dict]] = {}
    for r in rows:
        r["rows_per_second"] = r["rows"] / r["seconds"]
        by_workload.setdefault(r["workload"], []).append(r)
    for group in by_workload.values():
        mine = [r for r in group if r["method"] == ours]
        for m in mine:
            ratios = {}
            for peer in group:
                if peer["method"] != ours:
                    ratios[peer["method"]] = m["rows_per_second"] / peer["rows_per_second"]
                    m[f"ratio_vs_{peer['method']}"] = ratios[peer["method"]]
            if ratios:
                # The headline ratio is against the fastest peer; the note lists each one.
                m["ratio"] = min(ratios.values())
                m["note"] = ", ".join(f"vs {k} x{v:,.1f}" for k, v in ratios.items())
    return rows


def w1_values(quick: bool) -> list[dict]:
    import xgboost as xgb

    import treelens as tl

    model, X, _ = workloads.w1()
    n = 2000 if quick else 10_000
    x = X[:n]
    ex = tl.TreeExplainer(model)
    ex.shap_values(x[:100], n_jobs=THREADS)  # warm-up
    rows = [
        _row(
            "W1 shap values",
            "treelens",
            n,
            _time(lambda: ex.shap_values(x, n_jobs=THREADS), repeat=1 if quick else 3),
        )
    ]
    booster = model.get_booster()
    booster.set_param({"nthread": THREADS})
    n_xgb = 300 if quick else 2000
    d = xgb.DMatrix(x[:n_xgb])
    rows.append(
        _row(
            "W1 shap values",
            "xgboost_pred_contribs",
            n_xgb,
            _time(lambda: booster.predict(d, pred_contribs=True)),
        )
    )
    try:
        import fasttreeshap_fixed as fts

        n_fts = 500 if quick else 3000
        fex = fts.TreeExplainer(model, algorithm="v2", n_jobs=THREADS)
        fex.shap_values(x[:10])
        rows.append(
            _row(
                "W1 shap values",
                "fasttreeshap_v2",
                n_fts,
                _time(lambda: fex.shap_values(x[:n_fts])),
            )
        )
    except ImportError:  # pragma: no cover
        pass
    try:
        import pandas as pd
        from woodelf import WoodelfExplainer

        n_w = 500 if quick else 3000
        frame = pd.DataFrame(x[:n_w], columns=[f"f{i}" for i in range(x.shape[1])])
        wex = WoodelfExplainer(model)
        wex.shap_values(frame[:10], verbose=False)
        rows.append(
            _row(
                "W1 shap values",
                "woodelf",
                n_w,
                _time(lambda: wex.shap_values(frame, verbose=False)),
            )
        )
    except ImportError:  # pragma: no cover
        pass
    return rows


def w1_interactions(quick: bool) -> list[dict]:
    import xgboost as xgb

    import treelens as tl

    model, X, _ = workloads.w1()
    n = 500 if quick else 2000
    ex = tl.TreeExplainer(model)
    rows = [
        _row(
            "W1 interaction values",
            "treelens",
            n,
            _time(lambda: ex.shap_interaction_values(X[:n], n_jobs=THREADS)),
        )
    ]
    booster = model.get_booster()
    booster.set_param({"nthread": THREADS})
    n_xgb = 8 if quick else 200
    d = xgb.DMatrix(X[:n_xgb])
    rows.append(
        _row(
            "W1 interaction values",
            "xgboost_pred_interactions",
            n_xgb,
            _time(lambda: booster.predict(d, pred_interactions=True)),
        )
    )
    return rows


def rf_values(quick: bool) -> list[dict]:
    import shap

    import treelens as tl

    model, X, _ = workloads.random_forest_regressor()
    n = 1000 if quick else 5000
    ex = tl.TreeExplainer(model)
    rows = [
        _row(
            "RF shap values",
            "treelens",
            n,
            _time(lambda: ex.shap_values(X[:n], n_jobs=THREADS)),
        )
    ]
    n_shap = 10 if quick else 50
    sex = shap.TreeExplainer(model)
    rows.append(
        _row(
            "RF shap values",
            "shap",
            n_shap,
            _time(lambda: sex.shap_values(X[:n_shap], check_additivity=False)),
        )
    )
    return rows


def run(quick: bool = False) -> list[dict]:
    """Times treelens and the peers on W1 and RF; returns one dict per (workload, method)."""
    rows = w1_values(quick) + w1_interactions(quick) + rf_values(quick)
    return _with_ratios(rows, "treelens")


def scaling(quick: bool = True) -> list[dict]:
    """How treelens' time grows with rows, trees and threads on W1, and with depth on random
    forests grown deeper and deeper."""
    import treelens as tl

    model, X, _ = workloads.w1()
    out = []
    full = tl.load(model)
    for rows in (1000, 2000, 4000, 8000):
        t = _time(lambda rows=rows: tl.shap_values(full, X[:rows], n_jobs=THREADS))
        out.append({"vary": "rows", "rows": rows, "seconds": t})
    for trees in (125, 250, 500):
        m = tl.load(model.get_booster(), iteration_range=(0, trees))
        t = _time(lambda m=m: tl.shap_values(m, X[:2000], n_jobs=THREADS))
        out.append({"vary": "trees", "trees": trees, "seconds": t})
    for threads in (1, 2):
        t = _time(lambda threads=threads: tl.shap_values(full, X[:2000], n_jobs=threads))
        out.append({"vary": "threads", "threads": threads, "seconds": t})
    from sklearn.ensemble import RandomForestRegressor

    Xr, y = workloads.regression_data()
    for depth in (6, 12, 24, None):
        rf = RandomForestRegressor(10, max_depth=depth, random_state=0, n_jobs=THREADS)
        rf.fit(Xr[:5000], y[:5000])
        m = tl.load(rf)
        t = _time(lambda m=m: tl.shap_values(m, X[:1000], n_jobs=THREADS))
        out.append(
            {
                "vary": "depth",
                "max_depth": m.forest.max_depth,
                "nodes": m.forest.n_nodes,
                "seconds": t,
            }
        )
    return out


def main() -> None:
    quick = "--quick" in sys.argv
    for r in run(quick):
        ratios = {k: round(v, 1) for k, v in r.items() if k.startswith("ratio")}
        print(
            f"{r['workload']:24s} {r['method']:28s} {r['rows']:6d} rows {r['seconds']:8.3f} s "
            f"{r['rows_per_second']:10.1f} rows/s {ratios}"
        )
    if "--scaling" in sys.argv:
        for r in scaling(quick):
            print(r)


if __name__ == "__main__":
    main()
