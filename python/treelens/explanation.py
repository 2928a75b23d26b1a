"""`Explanation`: SHAP values together with what they explain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        ``{group: [feature names]}``, the default of :meth:`sum_groups` (for a scikit-learn
        Pipeline: each raw column's transformed features, e.g. its one-hot columns).
    """

    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray | None = None
    feature_names: list[str] | None = None
    output_names: list | None = None
    feature_groups: dict | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def __len__(self) -> int:
        return self.values.shape[0]

    def __getitem__(self, rows) -> Explanation:
        """The explanation of some rows (an int, a slice, a mask or an index array)."""
        single = isinstance(rows, (int, np.integer))
        index = [rows] if single else rows
        part = Explanation(
            values=self.values[index],
            base_values=np.asarray(self.base_values)[index],
            data=None if self.data is None else _data_rows(self.data, index),
            feature_names=self.feature_names,
            output_names=self.output_names,
            feature_groups=self.feature_groups,
        )
        if single:
            part.values = part.values[0]
            part.base_values = part.base_values[0]
            part.data = None if part.data is None else _data_rows(part.data, 0)
        return part

    def sum_groups(self, groups=None) -> Explanation:
        """The explanation with the SHAP values of each group of features summed into one.

        Sums are exact and keep additivity: the values of a row still add up, with the base
        value, to the model's output. Features in no group stay as they are, in place; each
        group takes the place of its first member.

        Parameters
        ----------
        groups : dict, optional
            ``{group name: [feature names]}``; by default ``feature_groups`` (a Pipeline's raw
            columns and the transformed features made from each).

        Returns
        -------
        Explanation
            Features are the groups (and the features in none); ``data`` of a group of
            several features is NaN (its raw value is not among the explained rows).
        """
        if groups is None:
            groups = self.feature_groups
        if groups is None:
            raise ValueError(
                "this explanation has no feature groups (they come from a scikit-learn "
                "Pipeline whose transformers say which raw column each feature is made from); "
                "pass groups={name: [feature names]}"
            )
        names = list(self.feature_names or [])
        if self.values.ndim < 2 or len(names) != self.values.shape[1]:
            raise ValueError("sum_groups needs the SHAP values of rows with feature names")
        position = {n: j for j, n in enumerate(names)}
        owner: dict[int, str] = {}
        for group, members in groups.items():
            for m in members:
                if m not in position:
                    raise ValueError(f"group {group!r} names {m!r}, which is not a feature")
                if position[m] in owner:
                    raise ValueError(f"feature {m!r} is in two groups")
                owner[position[m]] = group
        columns: dict[str, list[int]] = {}
        for j, n in enumerate(names):
            columns.setdefault(owner.get(j, n), []).append(j)
        values = np.stack([self.values[:, c].sum(axis=1) for c in columns.values()], axis=1)
        data = None
        if self.data is not None:
            raw = self.data.toarray() if hasattr(self.data, "toarray") else self.data
            raw = np.asarray(raw, dtype=np.float64)
            data = np.stack(
                [
                    raw[:, c[0]] if len(c) == 1 else np.full(raw.shape[0], np.nan)
                    for c in columns.values()
                ],
                axis=1,
            )
        return Explanation(
            values=values,
            base_values=self.base_values,
            data=data,
            feature_names=list(columns),
            output_names=self.output_names,
        )

    def to_shap(self):
        """The same explanation as a ``shap.Explanation`` (requires shap)."""
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
        return f"treelens.Explanation(values shape {self.values.shape})"


def _data_rows(data, index):
    """Rows of an explanation's data; a sparse matrix (a sparse input's, kept as shap keeps
    it) gives a sparse matrix of rows, and one dense row for an int."""
    if hasattr(data, "tocsr") and hasattr(data, "nnz"):
        if isinstance(index, (int, np.integer)):
            return data.tocsr()[[index]].toarray()[0]
        return data.tocsr()[index]
    return np.asarray(data)[index]
