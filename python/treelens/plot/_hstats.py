"""Bar charts of H statistics, as R's hstats draws them."""

from __future__ import annotations

import numpy as np

from ._common import (
    bars_figsize,
    check_top_k,
    new_axes,
    output_index,
    output_label,
    pyplot,
    ranked_positions,
)

_KINDS = ("overall", "pairwise", "threeway")


def _statistics(hs, kind: str, normalize: bool, squared: bool):
    """``(labels, values (m, k))`` of every computed statistic of ``kind``."""
    k = int(hs.n_outputs)
    names = list(hs.features)
    if kind == "overall":
        values = np.asarray(hs.h2_overall(normalize=normalize, squared=squared), dtype=np.float64)
        return names, values.reshape(len(names), k)
    if kind == "pairwise":
        pw = np.asarray(hs.h2_pairwise(normalize=normalize, squared=squared), dtype=np.float64)
        pw = pw.reshape(len(names), len(names), k)
        labels, values = [], []
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                v = pw[a, b]
                if np.all(np.isnan(v)):
                    continue  # the pair was not computed
                labels.append(f"{names[a]}:{names[b]}")
                values.append(v)
        if not labels:
            raise ValueError(
                "no pairwise statistics were computed: pass pairwise_m >= 2 to tl.hstats (and "
                "check that some feature has a positive overall statistic)"
            )
        return labels, np.array(values).reshape(len(labels), k)
    triples = hs.h2_threeway(normalize=normalize, squared=squared)
    if not triples:
        raise ValueError("no three-way statistics were computed: pass threeway_m >= 3 to tl.hstats")
    labels = [":".join(map(str, key)) for key in triples]
    values = np.array([np.atleast_1d(v) for v in triples.values()], dtype=np.float64)
    return labels, values.reshape(len(labels), k)


def hstats(
    hs,
    *,
    kind: str = "overall",
    top_k: int = 15,
    normalize: bool = True,
    squared: bool = True,
    output=None,
    ax=None,
):
    """Sorted horizontal bars of H statistics, largest on top (as R's ``plot.hstats``).

    Parameters
    ----------
    hs : HStats
        The result of :func:`treelens.hstats`.
    kind : {"overall", "pairwise", "threeway"}
        Which statistic: ``H^2_j`` per feature, ``H^2_jk`` per computed pair (labelled
        ``"a:b"``; pairs left uncomputed are skipped) or ``H^2_jkl`` per computed triple
        (``"a:b:c"``).
    top_k : int
        Bars shown: the ``top_k`` largest statistics (by their sum over outputs).
    normalize, squared : bool
        As in :meth:`HStats.h2_overall`: ``normalize=False`` draws the numerators,
        ``squared=False`` the square roots.
    output : int, optional
        For a multi-output model, the output to draw; by default one bar per output, grouped
        by statistic, with a legend.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: one bar per statistic (per output), tick labels the features.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    top_k = check_top_k(top_k)
    pyplot()
    labels, values = _statistics(hs, kind, bool(normalize), bool(squared))
    k = values.shape[1]
    outputs = list(range(k))
    if output is not None:
        outputs = [output_index(output, k)]
        values = values[:, outputs]
    order = np.argsort(-np.nansum(values, axis=1), kind="stable")[:top_k]
    labels = [labels[i] for i in order]
    values = values[order]
    ax = new_axes(ax, bars_figsize(len(labels) * max(1, len(outputs) // 2 + 1)))
    y = ranked_positions(len(labels))
    if len(outputs) == 1:
        ax.barh(y, values[:, 0], height=0.7, color="C0")
    else:
        height = 0.8 / len(outputs)
        for i, o in enumerate(outputs):
            offset = (len(outputs) - 1) / 2 * height - i * height
            ax.barh(y + offset, values[:, i], height=height, label=output_label(o), color=f"C{i}")
        ax.legend(loc="lower right")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    statistic = "$H^2$" if squared else "$H$"
    if not normalize:
        statistic = f"numerator of {statistic}"
    ax.set_xlabel(statistic)
    title = {"overall": "Overall", "pairwise": "Pairwise", "threeway": "Three-way"}[kind]
    suffix = f" ({output_label(outputs[0])})" if output is not None and k > 1 else ""
    ax.set_title(f"{title} {statistic}{suffix}")
    ax.set_xlim(left=0)
    ax.margins(y=0.02)
    return ax
