"""Main effects of a functional decomposition, one panel per feature."""

from __future__ import annotations

import math

import numpy as np

from ._common import (
    check_top_k,
    feature_labels,
    numeric,
    output_index,
    pyplot,
    resolve_feature,
)


def decomposition(dec, *, features=None, output=0, top_k: int = 9, ax=None):
    """Main effects ``m_j(x_j)`` against ``x_j``, one panel per feature.

    Parameters
    ----------
    dec : Decomposition
        The result of :func:`treelens.decompose`: ``main`` of shape ``(n, p)`` or
        ``(n, p, k)``, ``data`` (the explained rows, ``(n, p)``, same column order) and
        ``feature_names``.
    features : sequence of str or int, optional
        The features drawn (names or column indices), in this order; by default the
        ``top_k`` features whose main effects vary most over the rows (largest variance).
    output : int
        The output drawn, for a multi-output model.
    top_k : int
        Panels drawn when ``features`` is None.
    ax : matplotlib Axes or array of Axes, optional
        Where to draw: one Axes for one feature, or as many Axes as features (any shape,
        read in order). When None, a new figure with a grid of panels (up to 3 across,
        sharing the y axis).

    Returns
    -------
    matplotlib.axes.Axes or ndarray of Axes
        For one feature, its Axes; for several, a 1-D array of Axes, one per feature in the
        order drawn (unused panels of a new grid are hidden). Each panel shows the rows' main
        effect against the feature's value (points joined in order of the value), the
        feature's name on its x axis.
    """
    top_k = check_top_k(top_k)
    plt = pyplot()
    main = np.asarray(dec.main, dtype=np.float64)
    if main.ndim not in (2, 3):
        raise ValueError(f"main effects must be (n, p) or (n, p, k), got shape {main.shape}")
    if main.ndim == 2:
        main = main[..., None]
    n, p, k = main.shape
    o = output_index(output, k)
    main = main[:, :, o]
    names = feature_labels(getattr(dec, "feature_names", None), p)
    data = getattr(dec, "data", None)
    if data is None:
        raise ValueError("the decomposition holds no data: the feature values to draw against")
    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    data = np.asarray(data)
    if data.shape != (n, p):
        raise ValueError(f"data has shape {data.shape}, the main effects ({n}, {p})")
    if features is None:
        variance = np.var(main, axis=0)
        chosen = list(np.argsort(-variance, kind="stable")[:top_k])
    else:
        if isinstance(features, (str, int, np.integer)):
            features = [features]
        chosen = [resolve_feature(f, names) for f in features]
    m = len(chosen)
    if ax is None:
        ncols = min(3, m)
        nrows = math.ceil(m / ncols)
        fig, grid = plt.subplots(
            nrows,
            ncols,
            figsize=(3.6 * ncols, 3.0 * nrows),
            sharey=True,
            squeeze=False,
            layout="constrained",
        )
        axes = grid.ravel()
        for extra in axes[m:]:
            extra.set_visible(False)
        axes = axes[:m]
        fig.suptitle("Main effects" + (f" (output {o})" if k > 1 else ""))
    else:
        axes = np.ravel(np.asarray(ax, dtype=object))
        if axes.size < m:
            raise ValueError(f"{axes.size} Axes given for {m} features")
        axes = axes[:m]
    for a, j in zip(axes, chosen):
        x = numeric(data[:, j])
        if x is None:
            raise ValueError(f"feature {names[j]!r} is not numeric")
        order = np.argsort(x, kind="stable")
        a.plot(x[order], main[order, j], color="C0", lw=1.2, marker=".", ms=4)
        a.axhline(0.0, color="grey", lw=0.8, ls=":")
        a.set_xlabel(names[j])
        a.set_ylabel(f"main effect of {names[j]}")
    if ax is None and m > 1:
        for a in axes:
            if a.get_subplotspec() is not None and not a.get_subplotspec().is_first_col():
                a.set_ylabel("")
    return axes[0] if m == 1 else axes
