"""Dask collections in treelens' entry points: the same functions, row partitions in parallel.

``model.predict``, ``TreeExplainer.shap_values`` / ``shap_interaction_values`` and the
interventional explainer's, ``partial_dependence``, ``ale``, ``hstats`` and
``permutation_importance`` take a ``dask.array.Array`` (chunked along rows only) or a
``dask.dataframe.DataFrame`` wherever they take an array or a pandas DataFrame, and dispatch
here by type. Row-wise results come back lazy, as dask arrays with the input's row chunks
(unknown sizes for a DataFrame, whose partition lengths Dask does not know); reductions over the
rows (``reduce=``, partial dependence averages, ALE, permutation importance) come back computed,
from per-partition sums. ``hstats`` runs in a few
passes over the blocks (cells of each feature, the partial dependence tables, the overall
statistics, the leaves of the pairs, the pairwise statistics), each reduced on the workers to
tables over the model's cells and leaves; no rows reach the client.

Each block is explained by the in-memory code itself, so the numbers are those of the same rows
in memory. The explainer (forest, background tables) is one key of the task graph, sent to each
worker once per computation rather than inside every task. Inputs are checked before anything is
scheduled: the explainer is run on the collection's empty ``_meta`` (names, dtypes, the
output's shape), and a dask array chunked along columns is refused.

Threads: a task uses one thread by default (``n_jobs=None`` inside a Dask task, on any
scheduler; see :func:`treelens.options.default_n_jobs`), so a worker with ``t`` threads runs
``t`` blocks at once. Pass ``n_jobs`` to give each task more.

dask (and distributed, for a cluster) are optional: ``pip install treelens[dask]``.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from .exceptions import InvalidInputError
from .options import check_n_jobs
from .partition_sums import (
    DECOMPOSABLE_SCORERS,
    add_pairs,
    add_sums,
    hstats_partial,
    in_task,
    partition_importance,
    weighted_average,
)

# What a user calls here directly (the top-level functions dispatch to these on Dask input);
# the rest are the engine's helpers.
__all__ = ["DECOMPOSABLE_SCORERS", "ale", "partial_dependence", "permutation_importance"]


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a Dask array, DataFrame or Series (without importing dask)."""
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(X)


def _empty_block(X, name: str = "X"):
    """An empty block of ``X``'s kind (columns, dtypes) to check the work on, once ``X`` is
    checked to be a collection of whole rows treelens can read."""
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise InvalidInputError(
                f"{name} is a {X.ndim}-D dask array; a 2-D array of rows x features is accepted"
            )
        if X.numblocks[1] != 1:
            raise InvalidInputError(
                f"{name} is a dask array chunked along its columns ({X.numblocks[1]} column "
                f"chunks of {X.chunks[1]}); treelens needs whole rows in each block: chunk it "
                f"along rows only, e.g. {name}.rechunk({{1: -1}})"
            )
        return np.empty((0, X.shape[1]), X.dtype)
    if isinstance(X, dd.DataFrame):
        text = [str(c) for c, t in X.dtypes.items() if _is_text(t)]
        if text:
            raise InvalidInputError(
                f"{name} has text columns ({', '.join(text[:5])}"
                f"{', ...' if len(text) > 5 else ''}): treelens reads numbers, booleans and "
                "pandas categoricals; convert them (e.g. .astype('category')) or drop them"
            )
        return X._meta
    raise InvalidInputError(
        f"{name} is a {type(X).__module__}.{type(X).__name__}; the Dask collections accepted are "
        "a 2-D dask.array.Array chunked along rows and a dask.dataframe.DataFrame"
    )


def _is_text(dtype) -> bool:
    """A string column's dtype (numpy str/bytes or pandas' string dtypes). Object columns are
    left to the blocks' own check: they may hold numbers."""
    import pandas as pd

    return isinstance(dtype, pd.StringDtype) or getattr(dtype, "kind", "") in ("U", "S")


