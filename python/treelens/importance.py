"""Permutation importance with scikit-learn's API and numbers, computed natively.

:func:`permutation_importance` draws exactly the permutations that
``sklearn.inspection.permutation_importance`` draws for the same ``random_state`` and, for the
scorers listed in :data:`NATIVE_SCORERS`, computes the scores in Rust from the model's native
predictions. Any other scorer (a callable, or another scikit-learn scorer name) is evaluated by
scikit-learn on the original estimator, on the same permuted rows: the same numbers, at
scikit-learn's speed.

How it is fast: permuting a column changes a row's output only in trees whose path for that row
splits on the column, and only below the first such split. Along each row's own path, the
repeats whose permuted value goes the other way at a split on the column leave the path there;
from the other child they follow their own value at further splits on the column and the row's
values elsewhere. The column's values are replaced by their rank among its distinct values, and
every split by the number of ranks that go left (both found with the model's own branch rule),
so routing a repeat is one integer comparison. For trees of up to 4,096 nodes the core fills,
per tree and 32 rows at a time, a table of the leaf each row reaches from every node (bottom-up,
with vector compares and blends): a repeat that leaves the path then lands with one lookup, and
the next split on its column below is a link in the landing leaf's list of ancestors. Each step
of a leaf's path also carries the interval of ranks that leave the path there, so for trees
with one or two values per leaf (regressors, binary classifiers) the repeats of a row are
parted 16 at a time (8 with AVX2) by two vector compares per split, with no state carried from
split to split. Repeats that reach another leaf add the difference of leaf values. Larger trees,
and forests past 4 million path entries, are walked node by node.

Numbers and ties: the model's output is summed in 64-bit fixed point (each leaf value rounded to
2^-60 of the largest possible output), so it is a function of the leaves a row reaches, whatever
the order of the sum. Rows reaching the same leaves tie exactly, as in the libraries; but where
*different* leaves sum to the same real number the libraries' sequential float sums may differ in
the last bit while treelens' tie. Only rank-based scorers (ROC AUC) and argmax ties can see this,
on degenerate models (a few categorical columns, symmetric leaf values); scikit-learn's own
forests sum in thread order, so their last bits are not reproducible either.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _core
from .dask import is_dask_collection
from .exceptions import InvalidInputError
from .inputs import Prepared, is_table, named_table
from .loaders import load
from .memory import ensure_fits, input_bytes, rows_of
from .options import check_int, check_n_jobs, check_seed
from .partition_sums import DECOMPOSABLE_SCORERS
from .progress import progress_callback
from .sparse_inputs import is_sparse

__all__ = ["NATIVE_SCORERS", "PermutationImportanceResult", "permutation_importance"]

#: Scorer names computed in Rust (plus ``None``, the estimator's default score).
NATIVE_SCORERS = (*DECOMPOSABLE_SCORERS, "roc_auc", "roc_auc_ovr")

_CLASSIFIER_SCORERS = {
    "accuracy",
    "balanced_accuracy",
    "neg_log_loss",
    "roc_auc",
    "roc_auc_ovr",
}


try:  # pragma: no cover - exercised with and without scikit-learn
    from sklearn.utils import Bunch
except Exception:  # pragma: no cover

    class Bunch(dict):
        """A dict whose keys are also attributes (scikit-learn's ``Bunch``)."""

        def __getattr__(self, key):
            try:
                return self[key]
            except KeyError:
                raise AttributeError(key) from None

        def __setattr__(self, key, value):
            self[key] = value


def _check_random_state(random_state):
    if random_state is None or random_state is np.random:
        return np.random.mtrand._rand
    random_state = check_seed(random_state, generators=False)
    if isinstance(random_state, int):
        return np.random.RandomState(random_state)
    return random_state


def _sample_without_replacement(n_population: int, n_samples: int, rng) -> np.ndarray:
    """scikit-learn's ``sample_without_replacement(method="auto")``, draw for draw."""
    try:
        from sklearn.utils.random import sample_without_replacement
    except Exception:  # pragma: no cover - scikit-learn absent
        return _sample_without_replacement_numpy(n_population, n_samples, rng)
    return np.asarray(sample_without_replacement(n_population, n_samples, random_state=rng))


def _sample_without_replacement_numpy(n_population: int, n_samples: int, rng) -> np.ndarray:
    """The draws of scikit-learn's ``method="auto"``, in numpy (for when it is not installed)."""
    ratio = n_samples / n_population if n_population else 1.0
    if 0.01 < ratio < 0.99:
        return rng.permutation(n_population)[:n_samples]
    if ratio < 0.2:  # tracking selection
        selected: set[int] = set()
        out = np.empty(n_samples, dtype=np.int64)
        for i in range(n_samples):
            j = rng.randint(n_population)
            while j in selected:
                j = rng.randint(n_population)
            selected.add(j)
            out[i] = j
        return out
    out = np.arange(n_samples, dtype=np.int64)  # reservoir sampling
    for i in range(n_samples, n_population):
        j = rng.randint(0, i + 1)
        if j < n_samples:
            out[j] = i
    return out


def _check_max_samples(max_samples) -> None:
    if isinstance(max_samples, (bool, np.bool_)) or not isinstance(
        max_samples, (numbers.Real, np.number)
    ):
        raise InvalidInputError(
            f"max_samples must be an int (a number of rows) or a float in (0, 1] (a fraction "
            f"of rows), got {max_samples!r}"
        )
    if isinstance(max_samples, (numbers.Integral, np.integer)):
        if max_samples < 1:
            raise InvalidInputError(
                f"max_samples={max_samples} must be at least 1 (and at most the number of rows)"
            )
    elif not 0 < max_samples <= 1:
        raise InvalidInputError(
            f"max_samples={max_samples} must be in (0, 1] when a float (a fraction of rows)"
        )


def _check_sizes(n_rows: int, n_features: int, n_repeats: int, max_samples, groups) -> None:
    """Refuses up front (before X is converted) what the permutations, the float64 copy of X
    and the scores would not fit in the memory budget."""
    if isinstance(max_samples, (numbers.Integral, np.integer)):
        m = min(int(max_samples), n_rows)
    else:
        m = int(max_samples * n_rows)
    n_units = len(groups) if hasattr(groups, "__len__") else n_features
    perms = n_repeats * m * 4  # uint32 row indices, one row per repeat
    sample = input_bytes(m, n_features) if m < n_rows else 0  # the sampled rows' copy
    scores = n_units * n_repeats * 8 * 4  # importances, and the core's scores per metric
    ensure_fits(
        f"permutation importance with n_repeats={n_repeats} on {m} rows "
        f"({n_repeats} x {m} permutation indices, {n_units} x {n_repeats} scores) and X "
        "converted to float64",
        perms + scores + input_bytes(n_rows, n_features) + sample,
        "use fewer n_repeats, or score on fewer rows (max_samples)",
    )


def _draw(n_rows: int, n_repeats: int, random_state, max_samples):
    """The rows and permutations scikit-learn draws: ``(row_indices or None, perms)``.

    scikit-learn draws one seed from ``random_state`` and gives every column a fresh
    ``RandomState(seed)``: every column sees the same row subsample and the same shuffles. In
    repeat ``r`` the column is shuffled again in place, so row ``i`` holds the value of row
    ``perms[r, i]`` of the (subsampled) data, the composition of the shuffles so far.
    """
    rng = _check_random_state(random_state)
    seed = rng.randint(np.iinfo(np.int32).max + 1)
    if isinstance(max_samples, bool) or not isinstance(max_samples, numbers.Real):
        raise InvalidInputError(f"max_samples must be an int or a float, got {max_samples!r}")
    if isinstance(max_samples, numbers.Integral):
        if max_samples < 1 or max_samples > n_rows:
            raise InvalidInputError(
                f"max_samples={max_samples} must be between 1 and the number of rows ({n_rows})"
            )
        m = int(max_samples)
    else:
        if not 0 < max_samples <= 1:
            raise InvalidInputError(
                f"max_samples={max_samples} must be in (0, 1] when a float (a fraction of rows)"
            )
        m = int(max_samples * n_rows)
        if m < 1:
            raise InvalidInputError(f"max_samples={max_samples} selects no row of {n_rows}")
    local = np.random.RandomState(seed)
    rows = None
    if m < n_rows:
        rows = _sample_without_replacement(n_rows, m, local)
    idx = np.arange(m)
    src = np.arange(m)
    perms = np.empty((n_repeats, m), dtype=np.uint32)
    for r in range(n_repeats):
        local.shuffle(idx)
        src = src[idx]
        perms[r] = src
    return rows, perms


def _units(groups, n_features: int, names: list[str] | None) -> list[list[int]]:
    if groups is None:
        return [[j] for j in range(n_features)]
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
        raise InvalidInputError("groups must be a list of lists of column indices or names")
    units = []
    for g, group in enumerate(groups):
        if isinstance(group, (str, bytes, numbers.Integral)) or not hasattr(group, "__iter__"):
            group = [group]
        cols = []
        for c in group:
            if isinstance(c, str):
                if names is None or c not in names:
                    raise InvalidInputError(
                        f"group {g} names column {c!r}, which is not a feature name"
                        + ("" if names is None else f" (known: {names[:10]}...)")
                    )
                cols.append(names.index(c))
            elif isinstance(c, numbers.Integral) and not isinstance(c, bool):
                if not 0 <= int(c) < n_features:
                    raise InvalidInputError(
                        f"group {g} names column {c}, but X has {n_features} columns"
                    )
                cols.append(int(c))
            else:
                raise InvalidInputError(f"group {g} holds {c!r}: expected a column index or name")
        if not cols:
            raise InvalidInputError(f"group {g} is empty")
        units.append(list(dict.fromkeys(cols)))
    if not units:
        raise InvalidInputError("groups is empty")
    return units


def _scorer_names(scoring, model):
    """``(names, single)``: scorer entries (str or callable) keyed by result name."""
    default = "accuracy" if model.is_classifier else "r2"
    if scoring is None:
        return {"score": default}, True, True
    if isinstance(scoring, str) or callable(scoring):
        return {"score": scoring}, True, False
    if isinstance(scoring, (list, tuple, set)):
        names = list(scoring)
        if not names or not all(isinstance(s, str) for s in names):
            raise InvalidInputError("a list of scorers must hold scorer names (strings)")
        if len(set(names)) != len(names):
            raise InvalidInputError("the list of scorers has duplicates")
        return {s: s for s in names}, False, False
    if isinstance(scoring, dict):
        if not scoring:
            raise InvalidInputError("the dict of scorers is empty")
        for key, value in scoring.items():
            if not isinstance(key, str) or not (isinstance(value, str) or callable(value)):
                raise InvalidInputError("a dict of scorers maps names to scorer names or callables")
        return dict(scoring), False, False
    raise InvalidInputError(
        f"scoring must be None, a scorer name, a callable, a list or a dict; got {scoring!r}"
    )


def _native_classifier(model) -> bool:
    """Whether the core models the classifier's responses: not for XGBoost's binary:logitraw
    and binary:hinge, whose predict_proba is the raw margin or a 0/1 step of it."""
    return not model.is_classifier or model.margin_is_probability or model.link != "identity"


def _task(model):
    """The part of the core's ``scoring`` mapping that says how margins become responses."""
    if not model.is_classifier:
        if model.link == "softmax":
            raise InvalidInputError("a multi-output softmax model without classes cannot be scored")
        return dict(
            kind="regression",
            link=model.link,
            n_classes=0,
            rule="argmax_margin",
            auc_on_margin=False,
            link_scale=1.0,
            proba_f32=False,
        )
    classes = np.asarray(model.classes)
    n_classes = len(classes)
    est = model.estimator
    if model.margin_is_probability:
        link, rule = "identity", "argmax_margin"
    elif not _native_classifier(model):
        raise InvalidInputError(
            f"the native scorers do not support the classifier objective {model.objective!r} "
            "(its predict_proba is not a probability of the margin); pass the live estimator "
            "(scored by scikit-learn) or a callable scorer, or train with binary:logistic / "
            "multi:softprob"
        )
    else:
        link = model.link
        if model.library == "sklearn":
            if n_classes > 2:
                rule = "argmax_margin"
            elif any(c.__name__.startswith("Hist") for c in type(est).__mro__):
                rule = "margin_positive"  # HistGradientBoostingClassifier: raw > 0
            else:
                rule = "margin_nonnegative"  # GradientBoostingClassifier: raw >= 0
        else:
            rule = "argmax_proba" if n_classes > 2 else "proba_above_half"
    auc_on_margin = est is not None and hasattr(est, "decision_function")
    return dict(
        kind="classification",
        link=link,
        n_classes=n_classes,
        rule=rule,
        auc_on_margin=bool(auc_on_margin),
        # LightGBM's sigmoid parameter, GradientBoosting's exponential loss: p = s(scale * m).
        link_scale=float(model.link_scale),
        # XGBoost returns float32 probabilities: they saturate, tie and are clipped as float32.
        proba_f32=model.library == "xgboost",
    )


def _numeric_class_codes(classes, labels):
    """The class index of each label by binary search, when labels and classes are plain
    numbers (as a Python dict lookup matches them: 1 == 1.0 == True); None when anything is
    unusual (labels that are no class, NaN, other types), for the label-by-label lookup that
    names the culprit."""
    numeric = "biuf"
    if labels.dtype.kind not in numeric or classes.dtype.kind not in numeric or not classes.size:
        return None
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        return None
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        return None
    order = np.argsort(classes, kind="stable")
    ranked = classes[order]
    if np.any(ranked[1:] == ranked[:-1]):
        return None
    # Exact comparisons only: int64 classes and labels compare as integers, not as floats.
    if (labels.dtype.kind == "f") != (classes.dtype.kind == "f"):
        return None
    at = np.minimum(np.searchsorted(ranked, labels), ranked.size - 1)
    if not np.array_equal(ranked[at], labels):
        return None
    return order[at].astype(np.int64)


def _encode_y(model, y, n_rows: int):
    """``(y_values, y_classes)`` for the core; raises on bad y."""
    if y is None:
        raise InvalidInputError("y is required to score the model")
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    arr = np.asarray(y)
    if arr.shape[0] != n_rows:
        raise InvalidInputError(f"y has {arr.shape[0]} rows, but X has {n_rows}")
    if not model.is_classifier:
        try:
            values = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"y must be numeric for a regressor (dtype {arr.dtype})"
            ) from None
        k = model.n_outputs
        if values.ndim == 2 and values.shape[1] == 1 and k == 1:
            values = values[:, 0]
        expected = (n_rows,) if k == 1 else (n_rows, k)
        if values.shape != expected:
            raise InvalidInputError(f"y has shape {values.shape}, expected {expected}")
        if not np.isfinite(values).all():
            raise InvalidInputError("y holds NaN or infinite values")
        return np.ascontiguousarray(values.reshape(-1)), None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidInputError(
            f"y must be 1-D class labels for a classifier, got shape {arr.shape}"
        )
    codes = _numeric_class_codes(np.asarray(model.classes), arr)
    if codes is not None:
        return None, codes
    classes = np.asarray(model.classes).tolist()
    lookup = {c: i for i, c in enumerate(classes)}
    codes = np.empty(n_rows, dtype=np.int64)
    labels = arr.tolist()
    if any(isinstance(label, float) and label != label for label in labels):
        raise InvalidInputError("y holds NaN; every row needs a class label")
    for i, label in enumerate(labels):
        try:
            codes[i] = lookup[label]
        except (KeyError, TypeError):
            raise InvalidInputError(
                f"y holds the label {label!r}, unknown to the classifier (classes: {classes[:20]})"
            ) from None
    return None, codes


