"""Exact data-based partial dependence and individual conditional expectation (ICE) curves."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from . import _core
from .exceptions import FeatureNameError, InvalidInputError
from .memory import ensure_fits
from .options import check_int, check_n_jobs
from .progress import progress_callback


class Bunch(dict):
    """A dict whose keys are also attributes (like ``sklearn.utils.Bunch``)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def resolve_features(features, names: list[str]) -> list[int]:
    """Column indices of ``features`` (names or indices), checked: known, in range, distinct."""
    if isinstance(features, (str, Integral)):
        features = [features]
    try:
        items = list(features)
    except TypeError:
        raise InvalidInputError(
            f"features must be a feature name, a column index or a list of them, got {features!r}"
        ) from None
    out = []
    for f in items:
        if isinstance(f, (bool, np.bool_)):
            raise InvalidInputError(f"features must be names or column indices, got {f!r}")
        if isinstance(f, Integral):
            j = int(f)
            if not -len(names) <= j < len(names):
                raise InvalidInputError(
                    f"feature index {j} is out of range for {len(names)} columns"
                )
            out.append(j % len(names))
        elif isinstance(f, str):
            if f not in names:
                raise FeatureNameError(
                    f"unknown feature name {f!r}; the model's features are {names[:20]}"
                    + (" ..." if len(names) > 20 else "")
                )
            out.append(names.index(f))
        else:
            raise InvalidInputError(f"features must be names or column indices, got {f!r}")
    if len(set(out)) != len(out):
        raise InvalidInputError(f"features are repeated: {items!r}")
    if not out:
        raise InvalidInputError("features is empty")
    return out


