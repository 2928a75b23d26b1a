"""Exact data-based partial dependence and individual conditional expectation (ICE) curves."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from . import _core
from .dask import is_dask_collection
from .exceptions import FeatureNameError, InvalidInputError
from .memory import block_rows, ensure_fits
from .options import check_int, check_n_jobs
from .progress import progress_callback


class Bunch(dict):
    """A dict whose keys are also attributes (like ``sklearn.utils.Bunch``)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


class PartialDependenceResult(Bunch):
    """The result of :func:`partial_dependence`: a dict (scikit-learn's keys, ``grid_values``,
    ``average`` and/or ``individual``, plus ``features``) whose keys are also attributes, and
    which draws itself with :meth:`plot`."""

    def plot(self, *, ax=None, **kwargs):
        """Draws the partial dependence with matplotlib (``pip install 'treelens[plot]'``).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        **kwargs
            ``output``, ``ice``, ``max_ice``, ``rug``: see
            :func:`treelens.plot.partial_dependence`.

        Returns
        -------
        matplotlib.axes.Axes
            A curve (with ICE curves) for one feature, a heatmap for two.
        """
        from .plot import partial_dependence as draw

        return draw(self, ax=ax, **kwargs)


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


#: The error of a partial dependence over no rows.
NO_ROWS = "X has no rows"