class PermutationImportanceResult(Bunch):
    """The result of :func:`permutation_importance`: scikit-learn's ``Bunch`` with its keys
    (``importances``, ``importances_mean``, ``importances_std``), which draws itself with
    :meth:`plot`.

    Attributes
    ----------
    feature_names : list of str or None
        Names of the rows of ``importances`` (the input's column names, else the model's; x0,
        x1, ... when neither has any; group members joined by "+"). An attribute, not a key:
        the keys are scikit-learn's.
    """

    feature_names = None

    def plot(self, *, ax=None, **kwargs):
        """Draws the importances as box plots of the repeats with matplotlib (``pip install
        'treelens[plot]'``).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        **kwargs
            ``feature_names``, ``top_k``: see :func:`treelens.plot.importance`.

        Returns
        -------
        matplotlib.axes.Axes
            One box per feature, the largest mean importance on top.
        """
        from .plot import importance as draw

        return draw(self, ax=ax, **kwargs)

    def __setstate__(self, state):
        # scikit-learn's Bunch drops the pickled attributes; the names are kept.
        if isinstance(state, dict) and state.get("feature_names") is not None:
            object.__setattr__(self, "feature_names", list(state["feature_names"]))


def _bunch(baseline, permuted):
    importances = baseline - permuted
    return PermutationImportanceResult(
        importances_mean=np.mean(importances, axis=1),
        importances_std=np.std(importances, axis=1),
        importances=importances,
    )


