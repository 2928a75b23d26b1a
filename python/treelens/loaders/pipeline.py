"""scikit-learn ``Pipeline`` (and ``make_pipeline``) ending in a tree model.

The final step is loaded as any model; the fitted steps before it (``pipe[:-1]``) become the
model's :class:`Preprocessing`, which :meth:`treelens.Model.read` applies to the user's raw rows,
so every entry point explains the final step on the transformed rows, under the transformed
feature names (``get_feature_names_out()``).

Which raw column each transformed column comes from (its *provenance*) is derived from the
fitted transformers whose structure says it (scalers and encoders column by column,
OneHotEncoder's categories, imputers and their indicators, feature selectors, binning and
splines per column, ColumnTransformer's column lists, PolynomialFeatures' powers). An unknown
transformer is taken to mix all its inputs. The provenance gives the model's
``feature_groups`` (when every transformed column has exactly one raw source) and lets
permutation importance permute raw columns without transforming every permuted copy.
"""

from __future__ import annotations

import sys

import numpy as np

from ..exceptions import InvalidInputError, UnsupportedModelError

#: Transformers whose output column j is computed from input column j alone.
_ONE_TO_ONE = (
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "QuantileTransformer",
    "PowerTransformer",
    "Binarizer",
    "OrdinalEncoder",
    "TargetEncoder",
)


def is_pipeline(obj) -> bool:
    """Whether ``obj`` is a scikit-learn Pipeline (or a subclass, e.g. imbalanced-learn's)."""
    if "sklearn" not in sys.modules:  # nothing can be a Pipeline before sklearn is imported
        return False
    from sklearn.pipeline import Pipeline

    return isinstance(obj, Pipeline)


class Preprocessing:
    """The fitted steps of a Pipeline before its model, applied to the user's raw rows.

    Attributes
    ----------
    pipeline : Pipeline
        The whole fitted pipeline (scikit-learn's scorers score it).
    steps : Pipeline
        ``pipe[:-1]``, fitted.
    raw_names : list of str or None
        The raw columns the pipeline was fitted on (``feature_names_in_``), when named.
    n_raw : int or None
        Number of raw columns (``n_features_in_``).
    provenance : list of frozenset or None
        For each transformed column, the raw columns (indices) it is computed from; None when
        some transformer's structure is unknown.
    groups_problem : str or None
        Why the transformed columns cannot be grouped by raw column, when they cannot.
    """

    def __init__(self, pipeline, raw_names, n_raw, provenance, groups_problem):
        self.pipeline = pipeline
        self.steps = pipeline[:-1]
        self.raw_names = raw_names
        self.n_raw = n_raw
        self.provenance = provenance
        self.groups_problem = groups_problem

    def transform(self, X):
        """The transformed rows of ``X`` (as ``pipe[:-1].transform`` returns them)."""
        try:
            return self.steps.transform(X)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            raise InvalidInputError(
                f"the pipeline's preprocessing ({_describe(self.steps)}) refused X: "
                f"{type(e).__name__}: {e}"
            ) from None

    def __repr__(self) -> str:
        return f"Preprocessing({_describe(self.steps)})"


def _describe(steps) -> str:
    return " -> ".join(f"{name}={type(t).__name__}" for name, t in steps.steps)


def _steps_of(pipe):
    steps = getattr(pipe, "steps", None)
    if not isinstance(steps, list) or not steps:
        raise UnsupportedModelError("the Pipeline has no steps")
    return steps


def _check_fitted(name: str, step) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(step)
    except NotFittedError:
        raise UnsupportedModelError(
            f"the Pipeline's step {name!r} ({type(step).__name__}) is not fitted; fit the "
            "pipeline before explaining it"
        ) from None
    except TypeError:  # not an estimator: checked below (it needs transform)
        pass


def _is_passthrough(step) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _is_sampler(step) -> bool:
    """imbalanced-learn's samplers resample in fit only; its Pipeline skips them in predict."""
    return hasattr(step, "fit_resample") and not hasattr(step, "transform")


def _width(est) -> int | None:
    """The number of columns ``est`` outputs, from its names out (None when unknown)."""
    try:
        return len(est.get_feature_names_out())
    except Exception:
        return None


def _identity(n: int) -> list[frozenset]:
    return [frozenset((j,)) for j in range(n)]


def _all_of(n_in: int, width: int) -> list[frozenset]:
    everything = frozenset(range(n_in))
    return [everything] * width


