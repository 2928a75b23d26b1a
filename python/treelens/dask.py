"""Dask collections in treelens' entry points: the same functions, row partitions in parallel.

``model.predict``, ``TreeExplainer.shap_values`` / ``shap_interaction_values`` and the
interventional explainer's take a ``dask.array.Array`` (chunked along rows only) or a
``dask.dataframe.DataFrame`` wherever they take an array or a pandas DataFrame, and dispatch
here by type. Row-wise results come back lazy, as dask arrays with the input's row chunks
(unknown sizes for a DataFrame, whose partition lengths Dask does not know); reductions over the
rows (``reduce=``) come back computed.

Each block is explained by the in-memory code itself, so the numbers are those of the same rows
in memory. The explainer (forest, background tables) is one key of the task graph, sent to each
worker once per computation rather than inside every task. Inputs are checked before anything is
scheduled: the explainer is run on the collection's empty ``_meta`` (names, dtypes, the
output's shape), and a dask array chunked along columns is refused.

Threads: a task uses one thread by default (``n_jobs=None`` inside a Dask worker; see
:func:`treelens.options.default_n_jobs`), so a worker with ``t`` threads runs ``t`` blocks at
once. Pass ``n_jobs`` to give each task more.

dask (and distributed, for a cluster) are optional: ``pip install treelens[dask]``.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from .exceptions import InvalidInputError

__all__ = ["is_dask_collection", "map_rows", "partial_dependence", "reduce_rows"]


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a Dask array, DataFrame or Series (without importing dask)."""
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(X)


def _row_blocks(X, name: str = "X"):
    """``X``'s row blocks as Delayed objects, their row counts (NaN where Dask does not know
    them) and an empty block of ``X``'s kind (columns, dtypes) to check the work on."""
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
        return list(X.to_delayed()[:, 0]), list(X.chunks[0]), np.empty((0, X.shape[1]), X.dtype)
    if isinstance(X, dd.DataFrame):
        text = [str(c) for c, t in X.dtypes.items() if _is_text(t)]
        if text:
            raise InvalidInputError(
                f"{name} has text columns ({', '.join(text[:5])}"
                f"{', ...' if len(text) > 5 else ''}): treelens reads numbers, booleans and "
                "pandas categoricals; convert them (e.g. .astype('category')) or drop them"
            )
        return list(X.to_delayed()), [np.nan] * X.npartitions, X._meta
    raise InvalidInputError(
        f"{name} is a {type(X).__module__}.{type(X).__name__}; the Dask collections accepted are "
        "a 2-D dask.array.Array chunked along rows and a dask.dataframe.DataFrame"
    )


def _is_text(dtype) -> bool:
    """A string column's dtype (numpy str/bytes or pandas' string dtypes). Object columns are
    left to the blocks' own check: they may hold numbers."""
    import pandas as pd

    return isinstance(dtype, pd.StringDtype) or getattr(dtype, "kind", "") in ("U", "S")


def _label_blocks(y, n_blocks: int, name: str = "y"):
    """Labels (or weights) split as the rows are: a dask array or Series with as many
    partitions."""
    if y is None:
        return [None] * n_blocks
    if not is_dask_collection(y):
        raise InvalidInputError(
            f"with a Dask X, {name} must be a dask array or Series partitioned as X's rows, got "
            f"{type(y).__name__}"
        )
    import dask.array as da

    blocks = list(y.to_delayed().ravel()) if isinstance(y, da.Array) else list(y.to_delayed())
    if len(blocks) != n_blocks:
        raise InvalidInputError(
            f"{name} has {len(blocks)} partitions and X {n_blocks}: partition them alike"
        )
    return blocks


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

    blocks, rows, empty = _row_blocks(X)
    labels = _label_blocks(y, len(blocks))
    probe = _apply(fn, empty, None if y is None else np.empty(0))
    tail, dtype = probe.shape[1:], probe.dtype
    fn_key = _shipped(fn)
    apply = dask.delayed(_apply, pure=True)
    parts = [
        da.from_delayed(apply(fn_key, b, lab), shape=(r, *tail), dtype=dtype, meta=probe)
        for b, lab, r in zip(blocks, labels, rows)
    ]
    return da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


def _summed(fn, block, labels):
    """(sum over the block's rows of fn's per-row summary, rows): ``fn`` returns the block's
    mean; an empty block adds nothing."""
    n = len(block)
    if n == 0:
        return None
    return _apply(fn, block, labels) * n, n


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a[0] + b[0], a[1] + b[1]


def _sum_pairwise(level):
    """The sum of Delayed ``(sum, count)`` pairs (None for nothing), added pairwise."""
    import dask

    add = dask.delayed(_add, pure=True)
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

    blocks, _, empty = _row_blocks(X)
    labels = _label_blocks(y, len(blocks))
    _apply(check, empty, None if y is None else np.empty(0))
    fn_key = _shipped(fn)
    summed = dask.delayed(_summed, pure=True)
    total = _sum_pairwise([summed(fn_key, b, lab) for b, lab in zip(blocks, labels)]).compute()
    if total is None:
        raise InvalidInputError("X has no rows: there is nothing to average")
    return total[0] / total[1]


def bound(method, **options):
    """``method`` (an explainer's, say) with its keyword options fixed, picklable for Dask."""
    return functools.partial(method, **options)


def _weighted_average(fn, block, w):
    """(the block's weighted sum of PD averages, its weight) or None for a block without
    weight: ``fn`` is the in-memory partial dependence, whose average is weighted."""
    total = float(len(block)) if w is None else float(np.sum(w, dtype=np.float64))
    if len(block) == 0 or total == 0.0:
        return None
    return fn(X=block, sample_weight=w)["average"] * total, total


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
    """
    import dask
    import dask.array as da

    from .loaders import load
    from .partial_dependence import NO_ROWS, Bunch, given_grid, resolve_features, response
    from .partial_dependence import partial_dependence as in_memory

    if grid is None:
        raise InvalidInputError(
            "partial_dependence on a Dask collection needs grid= (one 1-D array of values per "
            "feature): the default grid's percentiles would need a pass over all rows first"
        )
    if kind not in ("average", "individual", "both"):
        raise InvalidInputError(f"kind must be 'average', 'individual' or 'both', got {kind!r}")
    model = load(model)  # once here, not once per block
    blocks, rows, empty = _row_blocks(X)
    weights = _label_blocks(sample_weight, len(blocks), "sample_weight")
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
    out = Bunch(grid_values=grid_values)
    if kind in ("average", "both"):
        fn_key = _shipped(functools.partial(fn, kind="average"))
        task = dask.delayed(_weighted_average, pure=True)
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
