"""`Model`: a loaded tree ensemble, ready for native prediction and explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from .inputs import Prepared, as_matrix, read_input
from .memory import ensure_fits, input_bytes, rows_of
from .options import check_n_jobs
from .progress import progress_callback

#: Functions from the raw margin to the model's natural output.
LINKS = ("identity", "logistic", "softmax", "exp", "softplus")


@dataclass(eq=False)
class Model:
    """A tree ensemble in treelens' native representation.

    Made by :func:`treelens.load`. ``predict`` returns the raw margin (the sum of the trees plus
    the base score, or the average for random forests), exactly as the model's own library
    computes it.

    Attributes
    ----------
    n_features : int
        Number of input columns.
    n_outputs : int
        Number of outputs (classes for multiclass models, 1 otherwise; class probabilities for
        scikit-learn forest classifiers, one per class as in shap).
    feature_names : list of str or None
        Names the model was trained with, if any.
    base_score : float or ndarray
        Per-output base score in margin space.
    objective : str
        What the model was trained for, in its library's words.
    link : {"identity", "logistic", "softmax", "exp", "softplus"}
        Maps the raw margin to the model's natural output (probabilities for classifiers).
    classes : ndarray or None
        Class labels for classifiers, in output order.
    output_names : list of str or None
        Names of the outputs of a model whose outputs are not classes (NGBoost: the
        distribution's parameters, in NGBoost's internal parameterisation).
    """

    forest: _core.Forest
    feature_names: list[str] | None
    objective: str
    link: str = "identity"
    #: The margin is multiplied by this before the link (LightGBM's ``sigmoid`` parameter).
    link_scale: float = 1.0
    classes: np.ndarray | None = None
    library: str = ""
    #: ``{column: categories}``: categorical columns whose values are mapped to category codes.
    categories: dict[int, np.ndarray] = field(default_factory=dict)
    #: ``{column: categories}`` for pandas categorical columns only (XGBoost's stored categories).
    frame_categories: dict[int, np.ndarray] = field(default_factory=dict)
    #: LightGBM's ``pandas_categorical``: categories of the DataFrame's categorical columns.
    pandas_categorical: list | None = None
    #: XGBoost's feature types ("c" marks a categorical feature), when the model records them.
    feature_types: list[str] | None = None
    #: A value the model treats as missing besides NaN (XGBoost's ``missing``).
    missing_value: float | None = None
    #: The live estimator the model came from, when there was one.
    estimator: Any = None
    #: Whether the margin is already the output (class probabilities of sklearn forests).
    margin_is_probability: bool = False
    #: Whether the model accepts missing values (NaN); scikit-learn's GradientBoosting refuses
    #: them, so treelens does too rather than invent a branch for them.
    accepts_missing: bool = True
    #: Names of outputs that are not classes (NGBoost's distribution parameters).
    output_names: list[str] | None = None
    #: Whether the node covers are the training weights reaching each node. Formats that do not
    #: store them (ONNX) load with zero covers: path-dependent SHAP then needs background data.
    has_covers: bool = True

    @property
    def n_features(self) -> int:
        return self.forest.n_features

    @property
    def n_outputs(self) -> int:
        return self.forest.n_outputs

    @property
    def n_trees(self) -> int:
        return self.forest.n_trees

    @property
    def base_score(self):
        base = np.asarray(self.forest.base_score, dtype=np.float64)
        return float(base[0]) if base.size == 1 else base

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    def prepare(self, X) -> np.ndarray:
        """``X`` as a float64 C-ordered matrix in the model's column order and encoding."""
        return as_matrix(self, X)

    def read(self, X) -> Prepared:
        """``X`` read by name (tables) or position (arrays): the matrix in the model's order
        and the permutation that puts results back in the input's column order."""
        return read_input(self, X)

    def predict(self, X, *, n_jobs: int | None = None, progress: bool | None = None) -> np.ndarray:
        """Raw margin prediction.

        Parameters
        ----------
        X : array-like or table of shape (n_samples, n_features)
            float32 or float64 in any memory order, or a pandas or polars DataFrame or pyarrow
            Table whose columns are matched to the model's feature names by name, in any
            order. NaN (or null) is missing; +-inf are compared as numbers.
        n_jobs : int, optional
            Threads; None means all cores.
        progress : bool, optional
            Show a progress bar; by default only when stderr is a terminal and the work is long.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        n_jobs = check_n_jobs(n_jobs)
        n = rows_of(X)
        if n is not None:
            ensure_fits(
                f"predictions of {n} rows ({n} x {self.n_outputs} float64) and X converted to "
                "float64",
                n * self.n_outputs * 8 + input_bytes(n, self.n_features),
                "predict fewer rows at a time",
            )
        x = self.prepare(X)
        out = self.forest.predict(
            x, n_jobs=n_jobs, progress=progress_callback(progress, "predict", x.shape[0])
        )
        return out[:, 0] if self.n_outputs == 1 else out

    def transform_margin(self, margin: np.ndarray) -> np.ndarray:
        """Applies the model's link: margins to probabilities (classifiers) or to the mean."""
        m = np.asarray(margin, dtype=np.float64)
        return apply_link(self.link, m * self.link_scale if self.link_scale != 1.0 else m)

    def __repr__(self) -> str:
        return (
            f"treelens.Model({self.library} {self.objective!r}, {self.n_trees} trees, "
            f"{self.n_features} features, {self.n_outputs} output"
            f"{'s' if self.n_outputs != 1 else ''})"
        )


def apply_link(link: str, margin: np.ndarray) -> np.ndarray:
    """Applies a link function to raw margins (last axis = outputs for softmax)."""
    m = np.asarray(margin, dtype=np.float64)
    if link == "identity":
        return m
    if link == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * m))
    if link == "exp":
        return np.exp(m)
    if link == "softplus":
        return np.logaddexp(0.0, m)
    if link == "softmax":
        z = m - m.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown link {link!r}; known: {LINKS}")
