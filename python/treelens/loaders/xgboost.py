"""XGBoost models: live Booster / XGBModel objects, JSON and UBJSON model files, JSON dumps."""

from __future__ import annotations

import json
import math

import numpy as np

from .. import _core
from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from .forest_builder import brief, malformed_is_format_error

#: Objectives whose base score XGBoost keeps as a probability (margin = logit).
_LOGIT_BASE = {"binary:logistic", "reg:logistic"}
#: Objectives with a log link (margin = log of the mean).
_LOG_BASE = {"count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft"}
SUPPORTED_OBJECTIVES = (
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:logistic",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "reg:gamma",
    "reg:tweedie",
    "survival:cox",
    "survival:aft",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
)


def _link(objective: str) -> str:
    if objective in _LOGIT_BASE:
        return "logistic"
    if objective in _LOG_BASE:
        return "exp"
    if objective.startswith("multi:"):
        return "softmax"
    return "identity"


def base_margin(objective: str, base_score) -> np.ndarray:
    """XGBoost's base_score (kept in output space) converted to margin space."""
    b = np.atleast_1d(np.asarray(base_score, dtype=np.float64))
    if objective in _LOGIT_BASE:
        if np.any((b <= 0) | (b >= 1)):
            raise ModelFormatError(f"base_score {b} is not a probability for {objective}")
        return np.log(b / (1.0 - b))
    if objective in _LOG_BASE:
        if np.any(b <= 0):
            raise ModelFormatError(f"base_score {b} must be positive for {objective}")
        return np.log(b)
    return b


def _parse_base_score(text) -> np.ndarray:
    """``"5E-1"``, ``"[5E-1]"`` (xgboost >= 3.1) or ``"[1E0,2E0]"`` (vector intercepts)."""
    if isinstance(text, (list, tuple, np.ndarray)):
        return np.asarray(text, dtype=np.float64)
    s = str(text).strip().strip("[]")
    try:
        return np.asarray([float(v) for v in s.split(",") if v.strip()], dtype=np.float64)
    except ValueError:
        raise ModelFormatError(f"cannot read base_score {brief(text)}") from None


def _check_objective(objective: str) -> None:
    if objective not in SUPPORTED_OBJECTIVES:
        raise UnsupportedModelError(
            f"XGBoost objective {brief(objective)} is not supported; supported: "
            f"{', '.join(SUPPORTED_OBJECTIVES)}"
        )


def _base_kind(objective: str) -> str:
    """How :func:`base_margin` transforms an objective's base score (checked by the reader)."""
    if objective in _LOGIT_BASE:
        return "logit"
    if objective in _LOG_BASE:
        return "log"
    return "identity"


#: The supported objectives, in the order messages list them, with their base transform.
_OBJECTIVES = tuple((o, _base_kind(o)) for o in SUPPORTED_OBJECTIVES)


def _cat_lists(encodings) -> dict[int, np.ndarray]:
    """Training categories stored by xgboost >= 3.1, per feature (``cats.enc``, as the reader
    returns it: ``(values, offsets)`` or None per feature).

    Strings are stored as UTF-8 bytes (signed) with offsets. xgboost 3.2 writes inconsistent
    offsets for non-ASCII names (and re-codes them wrongly itself); such a column keeps no
    stored categories, so a DataFrame's own category codes are used, as xgboost < 3.1 did.
    """
    out = {}
    for j, enc in enumerate(encodings):
        if enc is None or enc[0].size == 0:
            continue
        values, offs = enc
        if offs is not None:
            raw = (values.astype(np.int64) & 0xFF).astype(np.uint8).tobytes()
            try:
                names = [raw[offs[i] : offs[i + 1]].decode("utf-8") for i in range(len(offs) - 1)]
            except UnicodeDecodeError:
                continue
            out[j] = np.asarray(names, dtype=object)
        else:
            out[j] = values
    return out


