"""`TreeExplainer`: exact TreeSHAP values and interaction values, a drop-in for
``shap.TreeExplainer``."""

from __future__ import annotations

import copy
import dataclasses
import warnings

import numpy as np

from . import _core
from .additivity import check_additivity, library_margin
from .dask import is_dask_collection
from .exceptions import InvalidInputError, UnsupportedModelError
from .explanation import Explanation, make_explanation
from .inputs import Prepared, input_data, is_table, named_table, row_block, sliceable
from .loaders import load
from .memory import block_rows, ensure_fits, input_bytes, rows_of
from .options import check_dtype, check_max_bytes, check_n_jobs
from .progress import progress_callback
from .tree_limit import trees_for_limit

__all__ = ["TreeExplainer", "shap_values"]

_PERTURBATIONS = ("auto", "tree_path_dependent", "interventional")
_OUTPUTS = ("raw", "probability", "log_loss", "predict", "predict_proba")
#: shap's deprecated ``TreeExplainer(approximate=...)``: only whether it was passed matters.
_UNSET = object()
_REDUCTIONS = ("mean_abs", "mean")


def _check_reduce(reduce) -> None:
    if reduce is not None and reduce not in _REDUCTIONS:
        raise InvalidInputError(
            f"reduce={reduce!r} is not supported; use None, 'mean_abs' or 'mean'"
        )


def _one_row(X):
    """``(X as 2-D, True)`` for one row given as a 1-D array or a pandas Series (shap accepts
    them and returns the values without the row axis); ``(X, False)`` otherwise."""
    if is_table(X) or hasattr(X, "nnz"):
        return X, False
    if type(X).__module__.startswith("pandas") and hasattr(X, "to_frame"):
        return X.to_frame().T, True
    try:
        arr = np.asarray(X)
    except ValueError:  # ragged: Model.prepare says what is wrong
        return X, False
    if arr.ndim == 1:
        return arr.reshape(1, -1), True
    return X, False


def _row_block(X, r0: int, r1: int):
    """Rows ``r0:r1`` of an input, without converting the rest (see inputs.row_block)."""
    return row_block(X, r0, r1)


def _transformed_data(transformed) -> np.ndarray:
    """A Pipeline's transformed rows as an Explanation's data: dense, like its values (the
    user never held them, and shap's plots color by them)."""
    if hasattr(transformed, "toarray") and hasattr(transformed, "nnz"):
        transformed = transformed.toarray()
    return input_data(transformed)


def _resolve_output(model, model_output) -> tuple[str, int | None]:
    """``(what the trees' output becomes, the output kept)`` for shap's ``model_output``:
    ``"raw"``, ``"probability"``, ``"log_loss"``, ``"doubled"`` (a binary classifier's
    ``predict_proba``: the two columns ``1 - p`` and ``p``), and an output index or None."""
    if isinstance(model_output, (int, np.integer)) and not isinstance(model_output, bool):
        k = model.n_outputs
        if not 0 <= model_output < k:
            raise InvalidInputError(
                f"model_output={model_output} selects an output, but the model has {k} "
                f"output(s): use 0 .. {k - 1}"
            )
        return "raw", int(model_output)
    if model_output not in _OUTPUTS:
        raise InvalidInputError(
            f"model_output={model_output!r} is not supported; use one of {_OUTPUTS} or an "
            "output index"
        )
    if model_output == "raw" or (
        model_output in ("probability", "predict_proba") and model.margin_is_probability
    ):
        return "raw", None
    if model_output == "predict":
        if model.is_classifier:
            raise InvalidInputError(
                'model_output="predict" of a classifier is its class labels, which have no SHAP '
                'values; explain "predict_proba" (or "raw", the margin) instead'
            )
        if model.link != "identity":
            raise InvalidInputError(
                f'model_output="predict" of this model is {model.link}(margin), which only the '
                "interventional transforms could explain and they do not cover it; explain "
                '"raw" (the margin) instead'
            )
        return "raw", None
    if model_output == "predict_proba":
        if not model.is_classifier:
            raise InvalidInputError(
                'model_output="predict_proba" needs a classifier; this model is a regressor: '
                'use "raw" or "predict"'
            )
        if model.link == "logistic" and model.n_outputs == 1:
            return "doubled", None
        raise UnsupportedModelError(
            'model_output="predict_proba" of a multiclass softmax model is not supported: '
            "a class probability depends on every class margin, and shap's per-pair "
            'rescaling needs a single margin; use model_output="raw"'
        )
    return model_output, None


def _check_link(link):
    """shap's ``link``: None, "identity", "logit" or shap's link objects of those names."""
    if link is None:
        return None
    name = link if isinstance(link, str) else getattr(link, "__name__", type(link).__name__)
    if name not in ("identity", "logit"):
        raise InvalidInputError(
            f"link={link!r} is not supported; use None, 'identity' or 'logit' (shap.links)"
        )
    return name


