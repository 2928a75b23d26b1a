"""Deep and large trees: treelens against its peers in one run, end to end from the estimator.

Workloads (built once, cached like benches/workloads.py):
- LGB255: LGBMRegressor(1,000 trees, num_leaves=255) on the W1 data (50 features): path SHAP of
  1,000 rows against LightGBM's own ``predict(X, pred_contrib=True)``.
- RF15: RandomForestRegressor(100 trees, max_depth=15) on the W1 data: path SHAP of 1,000 rows
  against FastTreeSHAP (``algorithm="auto"``, which picks v2 where its memory allows) and woodelf;
  interventional SHAP of 1,000 rows x 1,000 background rows against woodelf (in a child process
  with a time budget, ``TREELENS_BENCH_PEER_BUDGET`` seconds, default 1,800: past it the ratio
  printed is a lower bound).

Every timing builds the explainer from the fitted estimator (loading included). ``scaling()``
times every treelens method on forests of depth 6, 10, 15 and 20 (``--scaling``).
Run ``python benches/compare.py --only deep_trees`` or ``python benches/peers/deep_trees.py``.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import queue
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402
from peers import timing  # noqa: E402

THREADS = 2


def lightgbm_255():
    """(model, X, y): LGBMRegressor(1,000 trees, 255 leaves) on the W1 data."""

    def build():
        import lightgbm as lgb

        X, y = workloads.regression_data()
        model = lgb.LGBMRegressor(
            n_estimators=1000, num_leaves=255, n_jobs=THREADS, random_state=0, verbose=-1
        )
        model.fit(X, y)
        return model, X, y

    return workloads._cached("lgbm_1000x255", build)


def forest(depth, trees=100):
    """(model, X, y): RandomForestRegressor(trees, max_depth=depth) on the W1 data."""

    def build():
        from sklearn.ensemble import RandomForestRegressor

        X, y = workloads.regression_data()
        model = RandomForestRegressor(trees, max_depth=depth, n_jobs=THREADS, random_state=0)
        model.fit(X, y)
        return model, X, y

    return workloads._cached(f"rf_{trees}x{depth}", build)


def _quiet(fn):
    def call():
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stderr(io.StringIO()),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            return fn()

    return call


def _timed(fn, repeat=1):
    holder = {}

    def call():
        holder["v"] = fn()

    return timing.best_of(_quiet(call), repeat=repeat, min_time=5.0), holder["v"]


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1e-12, np.abs(b).max()))


def _frame(x):
    import pandas as pd

    return pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])


def _against(name: str, n: int, peers: dict, t_ours: float, note: str) -> list[dict]:
    """The peers' rows (method -> seconds), then treelens' against the fastest of them."""
    rows = [dict(workload=name, method=m, rows=n, seconds=t) for m, t in peers.items()]
    best = min(peers.values())
    rows.append(
        dict(
            workload=name, method="treelens", rows=n, seconds=t_ours, ratio=best / t_ours, note=note
        )
    )
    return rows


def lgbm_path(quick: bool) -> list[dict]:
    import treelens as tl

    model, X, _ = lightgbm_255()
    n = 200 if quick else 1000
    x = X[-n:]
    t_ours, v = _timed(lambda: tl.TreeExplainer(model).shap_values(x, n_jobs=THREADS), 3)
    booster = model.booster_
    t_lgb, c = _timed(lambda: booster.predict(x, pred_contrib=True, num_threads=THREADS))
    name = f"LGB 1000x255 path SHAP {n}"
    note = f"max rel diff {_rel(v, c[:, :-1]):.1e}"
    return _against(name, n, {"lightgbm pred_contrib": t_lgb}, t_ours, note)


def rf_path(quick: bool) -> list[dict]:
    import fasttreeshap_fixed as fts
    from woodelf import WoodelfExplainer

    import treelens as tl

    model, X, _ = forest(15)
    n = 200 if quick else 1000
    x = X[-n:]
    name = f"RF 100x15 path SHAP {n}"
    t_ours, v = _timed(lambda: tl.TreeExplainer(model).shap_values(x, n_jobs=THREADS), 3)
    t_fts, f = _timed(
        lambda: fts.TreeExplainer(model, algorithm="auto", n_jobs=THREADS).shap_values(x)
    )
    frame = _frame(x)
    t_w, w = _timed(lambda: WoodelfExplainer(model).shap_values(frame, verbose=False))
    note = (
        f"vs fasttreeshap x{t_fts / t_ours:,.1f} (diff {_rel(v, f):.1e}), "
        f"vs woodelf x{t_w / t_ours:,.1f} (diff {_rel(v, np.asarray(w)):.1e})"
    )
    return _against(name, n, {"fasttreeshap auto": t_fts, "woodelf": t_w}, t_ours, note)


# woodelf's interventional SHAP of 1,000 x 1,000 on RF15 runs for more than half an hour: it runs
# in a child process with this budget (seconds; TREELENS_BENCH_PEER_BUDGET), and if it is not done
# by then the row says so and the ratio is a lower bound.
PEER_BUDGET = float(os.environ.get("TREELENS_BENCH_PEER_BUDGET", "1800"))


def _woodelf_interventional(n: int, m: int, out) -> None:
    """Child process: woodelf's interventional SHAP on RF15; sends (seconds, values)."""
    from woodelf import WoodelfExplainer

    model, X, _ = forest(15)
    x, bg = X[-n:], X[:m]
    out.put(_timed(lambda: np.asarray(WoodelfExplainer(model, _frame(bg)).shap_values(_frame(x)))))


