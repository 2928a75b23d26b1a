"""What every plot shares: matplotlib imported on first use, the axes to draw on, names, outputs
and the colour scale of feature values."""

from __future__ import annotations

import numpy as np

INSTALL_HINT = "pip install 'treelens[plot]'"

#: shap's colours for positive and negative contributions (used by the waterfall).
POSITIVE = "#ff0051"
NEGATIVE = "#008bfb"

#: The colour map of feature values (blue: low, red: high), as shap's red-blue scale.
VALUE_CMAP = "coolwarm"


def pyplot():
    """``matplotlib.pyplot``, imported now; a clear ImportError when matplotlib is missing.

    The backend is never set here: pyplot picks the user's (or ``MPLBACKEND``)."""
    try:
        import matplotlib  # noqa: F401
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            f"treelens' plots need matplotlib, which is not installed: {INSTALL_HINT}"
        ) from e
    return plt


def new_axes(ax, figsize=(6.4, 4.8)):
    """``ax`` itself, or the axes of a new figure of ``figsize`` when ``ax`` is None."""
    plt = pyplot()
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def bars_figsize(n_bars: int, width: float = 6.4) -> tuple[float, float]:
    """A figure size that keeps ``n_bars`` horizontal rows readable."""
    return (width, float(np.clip(1.0 + 0.32 * n_bars, 3.0, 16.0)))


def get(result, key: str, default=None):
    """``result[key]`` for a dict-like result, else ``result.key``; ``default`` when absent."""
    if isinstance(result, dict):
        return result.get(key, default)
    return getattr(result, key, default)


def feature_names(result, n_features: int) -> list[str]:
    """The names in a result's ``features`` key, x0, x1, ... when absent."""
    names = get(result, "features")
    if names is None:
        return [f"x{j}" for j in range(n_features)]
    return [str(v) for v in names]


def feature_labels(names, p: int) -> list[str]:
    """``names`` as strings (checked: one per column), or x0, x1, ... when None."""
    if names is None:
        return [f"x{j}" for j in range(p)]
    out = [str(v) for v in list(names)]
    if len(out) != p:
        raise ValueError(f"{len(out)} feature names for {p} features")
    return out


def check_top_k(top_k) -> int:
    """``top_k`` checked: a positive int."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    return int(top_k)


def output_index(output, n_outputs: int, names=None) -> int:
    """The position of ``output`` (an int, negative ones counted from the end, or one of
    ``names``) among ``n_outputs`` outputs."""
    if names is not None and not isinstance(output, (int, np.integer)):
        listed = list(names)
        if output in listed:
            return listed.index(output)
    if isinstance(output, bool) or not isinstance(output, (int, np.integer)):
        known = "" if names is None else f" or one of {list(names)}"
        raise ValueError(f"output must be an int{known}, got {output!r}")
    if not -n_outputs <= output < n_outputs:
        raise ValueError(f"output={output} is out of range for {n_outputs} output(s)")
    return int(output) % n_outputs


def output_label(index: int, names=None) -> str:
    """How an output is named in titles and legends."""
    if names is not None:
        return str(list(names)[index])
    return f"output {index}"


def resolve_feature(feature, names: list[str]) -> int:
    """The column of ``feature``: a name in ``names`` or an index."""
    if isinstance(feature, str):
        if feature not in names:
            raise ValueError(f"unknown feature {feature!r}; the features are {names[:20]}")
        return names.index(feature)
    if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
        raise ValueError(f"a feature is a name or a column index, got {feature!r}")
    if not -len(names) <= feature < len(names):
        raise ValueError(f"feature index {feature} is out of range for {len(names)} features")
    return int(feature) % len(names)


def numeric(values) -> np.ndarray | None:
    """``values`` as float64, or None when they are not numbers (text, mixed objects)."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def value_colors(values, cmap=VALUE_CMAP):
    """``(rgba, norm)``: colours of one feature's values on a red-blue scale normalised
    between its 5th and 95th percentiles (shap's scale, robust to outliers); grey for missing
    or non-numeric values."""
    import matplotlib as mpl
    from matplotlib.colors import Normalize

    x = numeric(values)
    n = np.shape(values)[0]
    grey = np.tile(np.array([[0.6, 0.6, 0.6, 1.0]]), (n, 1))
    if x is None:
        return grey, None
    present = np.isfinite(x)
    if not present.any():
        return grey, None
    lo, hi = np.nanpercentile(x[present], [5, 95])
    if hi <= lo:
        lo, hi = np.min(x[present]), np.max(x[present])
    if hi <= lo:
        hi = lo + 1.0
    norm = Normalize(vmin=lo, vmax=hi, clip=True)
    colors = grey.copy()
    colors[present] = mpl.colormaps[cmap](norm(x[present]))
    return colors, norm


def rug(ax, positions, *, height: float = 0.04, color="k", alpha: float = 0.5, max_ticks=2000):
    """Tick marks at ``positions`` along the bottom of ``ax`` (a LineCollection, so it adds no
    line to ``ax.lines``); at most ``max_ticks`` of them (quantiles beyond that)."""
    x = numeric(positions)
    if x is None:
        return None
    x = np.unique(x[np.isfinite(x)])
    if x.size == 0:
        return None
    if x.size > max_ticks:
        x = np.quantile(x, np.linspace(0, 1, max_ticks))
    return ax.vlines(
        x, 0.0, height, transform=ax.get_xaxis_transform(), colors=color, alpha=alpha, lw=0.8
    )


def sorted_grid(values) -> tuple[np.ndarray, np.ndarray]:
    """``(order, sorted values)`` of a 1-D grid."""
    g = np.asarray(values, dtype=np.float64)
    order = np.argsort(g, kind="stable")
    return order, g[order]


def heatmap(ax, x, y, z, *, xlabel: str, ylabel: str, label: str, cmap="viridis"):
    """``z`` of shape ``(len(x), len(y))`` drawn as a colour mesh over the grid (x across, y
    up; each grid sorted), with a colorbar labelled ``label``."""
    ox, xs = sorted_grid(x)
    oy, ys = sorted_grid(y)
    z = np.asarray(z, dtype=np.float64)[np.ix_(ox, oy)]
    mesh = ax.pcolormesh(xs, ys, z.T, shading="nearest", cmap=cmap)
    cbar = ax.figure.colorbar(mesh, ax=ax)
    cbar.set_label(label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return mesh


def ranked_positions(n: int) -> np.ndarray:
    """y positions of ``n`` horizontal rows, the first (largest) at the top."""
    return np.arange(n)[::-1].astype(np.float64)
