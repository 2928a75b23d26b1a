"""Partial dependence curves (with ICE curves) and heatmaps."""

from __future__ import annotations

import numpy as np

from ._common import feature_names, get, heatmap, new_axes, output_index, pyplot, sorted_grid
from ._common import rug as draw_rug


def _pick_rows(curves, max_ice: int, seed: int = 0) -> np.ndarray:
    """At most ``max_ice`` rows of the ICE curves ``(n, g)`` (a fixed random subset, in row
    order); of a lazy (dask) array only those rows are computed when its row count is known
    (all of them otherwise: a dask DataFrame's partitions have unknown lengths)."""
    n = curves.shape[0]
    if hasattr(curves, "compute") and not (isinstance(n, (int, np.integer)) and n > max_ice):
        curves = curves.compute()
        n = curves.shape[0]
    if n > max_ice:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_ice, replace=False))
        curves = curves[rows]
    if hasattr(curves, "compute"):
        curves = curves.compute()
    return np.asarray(curves, dtype=np.float64)


def _rug_values(rug_values, name: str):
    """The values of a feature to mark on the rug: a 1-D array, or a table holding its
    column."""
    if hasattr(rug_values, "columns") and name in list(rug_values.columns):
        rug_values = rug_values[name]
    if hasattr(rug_values, "to_numpy"):
        rug_values = rug_values.to_numpy()
    arr = np.asarray(rug_values)
    if arr.ndim != 1:
        raise ValueError(
            f"rug must be the 1-D values of feature {name!r} (or a DataFrame with that column), "
            f"got shape {arr.shape}"
        )
    return arr


def partial_dependence(result, *, output=0, ax=None, ice="auto", max_ice: int = 100, rug=None):
    """Partial dependence: a curve for one feature (with ICE curves), a heatmap for two.

    Parameters
    ----------
    result : Bunch
        The result of :func:`treelens.partial_dependence` (``grid_values``, ``average`` and/or
        ``individual``, ``features``).
    output : int
        The output drawn (the first axis of ``average``: a class of a multiclass model).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    ice : {"auto", True, False}
        One feature: draw the individual curves (thin lines) under the average; ``"auto"``
        draws them when the result holds them (``kind="individual"`` or ``"both"``).
    max_ice : int
        At most this many ICE curves are drawn (a fixed random subset of the rows).
    rug : array-like, DataFrame or False, optional
        One feature: tick marks along the x axis at these values of the feature (its column
        of the data, or a DataFrame holding the column); when None, the data's deciles (as
        scikit-learn's display marks them; the grid values for a Dask result); none when
        False.

    Returns
    -------
    matplotlib.axes.Axes
        One feature: the ICE lines (if any) then the average line, the feature's name on the
        x axis. Two features: a colour mesh of the average over the grid (first feature
        across, second up) with a colorbar.
    """
    pyplot()
    grid_values = [np.asarray(g) for g in get(result, "grid_values")]
    names = feature_names(result, len(grid_values))
    average = get(result, "average")
    individual = get(result, "individual")
    if average is None and individual is None:
        raise ValueError("the result holds neither 'average' nor 'individual'")
    n_outputs = (average if average is not None else individual).shape[0]
    o = output_index(output, n_outputs)
    ylabel = "Partial dependence" + (f" (output {o})" if n_outputs > 1 else "")
    if len(grid_values) == 1:
        if ice not in ("auto", True, False):
            raise ValueError(f"ice must be 'auto', True or False, got {ice!r}")
        if ice is True and individual is None:
            raise ValueError(
                "ice=True needs ICE curves: call partial_dependence with kind='individual' or "
                "'both'"
            )
        if isinstance(max_ice, bool) or not isinstance(max_ice, (int, np.integer)) or max_ice < 0:
            raise ValueError(f"max_ice must be a non-negative int, got {max_ice!r}")
        ax = new_axes(ax)
        order, x = sorted_grid(grid_values[0])
        draw_ice = individual is not None and ice is not False and max_ice > 0
        if draw_ice:
            curves = _pick_rows(individual[o], int(max_ice))[:, order]
            ax.plot(x, curves.T, color="C0", alpha=0.25, lw=0.6)
        if average is not None:
            pd_line = np.asarray(average[o], dtype=np.float64)[order]
            ax.plot(x, pd_line, color="C1", lw=2.5, label="average")
            if draw_ice:
                ax.legend(loc="best")
        if rug is not False:
            if rug is None:
                # The data's deciles when the result knows them (in memory), else the grid.
                deciles = getattr(result, "deciles", None)
                marks = grid_values[0] if deciles is None else deciles[0]
            else:
                marks = _rug_values(rug, names[0])
            draw_rug(ax, marks)
        ax.set_xlabel(names[0])
        ax.set_ylabel(ylabel)
        return ax
    if len(grid_values) != 2:
        raise ValueError(
            f"partial dependence plots draw one or two features; the result has {len(grid_values)}"
        )
    if average is None:
        raise ValueError(
            "a two-feature plot draws the average: call partial_dependence with "
            "kind='average' or 'both'"
        )
    ax = new_axes(ax)
    heatmap(
        ax,
        grid_values[0],
        grid_values[1],
        np.asarray(average[o], dtype=np.float64),
        xlabel=names[0],
        ylabel=names[1],
        label=ylabel,
    )
    return ax
