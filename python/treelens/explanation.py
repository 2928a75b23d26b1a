"""`Explanation`: SHAP values together with what they explain.

With shap installed, :func:`make_explanation` returns a real ``shap.Explanation`` (a subclass
that is also a :class:`Explanation`), so shap's plots and its slicing and aggregation take it
directly. Without shap, :class:`Explanation` implements the same everyday part of shap's API
(row, feature-name and output-name indexing, ``.abs``, ``.mean/.max/.min/.sum(axis)``,
``.sample``, ``.cohorts``) with numpy alone.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

__all__ = ["Explanation", "make_explanation"]


@dataclass(eq=False)
class Explanation:
    """SHAP values of some rows, with their base values, the rows and the feature names.

    ``values``, ``data`` and ``feature_names`` share one column order, the explained input's
    (a table's own order, its columns matched to the model by name; the model's for arrays), so
    each value sits with its own feature's name and data.

    Attributes
    ----------
    values : ndarray
        ``(n, p)`` for one output, ``(n, p, k)`` for ``k`` outputs (interaction values: one more
        feature axis).
    base_values : ndarray
        The expected value per row: ``(n,)`` or ``(n, k)``.
    data : ndarray or None
        The explained rows, ``(n, p)``.
    feature_names : list of str or None
        Column names, when known.
    output_names : list or None
        Class labels or output names for multi-output models.
    feature_groups : dict or None
        ``{group: [feature names]}``, what :meth:`sum_groups` sums by default (set by
        ``TreeExplainer.__call__`` from the model's ``feature_groups``, e.g. one-hot columns of a
        Pipeline's source column).
    """

    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray | None = None
    feature_names: list[str] | None = None
    output_names: list | None = None
    feature_groups: dict | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self.values)

    def __len__(self) -> int:
        return self.shape[0]

    # -- indexing ----------------------------------------------------------------------------
    def _axes(self) -> list[str]:
        """What each axis of ``values`` is: ``"rows"`` (absent for one row or after a
        reduction over rows), ``"features"`` (two for interaction values), ``"outputs"``. The
        base values have the row and output axes; one-row multi-output explanations carry
        ``output_names``."""
        base = np.ndim(self.base_values)
        rows = base == 2 or (base == 1 and self.output_names is None)
        outputs = base - int(rows)
        features = np.ndim(self.values) - int(rows) - outputs
        return ["rows"] * int(rows) + ["features"] * features + ["outputs"] * outputs

    def _feature_axis(self) -> int:
        return self._axes().index("features")

    def _position(self, name, names, what: str) -> int:
        if names is None or name not in list(names):
            raise KeyError(f"{name!r} is not one of the {what} names {list(names or [])}")
        return list(names).index(name)

    def _by_name(self, k, axis: str):
        """An index with names (one or a list) turned into positions on their axis."""
        names, what = (
            (self.feature_names, "feature") if axis == "features" else (self.output_names, "output")
        )
        if isinstance(k, str):
            return self._position(k, names, what) if axis != "rows" else k
        if isinstance(k, (list, tuple)):
            return [
                self._position(v, names, what) if isinstance(v, str) and axis != "rows" else v
                for v in k
            ]
        return k

    def __getitem__(self, key) -> Explanation:
        """shap's indexing: rows (an int, slice, mask or index array), then features (also by
        name, ``e[:, "f0"]``), then outputs (also by name, ``e[..., "class"]``)."""
        key = key if isinstance(key, tuple) else (key,)
        ndim = np.ndim(self.values)
        # Expand an Ellipsis so that every entry names its axis.
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (ndim - len(key) + 1) + key[i + 1 :]
        key = key + (slice(None),) * (ndim - len(key))
        axes = self._axes()
        key = tuple(self._by_name(k, ax) for k, ax in zip(key, axes))
        values = np.asarray(self.values)[_outer(key)]
        base_key = tuple(k for k, ax in zip(key, axes) if ax != "features")
        base = np.asarray(self.base_values)
        base = base[_outer(base_key)] if base_key and base.ndim else base
        data = None
        if self.data is not None:
            data_key = tuple(k for k, ax in zip(key, axes) if ax != "outputs")[: np.ndim(self.data)]
            data = _index_data(self.data, data_key)
        feature_key = next((k for k, ax in zip(key, axes) if ax == "features"), slice(None))
        names = _pick(self.feature_names, feature_key)
        output_key = next((k for k, ax in zip(key, axes) if ax == "outputs"), slice(None))
        outputs = _pick(self.output_names, output_key)
        return self._like(
            values=values,
            base_values=base,
            data=data,
            feature_names=names,
            output_names=outputs,
            feature_groups=self.feature_groups,
        )

    # -- aggregation -------------------------------------------------------------------------
    def _apply(self, func, axis=None) -> Explanation:
        """A numpy function applied as shap applies it: to the values and the data (None when
        the data do not take it), and to the base values when they have that axis."""
        kwargs = {} if axis is None else {"axis": axis}
        values = func(np.asarray(self.values), **kwargs)
        data = None
        if self.data is not None:
            try:
                data = _apply_to_data(func, self.data, kwargs)
            except (TypeError, ValueError):  # text or mixed columns
                data = None
        base = np.asarray(self.base_values)
        if axis is not None:
            base = func(base, **kwargs) if base.ndim > axis else None
        return self._like(
            values=values,
            base_values=base,
            data=data,
            feature_names=self.feature_names,
            output_names=self.output_names,
            feature_groups=self.feature_groups,
        )

    @property
    def abs(self) -> Explanation:
        """The absolute values (and data), as shap's ``.abs``."""
        return self._apply(np.abs)

    def mean(self, axis: int) -> Explanation:
        """The mean over an axis (``.abs.mean(0)``: the mean |SHAP value| of each feature).

        Parameters
        ----------
        axis : int
            The axis reduced (0: the rows).

        Returns
        -------
        Explanation
        """
        return self._apply(np.mean, axis)

    def max(self, axis: int) -> Explanation:
        """The maximum over an axis.

        Parameters
        ----------
        axis : int
            The axis reduced (0: the rows).

        Returns
        -------
        Explanation
        """
        return self._apply(np.max, axis)

    def min(self, axis: int) -> Explanation:
        """The minimum over an axis.

        Parameters
        ----------
        axis : int
            The axis reduced (0: the rows).

        Returns
        -------
        Explanation
        """
        return self._apply(np.min, axis)

    def sum(self, axis: int | None = None) -> Explanation:
        """The sum over an axis (over everything when None).

        Parameters
        ----------
        axis : int, optional
            The axis reduced.

        Returns
        -------
        Explanation
        """
        return self._apply(np.sum, axis)

    def sample(self, max_samples: int, replace: bool = False, random_state: int = 0) -> Explanation:
        """``min(max_samples, len(self))`` random rows, the same rows shap's ``sample`` draws.

        Parameters
        ----------
        max_samples : int
            How many rows at most.
        replace : bool
            Draw with replacement.
        random_state : int
            Seeds ``numpy.random.RandomState``, as shap does.

        Returns
        -------
        Explanation
        """
        rng = np.random.RandomState(random_state)
        n = self.shape[0]
        rows = rng.choice(n, size=min(max_samples, n), replace=replace)
        return self[list(rows)]

    def cohorts(self, cohorts):
        """Rows split into cohorts, as ``shap.Explanation.cohorts``.

        Parameters
        ----------
        cohorts : int or array-like
            An int ``n`` fits a scikit-learn ``DecisionTreeRegressor(max_leaf_nodes=n)`` of the
            values on the data and groups rows by their leaf (named by the path's conditions);
            an array names each row's cohort.

        Returns
        -------
        dict
            ``{cohort name: Explanation}``.
        """
        if np.ndim(self.values) > 2:
            raise ValueError(
                "cohorts need one output: select it first, e.g. explanation[..., 1].cohorts(2)"
            )
        if isinstance(cohorts, (int, np.integer)):
            return _auto_cohorts(self, int(cohorts))
        labels = np.asarray(cohorts)
        return {name: self[labels == name] for name in np.unique(labels)}

    def sum_groups(self, groups: dict | None = None) -> Explanation:
        """Sums the columns of each group into one column.

        Parameters
        ----------
        groups : dict, optional
            ``{group name: [feature names]}``. Features in no group stay as they are, in place;
            each group takes the place of its first member. By default the explanation's
            ``feature_groups`` (a Pipeline's one-hot columns summed back to their source
            column).

        Returns
        -------
        Explanation
            Values summed over each group's columns (interaction values: over both feature
            axes); a group's data is None when its columns' values differ (one-hot codes are not
            the source value), the shared value otherwise; base values unchanged.
        """
        groups = self.feature_groups if groups is None else groups
        names = list(self.feature_names or [])
        if not groups:
            raise ValueError("no groups: pass groups={name: [feature names]}")
        if not names:
            raise ValueError("sum_groups needs feature names to find each group's columns")
        owner: dict[str, str] = {}
        for group, members in groups.items():
            for m in members:
                if m not in names:
                    raise KeyError(f"group {group!r} names {m!r}, which is no feature of {names}")
                if m in owner:
                    raise ValueError(f"{m!r} is in two groups: {owner[m]!r} and {group!r}")
                owner[m] = group
        columns: list[str] = []
        members_of: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            label = owner.get(name, name)
            if label not in members_of:
                columns.append(label)
                members_of[label] = []
            members_of[label].append(i)
        ax = self._feature_axis()
        values = np.asarray(self.values)
        n_feature_axes = self._axes().count("features")
        for a in range(ax, ax + n_feature_axes):
            values = np.stack(
                [np.take(values, members_of[c], axis=a).sum(axis=a) for c in columns], axis=a
            )
        data = None
        if self.data is not None:
            d = self.data.toarray() if _is_sparse(self.data) else np.asarray(self.data)
            cols = []
            for c in columns:
                part = np.take(d, members_of[c], axis=ax)
                first = np.take(part, [0], axis=ax)
                same = part.shape[ax] == 1 or bool(np.all(part == first))
                cols.append(np.take(part, 0, axis=ax) if same else np.full(part.shape[:ax], None))
            data = np.stack(cols, axis=ax) if cols else None
        return self._like(
            values=values,
            base_values=self.base_values,
            data=data,
            feature_names=columns,
            output_names=self.output_names,
        )

    def _like(self, **parts) -> Explanation:
        """A new explanation of this one's kind (treelens' numpy-only class stays one)."""
        if type(self) is Explanation:
            return Explanation(**parts)
        return make_explanation(**parts)

    def plot(self, kind: str = "bar", *, ax=None, **kwargs):
        """Draws a SHAP summary with matplotlib (``pip install 'treelens[plot]'``), without
        shap.

        Parameters
        ----------
        kind : {"bar", "beeswarm", "dependence", "waterfall"}
            Mean ``|SHAP value|`` bars (:func:`treelens.plot.shap_bar`), the beeswarm
            (:func:`treelens.plot.beeswarm`), one feature's dependence plot
            (:func:`treelens.plot.dependence`; pass ``feature=``) or one row's waterfall
            (:func:`treelens.plot.waterfall`).
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        **kwargs
            The chosen function's options (``top_k``, ``output``, ``feature``,
            ``interaction_index``, ``row``).

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        from . import plot

        kinds = {
            "bar": plot.shap_bar,
            "beeswarm": plot.beeswarm,
            "dependence": plot.dependence,
            "waterfall": plot.waterfall,
        }
        if kind not in kinds:
            raise ValueError(f"kind must be one of {list(kinds)}, got {kind!r}")
        if kind == "dependence":
            if "feature" not in kwargs:
                raise TypeError('plot(kind="dependence") needs feature= (a name or an index)')
            return plot.dependence(self, kwargs.pop("feature"), ax=ax, **kwargs)
        return kinds[kind](self, ax=ax, **kwargs)

    def to_shap(self):
        """The same explanation as a ``shap.Explanation`` (requires shap).

        Returns
        -------
        shap.Explanation
        """
        try:
            import shap
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("Explanation.to_shap() needs the shap package installed") from e
        return shap.Explanation(
            values=self.values,
            base_values=self.base_values,
            data=self.data,
            feature_names=self.feature_names,
            output_names=self.output_names,
        )

    def __repr__(self) -> str:
        return f"treelens.Explanation(values shape {self.shape})"


def _is_sparse(data) -> bool:
    """Whether an explanation's data is a scipy sparse matrix (a sparse input's, kept sparse
    as shap keeps it)."""
    return hasattr(data, "tocsr") and hasattr(data, "nnz")


def _index_data(data, key: tuple):
    """``data[key]`` with outer indexing; a sparse matrix stays sparse, except one row or one
    column, which become dense vectors (small, and what plots read)."""
    if not _is_sparse(data):
        return np.asarray(data)[_outer(key)]
    part = data.tocsr()
    rows = key[0] if key else slice(None)
    one_row = isinstance(rows, (int, np.integer))
    part = part[[rows]] if one_row else part[rows]
    cols = key[1] if len(key) > 1 else slice(None)
    one_col = isinstance(cols, (int, np.integer))
    part = part[:, [cols]] if one_col else part[:, cols]
    if one_row or one_col:
        dense = part.toarray()
        return dense[0, 0] if one_row and one_col else dense[0] if one_row else dense[:, 0]
    return part


def _apply_to_data(func, data, kwargs):
    """A numpy function applied to an explanation's data; on sparse data through the sparse
    matrix's own method of that name (abs, mean, max, min, sum), dense once reduced."""
    if not _is_sparse(data):
        return func(np.asarray(data), **kwargs)
    if func is np.abs:
        return abs(data)
    method = getattr(data, func.__name__, None)
    if method is None:
        raise TypeError(f"{func.__name__} of sparse data")
    out = method(**kwargs)
    return np.asarray(out.toarray() if _is_sparse(out) else out).squeeze()