def _within_budget(target, args, budget: float):
    """target(*args, queue) in a spawned process: its result, or None after ``budget`` s."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=target, args=(*args, out), daemon=True)
    child.start()
    deadline = time.monotonic() + budget
    try:
        while time.monotonic() < deadline:
            try:
                return out.get(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                if not child.is_alive() and out.empty():
                    raise RuntimeError(
                        f"the peer's process died (exit code {child.exitcode})"
                    ) from None
        return None
    finally:
        child.kill()
        child.join()
        out.close()


def rf_interventional(quick: bool) -> list[dict]:
    from treelens.interventional import InterventionalExplainer

    model, X, _ = forest(15)
    n, m = (200, 200) if quick else (1000, 1000)
    x, bg = X[-n:], X[:m]
    name = f"RF 100x15 interventional {n}x{m}"
    t_ours, v = _timed(
        lambda: InterventionalExplainer(model, bg).shap_values(x, n_jobs=THREADS)[:, :, 0], 3
    )
    done = _within_budget(_woodelf_interventional, (n, m), PEER_BUDGET)
    if done is None:
        rows = _against(name, n, {"woodelf": PEER_BUDGET}, t_ours, "")
        rows[0]["note"] = f"not done after {PEER_BUDGET:.0f} s: stopped"
        rows[1]["note"] = "lower bound: woodelf stopped at its budget"
        return rows
    t_w, w = done
    return _against(name, n, {"woodelf": t_w}, t_ours, f"max rel diff {_rel(v, w):.1e}")


def run(quick: bool = False) -> list[dict]:
    """The three deep-tree targets of issue #14, one dict per (workload, method)."""
    return lgbm_path(quick) + rf_path(quick) + rf_interventional(quick)


def _depth_times(est, X, y) -> dict:
    """treelens' time per method on one forest."""
    import treelens as tl
    from treelens.interventional import InterventionalExplainer

    m = tl.load(est)
    x, bg = X[-500:], X[:500]
    ex = tl.TreeExplainer(m)
    times = {
        "path_500": _timed(lambda: ex.shap_values(x, n_jobs=THREADS))[0],
        "path_inter_100": _timed(lambda: ex.shap_interaction_values(x[:100], n_jobs=THREADS))[0],
        "interventional_500x500": _timed(
            lambda: InterventionalExplainer(m, bg).shap_values(x, n_jobs=THREADS)
        )[0],
        "interventional_inter_100x100": _timed(
            lambda: InterventionalExplainer(m, bg[:100]).shap_interaction_values(
                x[:100], n_jobs=THREADS
            )
        )[0],
        "permutation_5000x5": _timed(
            lambda: tl.permutation_importance(
                m, X[:5000], y[:5000], n_repeats=5, random_state=0, n_jobs=THREADS
            )
        )[0],
        "hstats_500": _timed(lambda: tl.hstats(m, X[:500], random_state=0, n_jobs=THREADS))[0],
    }
    return dict(depth=m.forest.max_depth, nodes=m.forest.n_nodes, **times)


def scaling(quick: bool = True, depths=(6, 10, 15, 20)) -> list[dict]:
    """treelens' time per method on RandomForestRegressor(20 trees) of growing depth."""
    return [_depth_times(*forest(depth, trees=20)) for depth in depths]


def main() -> None:
    quick = "--quick" in sys.argv
    if "--scaling" in sys.argv:
        for r in scaling(quick):
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()})
        return
    for r in run(quick):
        ratio = f" x{r['ratio']:,.1f}" if "ratio" in r else ""
        print(
            f"{r['workload']:36s} {r['method']:24s} {r['seconds']:8.3f}s{ratio} {r.get('note', '')}"
        )


if __name__ == "__main__":
    main()
