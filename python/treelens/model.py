"""`Model`: a loaded tree ensemble, ready for native prediction and explanation."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from . import _core
from .dask import is_dask_collection
from .inputs import Prepared, read_input, row_block, sliceable
from .memory import block_rows, ensure_fits, input_bytes, rows_of
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
    #: Maps a categorical column's values (and the column's name, for messages) to the keys
    #: ``categories`` lists, when those are not the values themselves (CatBoost: hashes).
    category_key: Callable[[np.ndarray, str], np.ndarray] | None = None
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
    #: A scikit-learn Pipeline's fitted steps before the model (``loaders.pipeline``), applied
    #: to the raw rows before they are read: the model explains the transformed rows.
    preprocessing: Any = None
    #: ``{raw column: [transformed feature names]}`` for a Pipeline whose transformers say which
    #: raw column each transformed feature comes from (one-hot columns to their source).
    feature_groups: dict[str, list[str]] | None = None
    #: Whether the margin is already the output (class probabilities of sklearn forests).
    margin_is_probability: bool = False
    #: Whether the model accepts missing values (NaN); scikit-learn's GradientBoosting refuses
    #: them, so treelens does too rather than invent a branch for them.
    accepts_missing: bool = True
    #: What an entry absent from a scipy sparse input is: missing (True: XGBoost, whose
    #: ``DMatrix(csr)`` drops absent entries) or 0.0 (False: scikit-learn and LightGBM, whose
    #: predict on a sparse matrix equals their predict on ``X.toarray()``). Loaders set it as
    #: their library's own predict reads a sparse matrix.
    sparse_absent_is_missing: bool = False
    #: Trees of one boosting round, when the loader knows it (XGBoost: classes times
    #: ``num_parallel_tree``); None: inferred (see ``treelens.tree_limit``).
    trees_per_round: int | None = None
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
        """``X`` as a float64 C-ordered matrix in the model's column order and encoding.

        Parameters
        ----------
        X : array-like or table of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        return self.read(X).matrix

    def read(self, X) -> Prepared:
        """``X`` read by name (tables) or position (arrays): the matrix in the model's order
        and the permutation that puts results back in the input's column order. A Pipeline's
        preprocessing is applied first: the rows read are the transformed ones.

        Parameters
        ----------
        X : array-like or table of shape (n_samples, n_features)

        Returns
        -------
        treelens.inputs.Prepared
            ``matrix``, ``order`` and ``names``.
        """
        if self.preprocessing is None:
            return read_input(self, X)
        transformed = self.preprocessing.transform(X)
        return replace(read_input(self, transformed), source=transformed)

    def predict(self, X, *, n_jobs: int | None = None, progress: bool | None = None) -> np.ndarray:
        """Raw margin prediction.

        Parameters
        ----------
        X : array-like or table of shape (n_samples, n_features)
            float32 or float64 in any memory order, or a pandas or polars DataFrame or pyarrow
            Table whose columns are matched to the model's feature names by name, in any
            order. NaN (or null) is missing; +-inf are compared as numbers.
        n_jobs : int, optional
            Threads; None means the default (all cores; see ``treelens.options.default_n_jobs``).
        progress : bool, optional
            Show a progress bar; by default only when stderr is a terminal and the work is long.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            For a Dask array or DataFrame, a lazy dask array with its row chunks.
        """
        if is_dask_collection(X):
            from . import dask as tl_dask

            return tl_dask.map_rows(tl_dask.bound(self.predict, n_jobs=n_jobs, progress=False), X)
        n_jobs = check_n_jobs(n_jobs)
        n = rows_of(X)
        if n is None:  # nested lists: read whole (numpy has to read them first anyway)
            x = self.prepare(X)
            n = x.shape[0]
            blocks = None
        else:
            # X is converted a block of rows at a time: only the predictions are held whole,
            # so a large (or sparse) X costs one block of its float64 copy.
            step = block_rows(input_bytes(1, self.n_features))
            ensure_fits(
                f"predictions of {n} rows ({n} x {self.n_outputs} float64) and "
                f"{min(n, step)} rows of X converted to float64",
                n * self.n_outputs * 8 + input_bytes(min(n, step), self.n_features),
                "predict fewer rows at a time",
            )
            blocks = [(r0, min(n, r0 + step)) for r0 in range(0, n, step)] or [(0, 0)]
            if len(blocks) > 1:
                X = sliceable(X)
        bar = progress_callback(progress, "predict", n)
        if blocks is None:
            out = self.forest.predict(x, n_jobs=n_jobs, progress=bar)
        else:
            out = np.empty((n, self.n_outputs), dtype=np.float64)
            for b, (r0, r1) in enumerate(blocks):
                with warnings.catch_warnings():
                    if b > 0:  # said once, for the first block
                        warnings.simplefilter("ignore", UserWarning)
                    x = self.prepare(X if len(blocks) == 1 else row_block(X, r0, r1))

                def cb(done, total, r0=r0, r1=r1):
                    bar(r0 + (r1 - r0) * done // max(total, 1), n)

                out[r0:r1] = self.forest.predict(
                    x, n_jobs=n_jobs, progress=None if bar is None else cb
                )
                del x  # before the next block is converted: one block at a time
        return out[:, 0] if self.n_outputs == 1 else out

    def transform_margin(self, margin: np.ndarray) -> np.ndarray:
        """Applies the model's link: margins to probabilities (classifiers) or to the mean.

        Parameters
        ----------
        margin : array-like
            Raw margins, as :meth:`predict` returns them.

        Returns
        -------
        ndarray
            The same shape: probabilities (softmax over the last axis for several classes) or
            the mean (exp for Poisson, gamma and Tweedie).
        """
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