def _outer(key: tuple) -> tuple:
    """numpy's outer indexing for several list indices (``e[[0, 2], [1, 3]]`` picks rows 0 and 2
    and columns 1 and 3, as shap does, not the pairs)."""
    lists = [i for i, k in enumerate(key) if isinstance(k, list) or np.ndim(k) == 1]
    if len(lists) < 2:
        return key
    out = []
    for i, k in enumerate(key):
        if i in lists:
            idx = np.asarray(k)
            idx = np.flatnonzero(idx) if idx.dtype == bool else idx
            shape = [1] * len(lists)
            shape[lists.index(i)] = -1
            out.append(idx.reshape(shape))
        else:
            out.append(k)
    return tuple(out)


def _pick(names, key):
    """The names an index keeps: a list for a slice, list or mask; one name for an int."""
    if names is None:
        return None
    arr = np.asarray(names, dtype=object)
    picked = arr[key]
    return picked.tolist() if isinstance(picked, np.ndarray) else picked


def _auto_cohorts(ex: Explanation, max_cohorts: int) -> dict:
    try:
        from sklearn.tree import DecisionTreeRegressor
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("cohorts(n) fits a scikit-learn tree: install scikit-learn") from e
    data = np.asarray(ex.data, dtype=np.float64)
    tree = DecisionTreeRegressor(max_leaf_nodes=max_cohorts).fit(data, ex.values)
    paths = tree.decision_path(data).toarray()
    names = np.asarray(ex.feature_names if ex.feature_names is not None else [])
    labels = []
    for i in range(len(data)):
        parts = []
        for node in np.flatnonzero(paths[i]):
            f, t = tree.tree_.feature[node], tree.tree_.threshold[node]
            if f >= 0:
                name = names[f] if len(names) else f"Feature {f}"
                parts.append(f"{name} {'<' if data[i, f] < t else '>='} {t}")
        labels.append(" & ".join(parts))
    labels = np.asarray(labels)
    return {name: ex[labels == name] for name in np.unique(labels)}


