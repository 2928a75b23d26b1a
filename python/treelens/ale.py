"""Accumulated local effects (ALE; Apley & Zhu 2020), first and second order.

The numbers are PyALE's (``PyALE.ale``; R's ALEPlot) on its quantile bins and alibi's
(``alibi.explainers.ALE``) on a given grid, computed from the trees: every row is predicted at its
bin's two edges (four corners for two features), walking only the trees with a split between
those edges (the others reach the same leaf at both and cancel exactly), multithreaded in the
core.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .exceptions import InvalidInputError
from .options import check_int, check_n_jobs
from .partial_dependence import NO_ROWS, Bunch, resolve_features, response, weights

__all__ = ["ALEResult", "ale"]


class ALEResult(Bunch):
    """The result of :func:`ale`: a dict whose keys are also attributes.

    Keys
    ----
    grid_values : list of ndarray
        The bin edges of each feature, increasing.
    average : ndarray of shape (n_outputs, n_edges) or (n_outputs, n_edges_0, n_edges_1)
        The centred ALE at the edges.
    counts : ndarray of shape (n_bins,) or (n_bins_0, n_bins_1)
        The weight of the rows in each bin (their number without ``sample_weight``).
    features : list of str
        The features' names.
    """

    def plot(self, *, ax=None, **kwargs):
        """Draws the ALE curve (one feature) or heatmap (two features).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        **kwargs
            Passed to :func:`treelens.plot.ale` (``output``, ...).

        Returns
        -------
        matplotlib Axes
        """
        from .plot import ale as plot_ale

        return plot_ale(self, ax=ax, **kwargs)


def pyale_quantile_edges(column: np.ndarray, grid_resolution: int) -> np.ndarray:
    """PyALE's bin edges: the minimum and the type-1 quantiles (inverse of the empirical
    distribution function, as ``PyALE._src.lib.quantile_ied`` computes them) at
    ``0, 1/g, ..., 1``, duplicates removed."""
    xs = np.sort(column)
    q = np.linspace(0, 1, grid_resolution + 1, endpoint=True)
    last = xs.size - 1
    j = (last * q + 0).astype(int)
    gamma = (last * q - j) != 0
    previous = np.where(j >= 1, xs[np.maximum(j - 1, 0)], 0.0)
    quantiles = np.where(gamma, xs[j], previous)
    quantiles[q == 0] = xs[0]
    quantiles[q == 1] = xs[-1]
    return np.unique(np.concatenate([[xs[0]], quantiles]))


def given_edges(column: np.ndarray, points) -> np.ndarray:
    """alibi's edges from given grid points over the values of ``column``: see
    :func:`edges_from_points`."""
    return edges_from_points(
        points, column.min(), column.max(), lambda edges: bin_counts(column, edges)
    )


def bin_counts(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per bin of ``edges`` (the lowest edge in the first bin)."""
    return np.bincount(_bins(column, edges), minlength=edges.size - 1)[: edges.size - 1]


def edges_from_points(points, lo: float, hi: float, count) -> np.ndarray:
    """alibi's edges from given grid points, for data in ``[lo, hi]``: the points inside that
    range, plus the nearest point beyond each end (or ``lo`` / ``hi`` when none is), bins
    without data (``count(edges)``, rows per bin) merged into the next one."""
    fvals = np.sort(np.asarray(points, dtype=np.float64).ravel())
    if fvals.size == 0 or not np.all(np.isfinite(fvals)):
        raise InvalidInputError("a grid of bin edges must hold finite values")
    if lo > fvals[0]:
        lo = fvals[np.flatnonzero(fvals <= lo)[-1]]
    if hi < fvals[-1]:
        hi = fvals[np.flatnonzero(fvals >= hi)[0]]
    fvals = np.unique(np.clip(fvals, lo, hi))
    if fvals[0] > lo:
        fvals = np.concatenate([[lo], fvals])
    if fvals[-1] < hi:
        fvals = np.concatenate([fvals, [hi]])
    if fvals.size == 1:
        return fvals
    empty = np.asarray(count(fvals)) == 0
    return np.delete(fvals, np.flatnonzero(empty) + 1)


def split_points(model, col: int) -> np.ndarray:
    """The thresholds of the model's numeric splits on model column ``col``."""
    state = model.forest.__reduce__()[1][0]
    feature = np.asarray(state["feature"])
    numeric = (feature == col) & (np.asarray(state["category_set"]) < 0)
    return np.unique(np.asarray(state["threshold"], dtype=np.float64)[numeric])


