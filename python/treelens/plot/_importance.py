"""Box plots of permutation importances."""

from __future__ import annotations

import numpy as np

from ._common import (
    bars_figsize,
    check_top_k,
    feature_labels,
    get,
    new_axes,
    pyplot,
    ranked_positions,
)


def importance(result, *, feature_names=None, top_k: int = 20, ax=None):
    """Permutation importances as horizontal box plots of the repeats, largest mean on top.

    Parameters
    ----------
    result : Bunch
        One result of :func:`treelens.permutation_importance` (or scikit-learn's):
        ``importances`` of shape ``(n_features, n_repeats)`` and ``importances_mean``. For
        several scorers (a dict of results) pass one of them, e.g. ``result["r2"]``.
    feature_names : sequence of str, optional
        Labels of the rows of ``importances``; by default the names treelens stored on the
        result (``result.feature_names``: the input's column names or the model's), else x0,
        x1, ....
    top_k : int
        Boxes shown: the features with the ``top_k`` largest mean importances.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One box per feature shown (``ax.patches``), tick labels the features' names in order
        of decreasing mean importance from the top.
    """
    top_k = check_top_k(top_k)
    pyplot()
    if isinstance(result, dict) and "importances" not in result:
        raise ValueError(
            "this is a dict of results, one per scorer: plot one of them, e.g. "
            f"importance(result[{next(iter(result), 'name')!r}])"
        )
    importances = np.atleast_2d(np.asarray(get(result, "importances"), dtype=np.float64))
    p = importances.shape[0]
    mean = get(result, "importances_mean")
    mean = importances.mean(axis=1) if mean is None else np.asarray(mean, dtype=np.float64)
    if feature_names is None:
        feature_names = getattr(result, "feature_names", None)
    labels = feature_labels(feature_names, p)
    order = np.argsort(-mean, kind="stable")[:top_k]
    ax = new_axes(ax, bars_figsize(len(order)))
    y = ranked_positions(len(order))
    data = [importances[j] for j in order]
    options = dict(positions=y, widths=0.6, patch_artist=True, manage_ticks=False)
    try:
        parts = ax.boxplot(data, orientation="horizontal", **options)
    except TypeError:  # matplotlib < 3.10
        parts = ax.boxplot(data, vert=False, **options)
    for box in parts["boxes"]:
        box.set_facecolor("C0")
        box.set_alpha(0.6)
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels([labels[j] for j in order])
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel("Decrease in score")
    ax.set_title("Permutation importance")
    return ax