def _aligned_blocks(X, **extras):
    """``(X's row blocks as Delayed objects, their row counts (NaN where Dask does not know
    them), X's empty block, {name: blocks or Nones})``: the labels and weights in ``extras``
    (None, or dask collections of X's rows) split as X's rows are. A DataFrame's Series are
    joined to it as columns first (so that Dask keeps them partitioned alike, whatever it
    fuses), and split again in each task; a dask array's are rechunked to X's row chunks."""
    import dask
    import dask.array as da
    import dask.dataframe as dd

    empty = _empty_block(X)
    for name, value in extras.items():
        if value is not None and not is_dask_collection(value):
            raise InvalidInputError(
                f"with a Dask X, {name} must be a dask collection of X's rows (a dask Series for "
                f"a DataFrame, a dask array for an array), got {type(value).__name__}"
            )
    given = {k: v for k, v in extras.items() if v is not None}
    out = {}
    if isinstance(X, da.Array):
        blocks, rows = list(X.to_delayed()[:, 0]), list(X.chunks[0])
        for name, value in given.items():
            if not isinstance(value, da.Array) or value.ndim != 1:
                raise InvalidInputError(
                    f"X is a dask array: {name} must be a 1-D dask array of its rows, got "
                    f"{type(value).__name__}"
                )
            if value.chunks[0] != X.chunks[0]:
                if np.isnan(value.shape[0]) or np.isnan(X.shape[0]) or value.shape[0] != X.shape[0]:
                    raise InvalidInputError(
                        f"{name} has {value.shape[0]} rows and X {X.shape[0]}: give one per row"
                    )
                value = value.rechunk((X.chunks[0],))
            out[name] = list(value.to_delayed().ravel())
    else:
        series = {}
        for name, value in given.items():
            if isinstance(value, da.Array):
                # A dask array beside a DataFrame has no index to align by: it is split by its
                # own chunks, which must be as many as X's partitions.
                parts = list(value.to_delayed().ravel())
                if value.ndim != 1 or len(parts) != X.npartitions:
                    raise InvalidInputError(
                        f"{name} is a dask array of {len(parts)} chunks, X a DataFrame of "
                        f"{X.npartitions} partitions: pass a 1-D array chunked as X's "
                        "partitions, or a dask Series of X's rows"
                    )
                out[name] = parts
            elif isinstance(value, dd.Series):
                series[name] = value
            else:
                raise InvalidInputError(
                    f"X is a dask DataFrame: {name} must be a dask Series of its rows, got "
                    f"{type(value).__name__}"
                )
        if series:
            columns = {name: f"__treelens_{name}__" for name in series}
            try:
                frame = X.assign(**{columns[k]: v for k, v in series.items()})
            except Exception as e:  # dask says why it cannot align them
                raise InvalidInputError(
                    f"{', '.join(series)} cannot be aligned with X's rows: {e}"
                ) from None
            parts = frame.to_delayed()
            take = dask.delayed(_take_columns, pure=True)
            names = list(X.columns)
            blocks = [take(part, names) for part in parts]
            for name in series:
                out[name] = [take(part, columns[name]) for part in parts]
        else:
            blocks = list(X.to_delayed())
        rows = [np.nan] * len(blocks)
    for name in extras:
        out.setdefault(name, [None] * len(blocks))
    return blocks, rows, empty, out


def _take_columns(frame, columns):
    return frame[columns]


@in_task
def _apply(fn, block, labels):
    return fn(block) if labels is None else fn(block, labels)


def _shipped(fn):
    """``fn`` as one key of the graph (sent to each worker once), not a copy inside each task."""
    import dask

    return dask.delayed(fn, pure=True, traverse=False)


def map_rows(fn, X, y=None):
    """``fn(block[, y_block])`` over ``X``'s row blocks as a lazy dask array.

    ``fn`` maps a block of rows (numpy or pandas, as ``X`` holds them) to an array with one entry
    per row along the first axis. It is first run on ``X``'s empty ``_meta``, which checks the
    input and gives the output's trailing shape before anything is scheduled.
    """
    import dask
    import dask.array as da

    blocks, rows, empty, extra = _aligned_blocks(X, y=y)
    labels = extra["y"]
    probe = _apply(fn, empty, None if y is None else np.empty(0))
    tail, dtype = probe.shape[1:], probe.dtype
    fn_key = _shipped(fn)
    apply = dask.delayed(_apply, pure=True)
    parts = [
        da.from_delayed(apply(fn_key, b, lab), shape=(r, *tail), dtype=dtype, meta=probe)
        for b, lab, r in zip(blocks, labels, rows)
    ]
    return da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