def given_grid(grid, n_features: int) -> list[np.ndarray]:
    """A given grid as float64 1-D arrays, one per feature (a flat sequence of values is the
    grid of one feature), checked."""
    if n_features == 1 and all(np.ndim(g) == 0 for g in grid):
        grid = [grid]
    grid = list(grid)
    if len(grid) != n_features:
        raise InvalidInputError(
            f"grid must hold one 1-D array per feature ({n_features}), got {len(grid)}"
        )
    grid_values = []
    for g in grid:
        arr = np.asarray(g, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise InvalidInputError("each grid entry must be a non-empty 1-D array of values")
        grid_values.append(arr)
    return grid_values


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


def mquantiles(values: np.ndarray, probs) -> np.ndarray:
    """The quantiles ``scipy.stats.mstats.mquantiles`` gives with its defaults (plotting
    positions ``alphap = betap = 0.4``), which scikit-learn's partial dependence grid uses:
    for ``n`` sorted values and probability ``p``, ``aleph = n p + 0.4 + 0.2 p``,
    ``k = floor(clip(aleph, 1, n - 1))`` and the value is interpolated between the ``k``-th
    and ``(k + 1)``-th smallest values by ``clip(aleph - k, 0, 1)``."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    p = np.atleast_1d(np.asarray(probs, dtype=np.float64))
    n = x.size
    if n == 1:
        return np.resize(x, p.shape)
    aleph = n * p + (0.4 + p * (1.0 - 0.4 - 0.4))
    k = np.floor(aleph.clip(1, n - 1)).astype(np.intp)
    gamma = (aleph - k).clip(0, 1)
    return (1.0 - gamma) * x[k - 1] + gamma * x[k]


def _check_percentiles(percentiles) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in percentiles)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"percentiles must be a pair of numbers in [0, 1], got {percentiles!r}"
        ) from None
    if not (0.0 <= lo <= 1.0 and 0.0 <= hi <= 1.0):
        raise InvalidInputError(f"percentiles must be in [0, 1], got {percentiles!r}")
    if lo >= hi:
        raise InvalidInputError(
            f"percentiles[0] must be strictly less than percentiles[1], got {percentiles!r}"
        )
    return lo, hi


def default_grid(
    column: np.ndarray, grid_resolution: int, percentiles, categorical: bool, name: str
) -> np.ndarray:
    """scikit-learn's grid of one feature: its unique values (missing included, as one value)
    when it is categorical or has fewer than ``grid_resolution`` of them, else
    ``grid_resolution`` equally spaced values between the ``percentiles`` of the column
    (``mquantiles``; over the present values, where scikit-learn's would be NaN)."""
    uniques = np.unique(column)
    if categorical or uniques.size < grid_resolution:
        return uniques
    present = column[~np.isnan(column)]
    lo, hi = mquantiles(present, percentiles)
    if np.allclose(lo, hi):
        raise InvalidInputError(
            f"the percentiles {tuple(percentiles)} of feature {name!r} are too close to each "
            "other to build a grid; choose percentiles further apart, or pass grid="
        )
    return np.linspace(lo, hi, num=grid_resolution, endpoint=True)


def categorical_columns(categorical_features, names: list[str], chosen: list[int], model_cats):
    """Whether each chosen column is categorical: as ``categorical_features`` says (a boolean
    mask over X's columns, or column indices or names, as in scikit-learn), else whether the
    model itself treats the column as categorical (its grid is then its categories)."""
    if categorical_features is None:
        return [j in model_cats for j in chosen]
    flags = np.asarray(categorical_features)
    if flags.dtype.kind == "b":
        if flags.ndim != 1 or flags.size != len(names):
            raise InvalidInputError(
                "a boolean categorical_features must have one entry per column of X "
                f"({len(names)}), got {flags.size}"
            )
        return [bool(flags[j]) for j in chosen]
    if flags.dtype.kind in "iuOU":
        marked = set(resolve_features(list(flags.ravel()), names)) if flags.size else set()
        return [j in marked for j in chosen]
    raise InvalidInputError(
        "categorical_features must be booleans (one per column), column indices or feature "
        f"names, got an array of {flags.dtype}"
    )


_RESPONSES = ("auto", "predict_proba", "decision_function", "raw")
_METHODS = ("auto", "brute")


def model_categorical_features(model) -> set[int]:
    """Model columns the model treats as categorical: mapped to category codes, typed ``"c"``,
    or split on by category sets in some tree."""
    cats = set(model.categories) | set(model.frame_categories)
    if model.feature_types is not None:
        cats |= {j for j, t in enumerate(model.feature_types) if t == "c"}
    state = model.forest.__reduce__()[1][0]
    split_on_sets = np.asarray(state["category_set"]) >= 0
    cats |= {int(j) for j in np.unique(np.asarray(state["feature"])[split_on_sets])}
    return cats


def response(model, response_method: str):
    """``(transform, outputs)``: what scikit-learn's ``response_method`` averages, as a map
    from raw margins ``(..., k)`` to the response (None: the margin itself) and the outputs
    kept (None: all). Classifiers average ``predict_proba`` (the positive class only for
    binary ones) or ``decision_function``; regressors average ``predict`` (the margin through
    the model's link: the mean for Poisson, gamma and Tweedie). ``"raw"``, treelens' own,
    averages the margin of every output."""
    if response_method not in _RESPONSES:
        raise InvalidInputError(
            f"response_method must be one of {_RESPONSES}, got {response_method!r}"
        )
    if response_method == "raw":
        return None, None
    binary_probabilities = model.margin_is_probability and model.n_outputs == 2
    if not model.is_classifier:
        if response_method != "auto":
            raise InvalidInputError(
                f"response_method={response_method!r} applies to classifiers; a regressor's "
                'partial dependence averages its predictions: use "auto" (or "raw" for the '
                "margin before the link)"
            )
        return (None if model.link == "identity" else model.transform_margin), None
    if response_method == "decision_function":
        if model.margin_is_probability:
            raise InvalidInputError(
                "this classifier has no decision_function (its trees vote class "
                'probabilities): use response_method="predict_proba" or "auto"'
            )
        return None, None
    # predict_proba, which every classifier treelens loads has.
    keep = [1] if binary_probabilities else None
    if model.margin_is_probability or model.link == "identity":
        return None, keep
    return model.transform_margin, keep


def partial_dependence(
    model,
    X,
    features,
    grid=None,
    *,
    sample_weight=None,
    categorical_features=None,
    feature_names=None,
    response_method: str = "auto",
    percentiles=(0.05, 0.95),
    grid_resolution: int = 100,
    method: str = "auto",
    kind: str = "average",
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> PartialDependenceResult:
    """Exact data-based partial dependence (and ICE curves), with scikit-learn's conventions.

    ``PD_S(v) = sum_i w_i r(v, x_i,notS) / sum_i w_i`` over the rows of ``X``: the (weighted)
    mean response ``r`` with the columns of ``S`` set to ``v``, as
    ``sklearn.inspection.partial_dependence(method="brute")`` computes it, but from the trees'
    structure (each tree walked once with all rows and grid points) and equal to the
    brute-force mean on replicated data. The arguments, the default grid and the result's
    layout are scikit-learn's, so ``PartialDependenceDisplay`` can draw the result.

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
        treelens' addition: values per feature; the grid is their cartesian product. A 1-D
        array is accepted for one feature. Values are in the model's encoding (category codes
        for categorical columns). By default, as in scikit-learn: a feature's unique values
        (NaN included as one value) when it is categorical or has fewer than
        ``grid_resolution`` of them, else ``grid_resolution`` equally spaced values between
        the ``percentiles`` of the column, computed as ``scipy.stats.mstats.mquantiles`` does
        (over the present values when the column has NaNs: scikit-learn's grid is then NaN).
    sample_weight : array-like of shape (n_samples,), optional
        Row weights of the mean.
    categorical_features : array-like, optional
        As in scikit-learn: a boolean mask over X's columns, or the indices or names of the
        categorical columns, whose grid is their unique values. By default the columns the
        model itself treats as categorical (scikit-learn's default: none).
    feature_names : array-like of str, optional
        Names of X's columns when X is an array (as in scikit-learn), so that ``features``
        and ``categorical_features`` can name them.
    response_method : {"auto", "predict_proba", "decision_function", "raw"}
        What is averaged, as in scikit-learn: for classifiers ``predict_proba`` (``"auto"``;
        the positive class only for binary classifiers) or ``decision_function`` (the raw
        margin: log-odds); for regressors ``predict`` (``"auto"``: the margin through the
        model's link, e.g. the mean of a Poisson regressor). ``"raw"`` (treelens' addition)
        averages the raw margin of every output (``model.predict``), for any model.
    percentiles : (float, float)
        Range of the default grid for features with many values.
    grid_resolution : int
        Points per feature of the default grid (at least 2).
    method : {"auto", "brute"}
        treelens always computes scikit-learn's ``"brute"`` quantity (the data-based
        expectation), exactly and fast. scikit-learn's ``"recursion"`` (its default for
        gradient boosting and regression forests) is a different quantity, averaged over the
        training data's node weights and, for GradientBoosting, off by the initial
        prediction; it is refused rather than answered with other numbers.
    kind : {"average", "individual", "both"}
        Partial dependence, individual conditional expectation (ICE) curves, or both.
    n_jobs : int, optional
        Threads; None means the default (all cores; see ``treelens.options.default_n_jobs``).
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    PartialDependenceResult
        A dict (a ``Bunch``: keys are also attributes) with a ``plot()`` method. As
        scikit-learn's: ``grid_values``, the list of the grid's 1-D arrays, one per
        feature; ``average``, ndarray of shape ``(n_outputs, *grid_shape)`` (kind "average"
        or "both"); ``individual``, ndarray of shape ``(n_outputs, n_samples, *grid_shape)``
        (kind "individual" or "both"). ``n_outputs`` is 1 for regressors and binary
        classifiers, the number of classes for multiclass ones (every output with
        ``response_method="raw"``). treelens adds ``features``: the features' names.
        For a Dask array or DataFrame ``X`` (``grid`` required; ``sample_weight`` then a
        dask collection of X's rows): ``average`` computed over all rows, ``individual`` a
        lazy dask array (see :func:`treelens.dask.partial_dependence`).
    """
    from .loaders import load

    if is_dask_collection(X):
        from . import dask as tl_dask

        return tl_dask.partial_dependence(
            model,
            X,
            features,
            grid,
            sample_weight=sample_weight,
            kind=kind,
            categorical_features=categorical_features,
            feature_names=feature_names,
            response_method=response_method,
            percentiles=percentiles,
            grid_resolution=grid_resolution,
            method=method,
            n_jobs=n_jobs,
            progress=False,
        )
    if kind not in ("average", "individual", "both"):
        raise InvalidInputError(f"kind must be 'average', 'individual' or 'both', got {kind!r}")
    if method not in _METHODS:
        if method == "recursion":
            raise InvalidInputError(
                "method=\"recursion\" is scikit-learn's approximation by the training data's "
                "node weights (and for GradientBoosting it leaves out the initial "
                "prediction); treelens computes the exact data-based partial dependence "
                '(scikit-learn\'s "brute") as fast: use method="auto" or "brute"'
            )
        raise InvalidInputError(f"method must be one of {_METHODS}, got {method!r}")
    n_jobs = check_n_jobs(n_jobs)
    if grid is None:
        grid_resolution = check_int("grid_resolution", grid_resolution, minimum=2, maximum=None)
        percentiles = _check_percentiles(percentiles)
    model = load(model)
    transform, keep = response(model, response_method)
    rows = model.read(X)
    names = rows.labels()
    if feature_names is not None:
        given = [str(v) for v in np.asarray(feature_names, dtype=object).ravel()]
        if rows.names is not None and rows.names != given and hasattr(X, "columns"):
            raise InvalidInputError(
                "feature_names is for arrays; X is a table with its own column names"
            )
        if len(given) != len(names):
            raise InvalidInputError(
                f"feature_names must name each of X's {len(names)} columns, got {len(given)}"
            )
        names = given
    chosen = resolve_features(features, names)
    cols = rows.model_columns(chosen)
    x = rows.matrix
    if x.shape[0] == 0 and grid is None:
        raise InvalidInputError(NO_ROWS)
    if grid is None:
        in_model = model_categorical_features(model)
        model_cats = {i for i in range(len(names)) if rows.model_columns([i])[0] in in_model}
        is_cat = categorical_columns(categorical_features, names, chosen, model_cats)
        grid_values = [
            default_grid(x[:, j], grid_resolution, percentiles, c, names[i])
            for i, j, c in zip(chosen, cols, is_cat)
        ]
    else:
        grid_values = given_grid(grid, len(cols))
    # (Checked after the arguments: a Dask caller checks them on X's empty meta.)
    if x.shape[0] == 0:
        raise InvalidInputError(NO_ROWS)
    w = weights(sample_weight, x.shape[0])
    shape = tuple(len(g) for g in grid_values)
    n_points = math.prod(shape)
    n = x.shape[0]
    k = model.n_outputs
    k_out = k if keep is None else len(keep)
    individual = kind in ("individual", "both")
    # A nonlinear response is averaged from the curves, a block of rows at a time.
    block = n if transform is None else min(n, block_rows(2 * 8 * n_points * k))
    # The grid's points (twice: the mesh and its stack), the averages, the individual curves
    # and their reshaped copy, and a block's curves when the response is nonlinear.
    needed = (
        2 * n_points * len(cols) * 8
        + n_points * k * 8 * (1 + (2 * n if individual else 0))
        + (0 if transform is None else 2 * 8 * n_points * k * block)
    )
    ensure_fits(
        f"partial dependence on a grid of {n_points} points "
        f"({' x '.join(map(str, shape))}) for {n} rows",
        needed,
        'use a coarser grid (grid_resolution), fewer rows, or kind="average"',
    )
    mesh = np.meshgrid(*grid_values, indexing="ij")
    points = np.ascontiguousarray(np.stack([m.ravel() for m in mesh], axis=1), dtype=np.float64)
    bar = progress_callback(progress, "partial dependence", n * n_points)
    if transform is None:
        average, ice = _core.partial_dependence(
            model.forest, x, w, cols, points, individual=individual, n_jobs=n_jobs, progress=bar
        )
    else:
        average, ice = _responses(
            model.forest, x, w, cols, points, transform, individual, block, n_jobs, bar
        )
    out = PartialDependenceResult(grid_values=grid_values)
    if kind in ("average", "both"):
        average = np.moveaxis(average, -1, 0)
        out["average"] = (average if keep is None else average[keep]).reshape((k_out, *shape))
    if individual:
        ice = np.moveaxis(ice, -1, 0)
        out["individual"] = (ice if keep is None else ice[keep]).reshape((k_out, n, *shape))
    out["features"] = [names[i] for i in chosen]
    # The data's deciles of each feature (an attribute, not a key: scikit-learn's keys stay
    # as they are), marked on the plot's rug as scikit-learn's display marks them.
    out.deciles = [_deciles(x[:, c]) for c in cols]
    return out


def _deciles(column: np.ndarray) -> np.ndarray:
    """The 10th, 20th, ..., 90th percentiles of a column's present values (none: empty)."""
    present = column[~np.isnan(column)]
    if present.size == 0:
        return np.empty(0)
    return np.percentile(present, np.arange(10, 100, 10))


def _responses(forest, x, w, cols, points, transform, individual, block, n_jobs, bar):
    """``(average, curves)`` of a nonlinear response: the margin's curves of a block of rows
    at a time, through ``transform``, summed with the rows' weights (curves kept when
    ``individual``): ``(points, k)`` and ``(n, points, k)``."""
    n = x.shape[0]
    total = None
    curves = np.empty((n, points.shape[0], forest.n_outputs)) if individual else None
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)

        def cb(done, total_steps, r0=r0, r1=r1):
            if bar is not None:
                bar(
                    r0 * points.shape[0]
                    + done * (r1 - r0) * points.shape[0] // max(total_steps, 1),
                    n * points.shape[0],
                )

        _, margins = _core.partial_dependence(
            forest,
            x[r0:r1],
            w[r0:r1],
            cols,
            points,
            individual=True,
            n_jobs=n_jobs,
            progress=cb if bar is not None else None,
        )
        part = transform(np.asarray(margins))
        if individual:
            curves[r0:r1] = part
        weighted = np.tensordot(w[r0:r1], part, axes=(0, 0))
        total = weighted if total is None else total + weighted
    return total / w.sum(), curves