def weights(sample_weight, n: int) -> np.ndarray:
    """``sample_weight`` as a float64 vector of length ``n`` (ones when None), checked."""
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise InvalidInputError(
            f"sample_weight must be a 1-D array with one weight per row of X ({n}), "
            f"got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InvalidInputError("sample_weight must be finite, non-negative, with a positive sum")
    return np.ascontiguousarray(w)


def _default_grid(column: np.ndarray, grid_resolution: int, percentiles) -> np.ndarray:
    values = column[~np.isnan(column)]
    if values.size == 0:
        return np.array([np.nan])
    uniques = np.unique(values)
    if uniques.size < grid_resolution:
        return uniques
    lo, hi = np.quantile(values, percentiles)
    if lo == hi:
        return uniques
    return np.linspace(lo, hi, num=grid_resolution)


def partial_dependence(
    model,
    X,
    features,
    grid=None,
    *,
    sample_weight=None,
    kind: str = "average",
    grid_resolution: int = 100,
    percentiles=(0.05, 0.95),
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> Bunch:
    """Exact data-based partial dependence of the raw margin on a set of features.

    ``PD_S(v) = sum_i w_i f(v, x_i,notS) / sum_i w_i`` over the rows of ``X``: the (weighted) mean
    prediction with the columns of ``S`` set to ``v``, computed from the trees' structure (each
    tree walked once with all rows and grid points), equal to the brute-force mean of model
    predictions on replicated data.

    Parameters
    ----------
    model : Model or anything :func:`treelens.load` accepts
    X : array-like or table of shape (n_samples, n_features)
        The data the expectation runs over: a numpy array (read by position), or a pandas or
        polars DataFrame or pyarrow Table (columns matched to the model by name, any order).
    features : str, int or sequence of them
        The feature set ``S``: names, or indices of X's columns (X's order, as in
        scikit-learn).
    grid : sequence of 1-D arrays, optional
        Values per feature; the grid is their cartesian product. A 1-D array is accepted for
        one feature. By default, as in scikit-learn: a feature's unique values when there are
        fewer than ``grid_resolution``, else ``grid_resolution`` equally spaced values between
        the ``percentiles`` of the column (``numpy.quantile``, linear interpolation). Values
        are in the model's encoding (category codes for categorical columns).
    sample_weight : array-like of shape (n_samples,), optional
        Row weights of the mean.
    kind : {"average", "individual", "both"}
        Partial dependence, individual conditional expectation (ICE) curves, or both.
    grid_resolution : int
        Points per feature of the default grid.
    percentiles : (float, float)
        Range of the default grid for features with many values.
    n_jobs : int, optional
        Threads; None means all cores.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    Bunch
        ``grid_values``: list of the grid's 1-D arrays, one per feature; ``average``: ndarray of
        shape ``(n_outputs, *grid_shape)`` (when kind is "average" or "both"); ``individual``:
        ndarray of shape ``(n_outputs, n_samples, *grid_shape)`` (kind "individual" or "both");
        ``features``: the features' names. The layout follows
        ``sklearn.inspection.partial_dependence``. Values are the raw margin (``model.predict``),
        not the response scikit-learn averages (``predict_proba`` or ``predict``): log-odds for
        boosted classifiers, the log of the mean for Poisson, gamma and Tweedie regressors,
        class probabilities for scikit-learn forest classifiers. One output for regressors and
        binary boosted classifiers, one per class for multiclass models and for scikit-learn
        forest classifiers (two for binary ones, where scikit-learn returns the positive
        class only). The partial dependence of the response is the mean of
        ``model.transform_margin`` over the individual curves (``kind="individual"``).
    """
    from .loaders import load

    if kind not in ("average", "individual", "both"):
        raise InvalidInputError(f"kind must be 'average', 'individual' or 'both', got {kind!r}")
    n_jobs = check_n_jobs(n_jobs)
    if grid is None:
        # (More points than a column has distinct values: its values, as in scikit-learn.)
        grid_resolution = check_int("grid_resolution", grid_resolution, minimum=1, maximum=None)
    model = load(model)
    rows = model.read(X)
    names = rows.labels()
    chosen = resolve_features(features, names)
    cols = rows.model_columns(chosen)
    x = rows.matrix
    if x.shape[0] == 0:
        raise InvalidInputError("X has no rows")
    w = weights(sample_weight, x.shape[0])
    if grid is None:
        grid_values = [_default_grid(x[:, j], grid_resolution, percentiles) for j in cols]
    else:
        if len(cols) == 1 and np.ndim(grid) == 1:
            grid = [grid]
        grid = list(grid)
        if len(grid) != len(cols):
            raise InvalidInputError(
                f"grid must hold one 1-D array per feature ({len(cols)}), got {len(grid)}"
            )
        grid_values = []
        for g in grid:
            arr = np.asarray(g, dtype=np.float64)
            if arr.ndim != 1 or arr.size == 0:
                raise InvalidInputError("each grid entry must be a non-empty 1-D array of values")
            grid_values.append(arr)
    shape = tuple(len(g) for g in grid_values)
    n_points = math.prod(shape)
    individual = kind in ("individual", "both")
    # The grid's points (twice: the mesh and its stack), the averages, the individual curves
    # and their reshaped copy.
    needed = 2 * n_points * len(cols) * 8 + n_points * model.n_outputs * 8 * (
        1 + (2 * x.shape[0] if individual else 0)
    )
    ensure_fits(
        f"partial dependence on a grid of {n_points} points "
        f"({' x '.join(map(str, shape))}) for {x.shape[0]} rows",
        needed,
        'use a coarser grid (grid_resolution), fewer rows, or kind="average"',
    )
    mesh = np.meshgrid(*grid_values, indexing="ij")
    points = np.stack([m.ravel() for m in mesh], axis=1).astype(np.float64)
    average, ice = _core.partial_dependence(
        model.forest,
        x,
        w,
        cols,
        np.ascontiguousarray(points),
        individual=individual,
        n_jobs=n_jobs,
        progress=progress_callback(progress, "partial dependence", x.shape[0] * len(points)),
    )
    k = model.n_outputs
    out = Bunch(grid_values=grid_values, features=[names[i] for i in chosen])
    if kind in ("average", "both"):
        out["average"] = np.moveaxis(average, -1, 0).reshape((k, *shape))
    if individual:
        out["individual"] = np.moveaxis(ice, -1, 0).reshape((k, x.shape[0], *shape))
    return out
