"""Spark ML tree models: ``pyspark.ml`` DecisionTree, RandomForest and GBT models, for
classification and regression, live or saved by ``model.write().save(path)``.

Both are read from Spark's saved form: a live model is saved to a temporary directory first
(one call into the JVM, rather than one per node). That directory holds ``metadata/`` (one JSON
line: the class, the parameters, ``numFeatures``, ``numClasses``), ``data/`` (Parquet: one row
per node, with the tree's id for ensembles) and, for ensembles, ``treesMetadata/`` (Parquet: the
tree weights).

Spark's rules, reproduced exactly:

- a continuous split sends ``x <= threshold`` left, compared in float64; NaN goes right (the
  comparison is false);
- a categorical split keeps the smaller of its two category sets (``left`` when it holds at most
  ``numCategories / 2`` categories, integer division) and sends a value left when it is in that
  set (left set) or not in it (right set). A value that is no category of the feature (unseen,
  negative, fractional, NaN) is in neither set, so it goes the way a non-member goes;
- regression trees predict the node's ``prediction``; classification trees the class counts
  (``impurityStats``) normalised to probabilities;
- a random forest averages its trees (its ``probability`` is the average of the trees'
  normalised counts); a GBT adds its trees times their weights: the margin ``m``, whose
  probability is ``1 / (1 + exp(-2 m))`` (``rawPrediction`` is ``[-m, m]``).

Covers are the weighted counts of training rows: ``impurityStats[0]`` for variance, the sum of
the class counts for gini and entropy.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from .forest_builder import ForestBuilder, malformed_is_format_error

_PACKAGE = "org.apache.spark.ml."
#: Saved class -> (kind, task).
KINDS = {
    "regression.DecisionTreeRegressionModel": ("tree", "regression"),
    "classification.DecisionTreeClassificationModel": ("tree", "classification"),
    "regression.RandomForestRegressionModel": ("forest", "regression"),
    "classification.RandomForestClassificationModel": ("forest", "classification"),
    "regression.GBTRegressionModel": ("gbt", "regression"),
    "classification.GBTClassificationModel": ("gbt", "classification"),
}
SUPPORTED = tuple(name.split(".")[1] for name in KINDS)

#: The node columns read, flattened.
_COLUMNS = (
    "treeID",
    "id",
    "prediction",
    "impurityStats",
    "leftChild",
    "rightChild",
    "featureIndex",
    "leftCategoriesOrThreshold",
    "numCategories",
)


def is_spark_model(obj) -> bool:
    """Whether ``obj`` is a fitted pyspark.ml tree model treelens reads."""
    cls = type(obj)
    return cls.__module__.startswith("pyspark.ml") and cls.__name__ in SUPPORTED


def is_spark_model_dir(path: Path) -> bool:
    """Whether ``path`` is a directory written by a Spark ML model's ``write().save``."""
    return path.is_dir() and (path / "metadata").is_dir() and (path / "data").is_dir()


def _spark_session():
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - a live pyspark model implies pyspark
        raise UnsupportedModelError(
            "reading a Spark ML model needs pyspark (pip install treelens[spark])"
        ) from None
    return SparkSession.builder.getOrCreate()


def from_spark_model(model) -> Model:
    """A live Spark ML model: saved to a temporary directory, read back, then deleted. In local
    mode the directory is on this machine's disk and pyarrow reads it; otherwise it is on
    Spark's default filesystem and Spark reads it."""
    spark = _spark_session()
    local = spark.sparkContext.master.startswith("local")
    if local:
        tmp = tempfile.mkdtemp(prefix="treelens-spark-")
        path = os.path.join(tmp, "model")
    else:
        tmp = None
        path = f"/tmp/treelens-spark-{uuid.uuid4().hex}"
    try:
        model.write().save(path)
        if local:  # on this machine's disk: read with pyarrow, no Spark jobs
            return from_spark_dir(Path(path))
        metadata, nodes, weights = _read_with_spark(spark, path)
    finally:
        if local:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            _delete_on_default_fs(spark, path)
    return _build(metadata, nodes, weights)


