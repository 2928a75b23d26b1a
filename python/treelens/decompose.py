"""The exact functional (fANOVA) decomposition of the interventional game.

For an explained row x and background rows z (weights w), let ``v_x(U) = E_z f(x_U, z_notU)``.
The components ``m_S(x) = sum_{U ⊆ S} (-1)^{|S|-|U|} v_x(U)`` (Hiabu, Meyer & Wright 2023; the
R package glex) split the prediction into an intercept, main effects and interactions of every
order; summed over all sets they give ``f(x)``, and the interventional SHAP value of feature j is
``sum_{S ∋ j} m_S(x) / |S|``. treelens computes them exactly from the trees, in time linear in
rows + background rows.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .exceptions import InvalidInputError
from .interventional import _check_weights
from .memory import ensure_fits
from .options import check_int, check_n_jobs
from .progress import progress_callback

__all__ = ["Decomposition", "decompose"]


class Decomposition:
    """The result of :func:`decompose`.

    Every array is in the explained input's column order (a table's own, matched to the model by
    name; the model's for arrays), float64; the last axis (outputs) is dropped for one output.

    Attributes
    ----------
    intercept : float or ndarray of shape (k,)
        ``m_∅``: the (weighted) mean prediction over the background.
    main : ndarray of shape (n, p) or (n, p, k)
        Main effects ``m_j(x)``.
    pairwise : ndarray of shape (n, p, p) or (n, p, p, k), or None
        ``m_{j,l}(x)``, symmetric with a zero diagonal; None when ``max_order`` is 1.
    higher : dict
        ``{(name_a, name_b, name_c, ...): ndarray of shape (n,) or (n, k)}``: the components of
        three or more features that are not identically zero (every set of features on one
        root-to-leaf path), up to ``max_order``.
    feature_names : list of str
        Column names (``x0, x1, ...`` for unnamed columns).
    data : ndarray of shape (n, p)
        The explained rows' values, in the model's encoding.
    max_order : int or None
        The highest order computed (None: every order, so that the components sum to the
        prediction).
    """

    def __init__(self, intercept, main, pairwise, higher, feature_names, data, max_order):
        self.intercept = intercept
        self.main = main
        self.pairwise = pairwise
        self.higher = higher
        self.feature_names = feature_names
        self.data = data
        self.max_order = max_order

    @property
    def n_outputs(self) -> int:
        return 1 if self.main.ndim == 2 else self.main.shape[2]

    def total(self) -> np.ndarray:
        """The sum of every component computed, per row: the prediction when ``max_order`` is
        None.

        Returns
        -------
        ndarray of shape (n,) or (n, k)
        """
        out = self.intercept + self.main.sum(axis=1)
        if self.pairwise is not None:
            # Each pair once: the strict upper triangle.
            p = self.main.shape[1]
            upper = np.triu(np.ones((p, p), dtype=bool), k=1)
            out = out + self.pairwise[:, upper].sum(axis=1)
        for values in self.higher.values():
            out = out + values
        return out

    def component(self, features) -> np.ndarray:
        """The component of one set of features (names), zero when no path holds them all.

        Parameters
        ----------
        features : sequence of str
            One or more feature names.

        Returns
        -------
        ndarray of shape (n,) or (n, k)
        """
        names = list(features)
        try:
            idx = sorted(self.feature_names.index(f) for f in names)
        except ValueError:
            raise InvalidInputError(
                f"unknown feature in {names!r}; the features are {self.feature_names[:20]}"
            ) from None
        if len(set(idx)) != len(idx) or not idx:
            raise InvalidInputError(f"features must be distinct names, got {names!r}")
        order = len(idx)
        if self.max_order is not None and order > self.max_order:
            raise InvalidInputError(
                f"the decomposition was computed up to order {self.max_order}; "
                f"{names!r} has {order} features"
            )
        if order == 1:
            return self.main[:, idx[0]]
        if order == 2:
            return self.pairwise[:, idx[0], idx[1]]
        key = tuple(self.feature_names[i] for i in idx)
        shape = self.main.shape[:1] + self.main.shape[2:]
        return self.higher.get(key, np.zeros(shape))

    def plot(self, *, ax=None, **kwargs):
        """Draws the main effects against the features' values.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw one feature; a grid of new axes when None.
        **kwargs
            Passed to :func:`treelens.plot.decomposition` (``features``, ``top_k``, ...).

        Returns
        -------
        matplotlib Axes or ndarray of Axes
        """
        from .plot import decomposition as plot_decomposition

        return plot_decomposition(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        return (
            f"Decomposition(rows={self.main.shape[0]}, features={self.main.shape[1]}, "
            f"outputs={self.n_outputs}, max_order={self.max_order}, "
            f"higher_sets={len(self.higher)})"
        )


def decompose(
    model,
    X,
    *,
    data=None,
    max_order: int | None = 2,
    data_weights=None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> Decomposition:
    """The exact functional decomposition of the model's raw margin, against background data.

    ``m_S(x) = sum_{U ⊆ S} (-1)^{|S|-|U|} E_z f(x_U, z_notU)`` for every feature set S with at
    most ``max_order`` features, the expectation being the weighted mean over the background
    rows z. This is the decomposition of the interventional game that interventional TreeSHAP
    explains: with every order, the components sum to ``f(x)`` and the interventional SHAP value
    of feature j is ``sum_{S ∋ j} m_S(x) / |S|``.

    Cost: the background is aggregated once per leaf (by the set of path features each
    background row fails), then each row costs one pass over every tree's nodes plus, per leaf
    whose path tests ``d`` distinct features, ``sum_{i <= max_order} C(d, i)`` look-ups: linear in
    rows + background rows, not their product.

    Parameters
    ----------
    model : Model or anything :func:`treelens.load` accepts
    X : array-like or table of shape (n_samples, n_features)
        The rows to decompose (a table is matched to the model by column name).
    data : array-like or table of shape (n_background, n_features), optional
        The background rows z. By default X itself (the decomposition against the data it
        explains, as glex does).
    max_order : int or None
        The highest order of the components (1: main effects; 2: also pairs, ...). None: every
        order, so that the components sum to the prediction exactly; the number of sets of
        three or more is then that of all subsets of each root-to-leaf path's features, and
        a decomposition that would not fit in memory is refused with its size.
    data_weights : array-like of shape (n_background,), optional
        Non-negative weights of the background rows.
    n_jobs : int, optional
        Threads; None means all cores.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    Decomposition
        ``intercept``, ``main`` ``(n, p[, k])``, ``pairwise`` ``(n, p, p[, k])`` (None when
        ``max_order`` is 1) and ``higher`` (a dict by feature names), in X's column order.
    """
    from .loaders import load

    n_jobs = check_n_jobs(n_jobs)
    if max_order is not None:
        max_order = check_int("max_order", max_order, minimum=1, maximum=64)
    model = load(model)
    rows = model.read(X)
    x = rows.matrix
    background = x if data is None else model.prepare(data)
    if background.shape[0] == 0:
        raise InvalidInputError("the background data has no rows; pass at least one row")
    w = _check_weights(data_weights, background.shape[0])
    n, p, k = x.shape[0], x.shape[1], model.n_outputs
    pairs = max_order is None or max_order >= 2
    ensure_fits(
        f"the decomposition of {n} rows ({p} features, {k} outputs"
        + (", pairs" if pairs else "")
        + ")",
        8 * n * p * k * (2 + (p if pairs else 0)),
        "decompose fewer rows at a time, or use max_order=1",
    )
    intercept, main, pairwise, sets, higher = _core.decompose(
        model.forest,
        x,
        background,
        w,
        max_order=max_order,
        n_jobs=n_jobs,
        progress=progress_callback(progress, "decomposition", n),
    )
    names = rows.labels()
    # Model columns back to the input's order.
    main = rows.columns(1, main)
    if pairwise is not None:
        pairwise = rows.columns((1, 2), pairwise)
    position = (
        np.arange(p) if rows.order is None else np.argsort(np.asarray(rows.order, dtype=np.intp))
    )
    by_name = {}
    for i, s in enumerate(sets):
        cols = sorted(int(position[c]) for c in s)
        by_name[tuple(names[c] for c in cols)] = higher[:, i] if k > 1 else higher[:, i, 0]
    data_in_order = x if rows.order is None else x[:, np.asarray(rows.order, dtype=np.intp)]
    if k == 1:
        intercept = float(intercept[0])
        main = main[..., 0]
        pairwise = None if pairwise is None else pairwise[..., 0]
    return Decomposition(
        intercept=intercept,
        main=main,
        pairwise=pairwise,
        higher=by_name,
        feature_names=names,
        data=data_in_order,
        max_order=max_order,
    )