#: What shap puts in place of a zero cover measured on background data.
_ZERO_COVER = 1e-6


def _forest_with_data_covers(model, data, data_weights, zero_cover: float = _ZERO_COVER):
    """The model's forest with node covers counted on ``data`` (weighted), as shap's
    path-dependent explainer does when it is given background data: the expectations of the
    game are then taken over these rows. shap replaces the covers of nodes no row reaches by
    1e-6; so does treelens, to give the same numbers."""
    from .interventional import _check_weights

    x = model.prepare(data)
    if x.shape[0] == 0:
        raise InvalidInputError("the background data has no rows; pass at least one row")
    weights = _check_weights(data_weights, x.shape[0])
    covers = np.asarray(_core.path_data_covers(model.forest, x, weights), dtype=np.float64)
    covers[covers == 0.0] = zero_cover
    state = dict(model.forest.__reduce__()[1][0])
    state["cover"] = covers
    return _core.Forest(**state)


def _masker_rows(data):
    """The rows of a shap tabular masker (what shap.TreeExplainer reads from one)."""
    module = type(data).__module__
    if module.startswith("shap.") and hasattr(data, "data"):
        if getattr(data, "clustering", None) is not None:
            raise InvalidInputError(
                "a clustered shap masker (Partition) has no meaning for TreeExplainer: pass the "
                "background rows, or shap.maskers.Independent(data)"
            )
        return data.data
    return data


