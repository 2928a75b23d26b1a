"""Accumulated local effects: curves and heatmaps."""

from __future__ import annotations

import numpy as np

from ._common import feature_names, get, heatmap, new_axes, output_index, pyplot, sorted_grid
from ._common import rug as draw_rug


def ale(result, *, output=0, ax=None):
    """Accumulated local effects: a curve through the bin edges for one feature, a heatmap
    for two.

    Parameters
    ----------
    result : Bunch
        The result of :func:`treelens.ale`: ``grid_values`` (the bin edges of each feature),
        ``average`` of shape ``(n_outputs, *edges_shape)`` (the effects at the edges),
        ``features`` (names) and optionally ``counts`` (rows per bin).
    output : int
        The output drawn (the first axis of ``average``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One feature: the effect at each edge joined by a line, with the edges marked along
        the x axis. Two features: a colour mesh of the effects over the edges with a
        colorbar.
    """
    pyplot()
    edges = [np.asarray(g) for g in get(result, "grid_values")]
    names = feature_names(result, len(edges))
    average = np.asarray(get(result, "average"), dtype=np.float64)
    n_outputs = average.shape[0]
    o = output_index(output, n_outputs)
    label = "Accumulated local effect" + (f" (output {o})" if n_outputs > 1 else "")
    ax = new_axes(ax)
    if len(edges) == 1:
        order, x = sorted_grid(edges[0])
        ax.plot(x, average[o][order], color="C0", lw=2, marker="o", ms=3)
        ax.axhline(0.0, color="grey", lw=0.8, ls=":")
        draw_rug(ax, edges[0], height=0.05, alpha=0.8)
        ax.set_xlabel(names[0])
        ax.set_ylabel(label)
        return ax
    if len(edges) != 2:
        raise ValueError(f"ALE plots draw one or two features; the result has {len(edges)}")
    heatmap(ax, edges[0], edges[1], average[o], xlabel=names[0], ylabel=names[1], label=label)
    return ax