def from_spark_dir(path: Path) -> Model:
    """A model directory saved by ``model.write().save(path)``, on the local disk: read with
    pyarrow, no Spark session needed."""
    metadata = _read_metadata_file(path)
    _tree_class(metadata)  # before any Parquet is read
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UnsupportedModelError(
            "reading a saved Spark ML model needs pyarrow (pip install treelens[spark])"
        ) from None
    try:
        table = pq.read_table(path / "data")
        trees = pq.read_table(path / "treesMetadata") if (path / "treesMetadata").is_dir() else None
    except (OSError, ValueError) as e:
        raise ModelFormatError(f"the Spark ML model's Parquet data cannot be read: {e}") from None
    nodes = _flat_nodes_arrow(table)
    weights = _weights_arrow(trees) if trees is not None else None
    return _build(metadata, nodes, weights)


def _read_metadata_file(path: Path) -> dict:
    parts = sorted(p for p in (path / "metadata").glob("part-*") if not p.name.endswith(".crc"))
    if not parts:
        raise ModelFormatError(f"{str(path)!r}: the Spark ML model has no metadata/part-* file")
    try:
        line = parts[0].read_text().strip().splitlines()[0]
        return json.loads(line)
    except (OSError, UnicodeDecodeError, IndexError, json.JSONDecodeError) as e:
        raise ModelFormatError(f"the Spark ML model's metadata is not JSON: {e}") from None


def _read_with_spark(spark, path: str):
    from pyspark.sql import functions as F

    line = spark.read.text(f"{path}/metadata").first()
    if line is None:
        raise ModelFormatError("the Spark ML model's metadata is empty")
    metadata = json.loads(line[0])
    _tree_class(metadata)
    data = spark.read.parquet(f"{path}/data")
    node = "nodeData." if "nodeData" in data.columns else ""
    tree_id = F.col("treeID") if node else F.lit(0).alias("treeID")
    flat = data.select(
        tree_id,
        *[F.col(f"{node}{c}").alias(c) for c in _COLUMNS[1:6]],
        *[F.col(f"{node}split.{c}").alias(c) for c in _COLUMNS[6:]],
    )
    nodes = _flat_nodes_arrow(_to_arrow(flat))
    weights = None
    if "treesMetadata" in _list_dir(spark, path):
        weights = _weights_arrow(_to_arrow(spark.read.parquet(f"{path}/treesMetadata")))
    return metadata, nodes, weights


def _to_arrow(frame):
    if hasattr(frame, "toArrow"):  # Spark >= 4
        return frame.toArrow()
    import pyarrow as pa  # pragma: no cover - Spark 3

    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)  # pragma: no cover


def _list_dir(spark, path: str) -> list[str]:
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    p = jvm.org.apache.hadoop.fs.Path(path)
    return [s.getPath().getName() for s in p.getFileSystem(conf).listStatus(p)]


def _delete_on_default_fs(spark, path: str) -> None:
    try:
        jvm = spark.sparkContext._jvm
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        p = jvm.org.apache.hadoop.fs.Path(path)
        p.getFileSystem(conf).delete(p, True)
    except Exception:  # noqa: BLE001 - a temporary directory left behind is not an error
        pass


def _flat_nodes_arrow(table) -> dict[str, np.ndarray]:
    """The node columns as numpy arrays; list columns as (offsets, values)."""
    import pyarrow as pa

    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    names = {name.split(".")[-1]: name for name in table.column_names}
    if "treeID" not in names:
        table = table.append_column("treeID", pa.array(np.zeros(table.num_rows, np.int32)))
        names["treeID"] = "treeID"
    missing = [c for c in _COLUMNS if c not in names]
    if missing:
        raise ModelFormatError(f"the Spark ML model's node data lacks the columns {missing}")
    out: dict[str, np.ndarray] = {}
    for c in _COLUMNS:
        col = table.column(names[c]).combine_chunks()
        if col.null_count:
            raise ModelFormatError(f"the Spark ML model's node column {c!r} has nulls")
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            if col.values.null_count:
                raise ModelFormatError(f"the Spark ML model's node column {c!r} has nulls")
            offsets = np.asarray(col.offsets, dtype=np.int64)
            offsets = offsets - offsets[0]
            values = np.asarray(col.values, dtype=np.float64)
            out[c] = (offsets, values)
        else:
            out[c] = np.asarray(col.to_numpy(zero_copy_only=False))
    return out