@malformed_is_format_error("the XGBoost model document")
def from_model_bytes(
    data: bytes | bytearray,
    *,
    json: bool,
    iteration_range=None,
    feature_names=None,
    estimator=None,
    missing=None,
    classes=None,
) -> Model:
    """Builds a model from the bytes ``save_model``/``save_raw`` write (UBJSON, or JSON text
    when ``json``): the core reads and checks the document and builds the forest."""
    if iteration_range is not None:
        begin, end = map(int, iteration_range)
        iteration_range = (begin, end)
    if not isinstance(data, bytes):
        # save_raw's bytearray, read in place (the stable ABI has no buffer protocol on 3.9).
        data = np.frombuffer(data, dtype=np.uint8)
    forest, meta = _core.read_xgboost_model(
        data,
        json=json,
        iteration_range=iteration_range,
        feature_names=list(feature_names) if feature_names else None,
        objectives=_OBJECTIVES,
        base_margin=base_margin,
    )
    objective = meta["objective"]
    if classes is None and (objective == "binary:logistic" or objective.startswith("multi:")):
        # A Booster or a saved classifier: XGBoost's labels are 0 .. n_classes - 1.
        classes = np.arange(max(meta["num_class"], 2))
    return Model(
        forest=forest,
        feature_names=meta["feature_names"],
        objective=objective,
        link=_link(objective),
        classes=classes,
        library="xgboost",
        sparse_absent_is_missing=True,
        frame_categories=_cat_lists(meta["category_encodings"]),
        feature_types=meta["feature_types"],
        missing_value=missing,
        estimator=estimator,
        trees_per_round=meta["trees_per_round"],
    )


def from_booster(booster, *, iteration_range=None, estimator=None, missing=None, classes=None):
    # UBJSON: XGBoost writes it several times faster than JSON, and it keeps float32 exact. The
    # core reads the bytearray in place: copying it into bytes would cost as much as parsing.
    raw = booster.save_raw(raw_format="ubj")
    return from_model_bytes(
        raw,
        json=False,
        feature_names=booster.feature_names,
        iteration_range=iteration_range,
        estimator=estimator,
        missing=missing,
        classes=classes,
    )


def from_xgbmodel(est, *, iteration_range=None) -> Model:
    try:
        booster = est.get_booster()
    except Exception as e:  # xgboost raises NotFittedError (a ValueError) for unfitted models
        raise UnsupportedModelError(f"{type(est).__name__} is not fitted: {e}") from None
    if iteration_range is None:
        best = getattr(est, "best_iteration", None) if _has_best(est) else None
        if best is not None:
            iteration_range = (0, int(best) + 1)
    missing = getattr(est, "missing", np.nan)
    if missing is None or (isinstance(missing, float) and math.isnan(missing)):
        missing = None
    classes = getattr(est, "classes_", None) if hasattr(est, "n_classes_") else None
    return from_booster(
        booster,
        iteration_range=iteration_range,
        estimator=est,
        missing=missing,
        classes=None if classes is None else np.asarray(classes),
    )


def _has_best(est) -> bool:
    try:
        return est.get_booster().attr("best_iteration") is not None
    except Exception:
        return False


def _is_ubjson(data: bytes) -> bool:
    """UBJSON's second byte is a marker (a key's length type, ``$``, ``#``, or ``}``); JSON's
    is whitespace, a quote or ``}``."""
    return data[:1] == b"{" and data[1:2] not in (b"", b" ", b"\t", b"\n", b"\r", b'"', b"}")


def from_bytes(data: bytes, **kwargs) -> Model:
    """A model saved by ``save_model``/``save_raw``: JSON text or UBJSON."""
    if _is_ubjson(data):
        is_json = False
    elif data.lstrip()[:1] == b"{":
        is_json = True
    elif data.lstrip()[:1] == b"[":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelFormatError(f"the XGBoost JSON dump is not UTF-8 text: {e}") from None
        return from_dump(None, text=text, **kwargs)
    else:
        raise ModelFormatError("not an XGBoost JSON or UBJSON model (it does not start with '{')")
    dump_only = set(kwargs) - {"iteration_range"}
    if dump_only:
        raise ModelFormatError(
            f"options {sorted(dump_only)} are only for dumps; saved models carry their own"
        )
    return from_model_bytes(data, json=is_json, iteration_range=kwargs.get("iteration_range"))


# ----- get_dump(dump_format="json") -------------------------------------------------------------


