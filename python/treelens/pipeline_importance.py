"""Permutation importance of a scikit-learn Pipeline over its raw columns.

scikit-learn permutes the columns of the raw X and predicts with the whole pipeline; so does
this, scoring with the native trees. Transformers compute each output row from the same input
row alone, so where the transformed columns that a raw column feeds are fed by nothing else
(scalers, one-hot encoders, ColumnTransformer's column lists: see ``loaders.pipeline``),
permuting the raw column's rows permutes exactly those transformed columns' rows: the core then
permutes them together as a group, on the rows transformed once. The other raw columns (feeding
a transformer that mixes columns, such as PCA) are permuted, transformed and scored copy by
copy, as scikit-learn does. Both give scikit-learn's numbers for the same ``random_state``.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .exceptions import InvalidInputError
from .importance import (
    NATIVE_SCORERS,
    _bunch,
    _check_scorers,
    _check_sizes,
    _draw,
    _encode_y,
    _native_classifier,
    _permuted_copy,
    _scorer_names,
    _slow_scores,
    _take_rows,
    _task,
    _units,
    _weights,
)
from .inputs import named_table
from .memory import rows_of
from .progress import progress_callback
from .sparse_inputs import is_sparse

__all__ = ["raw_permutation_importance"]


def _raw_rows(X):
    """``X`` as scikit-learn's permutation_importance holds it: a pandas DataFrame as it is
    (polars and pyarrow tables converted to one), anything else as a numpy array."""
    table = named_table(X)
    if table is None and is_sparse(X):
        raise InvalidInputError(
            "permutation importance of a Pipeline permutes the columns of a dense X (an array "
            "or a DataFrame); scikit-learn's refuses a sparse X too: pass X.toarray()"
        )
    if table is None:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise InvalidInputError(f"X must be 2-D (n_samples, n_features), got shape {arr.shape}")
        return arr, None
    if table.kind != "pandas":
        X = X.to_pandas()
    return X, [str(c) for c in X.columns]


def _raw_sources(prep, names: list[str] | None, n_cols: int) -> list[int | None] | None:
    """For each column of X, the raw column of the pipeline it is (None: unused), or None when
    X's columns cannot be matched to the pipeline's with certainty."""
    if prep.provenance is None or prep.n_raw is None:
        return None
    if names is not None and prep.raw_names is not None:
        if set(names) != set(prep.raw_names) or len(names) != len(prep.raw_names):
            return None
        position = {n: i for i, n in enumerate(prep.raw_names)}
        return [position[n] for n in names]
    if n_cols != prep.n_raw:
        return None
    return list(range(n_cols))


def _affected_columns(prep, sources, unit) -> list[int] | None:
    """The transformed columns that permuting the X columns ``unit`` permutes; None when some
    of them also depend on other raw columns (then the copies must be transformed)."""
    if sources is None:
        return None
    raw = {sources[c] for c in unit if sources[c] is not None}
    affected = []
    for t, deps in enumerate(prep.provenance):
        if deps & raw:
            if not deps <= raw:
                return None
            affected.append(t)
    return affected


def _native_scores(model, X, rows, perms, units, sources, metrics, scoring_of, n_jobs, progress):
    """``(baseline, permuted)``: per-metric scores of all rows, and (n_units, n_repeats,
    n_metrics) scores of the permuted sample."""
    forest = model.forest
    prep = model.preprocessing
    read = model.read(X)
    x = read.matrix
    xs = x if rows is None else np.ascontiguousarray(x[rows])
    sample = scoring_of(rows)
    n_metrics = len(metrics)
    permuted = np.empty((len(units), perms.shape[0], n_metrics), dtype=np.float64)
    affected = [_affected_columns(prep, sources, unit) for unit in units]
    grouped = [u for u, cols in enumerate(affected) if cols]
    if grouped:
        out, unpermuted = _core.importance_permuted(
            forest,
            xs,
            perms,
            [read.model_columns(affected[u]) for u in grouped],
            scoring=sample,
            n_jobs=n_jobs,
            progress=progress_callback(
                progress, "permutation importance", xs.shape[0] * len(grouped)
            ),
        )
        permuted[grouped] = out
    else:
        unpermuted = _core.importance_baseline(forest, xs, scoring=sample, n_jobs=n_jobs)
    for u, cols in enumerate(affected):
        if cols is not None and not cols:  # a column the pipeline does not use
            permuted[u] = np.asarray(unpermuted, dtype=np.float64)
    Xs = _take_rows(X, rows)
    for u, cols in enumerate(affected):
        if cols is None:
            for r, src in enumerate(perms):
                copy = model.read(_permuted_copy(Xs, units[u], src)).matrix
                permuted[u, r] = _core.importance_baseline(
                    forest, copy, scoring=sample, n_jobs=n_jobs
                )
    if rows is None:
        baseline = unpermuted
    else:  # scikit-learn's baseline uses every row, the permutations only the sample
        baseline = _core.importance_baseline(forest, x, scoring=scoring_of(None), n_jobs=n_jobs)
    return np.asarray(baseline, dtype=np.float64), permuted


def raw_permutation_importance(
    model,
    X,
    y,
    *,
    scoring,
    n_repeats: int,
    n_jobs,
    random_state,
    sample_weight,
    max_samples,
    groups,
    progress,
):
    """:func:`treelens.permutation_importance` of a model loaded from a Pipeline
    (``model.preprocessing`` set): one importance per column of the raw X, in its order."""
    prep = model.preprocessing
    n = rows_of(X)
    if n is not None:
        _check_sizes(n, model.n_features, n_repeats, max_samples, groups)
    X, names = _raw_rows(X)
    n_rows, n_cols = X.shape
    if n_rows == 0:
        raise InvalidInputError("X has no rows")
    y_values, y_classes = _encode_y(model, y, n_rows)
    weight = _weights(sample_weight, n_rows)
    units = _units(groups, n_cols, names)
    entries, single, _ = _scorer_names(scoring, model)
    _check_scorers(entries, model)
    rows, perms = _draw(n_rows, int(n_repeats), random_state, max_samples)
    native = [key for key, e in entries.items() if isinstance(e, str) and e in NATIVE_SCORERS]
    if native and not _native_classifier(model):
        native = []  # scikit-learn scores the pipeline (the slow path)
    results: dict = {}
    if native:
        metrics = [entries[key] for key in native]

        def scoring_of(take_rows):
            def take(a):
                if a is None or take_rows is None:
                    return a
                return np.ascontiguousarray(a.reshape(n_rows, -1)[take_rows].reshape(-1))

            return dict(
                _task(model),
                metrics=metrics,
                y_values=take(y_values),
                y_classes=take(y_classes),
                weight=take(weight),
            )

        sources = _raw_sources(prep, names, n_cols)
        base, permuted = _native_scores(
            model, X, rows, perms, units, sources, metrics, scoring_of, n_jobs, progress
        )
        for q, key in enumerate(native):
            results[key] = _bunch(base[q], permuted[:, :, q])
    for key, entry in entries.items():
        if key in results:
            continue
        out = _slow_scores(model, entry, X, y, weight, rows, perms, units, None, est=prep.pipeline)
        if isinstance(out, dict):
            if not single:
                raise InvalidInputError("a scorer in a dict or list must return one number")
            return {name: _bunch(b, p) for name, (b, p) in out.items()}
        results[key] = _bunch(*out)
    if single:
        return results["score"]
    return {key: results[key] for key in entries}