def _weights_arrow(table) -> dict[int, float]:
    """Tree weights by tree id, from ``treesMetadata`` (columns ``treeID``/``weights``, or
    ``_1``/``_3`` as Spark 4 writes the tuple)."""
    cols = table.column_names
    tid = "treeID" if "treeID" in cols else "_1"
    w = "weights" if "weights" in cols else "_3"
    if tid not in cols or w not in cols:
        raise ModelFormatError(f"the Spark ML model's treesMetadata has columns {cols}")
    ids = table.column(tid).to_numpy(zero_copy_only=False)
    ws = table.column(w).to_numpy(zero_copy_only=False)
    return {int(i): float(x) for i, x in zip(ids, ws)}


def _param(metadata: dict, name: str):
    for key in ("paramMap", "defaultParamMap"):
        params = metadata.get(key) or {}
        if name in params:
            return params[name]
    return None


def _tree_class(metadata: dict) -> str:
    """The saved class, without Spark's package; anything but a tree model is refused."""
    cls = str(metadata.get("class", "")) if isinstance(metadata, dict) else ""
    if not cls.startswith(_PACKAGE) or cls[len(_PACKAGE) :] not in KINDS:
        raise UnsupportedModelError(
            f"the Spark ML model {cls!r} is not a tree model treelens reads; supported: "
            + ", ".join(SUPPORTED)
        )
    return cls[len(_PACKAGE) :]


@malformed_is_format_error("the Spark ML model")
def _build(metadata: dict, nodes: dict, weights: dict | None) -> Model:
    cls = _tree_class(metadata)
    kind, task = KINDS[cls]
    n_features = int(metadata["numFeatures"])
    if not 0 < n_features < 2**31:
        raise ModelFormatError(f"the Spark ML model has {n_features} features")
    n_classes = int(metadata.get("numClasses", 0)) if task == "classification" else 0
    vector_leaves = task == "classification" and kind != "gbt"
    # Every node stores a count per class: a class count beyond the stored counts is corrupt
    # (and is refused before a (nodes, classes) table is allocated).
    if vector_leaves and not 2 <= n_classes <= max(2, nodes["impurityStats"][1].size):
        raise ModelFormatError(f"a Spark ML classifier with {n_classes} classes")
    n_outputs = n_classes if vector_leaves else 1

    tree_ids = nodes["treeID"].astype(np.int64)
    ids = nodes["id"].astype(np.int64)
    order = np.lexsort((ids, tree_ids))
    trees = np.unique(tree_ids)
    if kind != "tree":
        expected = int(metadata.get("numTrees", trees.size))
        if trees.size != expected or not np.array_equal(trees, np.arange(expected)):
            raise ModelFormatError(
                f"the Spark ML model says {expected} trees but its node data has the tree ids "
                f"{trees[:10].tolist()}{'...' if trees.size > 10 else ''}"
            )
    if kind == "gbt":
        if weights is None or sorted(weights) != trees.tolist():
            raise ModelFormatError("the Spark ML GBT model's tree weights do not match its trees")
        if not all(np.isfinite(list(weights.values()))):
            raise ModelFormatError("the Spark ML GBT model has a non-finite tree weight")

    builder = ForestBuilder(
        n_features=n_features,
        n_outputs=n_outputs,
        less_equal=True,
        f32_inputs=False,
        average=kind == "forest",
    )
    stats_off, stats_val = nodes["impurityStats"]
    cats_off, cats_val = nodes["leftCategoriesOrThreshold"]
    starts = np.searchsorted(tree_ids[order], trees, side="left")
    ends = np.searchsorted(tree_ids[order], trees, side="right")
    categorical: set[int] = set()
    for t, s, e in zip(trees, starts, ends):
        rows = order[s:e]
        n = rows.size
        if not np.array_equal(ids[rows], np.arange(n)):
            raise ModelFormatError(f"tree {t}: node ids are not 0 .. {n - 1}")
        left = nodes["leftChild"][rows].astype(np.int64)
        right = nodes["rightChild"][rows].astype(np.int64)
        feature = nodes["featureIndex"][rows].astype(np.int64)
        n_cats = nodes["numCategories"][rows].astype(np.int64)
        leaf = left < 0
        threshold = np.zeros(n)
        default_left = np.zeros(n, dtype=bool)  # NaN <= threshold is false: right
        categories = {}
        # Covers and leaf values from each node's stats.
        cover = np.empty(n)
        values = np.empty((n, n_outputs)) if vector_leaves else np.empty(n)
        for i, r in enumerate(rows):
            stats = stats_val[stats_off[r] : stats_off[r + 1]]
            if task == "regression" or kind == "gbt":
                if stats.size != 3:
                    raise ModelFormatError(
                        f"tree {t}, node {i}: variance stats have {stats.size} entries, not 3"
                    )
                cover[i] = stats[0]
                values[i] = nodes["prediction"][r]
            else:
                if stats.size != n_classes:
                    raise ModelFormatError(
                        f"tree {t}, node {i}: {stats.size} class counts for {n_classes} classes"
                    )
                total = float(stats.sum())
                cover[i] = total
                values[i] = stats / total if total > 0 else 0.0
            if leaf[i]:
                continue
            split = cats_val[cats_off[r] : cats_off[r + 1]]
            if n_cats[i] < 0:  # continuous
                if split.size != 1:
                    raise ModelFormatError(
                        f"tree {t}, node {i}: a continuous split with {split.size} thresholds"
                    )
                threshold[i] = split[0]
            else:
                members_left, members = _category_set(split, int(n_cats[i]), t, i)
                categories[i] = (members, members_left)
                # Not a category (NaN too) goes where non-members go.
                default_left[i] = not members_left
                categorical.add(int(feature[i]))
        if kind == "gbt":
            values = values * weights[int(t)]
        builder.add_tree(
            feature=feature,
            threshold=threshold,
            left=left,
            right=right,
            default_left=default_left,
            cover=cover,
            values=values,
            categories=categories,
        )
    forest = builder.build(np.zeros(n_outputs))
    # Categorical features are read as codes: the values 0 .. K-1 are themselves, anything else
    # (unseen, negative, fractional) is no category, as in Spark's set lookup.
    n_known = _category_counts(nodes, categorical)
    is_gbt_classifier = kind == "gbt" and task == "classification"
    return Model(
        forest=forest,
        feature_names=None,
        objective=f"spark:{cls}",
        link="logistic" if is_gbt_classifier else "identity",
        link_scale=2.0 if is_gbt_classifier else 1.0,
        classes=np.arange(max(n_classes, 2)) if task == "classification" else None,
        library="spark",
        categories={j: np.arange(k, dtype=np.float64) for j, k in n_known.items()},
        margin_is_probability=vector_leaves,
    )


