"""Spark: SHAP values of a Parquet dataset on a local Spark session (``local[2]``), against
in-memory treelens, shap inside a pandas UDF (the usual workaround) and XGBoost's Spark
estimator (``pred_contrib_col``), and a Spark ML random forest against shap.

Workloads:

- W1 (XGBRegressor, 500 trees of depth 6, 50 features) on the Parquet dataset of W1's
  distribution that the Dask bench writes (2,000,000 rows; 200,000 with --quick).
  - treelens: ``tls.shap_values(TreeExplainer(W1), spark.read.parquet(...))``, written to
    Spark's ``noop`` sink (every row computed, nothing stored); throughput (rows/s) against
    in-memory treelens on 2 threads (the same explainer on 200,000 rows in memory).
  - shap's ``TreeExplainer`` inside ``mapInPandas`` (the explainer broadcast), and
    ``SparkXGBRegressorModel(W1)`` with ``pred_contrib_col``: timed on a slice (the first
    20,000 rows; both are much slower), compared by throughput.
- A Spark ML ``RandomForestRegressor`` (100 trees, depth 10) trained in Spark on 20,000 rows of
  20 features: treelens and shap on the same 2,000 rows, end to end from the live model
  (loading included: shap reads the trees node by node through py4j).

Run: python benches/compare.py --only spark_shap [--quick]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402
from peers.dask_shap import _dataset  # noqa: E402

SLICE = 20_000
ROWS_PER_FILE = 100_000
RF_ROWS = 2_000


def _row(method, rows, seconds, note, ratio=None, workload="W1 SHAP, Spark Parquet"):
    return dict(
        workload=workload, method=method, rows=rows, seconds=seconds, ratio=ratio, note=note
    )


def _session():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    return (
        SparkSession.builder.master("local[2]")
        .appName("treelens-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "6g")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _w1(spark, quick: bool) -> list[dict]:
    import numpy as np
    import pandas as pd
    import shap
    from pyspark.ml.feature import VectorAssembler
    from xgboost.spark import SparkXGBRegressor, SparkXGBRegressorModel

    import treelens as tl
    import treelens.spark as tls

    total = 200_000 if quick else 2_000_000
    est, _, _ = workloads.w1()
    explainer = tl.TreeExplainer(est)
    path = _dataset(5_000_000 if not quick else 1_000_000)
    names = [f"f{i}" for i in range(50)]
    out = []
    sample = pd.read_parquet(path / "part.0.parquet")
    sample = pd.concat([sample, pd.read_parquet(path / "part.1.parquet")])
    seconds = _timed(lambda: explainer.shap_values(sample, n_jobs=2, check_additivity=False))
    in_memory = len(sample) / seconds
    out.append(
        _row("treelens in memory, 2 threads", len(sample), seconds, f"{in_memory:,.0f} rows/s")
    )

    # The first files (100,000 rows each): Spark reads them in parallel (limit() would not).
    files = sorted(path.glob("part.*.parquet"), key=lambda f: int(f.name.split(".")[1]))
    files = files[: total // ROWS_PER_FILE]
    frame = spark.read.parquet(*[str(f) for f in files]).cache()
    assert frame.count() == total

    def run():
        result = tls.shap_values(explainer, frame, names)
        result.write.format("noop").mode("overwrite").save()

    seconds_tl = seconds = _timed(run)
    rate = total / seconds
    note = f"{rate:,.0f} rows/s; ratio = throughput / in-memory"
    out.append(_row("treelens Spark local[2]", total, seconds, note, rate / in_memory))

    head = spark.createDataFrame(sample.iloc[:SLICE]).repartition(2).cache()
    head.count()
    booster = est.get_booster()
    shipped = spark.sparkContext.broadcast(booster)
    schema = ", ".join(f"{n} double" for n in names)

    def shap_udf(batches):
        ex = shap.TreeExplainer(shipped.value)
        for batch in batches:
            yield pd.DataFrame(ex.shap_values(batch[names].to_numpy()), columns=names)

    seconds = _timed(
        lambda: head.mapInPandas(shap_udf, schema).write.format("noop").mode("overwrite").save()
    )
    shap_rate = SLICE / seconds
    out.append(
        _row("shap in mapInPandas", SLICE, seconds, f"{shap_rate:,.0f} rows/s on {SLICE:,} rows")
    )
    out.append(
        _row("treelens Spark vs shap UDF", total, seconds_tl, "throughput ratio", rate / shap_rate)
    )

    assembled = VectorAssembler(inputCols=names, outputCol="features").transform(head)
    # W1 itself as a Spark model, with the estimator's parameters (what fit() returns).
    spark_est = SparkXGBRegressor(pred_contrib_col="contrib", num_workers=2)
    model = spark_est._copyValues(SparkXGBRegressorModel(est))
    seconds = _timed(
        lambda: model.transform(assembled).write.format("noop").mode("overwrite").save()
    )
    xgb_rate = SLICE / seconds
    out.append(
        _row("SparkXGBRegressorModel(pred_contrib_col)", SLICE, seconds, f"{xgb_rate:,.0f} rows/s")
    )
    out.append(
        _row("treelens Spark vs SparkXGB", total, seconds_tl, "throughput ratio", rate / xgb_rate)
    )
    # The values agree (a check, not a timing).
    mine = explainer.shap_values(sample.iloc[:50], check_additivity=False)
    theirs = shap.TreeExplainer(booster).shap_values(sample.iloc[:50].to_numpy())
    assert np.abs(np.asarray(mine) - theirs).max() < 1e-3  # shap: float32
    frame.unpersist()
    head.unpersist()
    return out


def _spark_forest(spark) -> list[dict]:
    import numpy as np
    import shap
    from pyspark.ml.linalg import Vectors
    from pyspark.ml.regression import RandomForestRegressor

    import treelens as tl

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 20))
    y = X[:, 0] + X[:, 1] * X[:, 2] + np.sin(X[:, 3]) + rng.normal(scale=0.1, size=len(X))
    train = spark.createDataFrame(
        [(Vectors.dense(x), float(t)) for x, t in zip(X, y)], ["features", "label"]
    ).cache()
    forest = RandomForestRegressor(numTrees=100, maxDepth=10, seed=0).fit(train)
    rows = X[:RF_ROWS]
    values = {}
    seconds_tl = _timed(lambda: values.setdefault("tl", tl.TreeExplainer(forest).shap_values(rows)))
    seconds_shap = _timed(
        lambda: values.setdefault(
            "shap", shap.TreeExplainer(forest).shap_values(rows, check_additivity=False)
        )
    )
    diff = float(np.abs(values["tl"] - values["shap"]).max())
    work = "Spark ML RF 100 trees depth 10, 20 features"
    return [
        _row("shap.TreeExplainer(live model)", RF_ROWS, seconds_shap, "load + explain", None, work),
        _row(
            "treelens TreeExplainer(live model)",
            RF_ROWS,
            seconds_tl,
            f"load + explain; max |diff| vs shap {diff:.1e}",
            seconds_shap / seconds_tl,
            work,
        ),
    ]


def run(quick: bool) -> list[dict]:
    spark = _session()
    try:
        return _w1(spark, quick) + _spark_forest(spark)
    finally:
        spark.stop()
