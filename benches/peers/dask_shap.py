"""Dask: SHAP values of a Parquet dataset to Parquet on a LocalCluster, against in-memory
treelens and ``xgboost.dask.predict(..., pred_contribs=True)`` on the same cluster.

Workload: W1 (XGBRegressor, 500 trees of depth 6, 50 features); a Parquet dataset of W1's
distribution (standard normal features, as make_regression draws them) with 5,000,000 rows
(1,000,000 with --quick) written once under the bench cache; ``LocalCluster(n_workers=2,
threads_per_worker=1)``.
- treelens on Dask: read the Parquet files, ``TreeExplainer(W1).shap_values(ddf)``, write the
  values to Parquet; throughput (rows/s) against in-memory treelens on 2 threads (the same
  explainer on 200,000 rows in memory): the engine's overhead is what the ratio lacks of 1.
  Each worker's peak resident memory is sampled.
- XGBoost's own distributed SHAP on the same cluster, timed on a slice (a DaskDMatrix of the
  first 20,000 rows in 2 partitions; it is much slower), compared by throughput.
- How time grows with rows (each size the first rows of the dataset) and workers (1 and 2).

Run: python benches/compare.py --only dask_shap [--quick]
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402

ROWS_PER_PARTITION = 100_000
XGB_SLICE = 20_000


def _dataset(rows: int) -> Path:
    """The Parquet dataset of ``rows`` rows (written once, by a local cluster)."""
    import dask.array as da
    import dask.dataframe as dd

    path = workloads.CACHE / f"w1_parquet_{rows}"
    if not (path / "_done").exists():
        shutil.rmtree(path, ignore_errors=True)
        data = da.random.default_rng(0).normal(size=(rows, 50), chunks=(ROWS_PER_PARTITION, 50))
        dd.from_dask_array(data, columns=[f"f{i}" for i in range(50)]).to_parquet(path)
        (path / "_done").touch()
    return path


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _explain_to_parquet(client, explainer, path: Path, rows: int, out: Path):
    """Seconds to explain the first ``rows`` rows to Parquet, and each worker's peak RSS."""
    import dask.dataframe as dd

    shutil.rmtree(out, ignore_errors=True)
    frame = dd.read_parquet(path)
    frame = frame.partitions[: rows // ROWS_PER_PARTITION]
    peak: dict = {}
    done = threading.Event()

    def sample():
        while not done.is_set():
            for worker, rss in client.run(_rss).items():
                peak[worker] = max(peak.get(worker, 0), rss)
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    values = explainer.shap_values(frame, check_additivity=False)
    dd.from_dask_array(values, columns=list(frame.columns)).to_parquet(out)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return seconds, peak


def _row(
    method: str,
    rows: int,
    seconds: float,
    note: str,
    ratio: float | None = None,
    workload: str = "W1 SHAP, Parquet",
) -> dict:
    """One row of the comparison (``ratio`` for treelens' rows)."""
    return dict(
        workload=workload,
        method=method,
        rows=rows,
        seconds=seconds,
        ratio=ratio,
        note=note,
    )


def run(quick: bool) -> list[dict]:
    import pandas as pd
    import xgboost.dask as xgb_dask
    from distributed import Client, LocalCluster

    import treelens as tl

    total = 1_000_000 if quick else 5_000_000
    est, _, _ = workloads.w1()
    explainer = tl.TreeExplainer(est)
    out_dir = workloads.CACHE / "dask_shap_out"
    out = []
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        path = _dataset(total)
        sample = pd.read_parquet(path / "part.0.parquet")
        sample = pd.concat([sample, pd.read_parquet(path / "part.1.parquet")])
        n_mem = len(sample)
        start = time.perf_counter()
        explainer.shap_values(sample, n_jobs=2, check_additivity=False)
        seconds = time.perf_counter() - start
        in_memory = n_mem / seconds
        note = f"{in_memory:,.0f} rows/s"
        out.append(_row("treelens in memory, 2 threads", n_mem, seconds, note))
        sizes = [total] if quick else [1_000_000, 2_000_000, total]
        for rows in sizes:
            seconds, peak = _explain_to_parquet(client, explainer, path, rows, out_dir)
            rate = rows / seconds
            peaks = ", ".join(f"{v / 1e6:.0f}" for v in peak.values())
            note = (
                f"{rate:,.0f} rows/s, ratio = throughput / in-memory; "
                f"peak RSS per worker {peaks} MB"
            )
            out.append(_row("treelens Dask 2x1 -> Parquet", rows, seconds, note, rate / in_memory))
        # XGBoost's own distributed SHAP, on a slice.
        import dask.dataframe as dd

        head = pd.read_parquet(path / "part.0.parquet").iloc[:XGB_SLICE]
        matrix = xgb_dask.DaskDMatrix(client, dd.from_pandas(head, npartitions=2))
        start = time.perf_counter()
        xgb_dask.predict(client, est.get_booster(), matrix, pred_contribs=True).compute()
        xgb_seconds = time.perf_counter() - start
        xgb_rate = XGB_SLICE / xgb_seconds
        note = f"{xgb_rate:,.0f} rows/s on the first {XGB_SLICE:,} rows"
        out.append(_row("xgboost.dask.predict(pred_contribs)", XGB_SLICE, xgb_seconds, note))
        ratio = rate / xgb_rate  # the largest Dask run's throughput
        out.append(_row("treelens Dask vs xgboost.dask", rows, seconds, "throughput ratio", ratio))
    if not quick:
        with (
            LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            seconds, _ = _explain_to_parquet(client, explainer, path, 1_000_000, out_dir)
            note = f"{1_000_000 / seconds:,.0f} rows/s (one worker)"
            out.append(_row("treelens Dask 1x1 -> Parquet", 1_000_000, seconds, note))
    shutil.rmtree(out_dir, ignore_errors=True)
    return out


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