#: Most categories a categorical feature may have (Spark's maxBins bounds them far lower): a
#: larger count in a file is corrupt, refused before a set of that size is built.
MAX_CATEGORIES = 2**24


def _category_set(split: np.ndarray, n_categories: int, t, i):
    """Spark's CategoricalSplit: the stored left categories; the smaller side is the set."""
    if n_categories > MAX_CATEGORIES:
        raise ModelFormatError(
            f"tree {t}, node {i}: {n_categories} categories (at most {MAX_CATEGORIES} are read)"
        )
    if n_categories <= 0 or not np.all((split >= 0) & (split < n_categories)):
        raise ModelFormatError(
            f"tree {t}, node {i}: left categories {split[:10].tolist()} outside "
            f"0 .. {n_categories - 1}"
        )
    if np.any(split != np.floor(split)):
        raise ModelFormatError(f"tree {t}, node {i}: a categorical split with fractional ids")
    left = np.unique(split.astype(np.int64))
    if left.size <= n_categories // 2:
        return True, left.tolist()
    return False, np.setdiff1d(np.arange(n_categories), left).tolist()


def _category_counts(nodes: dict, categorical: set[int]) -> dict[int, int]:
    """The number of categories of each categorical feature (the largest numCategories its
    splits record: they all record the feature's count)."""
    out: dict[int, int] = {}
    feature = nodes["featureIndex"]
    n_cats = nodes["numCategories"]
    for j in sorted(categorical):
        out[j] = int(n_cats[feature == j].max())
    return out
