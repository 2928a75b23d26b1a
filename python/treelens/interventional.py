"""Interventional (background-data) TreeSHAP: SHAP values and interaction values against a
background sample, optionally weighted.

For an explained row x and a background row z, the game is ``v(S) = f(x_S, z_notS)``: the model
evaluated on x's values for the features in S and z's for the others. treelens returns the exact
Shapley values (and Shapley interaction values) of that game, averaged over the background rows
with their weights. :class:`treelens.TreeExplainer` uses this class when it is given ``data``.

Cost
----
``model_output="raw"``
    Linear in rows + background rows, not their product. The background is aggregated once per
    call and leaf: for a leaf whose path tests ``d`` distinct features, every background row is
    summarised by which of those ``d`` conditions it satisfies. Leaves with ``d <= 8`` (and deeper
    leaves when it pays, up to ``d = 16``) get a table of ``2^d x d`` floats (``2^d x d(d+1)/2``
    for interactions), SHAP-value tables by one ranked zeta transform in ``O(2^d d^2)``; each
    explained row then costs one pass over every tree's nodes (16 rows at a time) plus one
    contiguous table read of ``d`` floats per leaf (``d(d+1)/2`` for interactions). Deeper
    leaves keep the background's distinct patterns (at most ``min(background rows, 2^d)``
    entries) and cost one bit test per entry for each row. Trees
    with a root-to-leaf path testing more than 64 distinct features are walked per (row,
    background row) pair, ``O(rows x background x nodes)`` for those trees only. The tables are
    built for groups of trees of about 2 MiB at a time, so that the rows read them from the
    cache; for few explained rows (shap's usual hundreds), the trees are split between threads
    instead of the rows, each tree's tables are built with only the entries the rows' patterns
    need and used at once (the same values, bit for bit, for any rows and threads). No background
    size is capped.
    Measured on W1 (XGBoost, 500 trees of depth 6, 50 features): 300 rows against 200
    background rows take about 80 ms of CPU in all.
``model_output="probability"`` / ``"log_loss"``
    As shap defines them: for each pair (x, z) the exact raw-margin Shapley values are rescaled by
    ``(g(f(x)) - g(f(z))) / (f(x) - f(z))`` (by 1 when ``f(x) == f(z)``), so that they sum to
    ``g(f(x)) - g(f(z))``. The factor depends on the pair, so nothing aggregates per tree: the cost
    is ``O(rows x background x nodes reached)``, run in parallel over rows.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .dask import is_dask_collection
from .exceptions import InvalidInputError, UnsupportedModelError
from .model import Model
from .options import check_n_jobs
from .progress import progress_callback

__all__ = ["InterventionalExplainer"]

MODEL_OUTPUTS = ("raw", "probability", "log_loss")


def _as_model(model) -> Model:
    if isinstance(model, Model):
        return model
    from .loaders import load

    return load(model)


def _check_weights(weights, n_rows: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_rows:
        raise InvalidInputError(
            f"data_weights must be a 1-D array with one weight per background row ({n_rows}), "
            f"got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidInputError("data_weights must be finite and non-negative")
    if not w.sum() > 0:
        raise InvalidInputError(
            "data_weights are all zero; at least one background row needs a positive weight"
        )
    return np.ascontiguousarray(w)


def _logistic(m: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-m))


def _softplus(m: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, m)


class InterventionalExplainer:
    """Exact interventional TreeSHAP against background data.

    Parameters
    ----------
    model : treelens.Model or anything :func:`treelens.load` accepts
    data : array-like or table of shape (n_background, n_features)
        Background rows z. Any number of rows is handled exactly (see the module's notes on cost).
        A table (pandas/polars DataFrame, pyarrow Table) is matched to the model by column name.
    data_weights : array-like of shape (n_background,), optional
        Non-negative weights of the background rows; the explanation is the weighted mean over
        them. By default every row weighs the same (shap's definition).
    model_output : {"raw", "probability", "log_loss"}
        ``"raw"``: the margin (every model). ``"probability"``: the probability of a binary
        classifier with a logistic link, ``1 / (1 + exp(-s m))`` with the model's sigmoid scale
        ``s`` (1 but for LightGBM's ``sigmoid`` parameter), and the class probabilities of
        scikit-learn forest classifiers, whose margin already is a probability. ``"log_loss"``:
        the log loss of the row's label ``y`` (passed to :meth:`shap_values`), for binary
        logistic models (``log(1 + exp(s m)) - y s m``, as in shap for s = 1) and scikit-learn
        forest classifiers
        (``-log p_y``). Multiclass softmax models support ``"raw"`` only: shap's per-pair
        rescaling is defined for one margin, and a softmax output depends on all of them.

    Attributes
    ----------
    expected_value : float or ndarray of shape (k,), or callable
        The weighted mean over the background of the explained output. For ``"log_loss"`` it
        depends on the label, and (as in shap) is a function ``expected_value(y)``.
    """

    def __init__(self, model, data, *, data_weights=None, model_output: str = "raw"):
        self.model = _as_model(model)
        if data is None:
            raise InvalidInputError(
                "interventional TreeSHAP needs background data (data=...), e.g. a sample of "
                "100-1000 training rows"
            )
        self.data = self.model.prepare(data)
        if self.data.shape[0] == 0:
            raise InvalidInputError("the background data has no rows; pass at least one row")
        self.data_weights = _check_weights(data_weights, self.data.shape[0])
        if model_output not in MODEL_OUTPUTS:
            raise InvalidInputError(
                f"model_output={model_output!r} is not supported; accepted: {MODEL_OUTPUTS}"
            )
        self.model_output = model_output
        self._transform = self._choose_transform(model_output)
        w = self.data_weights
        self._wnorm = (
            np.full(self.data.shape[0], 1.0 / self.data.shape[0]) if w is None else w / w.sum()
        )
        margins = self.model.forest.predict(self.data)
        self._background_margins = margins
        # The logistic transforms see the margin times the model's sigmoid scale (LightGBM's
        # ``sigmoid`` parameter), as the model's own probability does.
        self._scale = float(self.model.link_scale)
        if self._transform in (None, "logistic"):
            out = margins if self._transform is None else _logistic(self._scale * margins)
            ev = self._wnorm @ out
            self.expected_value = float(ev[0]) if ev.shape[0] == 1 else ev
        else:
            self.expected_value = self._expected_loss

    # -- configuration -------------------------------------------------------------------------

    def _choose_transform(self, model_output: str) -> str | None:
        m = self.model
        if model_output == "raw":
            return None
        binary_logistic = m.link == "logistic" and m.n_outputs == 1
        if model_output == "probability":
            if m.margin_is_probability:
                return None
            if binary_logistic:
                return "logistic"
        else:  # log_loss
            if m.margin_is_probability:
                return "neg_log_output"
            if binary_logistic:
                return "logistic_loss"
        if m.link == "softmax":
            raise UnsupportedModelError(
                f'model_output="{model_output}" is not supported for multiclass softmax models: '
                "shap defines it by rescaling each (row, background row) pair's attributions by "
                "(g(f(x)) - g(f(z))) / (f(x) - f(z)), which needs a single margin; use "
                'model_output="raw" (one explanation per class margin)'
            )
        raise UnsupportedModelError(
            f'model_output="{model_output}" needs a classifier: a binary model with a logistic '
            "link (XGBoost/LightGBM binary objectives, scikit-learn gradient boosting "
            f"classifiers) or a scikit-learn forest classifier; this model's link is "
            f"{m.link!r} with {m.n_outputs} output(s)"
        )

    def _labels(self, y, n: int) -> np.ndarray:
        """Labels as floats: 0/1 for the logistic loss, class indices for forest classifiers."""
        if y is None:
            raise InvalidInputError(
                'model_output="log_loss" explains the loss of each row\'s label: pass y'
            )
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise InvalidInputError(f"y must have one label per row ({n}), got shape {y.shape}")
        classes = self.model.classes
        if classes is not None:
            lookup = {c: i for i, c in enumerate(classes.tolist())}
            try:
                idx = np.array([lookup[v] for v in y.tolist()], dtype=np.float64)
            except (KeyError, TypeError):
                unknown = [v for v in y.tolist() if v not in lookup][:5]
                raise InvalidInputError(
                    f"y holds labels the classifier does not know: {unknown}; its classes are "
                    f"{classes.tolist()}"
                ) from None
            return idx
        try:
            idx = y.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError("y must be numeric labels 0 or 1") from None
        limit = self.model.n_outputs if self._transform == "neg_log_output" else 2
        if not np.all((idx == np.round(idx)) & (idx >= 0) & (idx < limit)):
            raise InvalidInputError(f"y must hold class indices 0..{limit - 1}")
        return idx

    def _expected_loss(self, y) -> np.ndarray | float:
        """Weighted background mean of the loss for label(s) ``y`` (a scalar or one per row)."""
        scalar = np.ndim(y) == 0
        labels = self._labels(np.atleast_1d(y), int(np.size(y)))
        m = self._background_margins
        if self._transform == "logistic_loss":
            sm = self._scale * m[:, :1]
            loss = _softplus(sm) - sm * labels[None, :]
        else:
            with np.errstate(divide="ignore"):
                loss = -np.log(m[:, labels.astype(np.intp)])
        ev = self._wnorm @ loss
        return float(ev[0]) if scalar else ev

    def _check_finite_loss(self, x: np.ndarray, labels: np.ndarray) -> None:
        """-log p is infinite where a forest predicts probability 0 for the label: refuse."""
        cls = labels.astype(np.intp)
        px = self.model.forest.predict(x)[np.arange(len(cls)), cls]
        weighted = self._wnorm > 0
        pz = self._background_margins[weighted][:, np.unique(cls)]
        if np.any(px <= 0) or np.any(pz <= 0):
            bad_rows = np.flatnonzero(px <= 0)[:5].tolist()
            raise InvalidInputError(
                "the log loss -log p(y) is infinite: the forest predicts probability 0 for the "
                f"label of explained rows {bad_rows} or of some background rows for these "
                "labels; explain the probability instead, or use a background and rows whose "
                "labels have nonzero predicted probability"
            )

    def base_values(self, n: int, y=None) -> np.ndarray:
        """Expected value per explained row: tiled, or per label for the log loss.

        Parameters
        ----------
        n : int
            Rows explained.
        y : array-like of shape (n,), optional
            Their labels (``model_output="log_loss"``).

        Returns
        -------
        ndarray of shape (n, k)
        """
        if callable(self.expected_value):
            return np.asarray(self._expected_loss(np.asarray(y)), dtype=np.float64)[:, None]
        ev = np.atleast_1d(np.asarray(self.expected_value, dtype=np.float64))
        return np.tile(ev, (n, 1))

    # -- explanations --------------------------------------------------------------------------

    def _run(self, x: np.ndarray, y, interactions: bool, n_jobs, progress) -> np.ndarray:
        """Values of the rows of ``x``, a matrix from :meth:`Model.read`, in the model's
        column order."""
        n_jobs = check_n_jobs(n_jobs)
        n = x.shape[0]
        forest = self.model.forest
        label = "interventional SHAP interactions" if interactions else "interventional SHAP"
        if self._transform is None:
            return _core.interventional_shap_values(
                forest,
                x,
                self.data,
                self.data_weights,
                interactions=interactions,
                n_jobs=n_jobs,
                progress=progress_callback(progress, label, n),
            )
        labels = None
        if self._transform != "logistic":
            labels = self._labels(y, n)
        if self._transform == "neg_log_output":
            self._check_finite_loss(x, labels)
        elif y is not None and np.shape(y)[0] != n:
            raise InvalidInputError(f"y must have one label per row ({n}), got {np.shape(y)}")
        return _core.interventional_transformed_values(
            forest,
            x,
            self.data,
            self.data_weights,
            transform=self._transform,
            y=labels,
            scale=self._scale,
            interactions=interactions,
            n_jobs=n_jobs,
            progress=progress_callback(progress, label, n * self.data.shape[0]),
        )

    def shap_values(self, x, *, y=None, n_jobs=None, progress=None) -> np.ndarray:
        """Interventional SHAP values, float64 of shape (n, p, k) (k = 1 for one output).

        ``values[i].sum(axis=0) + base_values[i] == output(x_i)`` (the margin, the probability or
        the loss of ``y_i``, per ``model_output``). Features are in the input's column order (a
        table's, matched to the model by name; the model's for arrays).

        Parameters
        ----------
        x : array-like or table of shape (n, p), or a Dask collection
            The rows explained.
        y : array-like of shape (n,), optional
            The labels, for ``model_output="log_loss"``.
        n_jobs : int, optional
            Threads; None means all cores.
        progress : bool, optional
            Show a progress bar.

        Returns
        -------
        ndarray of shape (n, p, k)
            A lazy dask array for a Dask collection.
        """
        if is_dask_collection(x):
            from . import dask as tl_dask

            fn = tl_dask.bound(self.shap_values, n_jobs=n_jobs, progress=False)
            return tl_dask.map_rows(fn, x, y)
        rows = self.model.read(x)
        return rows.columns(1, self._run(rows.matrix, y, False, n_jobs, progress))

    def shap_interaction_values(self, x, *, y=None, n_jobs=None, progress=None) -> np.ndarray:
        """Interventional SHAP interaction values, float64 of shape (n, p, p, k).

        The Shapley interaction values of the same game, in shap's convention: off-diagonal
        entries are half the Shapley interaction index, the diagonal is
        ``phi_i - sum_{j != i} phi_ij``, so each row of the (p, p) matrix sums to the SHAP value.
        For transformed outputs each pair's interactions are rescaled like its SHAP values.
        Memory: the output, n x p x p x k floats, refused up front if it cannot be allocated.
        Features are in the input's column order, as in :meth:`shap_values`.

        Parameters
        ----------
        x : array-like or table of shape (n, p), or a Dask collection
            The rows explained.
        y : array-like of shape (n,), optional
            The labels, for ``model_output="log_loss"``.
        n_jobs : int, optional
            Threads; None means all cores.
        progress : bool, optional
            Show a progress bar.

        Returns
        -------
        ndarray of shape (n, p, p, k)
            A lazy dask array for a Dask collection.
        """
        if is_dask_collection(x):
            from . import dask as tl_dask

            fn = tl_dask.bound(self.shap_interaction_values, n_jobs=n_jobs, progress=False)
            return tl_dask.map_rows(fn, x, y)
        rows = self.model.read(x)
        return rows.columns((1, 2), self._run(rows.matrix, y, True, n_jobs, progress))