def unit_names(names, groups, n_features: int) -> list[str]:
    """The label of each row of the importances: the column's name (x0, x1, ... when
    ``names`` is None), or a group's members' names joined by "+"."""
    labels = list(names) if names is not None else [f"x{j}" for j in range(n_features)]
    return ["+".join(labels[c] for c in unit) for unit in _units(groups, n_features, names)]


def with_names(result, names):
    """``result`` (a result or a dict of them, one per scorer) with ``names`` stored as the
    ``feature_names`` attribute of each result (not a key)."""
    if isinstance(result, PermutationImportanceResult):
        object.__setattr__(result, "feature_names", list(names))
    elif isinstance(result, dict):
        for value in result.values():
            if isinstance(value, PermutationImportanceResult):
                object.__setattr__(value, "feature_names", list(names))
    return result


def _take_rows(X, rows):
    if rows is None:
        return X
    if is_table(X):
        return X.iloc[rows]
    if hasattr(X, "nnz"):  # scipy sparse (CSR)
        return X[rows]
    return np.asarray(X)[rows]


def _is_pandas(X) -> bool:
    table = named_table(X)
    return table is not None and table.kind == "pandas"


def _permuted_copy(Xs, unit, src):
    if is_table(Xs):
        out = Xs.copy()
        for c in unit:
            col = Xs.iloc[src, c]
            col.index = Xs.index
            out[Xs.columns[c]] = col
        return out
    if hasattr(Xs, "tocsc") and hasattr(Xs, "nnz"):  # scipy sparse: stays sparse
        import scipy.sparse as sp

        kept, moved = Xs.tocsc(), Xs[src].tocsc()
        chosen = set(unit)
        columns = [(moved if c in chosen else kept)[:, [c]] for c in range(Xs.shape[1])]
        return sp.hstack(columns, format="csr")
    out = np.array(Xs, copy=True)
    out[:, unit] = out[src][:, unit]
    return out


