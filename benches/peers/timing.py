"""Timing helpers shared by the peer comparisons."""

from __future__ import annotations

import time


def best_of(fn, repeat: int = 3, min_time: float = 0.0) -> float:
    """The fastest of ``repeat`` calls (seconds); stops early once a call exceeds ``min_time``
    seconds after the first, so slow peers are timed once."""
    best = float("inf")
    for i in range(repeat):
        t = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t
        best = min(best, elapsed)
        if i == 0 and min_time and elapsed > min_time:
            break
    return best
