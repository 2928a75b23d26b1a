"""`TreeExplainer`: exact TreeSHAP values and interaction values, a drop-in for
``shap.TreeExplainer``."""

from __future__ import annotations

import numpy as np

from . import _core
from .exceptions import InvalidInputError
from .explanation import Explanation
from .inputs import Prepared, input_data, is_table, named_table
from .loaders import load
from .memory import block_rows, ensure_fits, input_bytes, rows_of
from .options import check_dtype, check_max_bytes, check_n_jobs
from .progress import progress_callback

__all__ = ["TreeExplainer", "shap_values"]

_PERTURBATIONS = ("auto", "tree_path_dependent", "interventional")
_OUTPUTS = ("raw", "probability", "log_loss")
_REDUCTIONS = ("mean_abs", "mean")


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
    """Rows ``r0:r1`` of an input, without converting the rest (pandas DataFrames by position,
    polars DataFrames and Arrow tables by slice, arrays and memmaps by view)."""
    table = named_table(X)
    if table is None:
        return X[r0:r1]
    if table.kind == "pandas":
        return X.iloc[r0:r1]
    return X.slice(r0, r1 - r0)


def _check_shap_options(tree_limit, approximate) -> None:
    if approximate:
        raise InvalidInputError(
            "approximate=True (shap's Saabas approximation) is not offered: treelens computes "
            "the exact values, fast; drop the option"
        )
    if tree_limit is not None and tree_limit != -1:
        raise InvalidInputError(
            f"tree_limit={tree_limit!r} is not supported: the explanation covers every tree of "
            "the loaded model; for XGBoost load fewer rounds with "
            "treelens.load(model, iteration_range=(0, k))"
        )


#: What shap puts in place of a zero cover measured on background data.
_ZERO_COVER = 1e-6


