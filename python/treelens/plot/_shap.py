"""SHAP summaries drawn from an Explanation, without shap: bars, beeswarm, dependence and
waterfall."""

from __future__ import annotations

import numpy as np

from ._common import (
    NEGATIVE,
    POSITIVE,
    VALUE_CMAP,
    bars_figsize,
    check_top_k,
    feature_labels,
    new_axes,
    numeric,
    output_index,
    output_label,
    pyplot,
    ranked_positions,
    resolve_feature,
    value_colors,
)


class _Parts:
    """An explanation's arrays with a row axis and an output axis always present:
    ``values (n, p, k)``, ``base (n, k)``, ``data (n, p)`` or None, feature and output names,
    and whether it had several outputs."""

    def __init__(self, ex):
        values = np.asarray(ex.values, dtype=np.float64)
        base = np.asarray(ex.base_values, dtype=np.float64)
        self.output_names = getattr(ex, "output_names", None)
        data = getattr(ex, "data", None)
        axes = _axes(values, base, data, self.output_names)
        if axes.count("features") != 1:
            raise ValueError(
                "these are SHAP interaction values (two feature axes): plot SHAP values, or "
                "sum the interaction values over one feature axis"
            )
        rows = "rows" in axes
        self.multi = "outputs" in axes
        if not rows:
            values = values[None]
            base = base[None]
        if not self.multi:
            values = values[..., None]
            base = base[..., None]
        self.values = values
        self.base = np.broadcast_to(base.reshape(base.shape[0], -1), values[:, 0, :].shape)
        n, p, k = values.shape
        if data is not None:
            if hasattr(data, "toarray") and hasattr(data, "nnz"):  # scipy sparse
                data = data.toarray()
            data = np.asarray(data)
            data = data.reshape(n, p) if data.size == n * p else None
        self.data = data
        self.names = feature_labels(getattr(ex, "feature_names", None), p)
        if self.output_names is not None and np.ndim(self.output_names) == 0:
            self.output_names = None  # one output picked by name
        if self.output_names is not None and len(list(self.output_names)) != k:
            self.output_names = None
        self.has_rows = rows

    @property
    def k(self) -> int:
        return self.values.shape[2]

    def output(self, output) -> int:
        return output_index(output, self.k, self.output_names)

    def label(self, o: int) -> str:
        return output_label(o, self.output_names)

    def ylabel_suffix(self, o: int) -> str:
        return f" ({self.label(o)})" if self.multi else ""


def _axes(values: np.ndarray, base: np.ndarray, data, output_names) -> list[str]:
    """What each axis of ``values`` is (``"rows"``, ``"features"``, ``"outputs"``), from the
    base values, which have the row and output axes only: there are rows when the data are a
    matrix (or, without data, when the base values' first axis is not the outputs)."""
    data_ndim = None if data is None else getattr(data, "ndim", np.ndim(data))
    if data_ndim in (1, 2):
        rows = data_ndim == 2
    elif base.ndim == 0:
        rows = False
    elif base.ndim == 2:
        rows = True
    else:
        names = None if output_names is None or np.ndim(output_names) == 0 else output_names
        rows = names is None or len(list(names)) != base.shape[0]
    outputs = base.ndim - int(rows)
    features = values.ndim - int(rows) - outputs
    return ["rows"] * int(rows) + ["features"] * features + ["outputs"] * outputs


def _needs_rows(parts: _Parts, what: str) -> None:
    if not parts.has_rows:
        raise ValueError(f"{what} summarises many rows; this explanation is of one row")