@in_task
def _summed(fn, block, labels):
    """(sum over the block's rows of fn's per-row summary, rows): ``fn`` returns the block's
    mean; an empty block adds nothing."""
    n = len(block)
    if n == 0:
        return None
    return _apply(fn, block, labels) * n, n


def _sum_pairwise(level):
    """The sum of Delayed ``(sum, count)`` pairs (None for nothing), added pairwise."""
    return _reduce_pairwise(level, add_pairs)


def _reduce_pairwise(level, combine):
    """Delayed values combined pairwise (a tree of depth log2 of their number)."""
    import dask

    add = dask.delayed(combine, pure=True)
    while len(level) > 1:
        pairs = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def reduce_rows(fn, X, y=None, *, check):
    """The mean over all of ``X``'s rows of a per-row quantity, computed.

    ``fn(block[, y_block])`` returns the block's mean of it (as the in-memory ``reduce=``
    functions do); ``check``, the row-wise function, is run on ``X``'s empty ``_meta`` first
    (a mean of no rows does not exist). Block sums are added pairwise on the workers; only the
    result reaches the client.
    """
    import dask

    blocks, _, empty, extra = _aligned_blocks(X, y=y)
    labels = extra["y"]
    _apply(check, empty, None if y is None else np.empty(0))
    fn_key = _shipped(fn)
    summed = dask.delayed(_summed, pure=True)
    total = _sum_pairwise([summed(fn_key, b, lab) for b, lab in zip(blocks, labels)]).compute()
    if total is None:
        raise InvalidInputError("X has no rows: there is nothing to average")
    return total[0] / total[1]


def explain(method, X, y, reduce, **options):
    """An explainer's ``method`` (``shap_values`` or ``shap_interaction_values``) over a Dask
    collection: lazy per block, or with ``reduce`` its mean over all rows, computed."""
    if reduce is None:
        return map_rows(bound(method, **options), X, y)
    return reduce_rows(
        bound(method, reduce=reduce, **options), X, y, check=bound(method, **options)
    )


def bound(method, **options):
    """``method`` (an explainer's, say) with its keyword options fixed, picklable for Dask."""
    return functools.partial(method, **options)


@in_task
def _curves(fn, block, w, tail):
    """A block's ICE curves with the rows first: ``(n_block, *tail)``, tail ``(k, *grid)``."""
    if len(block) == 0:
        return np.empty((0, *tail))
    return np.moveaxis(fn(X=block, sample_weight=w)["individual"], 1, 0)


def partial_dependence(model, X, features, grid, *, sample_weight=None, kind="average", **options):
    """:func:`treelens.partial_dependence` over a Dask collection's rows, on a given grid.

    The average (``kind="average"`` or ``"both"``) is computed: each block's weighted average
    times its weight, summed pairwise on the workers, over the total weight. ICE curves
    (``"individual"`` or ``"both"``) come back lazy, a dask array of shape
    ``(k, n, *grid_shape)`` with X's row chunks on its second axis.

    Parameters
    ----------
    model : Model or anything :func:`treelens.load` accepts
    X : dask.array.Array or dask.dataframe.DataFrame
        Rows chunked along the rows only.
    features : str, int or sequence of them
        As in :func:`treelens.partial_dependence`.
    grid : sequence of 1-D arrays
        The grid's values per feature (required: the default grid's percentiles would need a
        pass over all rows first).
    sample_weight : dask collection, optional
        One weight per row of X.
    kind : {"average", "individual", "both"}
    **options
        The other options of :func:`treelens.partial_dependence`.

    Returns
    -------
    PartialDependenceResult
        ``grid_values``, ``average`` (computed), ``individual`` (a lazy dask array),
        ``features``.
    """
    import dask
    import dask.array as da

    from .loaders import load
    from .partial_dependence import (
        NO_ROWS,
        PartialDependenceResult,
        given_grid,
        resolve_features,
        response,
    )
    from .partial_dependence import partial_dependence as in_memory

    if grid is None:
        raise InvalidInputError(
            "partial_dependence on a Dask collection needs grid= (one 1-D array of values per "
            "feature): the default grid's percentiles would need a pass over all rows first"
        )
    if kind not in ("average", "individual", "both"):
        raise InvalidInputError(f"kind must be 'average', 'individual' or 'both', got {kind!r}")
    model = load(model)  # once here, not once per block
    blocks, rows, empty, extra = _aligned_blocks(X, sample_weight=sample_weight)
    weights = extra["sample_weight"]
    fn = functools.partial(in_memory, model=model, features=features, grid=grid, **options)
    try:  # every argument is checked on the empty meta, up to the rows it lacks
        fn(X=empty, kind=kind)
    except InvalidInputError as e:
        if str(e) != NO_ROWS:
            raise
    names = options.get("feature_names")
    names = [str(v) for v in names] if names is not None else model.read(empty).labels()
    chosen = resolve_features(features, names)
    grid_values = given_grid(grid, len(chosen))
    _, keep = response(model, options.get("response_method", "auto"))
    tail = (model.n_outputs if keep is None else len(keep), *(len(g) for g in grid_values))
    out = PartialDependenceResult(grid_values=grid_values)
    if kind in ("average", "both"):
        fn_key = _shipped(functools.partial(fn, kind="average"))
        task = dask.delayed(weighted_average, pure=True)
        total = _sum_pairwise([task(fn_key, b, w) for b, w in zip(blocks, weights)]).compute()
        if total is None:
            raise InvalidInputError("X has no rows with a positive weight")
        out["average"] = total[0] / total[1]
    if kind in ("individual", "both"):
        fn_key = _shipped(functools.partial(fn, kind="individual"))
        task = dask.delayed(_curves, pure=True)
        meta = np.empty((0, *tail))
        parts = [
            da.from_delayed(task(fn_key, b, w, tail), shape=(r, *tail), dtype=np.float64, meta=meta)
            for b, w, r in zip(blocks, weights, rows)
        ]
        curves = da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        out["individual"] = da.moveaxis(curves, 0, 1)
    out["features"] = [names[i] for i in chosen]
    return out