def _one_hot(est, n_in: int, width: int):
    counts = getattr(est, "_n_features_outs", None)
    if counts is None or len(counts) != n_in or sum(counts) != width:
        return None
    return [frozenset((i,)) for i, c in enumerate(counts) for _ in range(int(c))]


def _imputer(est, n_in: int, width: int):
    stats = np.asarray(getattr(est, "statistics_", []))
    kept = list(range(n_in))
    if (
        stats.shape == (n_in,)
        and stats.dtype.kind == "f"
        and not getattr(est, "keep_empty_features", False)
        and getattr(est, "strategy", "") != "constant"
    ):
        kept = [j for j in kept if not np.isnan(stats[j])]  # all-missing columns are dropped
    out = [frozenset((j,)) for j in kept]
    indicator = getattr(est, "indicator_", None)
    if indicator is not None:
        out += [frozenset((int(j),)) for j in indicator.features_]
    return out if len(out) == width else None


def _function(est, n_in: int, width: int):
    if getattr(est, "func", None) is None and width == n_in:
        return _identity(n_in)  # FunctionTransformer() and ColumnTransformer's "passthrough"
    return None


def _selected(est, n_in: int, width: int):
    """Feature selectors (VarianceThreshold, SelectKBest, ...) and MissingIndicator keep some
    input columns, each as it is (or as its indicator)."""
    if hasattr(est, "get_support"):
        kept = est.get_support(indices=True)
    else:
        kept = getattr(est, "features_", None)
    if kept is None or len(kept) != width:
        return None
    return [frozenset((int(j),)) for j in kept]