def _slow_scores(model, scorer, X, y, sample_weight, rows, perms, units, input_rows, *, est=None):
    """Baseline and permuted scores through scikit-learn's scorer on the live estimator.

    The estimator sees a table in the model's column order (scikit-learn and XGBoost refuse
    the same names in another order), so the units are mapped to the model's columns. ``est``
    (a Pipeline, scored on the raw rows as they are) replaces the model's estimator."""
    if est is None:
        est = model.estimator
    if est is None:
        raise InvalidInputError(
            f"scorer {scorer!r} is not computed natively (native: {', '.join(NATIVE_SCORERS)}) "
            "and needs the live estimator, but this model was loaded without one (from a file "
            "or booster); pass the fitted estimator or use a native scorer"
        )
    try:
        from sklearn.metrics import check_scoring
    except Exception as err:  # pragma: no cover
        raise InvalidInputError(f"scorer {scorer!r} needs scikit-learn: {err}") from None
    try:
        fn = check_scoring(est, scoring=scorer)
    except ValueError as err:
        raise InvalidInputError(f"unknown or unusable scorer {scorer!r}: {err}") from None

    def score(Xa, ya, wa):
        return fn(est, Xa, ya) if wa is None else fn(est, Xa, ya, sample_weight=wa)

    if named_table(X) is not None and not _is_pandas(X):
        X = X.to_pandas()  # polars and pyarrow: scikit-learn's scorer and the copies below
    elif is_sparse(X) and not hasattr(X, "get_data"):
        X = X.tocsr()  # the estimator reads it as it reads any sparse matrix; rows taken
    elif is_sparse(X):
        # A DMatrix (which scikit-learn estimators do not take): the rows as treelens read
        # them, absent entries missing, in the model's order.
        X = input_rows.matrix
        units = [input_rows.model_columns(unit) for unit in units]
        input_rows = Prepared(input_rows.matrix, None, input_rows.names)
    elif not is_table(X):
        X = np.asarray(X)
    if input_rows is not None and input_rows.order is not None:
        X = X[[X.columns[i] for i in np.argsort(input_rows.order)]]
        units = [input_rows.model_columns(unit) for unit in units]
    own = None if model.feature_names is None else [str(n) for n in model.feature_names]
    if (
        input_rows is not None
        and is_table(X)
        and own is not None
        and [str(c) for c in X.columns] != own
    ):
        # Names the estimator refuses (read by position, or after LightGBM's renaming): the
        # estimator sees the model's own names, on the columns treelens read for them.
        X = X.set_axis(own, axis=1)
    y = np.asarray(y) if not hasattr(y, "iloc") else y
    baseline = score(X, y, sample_weight)
    Xs = _take_rows(X, rows)
    ys = y if rows is None else (y.iloc[rows] if hasattr(y, "iloc") else y[rows])
    ws = None if sample_weight is None else (sample_weight if rows is None else sample_weight[rows])
    results = [[score(_permuted_copy(Xs, unit, src), ys, ws) for src in perms] for unit in units]
    if isinstance(baseline, dict):
        return {
            name: (float(baseline[name]), np.array([[r[name] for r in row] for row in results]))
            for name in baseline
        }
    return float(baseline), np.array(results, dtype=np.float64)