def ale(
    model,
    X,
    features,
    *,
    grid=None,
    sample_weight=None,
    response_method="auto",
    feature_names=None,
    n_jobs=None,
):
    """:func:`treelens.ale` over a Dask collection's rows, computed, on given bin edges or the
    model's thresholds (``grid``).

    Three passes over the blocks, each reduced pairwise on the workers: the features' ranges,
    the rows per candidate bin (bins without rows are merged, as in memory), then each bin's
    weight and sum of differences. The result equals the in-memory one on the same rows.

    Parameters
    ----------
    model : Model or anything :func:`treelens.load` accepts
    X : dask.array.Array or dask.dataframe.DataFrame
        Rows chunked along the rows only.
    features : str, int, or a sequence of one or two of them
    grid : "thresholds" or a sequence of bin edges per feature
        Required (PyALE's quantile bins are order statistics of all rows).
    sample_weight : dask collection, optional
        One weight per row of X.
    response_method, feature_names, n_jobs
        As in :func:`treelens.ale`.

    Returns
    -------
    ALEResult
        As :func:`treelens.ale`.
    """
    import dask

    from .ale import Setup, edges_from_points, grid_points
    from .loaders import load
    from .partition_sums import ale_bin_counts, ale_bin_sums, ale_range, merge_ranges

    if grid is None:
        raise InvalidInputError(
            "ale on a Dask collection needs grid= (bin edges per feature) or "
            'grid="thresholds": PyALE\'s quantile bins are order statistics of all rows, which '
            "would have to be gathered first"
        )
    check_n_jobs(n_jobs)
    model = load(model)
    blocks, _, empty, extra = _aligned_blocks(X, sample_weight=sample_weight)
    ws = extra["sample_weight"]
    meta = model.read(empty)
    setup = Setup.of(model, meta.labels(), features, feature_names, response_method)
    cols = meta.model_columns(setup.chosen)
    points = [
        grid_points(model, c, g, name)
        for c, g, name in zip(cols, setup.grids(grid), setup.feature_names)
    ]
    model_key, setup_key = _shipped(model), _shipped(setup)
    task = dask.delayed(ale_range, pure=True)
    ranges = _reduce_pairwise(
        [task(model_key, setup_key, b, w) for b, w in zip(blocks, ws)], merge_ranges
    ).compute()
    if ranges is None:
        raise InvalidInputError(
            f"no row has a value (not NaN) of {setup.feature_names} with a positive weight"
        )
    count = dask.delayed(ale_bin_counts, pure=True)

    def counts_of(q):
        def count_bins(edges):
            parts = [count(model_key, setup_key, q, edges, b, w) for b, w in zip(blocks, ws)]
            return _reduce_pairwise(parts, np.add).compute()

        return count_bins

    edges = [
        edges_from_points(pts, ranges[q, 0], ranges[q, 1], counts_of(q))
        for q, pts in enumerate(points)
    ]
    sums = dask.delayed(ale_bin_sums, pure=True)
    edges_key = _shipped(edges)
    total = _reduce_pairwise(
        [sums(model_key, setup_key, edges_key, b, w) for b, w in zip(blocks, ws)],
        add_pairs,
    ).compute()
    return setup.result(edges, total[0], total[1])


