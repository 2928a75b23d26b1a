"""XGBoost models: live Booster / XGBModel objects, JSON and UBJSON model files, JSON dumps."""

from __future__ import annotations

import math
import re

import numpy as np

from .. import _core
from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from . import deep_json
from .forest_builder import ForestBuilder, brief, malformed_is_format_error

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


#: XGBoost's category ids are integers below 2**24 (exact in float32).
MAX_CATEGORY = 2**24 - 1
#: XGBoost's feature indices are 32-bit (bst_feature_t).
_MAX_FEATURES = 2**31 - 1


def _ints(v, name: str) -> np.ndarray:
    """A 1-D integer array from a document field, refusing floats, strings and nesting."""
    arr = np.asarray(v if v is not None else [])
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iub"):
        raise ModelFormatError(f"XGBoost field {name} is not a list of integers")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ModelFormatError(f"XGBoost field {name} holds an integer beyond int64")
    return arr.astype(np.int64)


def _count(value, name: str, *, low: int, high: int) -> int:
    """A size declared in the document, checked for plausibility before anything uses it."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ModelFormatError(f"XGBoost {name} is {brief(value)}, not an integer") from None
    if not low <= n <= high:
        raise ModelFormatError(f"XGBoost {name} is {n}; a plausible model has {low}..{high}")
    return n


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
    data: bytes,
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
    # UBJSON: XGBoost writes it several times faster than JSON, and it keeps float32 exact.
    raw = booster.save_raw(raw_format="ubj")
    return from_model_bytes(
        bytes(raw),
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
            dump = deep_json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ModelFormatError(f"the XGBoost JSON dump is not UTF-8 text: {e}") from None
        except ModelFormatError as e:
            raise ModelFormatError(f"the XGBoost JSON dump is corrupt or truncated: {e}") from None
        return from_dump(dump, **kwargs)
    else:
        raise ModelFormatError("not an XGBoost JSON or UBJSON model (it does not start with '{')")
    dump_only = set(kwargs) - {"iteration_range"}
    if dump_only:
        raise ModelFormatError(
            f"options {sorted(dump_only)} are only for dumps; saved models carry their own"
        )
    return from_model_bytes(data, json=is_json, iteration_range=kwargs.get("iteration_range"))


# ----- get_dump(dump_format="json") -------------------------------------------------------------

_FEATURE_INDEX = re.compile(r"^f(\d+)$")


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
) -> Model:
    """A model from ``Booster.get_dump(dump_format="json", with_stats=True)``.

    A dump carries no base score, objective or class count: ``base_score`` (as XGBoost reports
    it, in output space), ``objective`` (default reg:squarederror) and ``n_outputs`` (the number
    of classes for multiclass models) say what it lacks. Trees feed outputs round-robin.

    A dart model's dump lacks the trees' weights (``weight_drop``): pass them as
    ``tree_weights`` (one per tree), or the loaded model is not the model. ``booster="dart"``
    without ``tree_weights`` is refused.
    """
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
    if not isinstance(dump, list) or not dump:
        raise ModelFormatError("an XGBoost JSON dump is a non-empty list of trees")
    k = _count(n_outputs or 1, "n_outputs", low=1, high=len(dump))
    trees = []
    for i, t in enumerate(dump):
        if isinstance(t, bytes):
            t = t.decode("utf-8")
        if isinstance(t, str):
            try:
                t = deep_json.loads(t)
            except ModelFormatError as e:
                raise ModelFormatError(
                    f"XGBoost dump tree {i} is not JSON ({e}): dump with "
                    "get_dump(dump_format='json', with_stats=True)"
                ) from None
        if not isinstance(t, dict):
            raise ModelFormatError(f"XGBoost dump tree {i} is not a tree object")
        trees.append(t)
    if tree_weights is not None:
        tree_weights = np.asarray(tree_weights, dtype=np.float64)
        if tree_weights.shape != (len(trees),) or not np.all(np.isfinite(tree_weights)):
            raise ModelFormatError(
                f"tree_weights must hold one finite weight per tree ({len(trees)}), got shape "
                f"{tree_weights.shape}"
            )
    names = list(feature_names) if feature_names is not None else None
    parsed = [_flatten_dump_tree(t, names, i) for i, t in enumerate(trees)]
    max_feature = max((int(p[0].max()) for p in parsed if p[0].size), default=-1)
    if n_features is None:
        n_features = len(names) if names is not None else max_feature + 1
    n_features = _count(n_features, "n_features", low=0, high=_MAX_FEATURES)
    if max_feature >= n_features:
        raise ModelFormatError(f"the dump splits on feature {max_feature} of {n_features}")
    builder = ForestBuilder(
        n_features=n_features,
        n_outputs=k,
        less_equal=False,
        f32_inputs=True,
        max_category=MAX_CATEGORY,
    )
    for i, (feature, threshold, left, right, default_left, cover, values, cats) in enumerate(
        parsed
    ):
        builder.add_tree(
            feature=feature,
            threshold=threshold,
            left=left,
            right=right,
            default_left=default_left,
            cover=cover,
            values=values if tree_weights is None else values * tree_weights[i],
            output=i % k,
            categories=cats,
        )
    base = _parse_base_score(base_score)
    if base.size not in (1, k):
        raise ModelFormatError(f"base_score has {base.size} values for {k} outputs")
    base = base_margin(objective, np.broadcast_to(base, (k,)))
    return Model(
        forest=builder.build(base),
        feature_names=names,
        objective=objective,
        link=_link(objective),
        library="xgboost",
        sparse_absent_is_missing=True,
    )


def _dump_id(node, field: str, tree: int) -> int:
    v = node.get(field)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ModelFormatError(
            f"XGBoost dump tree {tree}: a node's {field} is {brief(v)}, not an id"
        )
    return v


def _flatten_dump_tree(tree: dict, names, index: int):
    """One dump tree as arrays, its nodes renumbered in pre-order (a pruned tree's ids have
    gaps). Iterative, so trees of any depth load; each node must be reached exactly once, and
    its ``children`` must be the nodes its ``yes``/``no`` name."""
    nodes = []  # in pre-order: (node object, parent position, is_left)
    seen = set()
    stack = [(tree, -1, False)]
    while stack:
        node, parent, is_left = stack.pop()
        if not isinstance(node, dict):
            raise ModelFormatError(f"XGBoost dump tree {index}: a node is not an object")
        nid = _dump_id(node, "nodeid", index)
        if nid in seen:
            raise ModelFormatError(f"XGBoost dump tree {index}: node id {nid} appears twice")
        seen.add(nid)
        position = len(nodes)
        nodes.append((node, parent, is_left))
        if "leaf" in node:
            if node.get("children"):
                raise ModelFormatError(f"XGBoost dump tree {index}: leaf {nid} has children")
            continue
        children = node.get("children")
        yes, no = _dump_id(node, "yes", index), _dump_id(node, "no", index)
        miss = _dump_id(node, "missing", index)
        if not isinstance(children, list) or len(children) != 2 or yes == no:
            raise ModelFormatError(
                f"XGBoost dump tree {index}: split {nid} needs two distinct children"
            )
        if not all(isinstance(c, dict) for c in children):
            raise ModelFormatError(f"XGBoost dump tree {index}: a child of {nid} is not a node")
        ids = [_dump_id(c, "nodeid", index) for c in children]
        if sorted(ids) != sorted([yes, no]) or miss not in (yes, no):
            raise ModelFormatError(
                f"XGBoost dump tree {index}: split {nid} has children {ids}, but yes={yes}, "
                f"no={no}, missing={miss}"
            )
        by_id = dict(zip(ids, children))
        # Pushed right first so that the left (yes) subtree comes next in pre-order.
        stack.append((by_id[no], position, False))
        stack.append((by_id[yes], position, True))
    with np.errstate(over="ignore"):  # decimals beyond float32 become +-inf, as in XGBoost
        return _dump_arrays(nodes, names, index)


def _dump_arrays(nodes, names, index: int):
    n = len(nodes)
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    default_left = np.zeros(n, dtype=bool)
    cover = np.zeros(n)
    values = np.zeros(n)
    cats = {}
    for position, (node, parent, is_left) in enumerate(nodes):
        if parent >= 0:
            (left if is_left else right)[parent] = position
        cover[position] = np.float32(float(node.get("cover", 0.0)))
        if "leaf" in node:
            values[position] = np.float32(float(node["leaf"]))
            continue
        try:
            split = node["split"]
            cond = node["split_condition"]
        except KeyError as e:
            raise ModelFormatError(
                f"XGBoost dump tree {index}: node {node['nodeid']} lacks the field {e}"
            ) from None
        feature[position] = _feature_index(split, names)
        # "yes" is taken when x < condition, or when the category is in the listed set.
        default_left[position] = node["missing"] == node["yes"]
        if isinstance(cond, list):
            cats[position] = (_ints(cond, "split_condition"), True)
        else:
            threshold[position] = np.float32(float(cond))
    return feature, threshold, left, right, default_left, cover, values, cats


def _feature_index(split, names) -> int:
    if names is not None:
        try:
            return names.index(str(split))
        except ValueError:
            pass
    m = _FEATURE_INDEX.match(str(split))
    if m:
        return int(m.group(1))
    raise ModelFormatError(
        f"the dump splits on feature {brief(split)}: pass feature_names= to map names to columns"
    )