def _weights(sample_weight, n_rows: int):
    """``sample_weight`` as float64 (or None); raises on a wrong length or non-finite values."""
    if sample_weight is None:
        return None
    weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if weight.shape[0] != n_rows:
        raise InvalidInputError(f"sample_weight has {weight.shape[0]} entries for {n_rows} rows")
    if not np.isfinite(weight).all():
        raise InvalidInputError("sample_weight holds NaN or infinite values")
    return weight


def _check_scorers(entries, model) -> None:
    """Refuses unknown scorer names, and classifier scorers for a regressor."""
    for entry in entries.values():
        if isinstance(entry, str) and entry not in NATIVE_SCORERS:
            try:
                from sklearn.metrics import get_scorer_names

                known = set(get_scorer_names())
            except Exception:  # pragma: no cover
                known = set(NATIVE_SCORERS)
            if entry not in known:
                raise InvalidInputError(
                    f"unknown scorer {entry!r}; native scorers: {', '.join(NATIVE_SCORERS)}; "
                    "or any scikit-learn scorer name, or a callable"
                )
        if isinstance(entry, str) and entry in _CLASSIFIER_SCORERS and not model.is_classifier:
            raise InvalidInputError(f"scorer {entry!r} needs a classifier with classes")


def permutation_importance(
    estimator_or_model,
    X,
    y,
    *,
    scoring=None,
    n_repeats: int = 5,
    n_jobs: int | None = None,
    random_state=None,
    sample_weight=None,
    max_samples=1.0,
    groups=None,
    progress: bool | None = None,
):
    """Permutation importance, as ``sklearn.inspection.permutation_importance``, natively.

    Same signature, semantics, random draws and return as scikit-learn's function: for the same
    ``random_state`` the permutations are exactly those scikit-learn draws, so the numbers agree
    with scikit-learn's (to float64 rounding; to float32 rounding for XGBoost, whose own
    predictions are float32).

    Parameters
    ----------
    estimator_or_model : estimator, booster, path or :class:`treelens.Model`
        Anything :func:`treelens.load` accepts. For a scikit-learn Pipeline the columns of the
        raw X are permuted, as scikit-learn does, and scored through the preprocessing with the
        native trees: one importance per raw column.
    X : array-like or table of shape (n_samples, n_features)
        Data to permute: a numpy array (read by position), or a pandas or polars DataFrame or
        pyarrow Table (columns matched to the model by name, in any order).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets: class labels (as the classifier's ``classes_``) or regression values.
    scoring : str, callable, list, tuple or dict, optional
        As in scikit-learn. ``None`` is the estimator's default score (R^2 for regressors,
        accuracy for classifiers). The names in :data:`NATIVE_SCORERS` are computed in Rust from
        native predictions: the ROC AUC reads the decision function when the estimator has one,
        the probabilities otherwise, as scikit-learn's scorer does. Any other name or a callable
        runs scikit-learn's scorer on the live estimator (``model.estimator``) for every
        permutation: the slow path, as slow as scikit-learn; it needs the estimator.
    n_repeats : int, default=5
        Number of permutations per column (or group).
    n_jobs : int, optional
        Threads; None means the default (all cores; see ``treelens.options.default_n_jobs``;
        scikit-learn's None means one process).
    random_state : int, RandomState or None
        As in scikit-learn: one seed is drawn from it, and every column (every group) is shuffled
        by a fresh ``RandomState(seed)``, so all columns see the same permutations.
    sample_weight : array-like of shape (n_samples,), optional
        Weights used in scoring.
    max_samples : int or float, default=1.0
        Rows drawn (without replacement, as scikit-learn draws them) to score the permutations;
        the baseline score uses all rows, as in scikit-learn.
    groups : list of lists of column indices (of X) or names, optional
        Columns permuted together: the same row permutation moves all columns of a group, and the
        result has one importance per group, in order (scikit-learn has no such option). Group
        ``g`` draws exactly what a column draws (a fresh ``RandomState(seed)``), so a group of one
        column gets that column's importance.
    progress : bool, optional
        Show a progress bar (by default only for long work on a terminal).

    Returns
    -------
    PermutationImportanceResult or dict of them
        scikit-learn's Bunch and keys: ``importances`` (n_features or n_groups, n_repeats),
        ``importances_mean``, ``importances_std``, rows in the order of X's columns (also for a
        DataFrame whose columns are the model's in another order) or of the groups; a dict of
        such results keyed by scorer name when several scorers are given. Each result also has
        a ``feature_names`` attribute (not a key: the rows' names, group members joined by
        "+") and a ``plot()`` method (box plots, see :func:`treelens.plot.importance`). For a
        Dask array or DataFrame ``X`` (``y`` and ``sample_weight`` then dask collections
        partitioned alike), see :func:`treelens.dask.permutation_importance`: permutations
        within each partition, decomposable scorers only.
    """
    options = dict(
        scoring=scoring,
        n_repeats=n_repeats,
        n_jobs=n_jobs,
        random_state=random_state,
        sample_weight=sample_weight,
        max_samples=max_samples,
        groups=groups,
    )
    if is_dask_collection(X):
        from . import dask as tl_dask

        return tl_dask.permutation_importance(estimator_or_model, X, y, **options)
    scores, single, names = _scores_and_names(
        estimator_or_model, X, y, progress=progress, **options
    )
    if single is None:
        result = scores  # a Pipeline's result, from raw_permutation_importance
    elif single:
        result = _bunch(*scores["score"])
    else:
        result = {key: _bunch(*value) for key, value in scores.items()}
    return with_names(result, names)


