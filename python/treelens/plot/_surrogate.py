"""The tree of a global surrogate model."""

from __future__ import annotations

from ._common import new_axes, pyplot


def surrogate(s, *, ax=None, **plot_tree_kwargs):
    """The surrogate's decision tree, drawn by ``sklearn.tree.plot_tree``, titled with its
    fidelity.

    Parameters
    ----------
    s : Surrogate
        The result of :func:`treelens.surrogate`: ``tree`` (a fitted scikit-learn decision
        tree), ``feature_names``, ``fidelity_train``, ``fidelity_test`` and ``metric``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure sized to the tree when None.
    **plot_tree_kwargs
        Passed to ``sklearn.tree.plot_tree`` (defaults: ``filled=True``, ``rounded=True``,
        ``impurity=False``, ``precision=3``, the surrogate's feature names, and the classes
        of a classification tree).

    Returns
    -------
    matplotlib.axes.Axes
        The axes holding the tree (one annotation per node), titled with the fidelity.
    """
    pyplot()
    try:
        from sklearn.tree import plot_tree
    except ImportError as e:  # pragma: no cover - surrogates need scikit-learn anyway
        raise ImportError("plotting a surrogate tree needs scikit-learn") from e
    tree = s.tree
    if ax is None:
        leaves = tree.get_n_leaves()
        depth = tree.get_depth()
        ax = new_axes(None, (min(3.0 + 1.6 * leaves, 24.0), min(2.0 + 1.4 * depth, 14.0)))
    names = getattr(s, "feature_names", None)
    options = dict(filled=True, rounded=True, impurity=False, precision=3, ax=ax)
    if names is not None:
        options["feature_names"] = [str(v) for v in names]
    classes = getattr(tree, "classes_", None)
    if classes is not None:
        options["class_names"] = [str(c) for c in classes]
    options.update(plot_tree_kwargs)
    plot_tree(tree, **options)
    ax.set_title(_title(s))
    return ax


def _title(s) -> str:
    metric = getattr(s, "metric", None) or "fidelity"
    parts = []
    for label, attr in (("train", "fidelity_train"), ("test", "fidelity_test")):
        value = getattr(s, attr, None)
        if value is not None:
            parts.append(f"{label} {float(value):.3f}")
    return f"Surrogate tree: fidelity ({metric}) " + ", ".join(parts) if parts else "Surrogate tree"
