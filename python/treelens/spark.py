"""Spark DataFrames: explain the rows where they live, partition by partition.

``shap_values`` and ``predict`` append their results to the DataFrame, lazily, through Arrow
(``mapInArrow``): each partition's rows become one float64 matrix per Arrow batch, explained by
the in-memory code itself, so the numbers are those of the same rows in memory. The explainer
(forest, background tables) is broadcast once per call; no row reaches the driver.

``hstats``, ``partial_dependence`` (its average) and ``permutation_importance`` reduce over all
rows: each partition computes the sums the Dask versions compute (``treelens.partition_sums``),
they are merged pairwise on the executors (``treeReduce``), and only the merged sums reach the
driver. ``hstats`` makes a few passes (the stages of its plan); the results equal the in-memory
ones on the same rows. Permutation importance permutes within each partition, with a seed per
partition (``random_state`` for partition 0), as the Dask version does; with one partition it is
the in-memory result.

Features come from (``features=``):

- ``None``: the model's feature names, as numeric columns, when it has them; else the Spark ML
  default vector column ``"features"``;
- a column name: a Spark ML vector column (``VectorAssembler`` or ``VectorIndexer`` output,
  dense or sparse) or an ``array<double>`` column;
- a list of names: numeric columns, in the model's feature order (matched by name, in any
  order, for a model that has feature names).

Nulls in numeric columns are missing values (NaN), as a pandas DataFrame's. Columns that are
absent or not numeric, and a vector whose size (from its ``ml_attr`` metadata) is not the
model's feature count, are refused before any job runs; a vector without size metadata is
checked row by row, in the tasks.

Threads: a task uses one thread (Spark runs one task per core), unless ``n_jobs`` says
otherwise.

pyspark is optional: ``pip install treelens[spark]``.
"""

from __future__ import annotations

import numpy as np

from .exceptions import InvalidInputError

__all__ = ["hstats", "partial_dependence", "permutation_importance", "predict", "shap_values"]

#: The temporary column holding each row's features as array<double>.
_X = "__treelens_features"

_NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType")


def _explainer(model_or_explainer):
    from .explainer import TreeExplainer
    from .interventional import InterventionalExplainer

    if isinstance(model_or_explainer, (TreeExplainer, InterventionalExplainer)):
        return model_or_explainer
    return TreeExplainer(model_or_explainer)


def _is_vector(data_type) -> bool:
    return type(data_type).__name__ == "VectorUDT"


def _is_double_array(data_type) -> bool:
    return (
        type(data_type).__name__ == "ArrayType" and type(data_type.elementType).__name__ in _NUMERIC
    )


def _vector_size(field) -> int | None:
    attrs = (field.metadata or {}).get("ml_attr", {})
    size = attrs.get("num_attrs")
    return int(size) if size is not None else None


def _features_column(sdf, features, n_features: int, names):
    """The Spark column giving each row's features as array<double>, in the model's order."""
    from pyspark.sql import functions as F

    fields = {f.name: f for f in sdf.schema.fields}
    if features is None:
        if names is not None and all(n in fields for n in names):
            features = list(names)
        elif "features" in fields:
            features = "features"
        elif names is not None:
            absent = [n for n in names if n not in fields][:10]
            raise InvalidInputError(
                f"the DataFrame lacks the model's feature columns {absent} (and has no "
                "'features' vector column); pass features= (a vector column or a list of "
                "numeric columns)"
            )
        else:
            raise InvalidInputError(
                "the model has no feature names and the DataFrame no 'features' vector "
                "column; pass features= (a vector column or a list of numeric columns)"
            )
    if isinstance(features, str):
        if features not in fields:
            raise InvalidInputError(
                f"no column {features!r} in the DataFrame (columns: {sorted(fields)[:20]})"
            )
        field = fields[features]
        if _is_vector(field.dataType):
            size = _vector_size(field)
            if size is not None and size != n_features:
                raise InvalidInputError(
                    f"the vector column {features!r} has {size} entries, but the model was "
                    f"trained on {n_features} features"
                )
            from pyspark.ml.functions import vector_to_array

            return vector_to_array(F.col(features), "float64")
        if _is_double_array(field.dataType):
            return F.col(features).cast("array<double>")
        raise InvalidInputError(
            f"column {features!r} is {field.dataType.simpleString()}: features= names a vector "
            "column (Spark ML) or an array<double> column, or is a list of numeric columns"
        )
    features = list(features)
    if names is not None:
        # Read by name, as a pandas DataFrame is.
        lacking = [c for c in names if c not in features][:10]
        unknown = [c for c in features if c not in names][:10]
        if lacking or unknown or len(features) != len(names):
            raise InvalidInputError(
                f"features= must list the model's feature names (in any order): it lacks "
                f"{lacking} and has {unknown} besides"
            )
        features = list(names)
    if len(features) != n_features:
        raise InvalidInputError(
            f"features= names {len(features)} columns, but the model was trained on "
            f"{n_features} features"
        )
    absent = [c for c in features if c not in fields]
    if absent:
        raise InvalidInputError(
            f"no columns {absent[:10]} in the DataFrame (columns: {sorted(fields)[:20]})"
        )
    for c in features:
        kind = type(fields[c].dataType).__name__
        if kind not in _NUMERIC and kind not in ("DecimalType", "BooleanType"):
            raise InvalidInputError(
                f"column {c!r} is {fields[c].dataType.simpleString()}, not numeric: treelens "
                "reads numeric columns (index string columns first, e.g. with StringIndexer)"
            )
    return F.array(*[F.col(c).cast("double") for c in features])


