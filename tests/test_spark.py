"""``treelens.spark`` on a local Spark session: SHAP values, interactions and predictions appended
to Spark DataFrames equal in-memory treelens on the same rows (bitwise), for scikit-learn,
XGBoost, LightGBM and Spark ML models, over several partitionings (one partition, many, empty
ones), from numeric columns and from dense and sparse vector columns; bad inputs are refused
before a job runs; a task that fails once and is retried gives the same output."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import treelens as tl
import treelens.spark as tls
from treelens.exceptions import InvalidInputError

pytestmark = pytest.mark.spark

P = 5
NAMES = [f"x{j}" for j in range(P)]


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(n, P)), 3)
    X[rng.random(X.shape) < 0.05] = np.nan
    f = np.nan_to_num(X)
    y = f[:, 0] + f[:, 1] * f[:, 2] + np.sin(f[:, 3])
    return X, y


@pytest.fixture(scope="module")
def models(spark):
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier

    X, y = _data()
    frame = pd.DataFrame(X, columns=NAMES)
    out = {
        "sklearn_forest_3class": RandomForestClassifier(
            n_estimators=10, max_depth=5, random_state=0
        ).fit(np.nan_to_num(X), np.digitize(y, [0.0, 1.0])),
        "sklearn_hgb": HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(frame, y),
        "xgboost": xgb.XGBRegressor(n_estimators=20, max_depth=4).fit(frame, y),
        "lightgbm_binary": lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, y > 0.5),
    }
    from pyspark.ml.linalg import Vectors
    from pyspark.ml.regression import GBTRegressor

    train = spark.createDataFrame(
        [(Vectors.dense(np.nan_to_num(x)), float(t)) for x, t in zip(X, y)], ["features", "label"]
    )
    out["spark_gbt"] = GBTRegressor(maxIter=10, maxDepth=3, seed=0).fit(train)
    return X, out


def _frame(spark, X, partitions: int | None, *, with_empty=False):
    """A DataFrame of the rows (a row id, the numeric columns, a dense vector column)."""
    from pyspark.ml.linalg import Vectors

    rows = [
        (i, *[None if np.isnan(v) else float(v) for v in x], Vectors.dense(x))
        for i, x in enumerate(X)
    ]
    sdf = spark.createDataFrame(rows, ["row", *NAMES, "features"])
    if partitions is not None:
        sdf = sdf.repartitionByRange(partitions, "row")
    if with_empty:
        # Rows only in some partitions: the others are empty.
        sdf = sdf.repartition(12, (sdf["row"] % 3)).sortWithinPartitions("row")
    return sdf


def _collect(sdf, column):
    rows = sdf.select("row", column).collect()
    rows.sort(key=lambda r: r["row"])
    return np.array([r[column] for r in rows], dtype=np.float64)


PARTITIONINGS = [("one", 1), ("seven", 7), ("empty", None)]


@pytest.mark.parametrize("partitioning", PARTITIONINGS, ids=[p[0] for p in PARTITIONINGS])
@pytest.mark.parametrize(
    "name", ["sklearn_forest_3class", "sklearn_hgb", "xgboost", "lightgbm_binary", "spark_gbt"]
)
def test_shap_values_equal_in_memory(spark, models, name, partitioning):
    X, fitted = models
    model = fitted[name]
    label, parts = partitioning
    sdf = _frame(spark, X, parts, with_empty=label == "empty")
    if label == "empty":
        sizes = sdf.rdd.glom().map(len).collect()
        assert 0 in sizes and sum(sizes) == len(X)
    ex = tl.TreeExplainer(model)
    want = np.asarray(ex.shap_values(X))
    features = "features" if name in ("sklearn_forest_3class", "spark_gbt") else None
    if name == "sklearn_forest_3class":
        features = NAMES  # numeric columns (nulls are NaN; the forest sees them as trained)
        want = np.asarray(ex.shap_values(X))
    out = tls.shap_values(model, sdf, features)
    if want.ndim == 2:
        got = _collect(out, "shap_values")
        field = out.schema["shap_values"]
        assert field.metadata["treelens"]["expected_value"] == float(
            np.atleast_1d(ex.expected_value)[0]
        )
    else:
        cols = [c for c in out.columns if c.startswith("shap_values_")]
        assert len(cols) == want.shape[2]
        got = np.stack([_collect(out, c) for c in cols], axis=2)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # bitwise: the same code on the same rows
    # The other columns are kept as they were.
    assert out.columns[: len(sdf.columns)] == sdf.columns


FEATURES = {"sklearn_forest_3class": NAMES, "spark_gbt": "features"}
ALL_MODELS = ["sklearn_forest_3class", "sklearn_hgb", "xgboost", "lightgbm_binary", "spark_gbt"]


@pytest.mark.parametrize("name", ALL_MODELS)
def test_predictions_equal_in_memory(spark, models, name):
    X, fitted = models
    model = fitted[name]
    sdf = _frame(spark, X, None, with_empty=True)
    got = _collect(tls.predict(model, sdf, FEATURES.get(name)), "prediction")
    want = tl.load(model).predict(X)
    np.testing.assert_array_equal(got, want.reshape(got.shape))


def test_interactions_equal_in_memory(spark, models):
    X, fitted = models
    model = fitted["xgboost"]
    sdf = _frame(spark, X, 3)
    ex = tl.TreeExplainer(model)
    out = tls.shap_values(ex, sdf, interactions=True, output_col="phi")
    np.testing.assert_array_equal(_collect(out, "phi"), ex.shap_interaction_values(X))


def test_named_columns_are_read_by_name(spark, models):
    X, fitted = models
    model = fitted["xgboost"]
    sdf = _frame(spark, X[:30], 2)
    got = _collect(tls.shap_values(model, sdf, NAMES[::-1]), "shap_values")
    np.testing.assert_array_equal(got, tl.TreeExplainer(model).shap_values(X[:30]))


def test_interventional_explainer_and_sparse_vectors(spark, models):
    from pyspark.ml.linalg import Vectors

    X, fitted = models
    model = fitted["lightgbm_binary"]
    iex = tl.InterventionalExplainer(model, pd.DataFrame(X[:40], columns=NAMES))
    rows = [
        (i, Vectors.sparse(P, {j: float(v) for j, v in enumerate(x) if v != 0 and not np.isnan(v)}))
        for i, x in enumerate(np.nan_to_num(X[:60]))
    ]
    sdf = spark.createDataFrame(rows, ["row", "features"]).repartition(4)
    got = _collect(tls.shap_values(iex, sdf, "features"), "shap_values")
    want = np.asarray(iex.shap_values(np.nan_to_num(X[:60])))[..., 0]
    np.testing.assert_array_equal(got, want)


def test_bad_inputs_are_refused_before_a_job(spark, models):
    X, fitted = models
    model = fitted["xgboost"]
    sdf = _frame(spark, X[:20], 2)
    jobs = spark.sparkContext.statusTracker().getJobIdsForGroup()
    with pytest.raises(InvalidInputError, match=r"lacks the model's feature columns \['x4'\]"):
        tls.shap_values(model, sdf.drop("x4", "features"))
    with pytest.raises(InvalidInputError, match="column 'x1' is string, not numeric"):
        tls.shap_values(model, sdf.withColumn("x1", sdf["x1"].cast("string")))
    with pytest.raises(InvalidInputError, match="no column 'vec'"):
        tls.shap_values(model, sdf, "vec")
    with pytest.raises(InvalidInputError, match=r"it lacks \['x3', 'x4'\] and has \['row'\]"):
        tls.shap_values(model, sdf, ["x0", "x1", "x2", "row"])
    unnamed = fitted["sklearn_forest_3class"]  # trained on an array: no feature names
    with pytest.raises(InvalidInputError, match="names 3 columns, but the model was trained on 5"):
        tls.shap_values(unnamed, sdf, ["x0", "x1", "x2"])
    with pytest.raises(InvalidInputError, match="already has the columns \\['row'\\]"):
        tls.predict(model, sdf, output_col="row")
    # A vector column whose metadata gives its size: checked against the model's.
    from pyspark.ml.feature import VectorAssembler

    assembled = VectorAssembler(inputCols=NAMES[:4], outputCol="v4", handleInvalid="keep")
    with pytest.raises(InvalidInputError, match="has 4 entries, but the model was trained on 5"):
        tls.shap_values(model, assembled.transform(sdf), "v4")
    assert spark.sparkContext.statusTracker().getJobIdsForGroup() == jobs


def test_a_vector_of_the_wrong_size_fails_its_task_with_the_reason(spark, models):
    """Without size metadata the size is checked in the tasks."""
    X, fitted = models
    rows = spark.createDataFrame([(0, [1.0, 2.0])], ["row", "features"])
    with pytest.raises(Exception, match="a row has 2 feature values, but the model was trained"):
        tls.shap_values(fitted["xgboost"], rows, "features").collect()


def test_a_task_failing_once_is_retried_and_gives_the_same_output(spark, models, tmp_path):
    from _spark_faults import FailingOnce

    X, fitted = models
    model = fitted["xgboost"]
    sdf = _frame(spark, X, 4)
    ex = FailingOnce(model)
    ex.marker_dir = str(tmp_path)
    got = _collect(tls.shap_values(ex, sdf), "shap_values")
    assert any(name.startswith("failed-") for name in os.listdir(tmp_path))
    np.testing.assert_array_equal(got, tl.TreeExplainer(model).shap_values(X))


# --- reductions over all rows -----------------------------------------------------------------


def _weighted_frame(spark, X, partitions, *, with_empty=False):
    sdf = _frame(spark, X, partitions, with_empty=with_empty)
    from pyspark.sql import functions as F

    return sdf.withColumn("w", 0.5 + (F.col("row") % 4).cast("double"))


def _weights(n):
    return 0.5 + (np.arange(n) % 4)


@pytest.mark.parametrize("partitioning", PARTITIONINGS, ids=[p[0] for p in PARTITIONINGS])
@pytest.mark.parametrize("name", ["xgboost", "sklearn_forest_3class", "spark_gbt"])
def test_hstats_equal_in_memory(spark, models, name, partitioning):
    X, fitted = models
    model = fitted[name]
    label, parts = partitioning
    sdf = _weighted_frame(spark, X, parts, with_empty=label == "empty").cache()
    features = {"sklearn_forest_3class": NAMES, "spark_gbt": "features"}.get(name)
    rows = X if name != "spark_gbt" else X  # the vector column holds the same values
    got = tls.hstats(model, sdf, features, pairwise_m=3, threeway_m=3, sample_weight="w")
    want = tl.hstats(
        tl.load(model), rows, pairwise_m=3, threeway_m=3, sample_weight=_weights(len(X))
    )
    assert got.features == want.features
    for stat in ("h2", "h2_overall", "h2_pairwise"):
        for normalize in (True, False):
            a = np.asarray(getattr(got, stat)(normalize=normalize), dtype=np.float64)
            b = np.asarray(getattr(want, stat)(normalize=normalize), dtype=np.float64)
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=stat)
    three_got, three_want = got.h2_threeway(), want.h2_threeway()
    assert list(three_got) == list(three_want) and len(three_want) > 0
    for key in three_want:
        np.testing.assert_allclose(three_got[key], three_want[key], rtol=1e-9, atol=1e-12)
    sdf.unpersist()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_partial_dependence_average_equals_in_memory(spark, models, name):
    X, fitted = models
    model = fitted[name]
    sdf = _weighted_frame(spark, X, None, with_empty=True)
    grid = [np.linspace(-1, 1, 5), np.array([-0.5, 0.0, 0.5])]
    explain = [0, 2] if name == "spark_gbt" else ["x0", "x2"]  # no names: by position
    got = tls.partial_dependence(model, sdf, explain, grid, FEATURES.get(name), sample_weight="w")
    rows = X if name == "spark_gbt" else pd.DataFrame(X, columns=NAMES)
    if name == "sklearn_forest_3class":
        rows = X
    want = tl.partial_dependence(model, rows, explain, grid, sample_weight=_weights(len(X)))
    np.testing.assert_allclose(got["average"], want["average"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["xgboost", "spark_gbt"])
def test_permutation_importance_one_partition_is_the_in_memory_result(spark, models, name):
    X, fitted = models
    model = fitted[name]
    _, y = _data()
    sdf = _frame(spark, X, 1).withColumn("label", _label_column(y))
    got = tls.permutation_importance(
        model, sdf, "label", FEATURES.get(name), n_repeats=4, random_state=3
    )
    rows = X if name == "spark_gbt" else pd.DataFrame(X, columns=NAMES)
    want = tl.permutation_importance(model, rows, y, n_repeats=4, random_state=3)
    np.testing.assert_allclose(got.importances, want.importances, rtol=1e-12, atol=1e-12)


def _label_column(y):
    from pyspark.sql import functions as F

    # The row id indexes the labels (rows are built in order).
    mapping = F.create_map(*[v for i, t in enumerate(y) for v in (F.lit(i), F.lit(float(t)))])
    return mapping[F.col("row")]


def test_permutation_importance_sums_every_partition(spark, models):
    """Several partitions (one empty): the partitions' sums, each from its own seed, added."""
    from treelens.partition_sums import (
        add_sums,
        importance_arguments,
        importance_result,
        partition_importance,
    )

    X, fitted = models
    model = fitted["lightgbm_binary"]
    _, y = _data()
    labels = (y > 0.5) * 1.0
    sdf = _frame(spark, X, 3).withColumn("label", _label_column(labels)).cache()
    got = tls.permutation_importance(
        model, sdf, "label", scoring=["accuracy", "neg_log_loss"], n_repeats=3, random_state=7
    )
    parts = sdf.select("row").rdd.glom().map(lambda rows: [r["row"] for r in rows]).collect()
    assert len(parts) == 3
    _, names, seed, classes, score = importance_arguments(
        model,
        scoring=["accuracy", "neg_log_loss"],
        n_repeats=3,
        n_jobs=None,
        random_state=7,
        max_samples=1.0,
        groups=None,
        read_empty=lambda m: None,
        where="test",
        sample_with="",
    )
    total = None
    for index, rows in enumerate(parts):
        if rows:
            sums = partition_importance(
                score, X[rows], labels[rows], None, index, seed, tuple(names), classes
            )
            total = add_sums(total, sums)
    want = importance_result(["accuracy", "neg_log_loss"], names, total, classes)
    for name in names:
        np.testing.assert_allclose(
            got[name].importances, want[name].importances, rtol=1e-12, atol=1e-12
        )
    sdf.unpersist()