_SHAP_CLASS = None


def _shap_class():
    """``shap.Explanation`` subclassed with treelens' additions, made once; None without shap."""
    global _SHAP_CLASS
    if _SHAP_CLASS is None:
        if importlib.util.find_spec("shap") is None:
            _SHAP_CLASS = False
        else:
            import shap

            class ShapExplanation(shap.Explanation, Explanation):
                """A ``shap.Explanation`` made by treelens: shap's plots, slicing and
                aggregation, plus :meth:`Explanation.sum_groups` and ``feature_groups``."""

                feature_groups = None

                def _kept(self, out):
                    """shap's slices and reductions are plain shap.Explanations: they stay
                    treelens' (same layout, so the class may be set) with the groups."""
                    if isinstance(out, shap.Explanation) and not isinstance(out, ShapExplanation):
                        out.__class__ = ShapExplanation
                    if isinstance(out, ShapExplanation):
                        out.feature_groups = self.feature_groups
                    return out

                def __getitem__(self, item):
                    return self._kept(super().__getitem__(item))

                def _numpy_func(self, fname, **kwargs):
                    return self._kept(super()._numpy_func(fname, **kwargs))

                def to_shap(self):
                    return self

                # treelens' plots (shap's own stay in shap.plots, which take this object).
                plot = Explanation.plot

                __repr__ = shap.Explanation.__repr__

            # Named as this module's attribute (see __getattr__), so that pickle finds it.
            ShapExplanation.__qualname__ = "ShapExplanation"
            ShapExplanation.__module__ = __name__
            _SHAP_CLASS = ShapExplanation
    return _SHAP_CLASS or None


def __getattr__(name: str):
    """``treelens.explanation.ShapExplanation``, made on first use (it needs shap)."""
    if name == "ShapExplanation" and _shap_class() is not None:
        return _shap_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_explanation(
    *, values, base_values, data=None, feature_names=None, output_names=None, feature_groups=None
) -> Explanation:
    """An :class:`Explanation`: a ``shap.Explanation`` subclass when shap is installed (so that
    ``shap.plots`` take it), treelens' numpy-only class otherwise."""
    cls = _shap_class()
    if cls is None:
        return Explanation(
            values=values,
            base_values=base_values,
            data=data,
            feature_names=feature_names,
            output_names=output_names,
            feature_groups=feature_groups,
        )
    out = cls(
        values,
        base_values=base_values,
        data=data,
        feature_names=feature_names,
        output_names=output_names,
    )
    out.feature_groups = feature_groups
    return out
