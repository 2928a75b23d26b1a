"""Permutation importance: treelens against scikit-learn's permutation_importance, side by side.

Workloads (benches/workloads.py), n_repeats=5, 2 threads on both sides (scikit-learn: n_jobs=2):
- W1: the XGBoost regressor (500 trees, depth 6), the first 10,000 training rows, 50 features.
- RFC: RandomForestClassifier (200 fully grown trees), importance on its 10,000 held-out rows.
Quick mode uses 2,000 rows. Each treelens row also notes the CPU seconds of both (scikit-learn
with n_jobs=1 there, so that its work stays in this process) and their ratio, which a busy
shared machine disturbs less than wall time. The full run also times treelens at n_repeats 1,
20 and 50, to show how the time grows with the number of repeats (noted relative to 5).

Run alone: PYTHONPATH=python python benches/peers/permutation.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

_BENCHES = Path(__file__).resolve().parents[1]
if str(_BENCHES) not in sys.path:
    sys.path.insert(0, str(_BENCHES))


def _best_of(fn, repeat: int = 2, min_time: float = 5.0) -> float:
    best = float("inf")
    for i in range(repeat):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        if i == 0 and elapsed > min_time:
            break
    return best


def run(quick: bool) -> list[dict]:
    """Rows of seconds; treelens rows carry ``ratio`` = scikit-learn time / treelens time."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    import treelens as tl

    from workloads import random_forest_classifier, w1

    n = 2000 if quick else 10000
    est_w1, X_w1, y_w1 = w1()
    est_rf, X_rf, y_rf = random_forest_classifier()
    cases = [
        ("W1 permutation (xgb 500x6)", est_w1, X_w1[:n], y_w1[:n]),
        ("RFC permutation (rf 200 trees)", est_rf, X_rf[:n], y_rf[:n]),
    ]
    rows = []
    for name, est, X, y in cases:
        if hasattr(est, "set_params"):
            est.set_params(n_jobs=2)
        model = tl.load(est)
        kw = dict(n_repeats=5, random_state=0, n_jobs=2)
        ours = tl.permutation_importance(model, X, y, **kw)
        t_ours = _best_of(lambda m=model, X=X, y=y, kw=kw: tl.permutation_importance(m, X, y, **kw))
        start = time.perf_counter()
        theirs = sk_permutation_importance(est, X, y, **kw)
        t_peer = time.perf_counter() - start
        diff = float(np.max(np.abs(ours.importances - theirs.importances)))
        # CPU seconds, all threads of this process: on a shared machine wall time depends on
        # what else runs. scikit-learn with n_jobs=1 keeps its work in this process (the
        # model's own predict still uses its 2 threads); n_jobs=2 would hide it in workers.
        cpu = time.process_time()
        sk_permutation_importance(est, X, y, n_repeats=5, random_state=0, n_jobs=1)
        cpu_peer = time.process_time() - cpu
        cpu = time.process_time()
        tl.permutation_importance(model, X, y, **kw)
        cpu_ours = time.process_time() - cpu
        rows.append(dict(workload=name, method="sklearn permutation_importance", rows=n,
                         seconds=t_peer, ratio=None))  # fmt: skip
        rows.append(dict(workload=name, method="treelens n_repeats=5", rows=n, seconds=t_ours,
                         ratio=t_peer / t_ours,
                         note=f"max |diff| {diff:.1e}; CPU s: sklearn {cpu_peer:.1f}, treelens "
                              f"{cpu_ours:.2f}, ratio {cpu_peer / cpu_ours:.1f}"))  # fmt: skip
        if not quick:
            for reps in (1, 20, 50):
                t = _best_of(
                    lambda m=model, X=X, y=y, reps=reps: tl.permutation_importance(
                        m, X, y, n_repeats=reps, random_state=0, n_jobs=2
                    )
                )
                rows.append(dict(workload=name, method=f"treelens n_repeats={reps}", rows=n,
                                 seconds=t, ratio=None,
                                 note=f"{t / t_ours:.2f}x the time at n_repeats=5"))  # fmt: skip
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