def shap_bar(ex, *, top_k: int = 20, output=None, ax=None):
    """The mean absolute SHAP value of each feature, as sorted horizontal bars.

    Parameters
    ----------
    ex : Explanation
        SHAP values of some rows (``treelens.TreeExplainer(model)(X)``).
    top_k : int
        Bars shown: the ``top_k`` features of largest mean ``|SHAP value|`` (summed over the
        outputs drawn), the largest on top.
    output : int or output name, optional
        For a multi-output model, the output drawn; by default every output, stacked (one
        bar segment per output, with a legend).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One bar per feature shown (per output when stacked), tick labels the features'
        names.
    """
    top_k = check_top_k(top_k)
    pyplot()
    parts = _Parts(ex)
    _needs_rows(parts, "shap_bar")
    mean_abs = np.mean(np.abs(parts.values), axis=0)  # (p, k)
    outputs = list(range(parts.k)) if output is None else [parts.output(output)]
    mean_abs = mean_abs[:, outputs]
    order = np.argsort(-mean_abs.sum(axis=1), kind="stable")[:top_k]
    ax = new_axes(ax, bars_figsize(len(order)))
    y = ranked_positions(len(order))
    left = np.zeros(len(order))
    for i, o in enumerate(outputs):
        width = mean_abs[order, i]
        stacked = len(outputs) > 1
        label = parts.label(o) if stacked else None
        color = f"C{i}" if stacked else NEGATIVE
        bars = ax.barh(y, width, left=left, height=0.7, color=color, label=label)
        left = left + width
    if len(outputs) > 1:
        ax.legend(loc="lower right", title="output")
    else:
        ax.bar_label(bars, fmt="%.3g", padding=3, fontsize="small")
    ax.set_yticks(y)
    ax.set_yticklabels([parts.names[j] for j in order])
    ax.set_xlabel("mean(|SHAP value|)")
    if len(outputs) == 1 and parts.multi:
        ax.set_title(parts.label(outputs[0]))
    ax.margins(x=0.12)
    return ax


def _swarm_offsets(x: np.ndarray, nbins: int = 100) -> np.ndarray:
    """Vertical offsets in [-0.4, 0.4] piling points of nearly equal ``x`` up and down
    alternately, so that a row of points is as thick as its density (shap's beeswarm)."""
    n = x.size
    finite = np.where(np.isfinite(x), x, np.nanmin(x) if np.isfinite(x).any() else 0.0)
    lo, hi = finite.min(), finite.max()
    quant = np.round(nbins * (finite - lo) / (hi - lo + 1e-8)).astype(np.int64)
    order = np.lexsort((np.arange(n), quant))
    sorted_bins = quant[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_bins)) + 1]
    layer = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    offsets = np.empty(n)
    offsets[order] = np.ceil(layer / 2) * np.where(layer % 2 == 1, 1.0, -1.0)
    peak = np.abs(offsets).max()
    return offsets * (0.4 / peak) if peak > 0 else offsets


def _value_colorbar(ax, label: str = "Feature value"):
    """A colorbar of the feature-value scale, ticked Low and High."""
    import matplotlib as mpl
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(norm=Normalize(0, 1), cmap=mpl.colormaps[VALUE_CMAP])
    cbar = ax.figure.colorbar(mappable, ax=ax, ticks=[0, 1], aspect=40, pad=0.02)
    cbar.set_ticklabels(["Low", "High"])
    cbar.set_label(label)
    cbar.outline.set_visible(False)
    return cbar


def beeswarm(ex, *, top_k: int = 20, output=0, ax=None):
    """One row of points per feature: each row's SHAP value, spread vertically by density and
    coloured by the feature's value (shap's beeswarm summary).

    Parameters
    ----------
    ex : Explanation
        SHAP values of some rows (``treelens.TreeExplainer(model)(X)``); the colours need its
        ``data``.
    top_k : int
        Rows of points shown: the ``top_k`` features of largest mean ``|SHAP value|``, the
        largest on top.
    output : int or output name
        The output drawn, for a multi-output model.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One scatter collection per feature shown (one point per explained row), tick labels
        the features' names, and a colorbar "Feature value" (each feature's values scaled
        between its 5th and 95th percentiles; grey where missing or not numeric).
    """
    top_k = check_top_k(top_k)
    pyplot()
    parts = _Parts(ex)
    _needs_rows(parts, "beeswarm")
    o = parts.output(output)
    values = parts.values[:, :, o]
    n = values.shape[0]
    order = np.argsort(-np.mean(np.abs(values), axis=0), kind="stable")[:top_k]
    ax = new_axes(ax, bars_figsize(len(order), width=7.5))
    y = ranked_positions(len(order))
    ax.axvline(0.0, color="grey", lw=0.8, zorder=0)
    for row, j in zip(y, order):
        x = values[:, j]
        if parts.data is not None:
            colors, _ = value_colors(parts.data[:, j])
        else:
            colors = np.tile(np.array([[0.6, 0.6, 0.6, 1.0]]), (n, 1))
        ax.scatter(
            x,
            row + _swarm_offsets(x),
            c=colors,
            s=12,
            linewidths=0,
            alpha=0.85,
            rasterized=n > 500,
            zorder=2,
        )
    ax.set_yticks(y)
    ax.set_yticklabels([parts.names[j] for j in order])
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel("SHAP value (impact on model output)" + parts.ylabel_suffix(o))
    if parts.data is not None:
        _value_colorbar(ax)
    return ax