def _forest_with_data_covers(model, data, data_weights):
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
    covers[covers == 0.0] = _ZERO_COVER
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
    """Exact SHAP values of a tree ensemble.

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
    feature_perturbation : {"auto", "tree_path_dependent", "interventional"}
        ``"auto"`` is interventional when ``data`` is given, path-dependent otherwise.
    model_output : {"raw", "probability", "log_loss"}
        What to explain. ``"raw"`` is the model's margin (log-odds for boosted classifiers, class
        probabilities for scikit-learn forest classifiers, as shap). The others need ``data``.
    data_weights : array-like, optional
        Weights of the background rows.
    n_jobs : int, optional
        Default number of threads for the methods; None means all cores.

    Attributes
    ----------
    expected_value : float or ndarray
        The value the explanations start from: a float for one output, ``(k,)`` for ``k``.
    model : treelens.Model
        The loaded model.
    """

    def __init__(
        self,
        model,
        data=None,
        feature_perturbation: str = "auto",
        model_output: str = "raw",
        *,
        data_weights=None,
        n_jobs: int | None = None,
    ):
        if feature_perturbation not in _PERTURBATIONS:
            raise InvalidInputError(
                f"feature_perturbation={feature_perturbation!r} is not supported; use one of "
                f"{_PERTURBATIONS}"
            )
        if model_output not in _OUTPUTS:
            raise InvalidInputError(
                f"model_output={model_output!r} is not supported; use one of {_OUTPUTS}"
            )
        self.n_jobs = check_n_jobs(n_jobs)
        self.model = load(model)
        self._forest = self.model.forest
        data = _masker_rows(data)
        self.data = data
        self.model_output = model_output
        interventional = feature_perturbation == "interventional" or (
            data is not None and feature_perturbation == "auto"
        )
        if interventional:
            if data is None:
                raise InvalidInputError(
                    'feature_perturbation="interventional" needs background data: pass data=...'
                )
            from .interventional import InterventionalExplainer

            self._interventional = InterventionalExplainer(
                self.model, data, data_weights=data_weights, model_output=model_output
            )
            self.feature_perturbation = "interventional"
            if callable(self._interventional.expected_value):
                # log_loss: as in shap, the expected value is a function of the labels y.
                self.expected_value = self._interventional.expected_value
                self._expected = None
                return
            expected = np.asarray(self._interventional.expected_value, dtype=np.float64)
        else:
            if model_output != "raw":
                raise InvalidInputError(
                    f'model_output="{model_output}" needs background data: without data only '
                    'model_output="raw" is available (the path-dependent explanation of the '
                    "model's margin); pass data=... to explain other outputs"
                )
            self._interventional = None
            self.feature_perturbation = "tree_path_dependent"
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
            expected = np.asarray(_core.path_expected_value(self._forest), dtype=np.float64)
        self._expected = expected.reshape(-1)
        self.expected_value = (
            float(self._expected[0]) if self._expected.size == 1 else self._expected.copy()
        )

    # -- helpers ------------------------------------------------------------------------------
    def _jobs(self, n_jobs):
        return self.n_jobs if n_jobs is None else check_n_jobs(n_jobs)

    def _compute(self, x, y, interactions: bool, jobs, progress, max_bytes) -> np.ndarray:
        """The float64 values of the rows ``x`` (a matrix from :meth:`Model.read`, in the
        model's column order): (n, p, k) or (n, p, p, k), features in the model's order."""
        if self._interventional is not None:
            run = self._interventional._run
            return np.asarray(run(x, y, interactions, jobs, progress), dtype=np.float64)
        run = _core.path_shap_interaction_values if interactions else _core.path_shap_values
        # y only matters for model_output="log_loss"; ignored here, as shap does.
        return run(self._forest, x, n_jobs=jobs, progress=progress, max_bytes=max_bytes)

    def _explain(
        self, X, y, interactions: bool, jobs, progress, max_bytes, dtype
    ) -> tuple[np.ndarray, Prepared]:
        """``(values of the rows of X in dtype, the read input)``, sizes checked before anything
        is converted: the result against ``max_bytes`` and, with the float64 copy of ``X``,
        against the memory budget. float32 results are computed in float64 a block of rows at a
        time (input copy and float64 values of one block at once) and stored in float32.
        Features are in X's column order (a table's own, matched to the model by name)."""
        p, k = self.model.n_features, self.model.n_outputs
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
            if self._interventional is not None:
                cb = progress
            return rows.columns(axes, self._compute(x, y, interactions, jobs, cb, max_bytes)), rows
        if n is None:
            # No shape to count rows from (nested lists): read it whole, then by blocks.
            X = self.model.read(X).matrix
            n = X.shape[0]
        per_row = (p * p * k if interactions else p * k) + p
        step = block_rows(8 * per_row)
        out = np.empty((n, p, p, k) if interactions else (n, p, k), dtype=np.float32)
        bar = progress_callback(progress, label, n)
        y = None if y is None else np.asarray(y)
        rows = None
        # At least one (possibly empty) block, so that X is checked and its names read.
        for r0 in range(0, n, step) if n > 0 else (0,):
            r1 = min(n, r0 + step)
            rows = self.model.read(_row_block(X, r0, r1))
            x = rows.matrix
            if self._interventional is not None:
                cb = progress
            elif bar is None:
                cb = None
            else:

                def cb(done, total, r0=r0, r1=r1):
                    bar(r0 + (r1 - r0) * done // max(total, 1), n)

            part = y if y is None or np.ndim(y) == 0 else y[r0:r1]
            out[r0:r1] = rows.columns(axes, self._compute(x, part, interactions, jobs, cb, None))
        return out, rows

    def _interventional_summary(self, x, y, reduce: str, jobs, progress) -> np.ndarray:
        """The interventional interactions of the rows of ``x`` (a matrix from
        :meth:`Model.read`, in the model's column order) reduced over rows, a block of rows at a
        time: the (n, p, p, k) tensor is never held whole."""
        n, p, k = x.shape[0], self.model.n_features, self.model.n_outputs
        step = block_rows(8 * p * p * k)
        y = None if y is None else np.asarray(y)
        total = None
        for r0 in range(0, n, step):
            part = y if y is None or np.ndim(y) == 0 else y[r0 : r0 + step]
            block = np.asarray(
                self._interventional._run(x[r0 : r0 + step], part, True, jobs, progress),
                dtype=np.float64,
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
        *,
        n_jobs: int | None = None,
        progress: bool | None = None,
        check_additivity: bool = True,
        max_bytes: int | None = None,
        dtype=np.float64,
        tree_limit: int | None = None,
        approximate: bool = False,
    ) -> np.ndarray:
        """SHAP values of the rows of ``X``.

        Parameters
        ----------
        X : array-like or table of shape (n_samples, n_features)
            A numpy array (read by position), or a pandas or polars DataFrame or pyarrow
            Table (columns matched to the model's feature names by name, in any order). One
            row may also be given as a 1-D array or a pandas Series (as in shap); the row axis
            is then dropped from the result.
        y : array-like, optional
            Labels, for ``model_output="log_loss"`` (interventional only; ignored otherwise).
        n_jobs : int, optional
            Threads; None means the explainer's default (all cores).
        progress : bool, optional
            Show a progress bar; by default only for long work on a terminal.
        check_additivity : bool
            Accepted for compatibility with shap; the values are exact, so there is nothing to
            check.
        max_bytes : int, optional
            Refuse (OutputTooLargeError) a result larger than this. Results are always checked
            (before ``X`` is converted) against the memory budget: the smallest of the
            machine's available memory and the process's limits (``RLIMIT_AS``,
            ``RLIMIT_DATA``, cgroup ``memory.max``); see ``treelens.memory.memory_budget()``.
        dtype : numpy.float64 or numpy.float32
            The type the values are stored in. They are always computed in float64; float32
            stores them in half the memory, converting ``X`` and computing a block of rows at a
            time, for jobs whose float64 result would not fit.
        tree_limit, approximate :
            shap's options; only their defaults are accepted (exact values of every tree). For
            fewer XGBoost rounds load ``tl.load(model, iteration_range=(0, k))``.

        Returns
        -------
        ndarray of shape (n_samples, n_features) or (n_samples, n_features, n_outputs)
            ``values.sum(axis=1) + expected_value`` equals the model's output. Features are
            in X's column order (as in scikit-learn): a table's own order, the model's for
            arrays.
        """
        _check_shap_options(tree_limit, approximate)
        max_bytes = check_max_bytes(max_bytes)
        dtype = check_dtype(dtype)
        jobs = self._jobs(n_jobs)
        X, one = _one_row(X)
        if one and y is not None:
            y = np.atleast_1d(y)
        out, _ = self._explain(X, y, False, jobs, progress, max_bytes, dtype)
        out = self._squeeze(out)
        return out[0] if one else out

    def shap_interaction_values(
        self,
        X,
        y=None,
        *,
        reduce: str | None = None,
        n_jobs: int | None = None,
        progress: bool | None = None,
        max_bytes: int | None = None,
        dtype=np.float64,
        tree_limit: int | None = None,
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
        tree_limit :
            shap's option; only None (every tree) is accepted.

        Returns
        -------
        ndarray
            ``(n, p, p)`` or ``(n, p, p, k)``; with ``reduce``: ``(p, p)`` or ``(p, p, k)``.
            Both feature axes are in X's column order, as in :meth:`shap_values`.
        """
        if reduce is not None and reduce not in _REDUCTIONS:
            raise InvalidInputError(
                f"reduce={reduce!r} is not supported; use None, 'mean_abs' or 'mean'"
            )
        _check_shap_options(tree_limit, False)
        max_bytes = check_max_bytes(max_bytes)
        dtype = check_dtype(dtype)
        jobs = self._jobs(n_jobs)
        X, one = _one_row(X)
        if one:
            y = None if y is None else np.atleast_1d(y)
            out = self.shap_interaction_values(
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
            out, _ = self._explain(X, y, True, jobs, progress, max_bytes, dtype)
            return self._squeeze(out)
        rows = self.model.read(X)
        x = rows.matrix
        cb = progress_callback(progress, "shap interaction values", x.shape[0])
        # The two feature axes come first once reduced over the rows.
        axes = (0, 1)
        if self._interventional is not None:
            out = self._interventional_summary(x, y, reduce, jobs, cb)
            return rows.columns(axes, self._squeeze(out))
        out = _core.path_shap_interaction_summary(self._forest, x, reduce, n_jobs=jobs, progress=cb)
        return rows.columns(axes, self._squeeze(np.asarray(out, dtype=np.float64)))

    def __call__(
        self,
        X,
        y=None,
        *,
        interactions: bool = False,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ) -> Explanation:
        """An :class:`Explanation` of the rows of ``X`` (interaction values with
        ``interactions=True``).

        Its ``values``, ``data`` and ``feature_names`` are all in the input's column order (a
        table's own order, matched to the model by name; the model's for arrays), so each
        value sits with its own feature's name and data. One row given as a 1-D array or a
        pandas Series gives the explanation of that row (no row axis).
        """
        n_jobs = self._jobs(n_jobs)
        X, one = _one_row(X)
        if one and y is not None:
            y = np.atleast_1d(y)
        values, rows = self._explain(
            X, y, interactions, n_jobs, progress, None, np.dtype(np.float64)
        )
        values = self._squeeze(values)
        n = values.shape[0]
        if self._expected is None:
            base = self._squeeze(np.asarray(self._interventional.base_values(n, y)))
        elif self._expected.size == 1:
            base = np.full(n, self._expected[0])
        else:
            base = np.tile(self._expected, (n, 1))
        classes = self.model.classes
        if self.model.output_names is not None:
            classes = self.model.output_names
        n_out = self.model.n_outputs if self._expected is None else self._expected.size
        output_names = list(classes) if classes is not None and len(classes) == n_out else None
        out = Explanation(
            values=values,
            base_values=base,
            data=input_data(X),
            feature_names=rows.names,
            output_names=output_names,
        )
        return out[0] if one else out

    def __repr__(self) -> str:
        return f"treelens.TreeExplainer({self.model!r}, {self.feature_perturbation})"


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

    Equivalent to ``TreeExplainer(model, data, feature_perturbation, model_output)`` followed by
    ``shap_values(X)`` (or ``shap_interaction_values(X)`` with ``interactions=True``); see
    :class:`TreeExplainer` for the parameters and the shapes returned, and
    :meth:`TreeExplainer.shap_values` for ``max_bytes`` (a cap on the result's size besides the
    memory budget) and ``dtype`` (``numpy.float32`` stores the float64 values in half the
    memory).
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