def matrix(column, n_features: int) -> np.ndarray:
    """An Arrow list<double> column as an (n, p) float64 matrix (nulls are NaN)."""
    n = len(column)
    if column.null_count:
        raise InvalidInputError("a row's feature vector is null")
    offsets = np.asarray(column.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    if n and not np.all(lengths == n_features):
        bad = int(lengths[lengths != n_features][0])
        raise InvalidInputError(
            f"a row has {bad} feature values, but the model was trained on {n_features} features"
        )
    values = column.values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return np.ascontiguousarray(values[offsets[0] : offsets[-1]]).reshape(n, n_features)


def _list_column(values: np.ndarray):
    """(n, m) float64 -> Arrow list<double> of length m per row."""
    import pyarrow as pa

    n = values.shape[0]
    m = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
    _check_offsets(n * m)
    offsets = pa.array(np.arange(0, (n + 1) * m, m, dtype=np.int64)[: n + 1].astype(np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))


def _check_offsets(total: int) -> None:
    """Spark's arrays are Arrow lists, whose offsets are 32-bit: a batch's values must fit."""
    if total > np.iinfo(np.int32).max:
        raise InvalidInputError(
            f"one Arrow batch's output holds {total:,} values, more than an Arrow list can "
            "(2**31 - 1): lower spark.sql.execution.arrow.maxRecordsPerBatch"
        )


def _nested_list_column(values: np.ndarray):
    """(n, p, p) float64 -> Arrow list<list<double>> (p lists of p per row)."""
    import pyarrow as pa

    n, p, q = values.shape
    inner = _list_column(values.reshape(n * p, q))
    offsets = pa.array(np.arange(0, (n + 1) * p, p, dtype=np.int32)[: n + 1])
    return pa.ListArray.from_arrays(offsets, inner)


def _output_names(output_col: str, k: int, classes) -> list[str]:
    if k == 1:
        return [output_col]
    labels = list(classes) if classes is not None and len(classes) == k else range(k)
    return [f"{output_col}_{_label(c)}" for c in labels]


def _label(c) -> str:
    if isinstance(c, (float, np.floating)) and float(c).is_integer():
        return str(int(c))
    return str(c)


def _map_rows(sdf, column, compute, out_fields, n_features):
    """``sdf`` with ``out_fields`` appended: ``compute(X)`` gives their Arrow arrays for each
    batch's (n, p) matrix. Runs lazily, partition by partition, through mapInArrow."""
    from pyspark.sql.types import StructType

    from .options import engine_task

    names = sdf.columns
    if _X in names:
        raise InvalidInputError(f"the DataFrame has a column named {_X!r}, which treelens uses")
    clash = [f.name for f in out_fields if f.name in names]
    if clash:
        raise InvalidInputError(
            f"the DataFrame already has the columns {clash}: choose another output_col"
        )
    schema = StructType(list(sdf.schema.fields) + list(out_fields))
    keep = list(range(len(names)))

    def per_partition(batches):
        import pyarrow as pa

        arrow_schema = pa_schema(schema)
        with engine_task():
            for batch in batches:
                X = matrix(batch.column(len(names)), n_features)
                columns = [batch.column(i) for i in keep] + compute(X)
                yield pa.RecordBatch.from_arrays(columns, schema=arrow_schema)

    return sdf.select(*names, column.alias(_X)).mapInArrow(per_partition, schema)


def pa_schema(schema):
    """The Arrow schema of a Spark schema (pyspark's own conversion)."""
    try:
        from pyspark.sql.pandas.types import to_arrow_schema
    except ImportError:  # pragma: no cover - older pyspark
        from pyspark.sql.types import to_arrow_schema  # type: ignore
    return to_arrow_schema(schema)


def shap_values(
    model_or_explainer,
    sdf,
    features=None,
    *,
    output_col: str = "shap_values",
    interactions: bool | None = None,
    n_jobs: int | None = None,
):
    """SHAP values of every row of a Spark DataFrame, appended as columns.

    Parameters
    ----------
    model_or_explainer : model, TreeExplainer or InterventionalExplainer
        Anything :func:`treelens.load` accepts (explained path-dependently, as
        ``TreeExplainer(model)``), or an explainer (an interventional one's background goes
        with it). Broadcast once.
    sdf : pyspark.sql.DataFrame
        The rows; its other columns are kept.
    features : None, str or list of str, optional
        Where the features are (see the module's documentation): the model's feature names,
        else the ``"features"`` vector column by default.
    output_col : str, default "shap_values"
        Name of the output column (one output); ``"{output_col}_{class}"`` per output for
        multi-output models (classes, or 0 .. k-1).
    interactions : bool, optional
        SHAP interaction values instead (``shap_interaction_values``): each output column is
        ``array<array<double>>``, p rows of p.
    n_jobs : int, optional
        Threads per task (default one: Spark runs a task per core).

    Returns
    -------
    pyspark.sql.DataFrame
        ``sdf`` with ``array<double>`` columns of p SHAP values (in the model's feature order)
        per output. Each output column's metadata holds ``{"treelens": {"expected_value": e,
        "feature_names": [...], "output": i}}``; ``e`` plus a row's values is its margin (or the
        explainer's ``model_output``). Lazy: nothing runs until an action.
    """
    from pyspark.sql.types import ArrayType, DoubleType, StructField

    explainer = _explainer(model_or_explainer)
    model = explainer.model
    p = model.n_features
    column = _features_column(sdf, features, p, model.feature_names)
    method = explainer.shap_interaction_values if interactions else explainer.shap_values
    probe = np.asarray(method(np.zeros((1, p))))
    k = 1 if probe.ndim == (3 if interactions else 2) else probe.shape[-1]
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    cell = ArrayType(ArrayType(DoubleType(), False), False) if interactions else None
    fields = [
        StructField(
            name,
            cell or ArrayType(DoubleType(), False),
            False,
            metadata={
                "treelens": {
                    "expected_value": float(expected[i if expected.size > 1 else 0]),
                    "feature_names": model.feature_names or [f"f{j}" for j in range(p)],
                    "output": i,
                }
            },
        )
        for i, name in enumerate(_output_names(output_col, k, model.classes))
    ]
    from pyspark.sql import SparkSession

    shipped = SparkSession.builder.getOrCreate().sparkContext.broadcast(explainer)

    def compute(X):
        ex = shipped.value
        run = ex.shap_interaction_values if interactions else ex.shap_values
        values = np.asarray(run(X, n_jobs=n_jobs))
        if k == 1 and values.ndim == (3 if interactions else 2):
            values = values[..., None]
        out = []
        for i in range(k):
            v = np.ascontiguousarray(values[..., i])
            out.append(_nested_list_column(v) if interactions else _list_column(v))
        return out

    return _map_rows(sdf, column, compute, fields, p)


def predict(model, sdf, features=None, *, output_col: str = "prediction"):
    """The model's raw margin for every row of a Spark DataFrame, appended as a column.

    Parameters
    ----------
    model : anything :func:`treelens.load` accepts
        Broadcast once.
    sdf : pyspark.sql.DataFrame
    features : None, str or list of str, optional
        As in :func:`shap_values`.
    output_col : str, default "prediction"

    Returns
    -------
    pyspark.sql.DataFrame
        ``sdf`` with a ``double`` column (one output) or an ``array<double>`` column (one per
        output), equal to ``treelens.load(model).predict`` on the same rows. Lazy.
    """
    import pyarrow as pa
    from pyspark.sql import SparkSession
    from pyspark.sql.types import ArrayType, DoubleType, StructField

    from .loaders import load

    native = load(model)
    p = native.n_features
    column = _features_column(sdf, features, p, native.feature_names)
    k = native.n_outputs
    kind = DoubleType() if k == 1 else ArrayType(DoubleType(), False)
    fields = [StructField(output_col, kind, False)]
    shipped = SparkSession.builder.getOrCreate().sparkContext.broadcast(native)

    def compute(X):
        margin = np.asarray(shipped.value.predict(X), dtype=np.float64).reshape(len(X), k)
        return [pa.array(margin[:, 0]) if k == 1 else _list_column(margin)]

    return _map_rows(sdf, column, compute, fields, p)


def _numeric_column(sdf, name, what: str):
    """Column ``name`` as double (``what`` names it in messages: "weight", "label"); None for
    None; a missing or non-numeric column is refused."""
    from pyspark.sql import functions as F

    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidInputError(f"on a Spark DataFrame, the {what} is the name of a column")
    fields = {f.name: f for f in sdf.schema.fields}
    if name not in fields:
        raise InvalidInputError(f"no {what} column {name!r} in the DataFrame")
    if type(fields[name].dataType).__name__ not in _NUMERIC:
        raise InvalidInputError(
            f"the {what} column {name!r} is {fields[name].dataType.simpleString()}, not numeric"
        )
    return F.col(name).cast("double")


def _vector(column) -> np.ndarray:
    """An Arrow numeric column as float64 (nulls refused: a weight or label must be there)."""
    if column.null_count:
        raise InvalidInputError("a weight or label is null")
    return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _reduced(sdf, columns, per_partition, combine):
    """``per_partition(batches)`` on every partition (it yields at most one bytes value),
    the values combined pairwise on the executors; None when no partition yields one."""
    import pickle

    from pyspark.sql.types import BinaryType, StructField, StructType

    schema = StructType([StructField("part", BinaryType(), False)])

    def run(batches):
        import pyarrow as pa

        from .options import engine_task

        with engine_task():
            for value in per_partition(batches):
                yield pa.RecordBatch.from_arrays([pa.array([value], pa.binary())], ["part"])

    parts = sdf.select(*columns).mapInArrow(run, schema).rdd.map(lambda row: bytes(row[0]))

    def merge(a, b):
        return pickle.dumps(combine(pickle.loads(a), pickle.loads(b)))

    try:
        return pickle.loads(parts.treeReduce(merge))
    except ValueError as e:  # raised on the driver when no partition gave a value
        if "empty" in str(e).lower():
            return None
        raise


def _names(model, features, sdf):
    """The feature names the results use: the model's, else the columns named, else f0.."""
    if isinstance(features, (list, tuple)):
        return [str(c) for c in features]
    if model.feature_names is not None:
        return list(model.feature_names)
    return [f"f{j}" for j in range(model.n_features)]


def hstats(
    model,
    sdf,
    features=None,
    *,
    explain=None,
    pairwise_m: int | None = 5,
    threeway_m: int | None = 0,
    sample_weight=None,
    n_jobs: int | None = None,
):
    """Friedman and Popescu's H statistics over all rows of a Spark DataFrame, exact.

    Parameters
    ----------
    model : anything :func:`treelens.load` accepts
    sdf : pyspark.sql.DataFrame
    features : None, str or list of str, optional
        Where the features are, as in :func:`shap_values`.
    explain : list, optional
        The features whose statistics are computed (``features=`` of
        :func:`treelens.hstats`): names or positions; all by default.
    pairwise_m, threeway_m : int or None
        As in :func:`treelens.hstats`.
    sample_weight : str, optional
        A numeric column of row weights.
    n_jobs : int, optional
        Threads per task (default one).

    Returns
    -------
    HStats
        Equal to ``treelens.hstats`` on the same rows (to rounding: sums are added in another
        order). A few passes over the DataFrame (cache it first if it is computed).
    """
    import pandas as pd

    from . import _core
    from .hstats import over_partitions
    from .loaders import load
    from .partition_sums import hstats_partial

    native = load(model)
    p = native.n_features
    column = _features_column(sdf, features, p, native.feature_names)
    weight = _numeric_column(sdf, sample_weight, "weight")
    names = _names(native, features, sdf)
    # No rows, with the names the statistics are reported under.
    named = native.feature_names is not None or isinstance(features, (list, tuple))
    empty = pd.DataFrame(np.empty((0, p)), columns=names) if named else np.empty((0, p))
    from pyspark.sql import SparkSession

    sc = SparkSession.builder.getOrCreate().sparkContext
    shipped_model = sc.broadcast(native)
    columns = [column.alias(_X)] + ([] if weight is None else [weight.alias("w")])
    weighted = weight is not None  # the closures below must not hold Spark columns

    def reduce_stage(plan):
        shipped_plan = sc.broadcast(plan)

        def per_partition(batches):
            merged = None
            for batch in batches:
                X = matrix(batch.column(0), p)
                if len(X) == 0:
                    continue
                w = _vector(batch.column(1)) if weighted else None
                part = hstats_partial(shipped_model.value, shipped_plan.value, X, w, n_jobs)
                merged = part if merged is None else _core.hstats_merge(merged, part)
            if merged is not None:
                yield _pickled(merged)

        try:
            merged = _reduced(sdf, columns, per_partition, _core.hstats_merge)
        finally:
            shipped_plan.unpersist()
        if merged is None:
            raise InvalidInputError("the DataFrame has no rows")
        return merged

    return over_partitions(native, empty, explain, pairwise_m, threeway_m, reduce_stage)


def _pickled(value) -> bytes:
    import pickle

    return pickle.dumps(value)


def partial_dependence(
    model,
    sdf,
    explain,
    grid,
    features=None,
    *,
    sample_weight=None,
    **options,
):
    """Partial dependence averaged over all rows of a Spark DataFrame, on a given grid.

    Parameters
    ----------
    model : anything :func:`treelens.load` accepts
    sdf : pyspark.sql.DataFrame
    explain : list
        The features whose partial dependence is computed (``features=`` of
        :func:`treelens.partial_dependence`): names or positions.
    grid : list of 1-D arrays
        The grid values, one array per feature (required: percentiles of the rows would need
        a pass over all of them first).
    features : None, str or list of str, optional
        Where the features are, as in :func:`shap_values`.
    sample_weight : str, optional
        A numeric column of row weights.
    **options
        ``response_method``, ``categorical_features``, ``n_jobs``: as in
        :func:`treelens.partial_dependence`.

    Returns
    -------
    PartialDependenceResult
        ``average`` (k, *grid_shape), ``grid_values``, ``features``: equal to
        ``treelens.partial_dependence(kind="average")`` on the same rows (to rounding).
    """
    import functools

    from .loaders import load
    from .partial_dependence import NO_ROWS, PartialDependenceResult, given_grid, resolve_features
    from .partial_dependence import partial_dependence as in_memory
    from .partition_sums import add_pairs, weighted_average

    if grid is None:
        raise InvalidInputError(
            "partial_dependence on a Spark DataFrame needs grid= (one 1-D array of values per "
            "feature): the default grid's percentiles would need a pass over all rows first"
        )
    if "kind" in options or "progress" in options:
        raise InvalidInputError(
            "on a Spark DataFrame partial_dependence gives the average (ICE curves of every "
            "row: explain a sample in memory)"
        )
    native = load(model)
    p = native.n_features
    column = _features_column(sdf, features, p, native.feature_names)
    weight = _numeric_column(sdf, sample_weight, "weight")
    names = _names(native, features, sdf)
    fn = functools.partial(
        in_memory, model=native, features=explain, grid=grid, feature_names=names, **options
    )
    try:  # every argument is checked on no rows, up to the rows it lacks
        fn(X=np.empty((0, p)), kind="average")
    except InvalidInputError as e:
        if str(e) != NO_ROWS:
            raise
    from pyspark.sql import SparkSession

    shipped = SparkSession.builder.getOrCreate().sparkContext.broadcast(
        functools.partial(fn, kind="average")
    )
    columns = [column.alias(_X)] + ([] if weight is None else [weight.alias("w")])
    weighted = weight is not None  # the closures below must not hold Spark columns

    def per_partition(batches):
        total = None
        for batch in batches:
            X = matrix(batch.column(0), p)
            w = _vector(batch.column(1)) if weighted else None
            part = weighted_average(shipped.value, X, w)
            total = add_pairs(total, part)
        if total is not None:
            yield _pickled(total)

    total = _reduced(sdf, columns, per_partition, add_pairs)
    if total is None:
        raise InvalidInputError("the DataFrame has no rows with a positive weight")
    chosen = resolve_features(explain, names)
    return PartialDependenceResult(
        average=total[0] / total[1],
        grid_values=given_grid(grid, len(chosen)),
        features=[names[i] for i in chosen],
    )


def permutation_importance(
    estimator_or_model,
    sdf,
    label_col: str,
    features=None,
    *,
    scoring=None,
    n_repeats: int = 5,
    n_jobs: int | None = None,
    random_state=None,
    sample_weight=None,
    groups=None,
):
    """Permutation importance over all rows of a Spark DataFrame.

    Each partition permutes its own rows, with its own seed (``random_state`` for partition 0,
    a hash of ``random_state`` and the partition's index for the others), and computes the sums
    of the decomposable scorers (``treelens.partition_sums.DECOMPOSABLE_SCORERS``); the sums are
    added on the executors. Semantics as :func:`treelens.dask.permutation_importance`: with one
    partition, the in-memory result.

    Parameters
    ----------
    estimator_or_model : anything :func:`treelens.load` accepts
    sdf : pyspark.sql.DataFrame
    label_col : str
        The numeric label column (class labels as the model's classes, e.g. 0.0 / 1.0).
    features : None, str or list of str, optional
        Where the features are, as in :func:`shap_values`.
    scoring, n_repeats, n_jobs, random_state, groups
        As in :func:`treelens.permutation_importance` (``scoring``: names of decomposable
        scorers only).
    sample_weight : str, optional
        A numeric column of row weights.

    Returns
    -------
    Bunch or dict of Bunch
        ``importances_mean``, ``importances_std``, ``importances`` (units, repeats).
    """
    from pyspark import TaskContext
    from pyspark.sql import SparkSession

    from .importance import unit_names, with_names
    from .partition_sums import (
        add_sums,
        importance_arguments,
        importance_result,
        partition_importance,
    )

    model, names, seed, classes, score = importance_arguments(
        estimator_or_model,
        scoring=scoring,
        n_repeats=n_repeats,
        n_jobs=n_jobs,
        random_state=random_state,
        max_samples=1.0,
        groups=groups,
        read_empty=lambda m: _names(m, features, sdf),
        where="a Spark DataFrame",
        sample_with="sdf.sample",
    )
    p = model.n_features
    column = _features_column(sdf, features, p, model.feature_names)
    label = _numeric_column(sdf, label_col, "label")
    weight = _numeric_column(sdf, sample_weight, "weight")
    shipped = SparkSession.builder.getOrCreate().sparkContext.broadcast(score)
    columns = [column.alias(_X), label.alias("y")] + ([] if weight is None else [weight.alias("w")])
    weighted = weight is not None  # the closures below must not hold Spark columns

    def per_partition(batches):
        blocks, ys, ws = [], [], []
        for batch in batches:  # a partition's rows are permuted together
            blocks.append(matrix(batch.column(0), p))
            ys.append(_vector(batch.column(1)))
            if weighted:
                ws.append(_vector(batch.column(2)))
        if not blocks:
            return
        X = np.concatenate(blocks)
        y = np.concatenate(ys)
        w = np.concatenate(ws) if weighted else None
        index = TaskContext.get().partitionId()
        sums = partition_importance(shipped.value, X, y, w, index, seed, tuple(names), classes)
        if sums is not None:
            yield _pickled(sums)

    total = _reduced(sdf, columns, per_partition, add_sums)
    result = importance_result(scoring, names, total, classes)
    labels = unit_names(_names(model, features, sdf), groups, p)
    return with_names(result, labels)