def _check_dump_options(*, base_score, objective, iteration_range, tree_weights, booster) -> str:
    """Refuses what a dump cannot be loaded with; returns the objective (default
    reg:squarederror)."""
    if iteration_range is not None:
        raise UnsupportedModelError("iteration_range is not available for dumps")
    if base_score is None:
        raise UnsupportedModelError(
            "an XGBoost dump has no base score: pass base_score= (booster's learner_model_param "
            "base_score, e.g. 0.5) and objective="
        )
    if booster not in (None, "gbtree", "dart"):
        raise UnsupportedModelError(
            f"XGBoost booster {booster!r} is not supported; supported: gbtree, dart"
        )
    if booster == "dart" and tree_weights is None:
        raise UnsupportedModelError(
            "a dart model's dump carries no tree weights, so it does not predict as the model: "
            "pass tree_weights= (the booster's weight_drop, from save_raw('json')), or load the "
            "Booster or its saved JSON/UBJSON model instead"
        )
    objective = objective or "reg:squarederror"
    _check_objective(objective)
    return objective


@malformed_is_format_error("the XGBoost dump")
def from_dump(
    dump,
    *,
    base_score=None,
    objective: str | None = None,
    n_outputs: int | None = None,
    n_features: int | None = None,
    feature_names=None,
    iteration_range=None,
    tree_weights=None,
    booster: str | None = None,
    text: str | None = None,
) -> Model:
    """A model from ``Booster.get_dump(dump_format="json", with_stats=True)`` (a list of each
    tree's JSON text, bytes or parsed dict), or from the ``text`` of a dump file.

    A dump carries no base score, objective or class count: ``base_score`` (as XGBoost reports
    it, in output space), ``objective`` (default reg:squarederror) and ``n_outputs`` (the number
    of classes for multiclass models) say what it lacks. Trees feed outputs round-robin.

    A dart model's dump lacks the trees' weights (``weight_drop``): pass them as
    ``tree_weights`` (one per tree), or the loaded model is not the model. ``booster="dart"``
    without ``tree_weights`` is refused. The core reads and checks the trees.
    """
    objective = _check_dump_options(
        base_score=base_score,
        objective=objective,
        iteration_range=iteration_range,
        tree_weights=tree_weights,
        booster=booster,
    )
    trees = None
    if text is None:
        if not isinstance(dump, list) or not dump:
            raise ModelFormatError("an XGBoost JSON dump is a non-empty list of trees")
        trees = [_dump_item_text(t) for t in dump]
    if tree_weights is not None:
        w = np.asarray(tree_weights, dtype=np.float64)
        tree_weights = (w.ravel().tolist(), str(w.shape))
    names = list(feature_names) if feature_names is not None else None

    def margin(k: int) -> np.ndarray:
        base = _parse_base_score(base_score)
        if base.size not in (1, k):
            raise ModelFormatError(f"base_score has {base.size} values for {k} outputs")
        return np.ascontiguousarray(base_margin(objective, np.broadcast_to(base, (k,))))

    forest = _core.read_xgboost_dump(
        text=text,
        trees=trees,
        n_outputs=_size(n_outputs or 1, "n_outputs"),
        n_features=None if n_features is None else _size(n_features, "n_features"),
        feature_names=None if names is None else [n if isinstance(n, str) else None for n in names],
        tree_weights=tree_weights,
        base_margin=margin,
    )
    return Model(
        forest=forest,
        feature_names=names,
        objective=objective,
        link=_link(objective),
        library="xgboost",
        sparse_absent_is_missing=True,
    )


def _dump_item_text(tree) -> str | None:
    """A dump tree as JSON text for the core: text as it is, bytes decoded, a parsed tree (dict)
    written back; None for anything else (the core says which tree is no tree object)."""
    if isinstance(tree, bytes):
        return tree.decode("utf-8")
    if isinstance(tree, str):
        return tree
    if isinstance(tree, dict):
        try:
            return json.dumps(tree, default=_json_scalar)
        except RecursionError:
            raise ModelFormatError(
                "a dump tree given as a dict is nested too deeply to read: pass the dump's JSON "
                "text (get_dump(dump_format='json', with_stats=True)) instead"
            ) from None
        except ValueError as e:  # a cycle
            raise ModelFormatError(f"a dump tree given as a dict is not a tree ({e})") from None
    return None


def _json_scalar(value):
    """numpy scalars in a parsed dump tree, as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _size(value, name: str) -> int:
    """An integer option (checked for range by the core), clamped into int64."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ModelFormatError(f"XGBoost {name} is {brief(value)}, not an integer") from None
    return max(min(n, 2**62), -(2**62))