def approximate_interaction(
    data: np.ndarray, values: np.ndarray, j: int, n_chunks: int = 10
) -> int | None:
    """The feature whose values best explain the spread of feature ``j``'s SHAP values at
    equal ``x_j`` (the idea of shap's ``approximate_interactions``, written anew).

    Parameters
    ----------
    data : ndarray of shape (n, p)
        The explained rows.
    values : ndarray of shape (n,)
        Feature ``j``'s SHAP values.
    j : int
        The feature.
    n_chunks : int
        Rows sorted by ``x_j`` are cut into about this many chunks (of 2 to 50 rows); each
        other feature scores the sum over chunks of ``|corr(SHAP_j, x_other)|`` within them.

    Returns
    -------
    int or None
        The column of the best-scoring feature; None when none scores above 0.
    """
    n, p = data.shape
    x = numeric(data[:, j])
    if x is None or p < 2:
        return None
    order = np.argsort(np.where(np.isfinite(x), x, np.inf), kind="stable")
    size = max(min(n // n_chunks, 50), 2)
    starts = range(0, n - 1, size)
    phi = values[order]
    best, best_score = None, 0.0
    for other in range(p):
        if other == j:
            continue
        z = numeric(data[order, other])
        if z is None:
            continue
        score = 0.0
        for s in starts:
            a, b = phi[s : s + size], z[s : s + size]
            keep = np.isfinite(b)
            a, b = a[keep], b[keep]
            if a.size > 1 and np.std(a) > 0 and np.std(b) > 0:
                score += abs(np.corrcoef(a, b)[0, 1])
        if score > best_score:
            best, best_score = other, score
    return best


def dependence(ex, feature, *, interaction_index="auto", output=0, ax=None):
    """A feature's SHAP value against its value, one point per row, coloured by the feature
    it interacts with most.

    Parameters
    ----------
    ex : Explanation
        SHAP values of some rows, with their ``data``.
    feature : str or int
        The feature drawn: a name or a column index.
    interaction_index : "auto", str, int or None
        The feature whose values colour the points: ``"auto"`` picks the one that best
        explains the vertical spread (the largest summed ``|correlation|`` with the SHAP
        values within bins of rows sorted by the feature, as shap's
        ``approximate_interactions``); a name or index picks it; None colours nothing.
    output : int or output name
        The output drawn, for a multi-output model.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One scatter collection (one point per row): the feature's name on the x axis, "SHAP
        value for <name>" on the y axis, and a colorbar named after the colouring feature.
    """
    pyplot()
    parts = _Parts(ex)
    _needs_rows(parts, "dependence")
    if parts.data is None:
        raise ValueError("a dependence plot needs the explanation's data (the feature's values)")
    j = resolve_feature(feature, parts.names)
    o = parts.output(output)
    values = parts.values[:, :, o]
    x = numeric(parts.data[:, j])
    if x is None:
        raise ValueError(f"feature {parts.names[j]!r} is not numeric")
    if isinstance(interaction_index, str) and interaction_index == "auto":
        colour_by = approximate_interaction(parts.data, values[:, j], j)
    elif interaction_index is None:
        colour_by = None
    else:
        colour_by = resolve_feature(interaction_index, parts.names)
    ax = new_axes(ax, (6.4, 4.8))
    y = values[:, j]
    if colour_by is None:
        ax.scatter(x, y, s=14, color=NEGATIVE, linewidths=0, alpha=0.85)
    else:
        colors, norm = value_colors(parts.data[:, colour_by])
        ax.scatter(x, y, s=14, c=colors, linewidths=0, alpha=0.85)
        if norm is not None:
            import matplotlib as mpl
            from matplotlib.cm import ScalarMappable

            mappable = ScalarMappable(norm=norm, cmap=mpl.colormaps[VALUE_CMAP])
            cbar = ax.figure.colorbar(mappable, ax=ax, aspect=40, pad=0.02)
            cbar.set_label(parts.names[colour_by])
            cbar.outline.set_visible(False)
    ax.axhline(0.0, color="grey", lw=0.8, ls=":", zorder=0)
    ax.set_xlabel(parts.names[j])
    ax.set_ylabel(f"SHAP value for {parts.names[j]}" + parts.ylabel_suffix(o))
    return ax


def waterfall(ex_row_or_ex, *, row: int = 0, output=0, top_k: int = 10, ax=None):
    """How one row's prediction is built from the base value, one feature at a time.

    Parameters
    ----------
    ex_row_or_ex : Explanation
        SHAP values of one row (``explanation[i]``) or of several (``row`` picks one).
    row : int
        The row drawn when the explanation has several.
    output : int or output name
        The output drawn, for a multi-output model.
    top_k : int
        Features drawn one by one: the ``top_k`` largest ``|SHAP value|``; the others are
        summed into one bar "N other features" (at the bottom).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One bar per feature drawn plus one for the others (``top_k + 1`` when there are more
        than ``top_k`` features), each from the running sum before it to the running sum
        after it: from the base value ``E[f(X)]`` at the bottom to the prediction ``f(x)`` at
        the top, both marked by dashed lines and annotated. Red bars raise the prediction,
        blue ones lower it; tick labels read ``name = value``.
    """
    top_k = check_top_k(top_k)
    pyplot()
    parts = _Parts(ex_row_or_ex)
    n = parts.values.shape[0]
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)) or not -n <= row < n:
        raise ValueError(f"row must be an int in range for {n} row(s), got {row!r}")
    o = parts.output(output)
    phi = parts.values[row, :, o]
    base = float(parts.base[row, o])
    fx = base + float(phi.sum())
    data = None if parts.data is None else parts.data[row]
    order = np.argsort(-np.abs(phi), kind="stable")
    shown, rest = order[:top_k], order[top_k:]
    labels, widths = [], []
    if rest.size:
        labels.append(f"{rest.size} other feature{'s' if rest.size > 1 else ''}")
        widths.append(float(phi[rest].sum()))
    for j in shown[::-1]:  # bottom to top: the smallest shown first
        name = parts.names[j]
        if data is not None:
            v = data[j]
            text = f"{v:.4g}" if isinstance(v, (float, np.floating, int, np.integer)) else str(v)
            name = f"{text} = {name}"
        labels.append(name)
        widths.append(float(phi[j]))
    widths = np.array(widths)
    starts = base + np.r_[0.0, np.cumsum(widths)[:-1]]
    ax = new_axes(ax, bars_figsize(len(widths) + 1, width=7.5))
    y = np.arange(len(widths), dtype=np.float64)
    colors = [POSITIVE if w >= 0 else NEGATIVE for w in widths]
    ax.barh(y, widths, left=starts, height=0.7, color=colors)
    span = max(np.max(np.abs(np.r_[starts, starts + widths] - base)), 1e-12)
    for yi, s, w in zip(y, starts, widths):
        end = s + w
        ax.text(
            end + (0.01 * span if w >= 0 else -0.01 * span),
            yi,
            f"{w:+.3g}",
            va="center",
            ha="left" if w >= 0 else "right",
            fontsize="small",
            color=POSITIVE if w >= 0 else NEGATIVE,
        )
    ax.axvline(base, color="grey", lw=0.8, ls="--")
    ax.axvline(fx, color="grey", lw=0.8, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_ylim(-1.2, len(widths) + 0.2)
    ax.text(base, -0.9, f"E[f(X)] = {base:.4g}", ha="center", va="center", fontsize="small")
    ax.text(fx, len(widths) - 0.1, f"f(x) = {fx:.4g}", ha="center", va="center", fontsize="small")
    ax.use_sticky_edges = False  # room for the annotations on both sides
    ax.margins(x=0.15)
    ax.set_xlabel("Model output" + parts.ylabel_suffix(o))
    return ax