def importance_scores(estimator_or_model, X, y, **options):
    """``(scores, single)``: per scorer name, ``(baseline score, permuted scores of shape
    (units, repeats))``, as :func:`permutation_importance` computes them (``options`` are its
    keyword arguments: scoring, n_repeats, n_jobs, random_state, sample_weight, max_samples,
    groups, progress); ``single`` when one scorer was asked for (keyed ``"score"``). For a
    Pipeline, ``(the result of permutation_importance, None)``."""
    scores, single, _ = _scores_and_names(estimator_or_model, X, y, **options)
    return scores, single


def _scores_and_names(
    estimator_or_model,
    X,
    y,
    *,
    scoring,
    n_repeats,
    n_jobs,
    random_state,
    sample_weight,
    max_samples,
    groups,
    progress,
):
    """:func:`importance_scores` and the label of each row of the importances
    (:func:`unit_names`): ``(scores, single, names)``."""
    n_repeats = check_int("n_repeats", n_repeats, minimum=1)
    n_jobs = check_n_jobs(n_jobs)
    if random_state is not np.random:
        check_seed(random_state, generators=False)
    _check_max_samples(max_samples)
    model = load(estimator_or_model)
    if model.preprocessing is not None:
        # A Pipeline: the raw columns are permuted, as scikit-learn does.
        from .pipeline_importance import raw_permutation_importance

        result = raw_permutation_importance(
            model,
            X,
            y,
            scoring=scoring,
            n_repeats=n_repeats,
            n_jobs=n_jobs,
            random_state=random_state,
            sample_weight=sample_weight,
            max_samples=max_samples,
            groups=groups,
            progress=progress,
        )
        table = named_table(X)
        raw_names = table.names if table is not None else model.preprocessing.raw_names
        n_raw = len(table.names) if table is not None else np.shape(X)[1]
        if raw_names is not None and len(raw_names) != n_raw:
            raw_names = None
        return result, None, unit_names(raw_names, groups, n_raw)
    n = rows_of(X)
    if n is not None:
        _check_sizes(n, model.n_features, n_repeats, max_samples, groups)
    input_rows = model.read(X)
    x = input_rows.matrix
    n_rows = x.shape[0]
    if n_rows == 0:
        raise InvalidInputError("X has no rows")
    y_values, y_classes = _encode_y(model, y, n_rows)
    weight = _weights(sample_weight, n_rows)
    # Units are X's columns (as scikit-learn's rows are); the core reads the model's order.
    units = _units(groups, model.n_features, input_rows.names)
    names = unit_names(input_rows.names, groups, model.n_features)
    model_units = [input_rows.model_columns(unit) for unit in units]
    entries, single, _ = _scorer_names(scoring, model)
    _check_scorers(entries, model)
    rows, perms = _draw(n_rows, int(n_repeats), random_state, max_samples)

    native = [key for key, e in entries.items() if isinstance(e, str) and e in NATIVE_SCORERS]
    if native and not _native_classifier(model):
        if model.estimator is None:
            _task(model)  # raises, naming the objective
        native = []  # scikit-learn scores the live estimator (the slow path)
    results: dict = {}
    if native:
        metrics = [entries[key] for key in native]
        xs = x if rows is None else np.ascontiguousarray(x[rows])

        def sub(a):
            if a is None or rows is None:
                return a
            return np.ascontiguousarray(a.reshape(n_rows, -1)[rows].reshape(-1))

        def scoring_of(take):
            return dict(
                _task(model),
                metrics=metrics,
                y_values=take(y_values),
                y_classes=take(y_classes),
                weight=take(weight),
            )

        permuted, unpermuted = _core.importance_permuted(
            model.forest,
            xs,
            perms,
            model_units,
            scoring=scoring_of(sub),
            n_jobs=n_jobs,
            progress=progress_callback(
                progress, "permutation importance", xs.shape[0] * len(units)
            ),
        )
        if rows is None:
            base = unpermuted  # the same rows: the pass above scored them unpermuted too
        else:  # scikit-learn's baseline uses every row, the permutations only the sample
            base = _core.importance_baseline(
                model.forest, x, scoring=scoring_of(lambda a: a), n_jobs=n_jobs
            )
        for q, key in enumerate(native):
            results[key] = (base[q], permuted[:, :, q])
    for key, entry in entries.items():
        if key in results:
            continue
        out = _slow_scores(model, entry, X, y, weight, rows, perms, units, input_rows)
        if isinstance(out, dict):
            if not single:
                raise InvalidInputError("a scorer in a dict or list must return one number")
            return dict(out), False, names
        results[key] = out
    return {key: results[key] for key in entries}, single, names
