"""treelens on Dask, out of core: a Parquet dataset larger than a worker's memory limit,
explained to Parquet on a LocalCluster, then H statistics, global importance, partial
dependence and permutation importance over all of its rows.

The workers write the dataset themselves (``--rows`` rows of 16 features, 1.28 GB of float64 by
default: more than the 800 MB ``--memory-limit`` of each worker), a model is fitted on a sample of
it, and every step below reads the Parquet files block by block; only results reach this
process. Dask's progress bar shows each computation.

Run: python examples/dask_out_of_core.py [--rows 10000000] [--memory-limit 800MB] [--dir PATH]
(needs ``pip install treelens[dask]``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
from distributed import Client, LocalCluster, progress
from sklearn.ensemble import HistGradientBoostingRegressor

import treelens as tl

FEATURES = [f"f{i}" for i in range(16)]
ROWS_PER_PARTITION = 125_000


def target(X):
    """The response the model learns: two main effects and an interaction."""
    return X[:, 0] + np.sin(X[:, 1]) + X[:, 2] * X[:, 3]


def write_dataset(path: Path, rows: int) -> None:
    data = da.random.default_rng(0).normal(size=(rows, len(FEATURES)))
    data = data.rechunk((ROWS_PER_PARTITION, len(FEATURES)))
    frame = dd.from_dask_array(data, columns=FEATURES)
    frame["y"] = dd.from_dask_array(data.map_blocks(target, drop_axis=1, dtype=np.float64))
    frame.to_parquet(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--memory-limit", default="800MB")
    parser.add_argument("--dir", default=None, help="where to write (a temporary directory)")
    args = parser.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="treelens-dask-"))
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit=args.memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"cluster: {client}")
        t = time.perf_counter()
        write_dataset(root / "data", args.rows)
        data = dd.read_parquet(root / "data")
        print(f"dataset: {args.rows:,} rows in {data.npartitions} Parquet files ({root / 'data'})"
              f", written in {time.perf_counter() - t:.1f}s")  # fmt: skip

        sample = data.partitions[0].compute()
        model = HistGradientBoostingRegressor(max_iter=100, random_state=0)
        model.fit(sample[FEATURES], sample["y"])
        explainer = tl.TreeExplainer(model)

        print("\nSHAP values of every row, to Parquet")
        t = time.perf_counter()
        X = data[FEATURES]
        values = explainer.shap_values(X)  # lazy: a dask array with X's partitions
        write = dd.from_dask_array(values, columns=FEATURES).to_parquet(
            root / "shap", compute=False
        )
        future = client.compute(write)
        progress(future)
        future.result()
        print(f"\n{args.rows:,} rows explained and written in {time.perf_counter() - t:.1f}s")

        print("\nH statistics over all rows: overall for every feature, pairwise for the top 4")
        t = time.perf_counter()
        h = tl.hstats(model, X, pairwise_m=4)
        print(f"  computed in {time.perf_counter() - t:.1f}s (a few passes over the Parquet files)")
        overall = sorted(zip(h.features, h.h2_overall()), key=lambda p: -p[1])[:4]
        print("  overall H^2: " + ", ".join(f"{name} {v:.3f}" for name, v in overall))
        pairs = h.to_frame().query("statistic == 'pairwise'").sort_values("value", ascending=False)
        for row in pairs.head(3).itertuples():
            print(f"  pairwise H^2 {row.features}: {row.value:.3f}")

        print("\nmean |SHAP| per feature over all rows (reduce='mean_abs')")
        importance = explainer.shap_values(X, reduce="mean_abs")
        for name, value in sorted(zip(FEATURES, importance), key=lambda p: -p[1])[:5]:
            print(f"  {name:4s} {value:.4f}")

        print("\npartial dependence of f1 over all rows, on a grid")
        grid = np.linspace(-2, 2, 5)
        pd_f1 = tl.partial_dependence(model, X, ["f1"], grid=[grid])
        for v, a in zip(grid, pd_f1["average"][0]):
            print(f"  f1 = {v:+.1f}: {a:+.4f}")

        print("\npermutation importance (r2), permuted within each partition")
        with dask.config.set(scheduler=client):
            result = tl.permutation_importance(
                model, X, data["y"], scoring="r2", n_repeats=3, random_state=0
            )
        order = np.argsort(-result.importances_mean)[:5]
        for j in order:
            print(f"  {FEATURES[j]:4s} {result.importances_mean[j]:.4f}")


if __name__ == "__main__":
    main()