def _per_feature_blocks(n_in: int, width: int):
    """``width / n_in`` consecutive output columns per input column, in input order."""
    if n_in == 0 or width % n_in:
        return None
    return [frozenset((j // (width // n_in),)) for j in range(width)]


def _polynomial(est, n_in: int, width: int):
    powers = np.asarray(getattr(est, "powers_", np.empty((0, 0))))
    if powers.shape != (width, n_in):
        return None
    return [frozenset(np.flatnonzero(row).tolist()) for row in powers]


def _column_transformer(ct, n_in: int, width: int):
    indices = getattr(ct, "_transformer_to_input_indices", None)
    slices = getattr(ct, "output_indices_", None)
    if indices is None or slices is None:
        return None
    out: list = [None] * width
    fitted = {name: trans for name, trans, _ in ct.transformers_}
    for name, sl in slices.items():
        start, stop = sl.start or 0, sl.stop or 0
        if stop <= start:
            continue  # dropped, or no column selected
        cols = [int(c) for c in indices.get(name, [])]
        trans = fitted.get(name)
        if _is_passthrough(trans):
            inner = _identity(len(cols)) if stop - start == len(cols) else None
        else:
            inner = _provenance(trans, len(cols), stop - start)
        if inner is None or len(inner) != stop - start:
            return None
        for k, sources in enumerate(inner):
            out[start + k] = frozenset(cols[i] for i in sources)
    return None if any(s is None for s in out) else out


def _provenance(est, n_in: int, width: int | None):
    """For each output column of the fitted transformer ``est`` (``n_in`` inputs, ``width``
    outputs), the set of input columns it is computed from; None when unknown."""
    if width is None:
        return None
    if _is_passthrough(est) or _is_sampler(est):
        return _identity(n_in) if width == n_in else None
    name = type(est).__name__
    if hasattr(est, "steps"):
        return _chain([step for _, step in est.steps], n_in, width)
    if hasattr(est, "transformers_"):
        return _column_transformer(est, n_in, width)
    if name in _ONE_TO_ONE:
        return _identity(n_in) if width == n_in else None
    if name == "OneHotEncoder":
        return _one_hot(est, n_in, width)
    if name == "SimpleImputer":
        return _imputer(est, n_in, width)
    if name == "FunctionTransformer":
        return _function(est, n_in, width)
    if name == "PolynomialFeatures":
        return _polynomial(est, n_in, width)
    if name == "MissingIndicator" or hasattr(est, "get_support"):
        return _selected(est, n_in, width)
    if name == "KBinsDiscretizer":
        if getattr(est, "encode", "") == "ordinal":
            return _identity(n_in) if width == n_in else None
        encoder = getattr(est, "_encoder", None)
        return None if encoder is None else _one_hot(encoder, n_in, width)
    if name == "SplineTransformer":  # each input's splines, one input after the other
        return _per_feature_blocks(n_in, width)
    return _all_of(n_in, width)  # unknown (PCA, ...): every output may use every input


def _chain(steps, n_in: int, width: int):
    """Provenance through consecutive steps: each output's sources are the union of its
    inputs' sources."""
    sources = _identity(n_in)
    for k, step in enumerate(steps):
        last = k == len(steps) - 1
        out_width = width if last else _width(step)
        if _is_passthrough(step) or _is_sampler(step):
            out_width = len(sources)
        inner = _provenance(step, len(sources), out_width)
        if inner is None:
            return None
        sources = [frozenset().union(*(sources[i] for i in s)) for s in inner]
    return sources if len(sources) == width else None


def _groups(provenance, raw_names, n_raw, names) -> tuple[dict | None, str | None]:
    """``(feature groups, None)`` or ``(None, why not)``."""
    if provenance is None:
        return None, (
            "the pipeline holds a transformer whose output columns cannot be traced to its "
            "input columns"
        )
    raw = list(raw_names) if raw_names is not None else [f"x{j}" for j in range(n_raw)]
    groups: dict[str, list[str]] = {}
    for j, sources in enumerate(provenance):
        if not sources:
            return None, (
                f"the transformed feature {names[j]!r} is a constant made from no raw column "
                "(e.g. PolynomialFeatures' bias), so it belongs to no raw column's group"
            )
        if len(sources) > 1:
            return None, (
                f"the transformed feature {names[j]!r} is computed from {len(sources)} raw "
                f"columns ({', '.join(raw[i] for i in sorted(sources))}): a transformer mixes "
                "columns (e.g. PCA, PolynomialFeatures), so its values cannot be summed per raw "
                "column"
            )
        (source,) = sources
        groups.setdefault(raw[source], []).append(names[j])
    order = {name: i for i, name in enumerate(raw)}
    return dict(sorted(groups.items(), key=lambda item: order[item[0]])), None


def _flattened(pipe):
    """``pipe`` with a final step that is itself a Pipeline spliced in (the same fitted steps,
    the same predictions), until the final step is a model."""
    steps = _steps_of(pipe)
    while is_pipeline(steps[-1][1]):
        steps = steps[:-1] + _steps_of(steps[-1][1])
        pipe = type(pipe)(steps)
    return pipe


def load_pipeline(pipe, load):
    """Loads a fitted Pipeline ending in a model ``load`` accepts (see the module's doc)."""
    pipe = _flattened(pipe)
    steps = _steps_of(pipe)
    final_name, final = steps[-1]
    if _is_passthrough(final):
        raise UnsupportedModelError(
            "the Pipeline ends in 'passthrough'; treelens explains a Pipeline ending in a tree "
            "model"
        )
    for name, step in steps[:-1]:
        if _is_passthrough(step) or _is_sampler(step):
            continue
        if not hasattr(step, "transform"):
            raise UnsupportedModelError(
                f"the Pipeline's step {name!r} ({type(step).__name__}) has no transform, so "
                "treelens cannot apply it to the rows; every step but the last must be a "
                "transformer"
            )
        _check_fitted(name, step)
    try:
        model = load(final)
    except UnsupportedModelError as e:
        raise UnsupportedModelError(f"the Pipeline's final step {final_name!r}: {e}") from None
    if len(steps) == 1:
        return model
    head = pipe[:-1]
    n_raw = getattr(head, "n_features_in_", None)
    names_in = getattr(head, "feature_names_in_", None)
    raw_names = None if names_in is None else [str(n) for n in names_in]
    try:
        names = [str(n) for n in head.get_feature_names_out()]
    except Exception:  # a transformer without get_feature_names_out: names by position
        names = None
    if names is not None and len(names) != model.n_features:
        raise UnsupportedModelError(
            f"the Pipeline's preprocessing outputs {len(names)} columns, but its final step "
            f"{final_name!r} was fitted on {model.n_features}"
        )
    provenance = None
    if n_raw is not None and names is not None:
        provenance = _chain([step for _, step in head.steps], int(n_raw), len(names))
    if names is None:
        groups, problem = None, "the pipeline's transformed columns have no names"
    else:
        model.feature_names = names
        groups, problem = _groups(provenance, raw_names, n_raw, names)
    model.preprocessing = Preprocessing(pipe, raw_names, n_raw, provenance, problem)
    model.feature_groups = groups
    return model