def stage_reducer(model, X, *, sample_weight=None, n_jobs=None):
    """``(empty, reduce)`` for :func:`treelens.hstats.over_partitions` on a Dask collection:
    ``empty`` is X's meta; ``reduce(plan)`` runs the plan's next stage on every block (model
    and plan shipped once) and merges the partials pairwise on the workers, so only the merged
    tables reach the client."""
    import dask

    from . import _core

    blocks, _, empty, extra = _aligned_blocks(X, sample_weight=sample_weight)
    model_key = _shipped(model)
    task = dask.delayed(hstats_partial, pure=True)

    def reduce(plan):
        plan_key = _shipped(plan)
        parts = [
            task(model_key, plan_key, b, w, n_jobs) for b, w in zip(blocks, extra["sample_weight"])
        ]
        return _reduce_pairwise(parts, _core.hstats_merge).compute()

    return empty, reduce


def permutation_importance(
    estimator_or_model,
    X,
    y,
    *,
    scoring=None,
    n_repeats=5,
    n_jobs=None,
    random_state=None,
    sample_weight=None,
    max_samples=1.0,
    groups=None,
):
    """:func:`treelens.permutation_importance` over a Dask collection's rows.

    Each partition permutes its own rows: ``n_repeats`` permutations per column (or group)
    drawn from its own seed, ``random_state`` for the first partition and a hash of
    ``random_state`` and the partition's index for the others (not scikit-learn's draw over all
    rows; with one partition the result is the in-memory one). The scores come from
    per-partition sums, exactly as over all rows, for the scorers that decompose:
    ``DECOMPOSABLE_SCORERS`` (a name, or a list of names; None is ``accuracy`` for classifiers
    and ``r2`` otherwise). Only the sums travel to the client.

    Parameters
    ----------
    estimator_or_model : fitted estimator, Model, or anything :func:`treelens.load` accepts
    X : dask.array.Array or dask.dataframe.DataFrame
        Rows chunked along the rows only.
    y : dask collection
        The labels, one per row of X (a dask Series beside a DataFrame, a 1-D dask array
        beside an array).
    scoring, n_repeats, n_jobs, random_state, sample_weight, max_samples, groups
        As in :func:`treelens.permutation_importance` (``sample_weight`` a dask collection of
        X's rows; ``max_samples`` must be 1.0).

    Returns
    -------
    Bunch or dict of Bunch
        As :func:`treelens.permutation_importance`, computed.
    """
    import dask

    from .importance import unit_names, with_names
    from .partition_sums import importance_arguments, importance_result

    blocks, _, empty, extra = _aligned_blocks(X, y=y, sample_weight=sample_weight)
    labels, weights = extra["y"], extra["sample_weight"]
    model, names, random_state, classes, score = importance_arguments(
        estimator_or_model,
        scoring=scoring,
        n_repeats=n_repeats,
        n_jobs=n_jobs,
        random_state=random_state,
        max_samples=max_samples,
        groups=groups,
        read_empty=lambda model: model.read(empty).names,
        where="a Dask collection",
        sample_with="ddf.sample",
    )
    task = dask.delayed(partition_importance, pure=True)
    score_key = _shipped(score)
    sums = [
        task(score_key, b, lab, w, i, random_state, tuple(names), classes)
        for i, (b, lab, w) in enumerate(zip(blocks, labels, weights))
    ]
    total = _reduce_pairwise(sums, add_sums).compute()
    result = importance_result(scoring, names, total, classes)
    labels = unit_names(model.read(empty).names, groups, model.n_features)
    return with_names(result, labels)