def test_reductions_refuse_bad_arguments_before_a_job(spark, models):
    X, fitted = models
    model = fitted["xgboost"]
    sdf = _frame(spark, X[:20], 2)
    with pytest.raises(InvalidInputError, match="needs grid="):
        tls.partial_dependence(model, sdf, ["x0"], None)
    with pytest.raises(InvalidInputError, match="no weight column 'w'"):
        tls.hstats(model, sdf, sample_weight="w")
    with pytest.raises(InvalidInputError, match="does not decompose over partitions"):
        tls.permutation_importance(model, sdf, "x0", scoring="roc_auc")
    with pytest.raises(InvalidInputError, match="the label column 'row2' |no label column"):
        tls.permutation_importance(model, sdf, "row2")


def test_outputs_too_large_for_an_arrow_list_are_refused():
    from treelens.spark import _check_offsets, _list_column

    _check_offsets(2**31 - 1)
    with pytest.raises(
        InvalidInputError, match="lower spark.sql.execution.arrow.maxRecordsPerBatch"
    ):
        _check_offsets(2**31)
    column = _list_column(np.arange(12.0).reshape(3, 4))
    assert column.to_pylist() == [
        [0.0, 1.0, 2.0, 3.0],
        [4.0, 5.0, 6.0, 7.0],
        [8.0, 9.0, 10.0, 11.0],
    ]