def _bins(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``(edges[b], edges[b + 1]]``, the lowest edge in the first bin."""
    index = np.searchsorted(edges, column, side="left")
    return np.maximum(index, 1) - 1


def grid_points(model, col: int, grid, name: str):
    """The points of a given grid for model column ``col``: the grid's own, or for
    ``"thresholds"`` the model's split points."""
    if isinstance(grid, str):
        if grid != "thresholds":
            raise InvalidInputError(
                f'grid must be None (quantile bins), "thresholds" or bin edges, got {grid!r}'
            )
        points = split_points(model, col)
        if points.size == 0:
            raise InvalidInputError(
                f'the model never splits on feature {name!r}: grid="thresholds" has no edges '
                "for it (its ALE is zero); use quantile bins (grid=None)"
            )
        return points
    return grid


def _edges_of(model, column, col, grid, grid_resolution, name):
    if grid is None:
        return pyale_quantile_edges(column, grid_resolution)
    return given_edges(column, grid_points(model, col, grid, name))


def ale(
    model,
    X,
    features,
    *,
    grid_resolution: int = 20,
    grid=None,
    sample_weight=None,
    response_method: str = "auto",
    feature_names=None,
    n_jobs: int | None = None,
) -> ALEResult:
    """Accumulated local effects of one feature, or the second-order effect of two.

    One feature j with bin edges ``z_0 < ... < z_K``: each row in bin
    ``(z_{b-1}, z_b]`` (the first bin includes ``z_0``) gives the difference
    ``r(z_b, x_notj) - r(z_{b-1}, x_notj)`` of the response ``r``; the (weighted) mean difference
    of each bin is accumulated over the bins, and the curve is centred so that its mean over
    the rows is zero (each bin's rows counted at the mean of its two edges' values), as in
    PyALE, R's ALEPlot and alibi. Two features: each row gives the second difference over its
    cell's four corners; cell means (an empty cell takes its nearest non-empty cell's, as in
    ALEPlot and PyALE) are accumulated over both axes, and both features' own first-order
    effects and the mean are removed, as PyALE's ``aleplot_2D_continuous`` does.

    Parameters
    ----------
    model : Model or anything :func:`treelens.load` accepts
    X : array-like or table of shape (n_samples, n_features)
        The rows (a numpy array read by position; a pandas/polars DataFrame or pyarrow Table by
        column name).
    features : str, int, or a sequence of one or two of them
        The feature (or pair of features): names or X's column indices.
    grid_resolution : int
        Number of quantile bins (PyALE's ``grid_size``) when ``grid`` is None; equal quantiles
        collapse, so a feature with few values gets fewer bins.
    grid : None, "thresholds", or a sequence of bin edges per feature
        None: PyALE's quantile bins. ``"thresholds"``: bins at the model's own split points of
        the feature (as a given grid, below): between two consecutive split points the model
        does not change with the feature, so a bin's difference is exactly the trees' jump
        at one split point (at several where bins without rows were merged). A sequence
        (one array of edges per feature; a flat array for one feature): handled as alibi
        handles ``grid_points`` (edges outside the data trimmed to the nearest beyond it, the
        data's extremes added, bins without rows merged).
    sample_weight : array-like of shape (n_samples,), optional
        Row weights of the bin means and the centring; rows of weight 0 are left out (also of
        the quantiles).
    response_method : {"auto", "predict_proba", "decision_function", "raw"}
        What the differences are taken of, as in :func:`treelens.partial_dependence`: for
        classifiers the class probabilities (``"auto"``; the positive class for binary ones)
        or the margin (``"decision_function"``); for regressors the prediction; ``"raw"``:
        every output's raw margin.
    feature_names : array-like of str, optional
        Names of X's columns when X is an array.
    n_jobs : int, optional
        Threads; None means all cores.

    Returns
    -------
    ALEResult
        ``grid_values`` (the edges of each feature), ``average`` (the centred ALE at the edges,
        ``(n_outputs, n_edges)`` or ``(n_outputs, n_edges_0, n_edges_1)``), ``counts`` (the
        rows' weight per bin or cell) and ``features`` (names). Rows whose value of a chosen
        feature is missing (NaN) cannot be placed in a bin and are left out. A feature with
        a single value has one edge and an ALE of zero. For a Dask array or DataFrame ``X``
        (``grid`` given or ``"thresholds"``; ``sample_weight`` then a dask collection of X's
        rows), the same result over all rows (see :func:`treelens.dask.ale`).
    """
    from .dask import is_dask_collection
    from .loaders import load

    if is_dask_collection(X):
        from . import dask as tl_dask

        return tl_dask.ale(
            model,
            X,
            features,
            grid=grid,
            sample_weight=sample_weight,
            response_method=response_method,
            feature_names=feature_names,
            n_jobs=n_jobs,
        )
    n_jobs = check_n_jobs(n_jobs)
    if grid is None:
        grid_resolution = check_int("grid_resolution", grid_resolution, minimum=1, maximum=None)
    model = load(model)
    rows = model.read(X)
    setup = Setup.of(model, rows.labels(), features, feature_names, response_method)
    cols = rows.model_columns(setup.chosen)
    x = rows.matrix
    if x.shape[0] == 0:
        raise InvalidInputError(NO_ROWS)
    grids = setup.grids(grid)
    x, w = setup.present(x, weights(sample_weight, x.shape[0]), cols)
    edges = [
        _edges_of(model, x[:, c], c, g, grid_resolution, name)
        for c, g, name in zip(cols, grids, setup.feature_names)
    ]
    counts, sums = bin_sums(model, x, w, cols, edges, setup.transform, setup.keep, n_jobs)
    return setup.result(edges, counts, sums)


class Setup:
    """What an ALE call resolves before touching the rows: the features (names and positions
    in X), what the differences are taken of, and the result's layout."""

    def __init__(self, names, chosen, transform, keep, k_out):
        self.names, self.chosen = names, chosen
        self.transform, self.keep, self.k_out = transform, keep, k_out

    @classmethod
    def of(cls, model, names, features, feature_names, response_method):
        transform, keep = response(model, response_method)
        if feature_names is not None:
            given = [str(v) for v in np.asarray(feature_names, dtype=object).ravel()]
            if len(given) != len(names):
                raise InvalidInputError(
                    f"feature_names must name each of X's {len(names)} columns, got {len(given)}"
                )
            names = given
        chosen = resolve_features(features, names)
        if len(chosen) > 2:
            raise InvalidInputError(
                f"ALE is defined for one feature or a pair of features, got {len(chosen)}; "
                "call ale once per feature"
            )
        k_out = model.n_outputs if keep is None else len(keep)
        return cls(names, chosen, transform, keep, k_out)

    @property
    def feature_names(self) -> list[str]:
        return [self.names[i] for i in self.chosen]

    def grids(self, grid) -> list:
        """One grid specification per feature."""
        if isinstance(grid, str) or grid is None:
            return [grid] * len(self.chosen)
        grids = list(grid)
        if len(self.chosen) == 1 and all(np.ndim(g) == 0 for g in grids):
            grids = [grids]
        if len(grids) != len(self.chosen):
            raise InvalidInputError(
                f"grid must hold one array of bin edges per feature ({len(self.chosen)}), got "
                f"{len(grids)}"
            )
        return grids

    def present(self, x, w, cols, *, required: bool = True):
        """The rows with a positive weight and a value of every feature (refusing infinite
        ones); when ``required``, refuses none."""
        present = (w > 0) & np.all(~np.isnan(x[:, cols]), axis=1)
        if required and not present.any():
            raise InvalidInputError(
                f"no row has a value (not NaN) of {self.feature_names} with a positive weight"
            )
        if not present.all():
            x, w = x[present], w[present]
        for c, name in zip(cols, self.feature_names):
            if not np.all(np.isfinite(x[:, c])):
                raise InvalidInputError(
                    f"feature {name!r} holds infinite values; ALE's bins need finite values: "
                    "drop or clip those rows"
                )
        return x, w

    def result(self, edges, counts, sums) -> ALEResult:
        """The centred ALE from the bins' (cells') weights and weighted difference sums."""
        shape = tuple(max(e.size - 1, 0) for e in edges)
        if any(e.size == 1 for e in edges):
            # A single value: no bin, no effect.
            average = np.zeros((self.k_out, *(e.size for e in edges)))
            counts = np.zeros(shape)
        elif len(edges) == 1:
            average = _first_order(counts, sums)
        else:
            average = _second_order(edges, counts.reshape(shape), sums.reshape(*shape, -1))
            counts = counts.reshape(shape)
        return ALEResult(
            grid_values=edges, average=average, counts=counts, features=self.feature_names
        )


def bin_sums(model, x, w, cols, edges, transform, keep, n_jobs):
    """``(weights, sums)`` per bin (cell, row-major): the rows' weights and the weighted sums of
    their first (second) differences, per output. Additive over rows: a Dask collection's
    blocks are summed."""
    k_out = model.n_outputs if keep is None else len(keep)
    shape = tuple(max(e.size - 1, 0) for e in edges)
    cells = int(np.prod(shape))
    if x.shape[0] == 0 or any(e.size == 1 for e in edges):
        return np.zeros(cells), np.zeros((cells, k_out))
    bins = [_bins(x[:, c], e) for c, e in zip(cols, edges)]
    signs = [-1.0, 1.0] if len(cols) == 1 else [1.0, -1.0, -1.0, 1.0]
    delta = _corner_differences(
        model, x, list(zip(cols, edges, bins)), signs, transform, keep, n_jobs
    )
    cell = bins[0] if len(bins) == 1 else bins[0] * shape[1] + bins[1]
    counts = np.bincount(cell, weights=w, minlength=cells)
    sums = np.stack(
        [np.bincount(cell, weights=w * delta[:, o], minlength=cells) for o in range(k_out)],
        axis=1,
    )
    return counts, sums


def _corner_differences(model, x, binned, signs, transform, keep, n_jobs):
    """Per row, ``sum_c signs[c] r(x with its bin's corner c)``, corners in the core's order
    (one feature: lo, hi; two: (lo, lo), (lo, hi), (hi, lo), (hi, hi)). The core sums only the
    trees that split between a bin's edges; the others cancel exactly. A nonlinear response
    needs whole margins: the row's own, with the relevant trees' part swapped for each
    corner's."""
    columns = [c for c, _, _ in binned]
    edges = [np.ascontiguousarray(e, dtype=np.float64) for _, e, _ in binned]
    bins = [np.ascontiguousarray(b, dtype=np.int64) for _, _, b in binned]
    sums = _core.ale_corner_sums(
        model.forest, x, columns, edges, bins, reference=transform is not None, n_jobs=n_jobs
    )
    if transform is None:
        diff = sum(sign * sums[:, c] for c, sign in enumerate(signs))
    else:
        base = model.forest.predict(x, n_jobs=n_jobs) - sums[:, -1]
        diff = sum(sign * transform(base + sums[:, c]) for c, sign in enumerate(signs))
    return diff if keep is None else diff[:, keep]


def _first_order(counts, sums):
    """Bin means accumulated from the lowest edge, centred (PyALE / alibi):
    ``(n_outputs, n_edges)``. Every bin holds a row: quantile edges are values of the column,
    given edges are merged."""
    means = sums / counts[:, None]
    accumulated = np.vstack([np.zeros((1, means.shape[1])), np.cumsum(means, axis=0)])
    centre = (0.5 * (accumulated[:-1] + accumulated[1:]) * counts[:, None]).sum(
        axis=0
    ) / counts.sum()
    return (accumulated - centre).T


def _second_order(edges, counts, sums):
    """PyALE's second-order surface from the cells' weights ``(k0, k1)`` and sums
    ``(k0, k1, k)``: ``(n_outputs, n_edges_0, n_edges_1)``."""
    e0, e1 = edges
    k0, k1, k = sums.shape
    filled = counts.ravel() > 0
    means = np.zeros((k0 * k1, k))
    means[filled] = sums.reshape(-1, k)[filled] / counts.ravel()[filled, None]
    if not filled.all():
        # ALEPlot's imputation: an empty cell takes the nearest non-empty cell's mean, by the
        # cells' centres scaled by each feature's range.
        centre0 = (e0[:-1] + e0[1:]) / (2 * (e0[-1] - e0[0]))
        centre1 = (e1[:-1] + e1[1:]) / (2 * (e1[-1] - e1[0]))
        cx, cy = np.repeat(centre0, k1), np.tile(centre1, k0)
        full = np.flatnonzero(filled)
        for e in np.flatnonzero(~filled):
            nearest = full[np.argmin((cx[full] - cx[e]) ** 2 + (cy[full] - cy[e]) ** 2)]
            means[e] = means[nearest]
    means = means.reshape(k0, k1, k)
    # Accumulated over both axes, with a zero row and column at the lowest edges.
    acc = np.zeros((k0 + 1, k1 + 1, k))
    acc[1:, 1:] = np.cumsum(np.cumsum(means, axis=0), axis=1)
    # Each feature's first-order part of the accumulated surface, removed.
    d0 = acc[1:, :] - acc[:-1, :]  # (k0, k1 + 1): along feature 0
    d1 = acc[:, 1:] - acc[:, :-1]  # (k0 + 1, k1): along feature 1
    n0, n1 = counts.sum(axis=1), counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        step0 = (counts[:, :, None] * (d0[:, :-1] + d0[:, 1:]) / 2).sum(axis=1) / n0[:, None]
        step1 = (counts[:, :, None] * (d1[:-1, :] + d1[1:, :]) / 2).sum(axis=0) / n1[:, None]
    f0 = np.vstack([np.zeros((1, k)), np.cumsum(np.nan_to_num(step0), axis=0)])
    f1 = np.vstack([np.zeros((1, k)), np.cumsum(np.nan_to_num(step1), axis=0)])
    acc = acc - f0[:, None, :] - f1[None, :, :]
    corners = (acc[:-1, :-1] + acc[1:, 1:] + acc[:-1, 1:] + acc[1:, :-1]) / 4
    centre = (counts[:, :, None] * corners).sum(axis=(0, 1)) / counts.sum()
    return np.moveaxis(acc - centre, -1, 0)
