"""Dask: H statistics of all rows of a Parquet dataset on a LocalCluster, against in-memory
treelens on a slice of it.

Workload: W1 (XGBRegressor, 500 trees of depth 6, 50 features), the Parquet dataset of
benches/peers/dask_shap.py (W1's distribution, 5,000,000 rows; 200,000 with --quick),
``LocalCluster(n_workers=2, threads_per_worker=1)``; overall statistics for all 50 features,
pairwise for the 10 strongest.
- in-memory treelens (2 threads) on the first 1,000,000 rows (the slice), and the Dask run on
  the same rows, whose statistics must agree to 1e-9: the ratio is per-row throughput on Dask
  over in memory (the engine's overhead, and the passes the partitions add, are what it lacks
  of 1);
- the Dask run on all rows (should scale linearly: its ratio is its throughput over the
  slice's on Dask), and on the slice with one worker.

Run: python benches/compare.py --only dask_hstats [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import workloads  # noqa: E402
from peers import dask_shap  # noqa: E402
from peers.dask_shap import ROWS_PER_PARTITION, _dataset  # noqa: E402

OPTIONS = dict(pairwise_m=10, threeway_m=0)


def _row(method: str, rows: int, seconds: float, note: str, ratio: float | None = None) -> dict:
    return dask_shap._row(method, rows, seconds, note, ratio, workload="W1 H statistics, Parquet")


def _on_dask(est, path: Path, rows: int):
    """(seconds, statistics) of hstats over the first ``rows`` rows of the dataset."""
    import dask.dataframe as dd

    import treelens as tl

    frame = dd.read_parquet(path).partitions[: rows // ROWS_PER_PARTITION]
    start = time.perf_counter()
    h = tl.hstats(est, frame, **OPTIONS)
    return time.perf_counter() - start, h


def _agree(a, b) -> float:
    """Largest absolute difference of the normalised statistics."""
    pairs = np.nan_to_num(a.h2_pairwise() - b.h2_pairwise())
    return float(max(abs(a.h2() - b.h2()), np.max(abs(a.h2_overall() - b.h2_overall())),
                     np.max(abs(pairs))))  # fmt: skip


def run(quick: bool) -> list[dict]:
    import pandas as pd
    from distributed import Client, LocalCluster

    import treelens as tl

    total = 200_000 if quick else 5_000_000
    head = 100_000 if quick else 1_000_000
    est, _, _ = workloads.w1()
    path = _dataset(total)
    files = [path / f"part.{i}.parquet" for i in range(head // ROWS_PER_PARTITION)]
    sample = pd.concat([pd.read_parquet(f) for f in files])
    start = time.perf_counter()
    want = tl.hstats(est, sample, n_jobs=2, **OPTIONS)
    memory_seconds = time.perf_counter() - start
    del sample
    out = [
        _row(
            "treelens in memory, 2 threads",
            head,
            memory_seconds,
            f"{head / memory_seconds:,.0f} rows/s",
        )
    ]
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        seconds, got = _on_dask(est, path, head)
        gap = _agree(got, want)
        if gap > 1e-9:
            raise AssertionError(f"H statistics on Dask differ from in memory by {gap:.2e}")
        rate = head / seconds
        note = f"{rate:,.0f} rows/s; ratio = throughput / in-memory; max |diff| {gap:.1e}"
        out.append(_row("treelens Dask 2x1", head, seconds, note, memory_seconds / seconds))
        seconds, _ = _on_dask(est, path, total)
        note = f"{total / seconds:,.0f} rows/s; ratio = throughput / the slice's on Dask"
        out.append(
            _row("treelens Dask 2x1, all rows", total, seconds, note, total / seconds / rate)
        )
    if not quick:
        with (
            LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster),
        ):
            seconds, _ = _on_dask(est, path, head)
            note = f"{head / seconds:,.0f} rows/s (one worker); ratio = throughput / two workers'"
            out.append(_row("treelens Dask 1x1", head, seconds, note, head / seconds / rate))
    return out


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