class TreeExplainer:
    """Exact SHAP values of a tree ensemble, a drop-in for ``shap.TreeExplainer``.

    Parameters
    ----------
    model : estimator, booster, path or Model
        Anything :func:`treelens.load` accepts.
    data : array-like, table or shap.maskers.Independent, optional
        Background rows (a table, pandas/polars DataFrame or pyarrow Table, is matched to the
        model by column name). Without them (the default) the explainer uses the
        path-dependent game of Lundberg et al. (2020): the expectation over the training
        distribution recorded in the trees' node covers. With them it explains the
        interventional game over these rows, all of them: shap.TreeExplainer silently keeps a
        sample of 100 rows of a larger background
        (``shap.utils.sample(data, 100, random_state=0)``); pass that sample (or the shap
        masker, whose rows are used) to reproduce shap's numbers. With
        ``feature_perturbation="tree_path_dependent"`` the data replace the training covers
        (the weight of the rows reaching each node; 1e-6 where none does), as in shap.
    model_output : {"raw", "probability", "log_loss", "predict", "predict_proba"} or int
        What to explain. ``"raw"`` is the model's margin (log-odds for boosted classifiers, class
        probabilities for scikit-learn forest classifiers, as shap). ``"probability"`` and
        ``"log_loss"`` (interventional, they need ``data``) as in shap. ``"predict"``: a
        regressor's prediction (its margin; refused where predict applies a link).
        ``"predict_proba"``: class probabilities; forest classifiers' margin already is one,
        binary logistic models give the two columns ``1 - p`` and ``p`` (needs ``data``). An
        int ``i`` explains output ``i`` alone (shap's convention for NGBoost; any multi-output
        model).
    feature_perturbation : {"auto", "tree_path_dependent", "interventional"}
        ``"auto"`` is interventional when ``data`` is given, path-dependent otherwise.
        ``"interventional"`` without data warns (``FutureWarning``, as shap) and falls back to
        the path-dependent game.
    feature_names : list of str, optional
        Names for the explanations' columns when ``X`` is an array (a table's own names win,
        as in shap).
    approximate : bool, optional
        Deprecated in shap (it warns and ignores it); pass ``approximate`` to
        :meth:`shap_values` or the call instead. Accepted with the same warning.
    link : None, "identity" or "logit", or shap's ``shap.links`` of these names
        Accepted as shap accepts it; as in shap 0.51 it changes nothing (use
        ``model_output="probability"`` to explain probabilities). Kept as ``self.link``.
    linearize_link : optional
        Accepted and ignored, as in shap.
    data_weights : array-like, optional
        Weights of the background rows (treelens' addition).
    n_jobs : int, optional
        Default number of threads for the methods; None means the default (all cores; see
        ``treelens.options.default_n_jobs``), resolved where the work runs.

    Attributes
    ----------
    expected_value : ndarray, numpy.float64 or callable
        The value the explanations start from, shaped as shap gives it: ``(k,)`` for ``k``
        outputs; for one output a 1-element array without data and a ``numpy.float64`` (a
        ``float``) with data; a function of the labels for ``"log_loss"``.
    model : treelens.Model
        The loaded model.
    """

    def __init__(
        self,
        model,
        data=None,
        model_output="raw",
        feature_perturbation: str = "auto",
        feature_names=None,
        approximate=_UNSET,
        link=None,
        linearize_link=None,
        *,
        data_weights=None,
        n_jobs: int | None = None,
    ):
        if feature_perturbation not in _PERTURBATIONS:
            raise InvalidInputError(
                f"feature_perturbation={feature_perturbation!r} is not supported; use one of "
                f"{_PERTURBATIONS}"
            )
        if approximate is not _UNSET:
            warnings.warn(
                "TreeExplainer(approximate=...) is deprecated in shap and ignored; pass "
                "approximate to shap_values() or to the call",
                DeprecationWarning,
                stacklevel=2,
            )
        self.link = _check_link(link)
        # Checked now, resolved per call (see _jobs).
        self.n_jobs = None if n_jobs is None else check_n_jobs(n_jobs)
        self.model = load(model)
        self._forest = self.model.forest
        data = _masker_rows(data)
        self.data = data
        self._data_weights = data_weights
        self.model_output = model_output
        self._kind, self._select = _resolve_output(self.model, model_output)
        self._feature_names = None if feature_names is None else list(feature_names)
        if self._feature_names is not None and len(self._feature_names) != self.model.n_features:
            raise InvalidInputError(
                f"feature_names has {len(self._feature_names)} names, but the model has "
                f"{self.model.n_features} features"
            )
        if feature_perturbation == "interventional" and data is None:
            warnings.warn(
                'feature_perturbation="interventional" needs background data; without it the '
                'explainer uses "tree_path_dependent" (as shap does, which will raise an error '
                "in the future): pass data=... for the interventional game",
                FutureWarning,
                stacklevel=2,
            )
            feature_perturbation = "tree_path_dependent"
        self._interventional_wanted = feature_perturbation == "interventional" or (
            data is not None and feature_perturbation == "auto"
        )
        if not self._interventional_wanted:
            if self._kind != "raw":
                raise InvalidInputError(
                    f'model_output="{model_output}" needs background data: without data only '
                    'model_output="raw" is available (the path-dependent explanation of the '
                    "model's margin); pass data=... to explain other outputs"
                )
            if data is not None:
                self._forest = _forest_with_data_covers(self.model, data, data_weights)
            elif data_weights is not None:
                raise InvalidInputError("data_weights need data: pass data=...")
            elif not self.model.has_covers:
                raise InvalidInputError(
                    f"this {self.model.library} model stores no node covers (the training "
                    "weight reaching each node), which the path-dependent explanation needs: "
                    "pass background data (data=...), interventional by default, or with "
                    'feature_perturbation="tree_path_dependent" to take the covers from it'
                )
        self.feature_perturbation = (
            "interventional" if self._interventional_wanted else "tree_path_dependent"
        )
        self._limited: dict[int, TreeExplainer] = {}
        self._tree_limited = False
        self._saabas_forest = None
        self._set_up()

    def _set_up(self) -> None:
        """The interventional explainer (if any) and the expected value of ``self.model``."""
        self._interventional = None
        if self._interventional_wanted:
            from .interventional import InterventionalExplainer

            kind = "probability" if self._kind == "doubled" else self._kind
            self._interventional = InterventionalExplainer(
                self.model, self.data, data_weights=self._data_weights, model_output=kind
            )
            if callable(self._interventional.expected_value):
                # log_loss: as in shap, the expected value is a function of the labels y.
                self.expected_value = self._interventional.expected_value
                self._expected = None
                return
            expected = np.asarray(self._interventional.expected_value, dtype=np.float64)
        else:
            expected = np.asarray(_core.path_expected_value(self._forest), dtype=np.float64)
        self._expected = self._outputs(expected.reshape(1, -1), complement=True)[0]
        if self._expected.size > 1:
            self.expected_value = self._expected.copy()
        elif self.data is None:
            # shap: a 1-element array from the trees' covers, a scalar from background data.
            self.expected_value = self._expected.copy()
        else:
            self.expected_value = np.float64(self._expected[0])

    # -- helpers ------------------------------------------------------------------------------
    def _jobs(self, n_jobs):
        # Resolved per call: a default (None) means what it means where the work runs.
        return check_n_jobs(self.n_jobs if n_jobs is None else n_jobs)

    @property
    def _n_out(self) -> int:
        """Outputs explained: the model's, one when ``model_output`` selects one, two for a
        binary classifier's ``predict_proba``."""
        if self._select is not None:
            return 1
        return 2 if self._kind == "doubled" else self.model.n_outputs

    def _outputs(self, a: np.ndarray, *, complement: bool = False) -> np.ndarray:
        """The explained outputs of per-output results (last axis): the selected one, or a
        binary classifier's two columns (values ``-v, v``; expected values and outputs
        ``1 - e, e`` with ``complement``)."""
        if self._select is not None:
            return a[..., self._select : self._select + 1]
        if self._kind == "doubled":
            return np.concatenate([1.0 - a if complement else -a, a], axis=-1)
        return a

    def _for_trees(self, tree_limit) -> TreeExplainer:
        """This explainer restricted to the first trees shap's ``tree_limit`` names (itself
        for all of them); made once per limit."""
        n = trees_for_limit(self.model, tree_limit)
        if n is None:
            return self
        if n not in self._limited:
            view = copy.copy(self)
            view._limited = {}
            view._saabas_forest = None
            view._tree_limited = True
            view.model = dataclasses.replace(self.model, forest=self.model.forest.first_trees(n))
            view._forest = self._forest.first_trees(n)
            view._set_up()
            self._limited[n] = view
        return self._limited[n]

    def _saabas(self):
        """The forest whose covers the Saabas values weigh by: the path-dependent explainer's
        (training covers, or the data's), or the background's for an interventional one, kept
        exact (no 1e-6 for unreached nodes) so that the root's expectation is the background's
        mean prediction, the interventional expected value."""
        if self._saabas_forest is None:
            self._saabas_forest = (
                _forest_with_data_covers(self.model, self.data, self._data_weights, 0.0)
                if self._interventional is not None
                else self._forest
            )
        return self._saabas_forest

    def _compute(self, x, y, interactions: bool, jobs, progress, max_bytes, approximate=False):
        """The float64 values of the rows ``x`` (a matrix from :meth:`Model.read`, in the
        model's column order): (n, p, k) or (n, p, p, k), features in the model's order, the
        explained outputs last."""
        if approximate:
            out = _core.saabas_values(self._saabas(), x, n_jobs=jobs, progress=progress)
        elif self._interventional is not None:
            run = self._interventional._run
            out = np.asarray(run(x, y, interactions, jobs, progress), dtype=np.float64)
        else:
            run = _core.path_shap_interaction_values if interactions else _core.path_shap_values
            # y only matters for model_output="log_loss"; ignored here, as shap does.
            out = run(self._forest, x, n_jobs=jobs, progress=progress, max_bytes=max_bytes)
        return self._outputs(out)

    def _check_sum(self, values, rows: Prepared, X) -> None:
        """``check_additivity`` on one block: ``values`` (n, p, k) in float64, ``rows`` the
        block as read, ``X`` the block as given (for the live estimator)."""
        if self._kind == "log_loss":
            return  # as shap: the loss has no model output to compare with
        x = rows.matrix
        n = x.shape[0]
        margin, float32 = (None, False)
        # The live estimator reads columns by position: only arrays and pandas DataFrames in
        # the model's own column order are given to it.
        if rows.source is not None:
            X = rows.source  # a Pipeline's final step reads the transformed rows
        plain = isinstance(X, np.ndarray) or type(X).__module__.startswith("pandas")
        if not self._tree_limited and rows.order is None and plain:
            margin, float32 = library_margin(self.model, X, n)
        source = f"{self.model.library}'s own prediction"
        if margin is None:
            margin = np.asarray(self.model.forest.predict(x), dtype=np.float64)
            source = "treelens' native prediction"
        output = margin
        if self._kind in ("probability", "doubled"):
            output = self.model.transform_margin(margin)
        output = self._outputs(output, complement=True)
        check_additivity(values, self._expected, output, float32=float32, source=source)

    def _explain(
        self,
        X,
        y,
        interactions: bool,
        jobs,
        progress,
        max_bytes,
        dtype,
        approximate: bool = False,
        check: bool = False,
    ) -> tuple[np.ndarray, Prepared]:
        """``(values of the rows of X in dtype, the read input)``, sizes checked before anything
        is converted: the result against ``max_bytes`` and, with the float64 copy of ``X``,
        against the memory budget. float32 results are computed in float64 a block of rows at a
        time (input copy and float64 values of one block at once) and stored in float32.
        Features are in X's column order (a table's own, matched to the model by name).
        ``check``: check additivity (on each block, before it is stored)."""
        p, k = self.model.n_features, self._n_out
        # The feature axes of the values, after the row axis.
        axes = (1, 2) if interactions else 1
        label = "shap interaction values" if interactions else "shap values"
        n = rows_of(X)
        if n is not None:
            dims = (n, p, p, k) if interactions else (n, p, k)
            what = (
                f"the SHAP {'interaction ' if interactions else ''}values ("
                + " x ".join(map(str, dims))
                + f" {dtype.name})"
            )
            way_out = (
                'use reduce="mean_abs" for the (p, p) mean |interaction| over rows, or explain '
                "fewer rows at a time"
                if interactions
                else "explain fewer rows at a time"
            )
            if dtype == np.float64:
                way_out += " (or dtype=numpy.float32 to store the values in half the memory)"
            out_bytes = int(np.prod(dims, dtype=object)) * dtype.itemsize
            ensure_fits(what, out_bytes, way_out, max_bytes=max_bytes)
            if dtype == np.float64:
                ensure_fits(
                    f"{what} and X converted to float64",
                    out_bytes + input_bytes(n, p),
                    way_out,
                )
        if dtype == np.float64:
            rows = self.model.read(X)
            x = rows.matrix
            cb = progress_callback(progress, label, x.shape[0])
            if self._interventional is not None and not approximate:
                cb = progress
            values = self._compute(x, y, interactions, jobs, cb, max_bytes, approximate)
            if check:
                self._check_sum(values, rows, X)
            return rows.columns(axes, values), rows
        if n is None:
            # No shape to count rows from (nested lists): read it whole, then by blocks.
            X = self.model.read(X).matrix
            n = X.shape[0]
        per_row = (p * p * k if interactions else p * k) + p
        step = block_rows(8 * per_row)
        X = sliceable(X)  # a COO or CSC matrix as CSR once, not once a block
        out = np.empty((n, p, p, k) if interactions else (n, p, k), dtype=np.float32)
        bar = progress_callback(progress, label, n)
        y = None if y is None else np.asarray(y)
        rows = None
        # At least one (possibly empty) block, so that X is checked and its names read.
        for r0 in range(0, n, step) if n > 0 else (0,):
            r1 = min(n, r0 + step)
            block = _row_block(X, r0, r1)
            rows = self.model.read(block)
            x = rows.matrix
            if self._interventional is not None and not approximate:
                cb = progress
            elif bar is None:
                cb = None
            else:

                def cb(done, total, r0=r0, r1=r1):
                    bar(r0 + (r1 - r0) * done // max(total, 1), n)

            part = y if y is None or np.ndim(y) == 0 else y[r0:r1]
            values = self._compute(x, part, interactions, jobs, cb, None, approximate)
            if check:
                self._check_sum(values, rows, block)
            out[r0:r1] = rows.columns(axes, values)
        return out, rows

    def _interventional_summary(self, x, y, reduce: str, jobs, progress) -> np.ndarray:
        """The interventional interactions of the rows of ``x`` (a matrix from
        :meth:`Model.read`, in the model's column order) reduced over rows, a block of rows at a
        time: the (n, p, p, k) tensor is never held whole."""
        n, p, k = x.shape[0], self.model.n_features, self.model.n_outputs
        step = block_rows(8 * p * p * max(k, self._n_out))
        y = None if y is None else np.asarray(y)
        total = None
        for r0 in range(0, n, step):
            part = y if y is None or np.ndim(y) == 0 else y[r0 : r0 + step]
            block = self._outputs(
                np.asarray(
                    self._interventional._run(x[r0 : r0 + step], part, True, jobs, progress),
                    dtype=np.float64,
                )
            )
            if reduce == "mean_abs":
                block = np.abs(block)
            if step >= n:  # one block: numpy's mean, as the full tensor gives
                return block.mean(axis=0)
            total = block.sum(axis=0) if total is None else total + block.sum(axis=0)
        return total / n

    def _squeeze(self, out: np.ndarray) -> np.ndarray:
        """Drops the output axis for one-output models (shap's shapes)."""
        return out[..., 0] if out.shape[-1] == 1 else out

    # -- public API ---------------------------------------------------------------------------
    def shap_values(
        self,
        X,
        y=None,
        tree_limit: int | None = None,
        approximate: bool = False,
        check_additivity: bool = True,
        from_call: bool = False,
        *,
        n_jobs: int | None = None,
        progress: bool | None = None,
        max_bytes: int | None = None,
        dtype=np.float64,
        reduce: str | None = None,
    ) -> np.ndarray:
        """SHAP values of the rows of ``X`` (shap's signature, plus keyword-only options).

        Parameters
        ----------
        X : array-like or table of shape (n_samples, n_features)
            A numpy array (read by position), or a pandas or polars DataFrame or pyarrow
            Table (columns matched to the model's feature names by name, in any order). One
            row may also be given as a 1-D array or a pandas Series (as in shap); the row axis
            is then dropped from the result.
        y : array-like, optional
            Labels, for ``model_output="log_loss"`` (interventional only; ignored otherwise).
        tree_limit : int, optional
            Explain only the model's first trees, in shap's units (see
            :mod:`treelens.tree_limit`: trees for XGBoost and HistGradientBoosting, rounded
            down to whole rounds; iterations for LightGBM; stages for GradientBoosting; trees
            for forests, averaged over those). None or -1: every tree. The values then add up
            to that smaller model's output from its own expected value (not the explainer's
            ``expected_value``, which is the whole model's).
        approximate : bool
            shap's ``approximate=True``: Saabas values, computed exactly (each split's change
            of the cover-weighted expected value credited to the split feature along the
            row's path; what XGBoost's ``approx_contribs`` gives). Fast, but not Shapley
            values. For ``model_output="raw"`` (and selected outputs) only.
        check_additivity : bool
            Check that the values plus the expected value equal the model's own output (its
            library's prediction for a live estimator, else treelens' native one; relative
            tolerance 1e-9, 1e-4 against XGBoost's float32); raises
            :class:`~treelens.exceptions.AdditivityError` otherwise. Costs one prediction.
            Not checked for ``"log_loss"`` (as in shap).
        from_call : bool
            Accepted for compatibility with shap; ignored.
        n_jobs : int, optional
            Threads; None means the explainer's default (all cores).
        progress : bool, optional
            Show a progress bar; by default only for long work on a terminal.
        max_bytes : int, optional
            Refuse (OutputTooLargeError) a result larger than this. Results are always checked
            (before ``X`` is converted) against the memory budget: the smallest of the
            machine's available memory and the process's limits (``RLIMIT_AS``,
            ``RLIMIT_DATA``, cgroup ``memory.max``); see ``treelens.memory.memory_budget()``.
        dtype : numpy.float64 or numpy.float32
            The type the values are stored in. They are always computed in float64; float32
            stores them in half the memory, converting ``X`` and computing a block of rows at a
            time, for jobs whose float64 result would not fit.
        reduce : {None, "mean_abs", "mean"}
            None returns the values of every row. ``"mean_abs"`` returns the mean over rows of
            ``|phi[r, j]|`` per feature (the global importance usually plotted), ``"mean"`` the
            plain mean; computed a block of rows at a time, in float64.

        Returns
        -------
        ndarray of shape (n_samples, n_features) or (n_samples, n_features, n_outputs)
            ``values.sum(axis=1) + expected_value`` equals the model's output. Features are
            in X's column order (as in scikit-learn): a table's own order, the model's for
            arrays. With ``reduce``: ``(n_features,)`` or ``(n_features, n_outputs)``.
            For a Dask array or DataFrame: a dask array with X's row chunks (lazy); with
            ``reduce``, the computed summary (see :mod:`treelens.dask`).
        """
        _check_reduce(reduce)
        if is_dask_collection(X):
            from . import dask as tl_dask

            options = dict(
                tree_limit=tree_limit,
                approximate=approximate,
                check_additivity=check_additivity,
                n_jobs=n_jobs,
                progress=False,
                max_bytes=max_bytes,
                dtype=dtype,
            )
            return tl_dask.explain(self.shap_values, X, y, reduce, **options)
        if approximate and self._kind != "raw":
            raise InvalidInputError(
                f"approximate=True (Saabas values) explains the raw margin only, not "
                f"model_output={self.model_output!r}; use approximate=False"
            )
        max_bytes = check_max_bytes(max_bytes)
        dtype = check_dtype(dtype)
        jobs = self._jobs(n_jobs)
        ex = self._for_trees(tree_limit)
        X, one = _one_row(X)
        if one and y is not None:
            y = np.atleast_1d(y)
        if reduce is not None:
            return self._squeeze(
                ex._shap_summary(X, y, reduce, jobs, progress, bool(approximate), check_additivity)
            )
        out, _ = ex._explain(
            X, y, False, jobs, progress, max_bytes, dtype, bool(approximate), bool(check_additivity)
        )
        out = self._squeeze(out)
        return out[0] if one else out

    def _shap_summary(self, X, y, reduce, jobs, progress, approximate, check) -> np.ndarray:
        """The mean over X's rows of the SHAP values (``reduce="mean"``) or of their absolute
        values (``"mean_abs"``), float64 ``(p, k)``, a block of rows at a time."""
        n = rows_of(X)
        if n is None:
            X = self.model.read(X).matrix
            n = X.shape[0]
        if n == 0:
            raise InvalidInputError(f"X has no rows: reduce={reduce!r} has nothing to average")
        p, k = self.model.n_features, self._n_out
        step = block_rows(8 * (p * k + p))
        X = sliceable(X)
        y = None if y is None else np.asarray(y)
        total = np.zeros((p, k))
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            part = y if y is None or np.ndim(y) == 0 else y[r0:r1]
            values, _ = self._explain(
                _row_block(X, r0, r1), part, False, jobs, progress, None,
                np.dtype(np.float64), approximate, check,
            )  # fmt: skip
            total += (np.abs(values) if reduce == "mean_abs" else values).sum(axis=0)
        return total / n

    def shap_interaction_values(
        self,
        X,
        y=None,
        tree_limit: int | None = None,
        *,
        reduce: str | None = None,
        n_jobs: int | None = None,
        progress: bool | None = None,
        max_bytes: int | None = None,
        dtype=np.float64,
    ) -> np.ndarray:
        """SHAP interaction values of the rows of ``X``.

        ``phi[r, i, j]`` (i != j) is half the Shapley interaction index of features i and j, the
        diagonal holds the main effects, so each row of a matrix sums to the SHAP value.

        Parameters
        ----------
        X : array-like or table of shape (n_samples, n_features)
            As in :meth:`shap_values`; or one row as a 1-D array or a pandas Series (the row
            axis is then dropped).
        y : array-like, optional
            Labels (interventional ``log_loss`` only).
        tree_limit : int, optional
            The first trees only, as in :meth:`shap_values`.
        reduce : {None, "mean_abs", "mean"}
            None returns the full tensor. ``"mean_abs"`` returns the mean over rows of
            ``|phi[r, i, j]|`` (and ``"mean"`` the plain mean), computed without ever holding the
            per-row tensor (path-dependent explainer).
        n_jobs, progress :
            As in :meth:`shap_values`.
        max_bytes : int, optional
            Refuse (OutputTooLargeError) a full tensor larger than this; the memory budget is
            always checked (see :meth:`shap_values`).
        dtype : numpy.float64 or numpy.float32
            The type of the full tensor (computed in float64, stored in float32 a block of rows
            at a time with ``numpy.float32``); summaries (``reduce``) are float64.

        Returns
        -------
        ndarray
            ``(n, p, p)`` or ``(n, p, p, k)``; with ``reduce``: ``(p, p)`` or ``(p, p, k)``.
            Both feature axes are in X's column order, as in :meth:`shap_values`. For a Dask
            collection: lazy, or computed with ``reduce``, as in :meth:`shap_values`.
        """
        _check_reduce(reduce)
        if is_dask_collection(X):
            from . import dask as tl_dask

            options = dict(
                tree_limit=tree_limit,
                n_jobs=n_jobs,
                progress=False,
                max_bytes=max_bytes,
                dtype=dtype,
            )
            return tl_dask.explain(self.shap_interaction_values, X, y, reduce, **options)
        max_bytes = check_max_bytes(max_bytes)
        dtype = check_dtype(dtype)
        jobs = self._jobs(n_jobs)
        ex = self._for_trees(tree_limit)
        X, one = _one_row(X)
        if one:
            y = None if y is None else np.atleast_1d(y)
            out = ex.shap_interaction_values(
                X,
                y,
                reduce=reduce,
                n_jobs=jobs,
                progress=progress,
                max_bytes=max_bytes,
                dtype=dtype,
            )
            return out if reduce is not None else out[0]
        if reduce is None:
            out, _ = ex._explain(X, y, True, jobs, progress, max_bytes, dtype)
            return self._squeeze(out)
        rows = ex.model.read(X)
        x = rows.matrix
        cb = progress_callback(progress, "shap interaction values", x.shape[0])
        # The two feature axes come first once reduced over the rows.
        axes = (0, 1)
        if ex._interventional is not None:
            out = ex._interventional_summary(x, y, reduce, jobs, cb)
            return rows.columns(axes, self._squeeze(out))
        out = _core.path_shap_interaction_summary(ex._forest, x, reduce, n_jobs=jobs, progress=cb)
        out = ex._outputs(np.asarray(out, dtype=np.float64))
        return rows.columns(axes, self._squeeze(out))

    def __call__(
        self,
        X,
        y=None,
        interactions: bool = False,
        check_additivity: bool = True,
        approximate: bool = False,
        *,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ) -> Explanation:
        """An :class:`Explanation` of the rows of ``X`` (interaction values with
        ``interactions=True``), as ``shap.TreeExplainer.__call__``: with shap installed it is a
        ``shap.Explanation`` (that ``shap.plots`` take), numpy-only otherwise.

        Its ``values``, ``data`` and ``feature_names`` are all in the input's column order (a
        table's own order, matched to the model by name; the model's for arrays, named by
        ``feature_names=`` when given), so each value sits with its own feature's name and
        data. One row given as a 1-D array or a pandas Series gives the explanation of that
        row (no row axis). ``check_additivity`` and ``approximate`` as in :meth:`shap_values`
        (``approximate`` with interactions is refused, as in shap). ``feature_groups`` of the
        model (one-hot columns of a Pipeline) is passed on for :meth:`Explanation.sum_groups`.
        """
        if is_dask_collection(X):
            raise InvalidInputError(
                "an Explanation holds its values and data in memory: for a Dask collection call "
                "shap_values() or shap_interaction_values() (lazy dask arrays), or pass "
                "reduce='mean_abs' for the global importance"
            )
        if approximate and interactions:
            raise InvalidInputError(
                "approximate=True (Saabas values) has no interaction values; use approximate=False"
            )
        if approximate and self._kind != "raw":
            raise InvalidInputError(
                f"approximate=True (Saabas values) explains the raw margin only, not "
                f"model_output={self.model_output!r}; use approximate=False"
            )
        n_jobs = self._jobs(n_jobs)
        X, one = _one_row(X)
        if one and y is not None:
            y = np.atleast_1d(y)
        values, rows = self._explain(
            X,
            y,
            interactions,
            n_jobs,
            progress,
            None,
            np.dtype(np.float64),
            bool(approximate),
            bool(check_additivity) and not interactions,
        )
        values = self._squeeze(values)
        n = values.shape[0]
        if self._expected is None:
            base = self._outputs(
                np.asarray(self._interventional.base_values(n, y)), complement=True
            )
            base = self._squeeze(base)
        elif self._expected.size == 1:
            base = np.full(n, self._expected[0])
        else:
            base = np.tile(self._expected, (n, 1))
        output_names = None
        if self._n_out > 1:
            classes = self.model.classes
            if self.model.output_names is not None:
                classes = self.model.output_names
            if self._select is None and classes is not None and len(classes) == self._n_out:
                output_names = list(classes)
        names = rows.names
        if named_table(X) is None:
            # An array: named as shap names it, by feature_names=, else the background's.
            if self._feature_names is not None:
                names = list(self._feature_names)
            elif names is None:
                names = _table_names(self.data)
        out = make_explanation(
            values=values,
            base_values=base,
            data=input_data(X) if rows.source is None else _transformed_data(rows.source),
            feature_names=names,
            output_names=output_names,
            feature_groups=getattr(self.model, "feature_groups", None),
        )
        return out[0] if one else out

    def __repr__(self) -> str:
        return f"treelens.TreeExplainer({self.model!r}, {self.feature_perturbation})"


def _table_names(data) -> list[str] | None:
    """Column names of background data given as a table (shap names arrays by them)."""
    if data is None:
        return None
    table = named_table(data)
    return None if table is None else list(table.names)


def shap_values(
    model,
    X,
    *,
    data=None,
    data_weights=None,
    y=None,
    feature_perturbation: str = "auto",
    model_output: str = "raw",
    interactions: bool = False,
    n_jobs: int | None = None,
    progress: bool | None = None,
    max_bytes: int | None = None,
    dtype=np.float64,
) -> np.ndarray:
    """SHAP values (or interaction values) of ``X`` in one call.

    Equivalent to ``TreeExplainer(model, data, model_output, feature_perturbation)`` followed by
    ``shap_values(X)`` (or ``shap_interaction_values(X)`` with ``interactions=True``); see
    :class:`TreeExplainer` for the parameters and the shapes returned, and
    :meth:`TreeExplainer.shap_values` for ``max_bytes`` (a cap on the result's size besides the
    memory budget) and ``dtype`` (``numpy.float32`` stores the float64 values in half the
    memory).

    Parameters
    ----------
    model : Model or anything :func:`treelens.load` accepts
    X : array-like or table of shape (n, p), or a Dask collection
        The rows explained.
    data, data_weights, feature_perturbation, model_output
        As in :class:`TreeExplainer`.
    y : array-like of shape (n,), optional
        Labels, for ``model_output="log_loss"``.
    interactions : bool
        SHAP interaction values instead of SHAP values.
    n_jobs : int, optional
        Threads; None means all cores.
    progress : bool, optional
        Show a progress bar.
    max_bytes : int, optional
        Refuse results larger than this.
    dtype : numpy float dtype
        ``numpy.float64`` (default) or ``numpy.float32``.

    Returns
    -------
    ndarray
        ``(n, p)`` or ``(n, p, k)``; with ``interactions``, ``(n, p, p)`` or ``(n, p, p, k)``.
    """
    n_jobs = check_n_jobs(n_jobs)
    max_bytes = check_max_bytes(max_bytes)
    dtype = check_dtype(dtype)
    ex = TreeExplainer(
        model,
        data,
        data_weights=data_weights,
        feature_perturbation=feature_perturbation,
        model_output=model_output,
    )
    run = ex.shap_interaction_values if interactions else ex.shap_values
    return run(X, y, n_jobs=n_jobs, progress=progress, max_bytes=max_bytes, dtype=dtype)
