"""Loading a fitted model: ``tl.load`` end to end against the library's own serialisation."""

from __future__ import annotations

import treelens as tl

from . import timing


def run(quick: bool) -> list[dict]:
    from workloads import w1

    est, _, _ = w1()
    booster = est.get_booster()
    # The target of issue #14: tl.load(W1) at most 2x XGBoost's own save_raw("ubj") (ratio >= 0.5).
    peer = timing.best_of(lambda: booster.save_raw("ubj"), repeat=9)
    ours = timing.best_of(lambda: tl.load(est), repeat=9)
    return [
        dict(workload="W1 load", method="xgboost save_raw('ubj')", rows=0, seconds=peer),
        dict(
            workload="W1 load",
            method="treelens load",
            rows=0,
            seconds=ours,
            ratio=peer / ours,
            note="includes save_raw; target ratio >= 0.5",
        ),
    ]
