"""XGBoost models: live Booster / XGBModel objects, JSON and UBJSON model files, JSON dumps."""

from __future__ import annotations

import json
import math
import re

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from . import deep_json
from .forest_builder import ForestBuilder, brief, malformed_is_format_error
from .ubjson import loads as ubjson_loads

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
#: XGBoost's feature indices are 32-bit (bst_feature_t); its deleted nodes carry this index.
_MAX_FEATURES = 2**31 - 1
_DELETED_NODE = 2**31 - 1
#: More outputs than this is no plausible model (and would allocate per output).
_MAX_OUTPUTS = 2**20


def _as_array(v, dtype) -> np.ndarray:
    return np.asarray(v if v is not None else [], dtype=dtype)


def _ints(v, name: str) -> np.ndarray:
    """A 1-D integer array from a document field, refusing floats, strings and nesting."""
    arr = np.asarray(v if v is not None else [])
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iub"):
        raise ModelFormatError(f"XGBoost field {name} is not a list of integers")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ModelFormatError(f"XGBoost field {name} holds an integer beyond int64")
    return arr.astype(np.int64)


def _float32s(v, name: str) -> np.ndarray:
    """A 1-D float array from a document field, rounded to float32: XGBoost keeps float32
    values, which its JSON writes as decimals; rounding them back makes a JSON and a UBJSON
    file of one model load bitwise identically."""
    arr = np.asarray(v if v is not None else [])
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iuf"):
        raise ModelFormatError(f"XGBoost field {name} is not a list of numbers")
    with np.errstate(over="ignore"):
        return arr.astype(np.float32).astype(np.float64)


def _count(value, name: str, *, low: int, high: int) -> int:
    """A size declared in the document, checked for plausibility before anything uses it."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ModelFormatError(f"XGBoost {name} is {brief(value)}, not an integer") from None
    if not low <= n <= high:
        raise ModelFormatError(f"XGBoost {name} is {n}; a plausible model has {low}..{high}")
    return n


def _length(v) -> int:
    return 0 if v is None else len(v)


def _tree_width(tree: dict, index: int) -> int:
    """A tree's size_leaf_vector, checked against the leaf values it actually holds."""
    param = tree.get("tree_param", {})
    if not isinstance(param, dict):
        raise ModelFormatError(f"XGBoost tree {index}: tree_param is not an object")
    n = len(tree["left_children"])
    present = max(_length(tree.get("base_weights")), _length(tree.get("leaf_weights")))
    width = _count(param.get("size_leaf_vector", 1) or 1, f"tree {index} size_leaf_vector",
                   low=1, high=max(1, present))  # fmt: skip
    if "num_nodes" in param and _count(param["num_nodes"], "num_nodes", low=1, high=n) != n:
        raise ModelFormatError(f"XGBoost tree {index}: num_nodes {param['num_nodes']} for {n}")
    return width


def _tree_shape(left, right, split_index, index: int):
    """Checks that the arrays form one tree and drops XGBoost's deleted nodes (nodes pruned
    away, still stored, reached from nowhere). Returns the kept nodes, in an order where
    children follow their parent, and each old node's new index."""
    n = left.shape[0]
    internal = left != -1
    if np.any(internal & ((left < 0) | (left >= n) | (right < 0) | (right >= n))):
        bad = int(
            np.flatnonzero(internal & ((left < 0) | (left >= n) | (right < 0) | (right >= n)))[0]
        )
        raise ModelFormatError(
            f"XGBoost tree {index}: node {bad} has children {left[bad]}, {right[bad]} outside "
            f"the tree's {n} nodes"
        )
    indegree = np.bincount(np.concatenate([left[internal], right[internal]]), minlength=n)
    if indegree[0]:
        raise ModelFormatError(f"XGBoost tree {index}: the root is a child of another node")
    if np.any(indegree > 1):
        bad = int(np.flatnonzero(indegree > 1)[0])
        raise ModelFormatError(
            f"XGBoost tree {index}: node {bad} has {indegree[bad]} parents (a tree node has one)"
        )
    keep = np.ones(n, dtype=bool)
    orphans = np.flatnonzero(indegree == 0)[1:]
    if orphans.size:
        deleted = ~internal[orphans] & (split_index[orphans] == _DELETED_NODE)
        if not deleted.all():
            raise ModelFormatError(
                f"XGBoost tree {index}: node {orphans[~deleted][0]} is not reached from the root"
            )
        keep[orphans] = False
    order = np.flatnonzero(keep)
    parents = np.flatnonzero(internal)
    if np.any(left[parents] <= parents) or np.any(right[parents] <= parents):
        # XGBoost may reuse a deleted slot for a later node: lay the tree out in pre-order.
        order = _preorder(left, right, internal, index)
        if order.size != keep.sum():
            raise ModelFormatError(
                f"XGBoost tree {index}: some nodes are not reached from the root"
            )
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[order] = np.arange(order.size)
    return order, new_index


def _preorder(left, right, internal, index: int) -> np.ndarray:
    order, seen, stack = [], set(), [0]
    while stack:
        node = stack.pop()
        if node in seen:
            raise ModelFormatError(f"XGBoost tree {index}: node {node} is reached twice")
        seen.add(node)
        order.append(node)
        if internal[node]:
            stack.append(int(right[node]))
            stack.append(int(left[node]))
    return np.asarray(order, dtype=np.int64)


def _add_json_tree(
    builder: ForestBuilder, tree: dict, output: int, weight: float, index: int, width: int
) -> None:
    try:
        left = _ints(tree["left_children"], "left_children")
        right = _ints(tree["right_children"], "right_children")
        feature = _ints(tree["split_indices"], "split_indices")
        cond = _float32s(tree["split_conditions"], "split_conditions")
        default_left = _ints(tree["default_left"], "default_left")
        cover = _float32s(tree["sum_hessian"], "sum_hessian")
        n = left.shape[0]
        split_type = _ints(tree.get("split_type", np.zeros(n, dtype=np.int64)), "split_type")
    except KeyError as e:
        raise ModelFormatError(f"XGBoost tree {index} lacks the field {e}") from None
    for name, arr in (("right_children", right), ("split_indices", feature),
                      ("split_conditions", cond), ("default_left", default_left),
                      ("sum_hessian", cover), ("split_type", split_type)):  # fmt: skip
        if arr.shape[0] != n:
            raise ModelFormatError(f"XGBoost tree {index} has {arr.shape[0]} {name} for {n} nodes")
    if n == 0:
        raise ModelFormatError(f"XGBoost tree {index} has no nodes")
    # Unused here, but XGBoost refuses a file where they do not match the tree: so do we.
    for name, expected in (("parents", n), ("base_weights", n * width)):
        if name in tree and _length(tree[name]) not in (0, expected):
            raise ModelFormatError(
                f"XGBoost tree {index} has {_length(tree[name])} {name} for {n} nodes"
            )
    if np.any((default_left != 0) & (default_left != 1)):
        raise ModelFormatError(f"XGBoost tree {index}: default_left holds values other than 0/1")
    if np.any((split_type != 0) & (split_type != 1)):
        raise ModelFormatError(
            f"XGBoost tree {index}: split_type holds values other than 0 (numeric) and 1 "
            "(categorical)"
        )
    order, new_index = _tree_shape(left, right, feature, index)
    leaf = left == -1
    if width > 1:
        leaf_weights = tree.get("leaf_weights")
        if leaf_weights is not None and len(leaf_weights) > 0:
            # xgboost >= 3.1 keeps leaf vectors apart; a leaf's right child indexes them.
            lw = _float32s(leaf_weights, "leaf_weights")
            if lw.shape[0] % width:
                raise ModelFormatError("a multi-output XGBoost tree has ragged leaf weights")
            lw = lw.reshape(-1, width)
            slot = np.where(leaf, right, 0)
            if np.any(leaf & ((slot < 0) | (slot >= lw.shape[0]))):
                raise ModelFormatError("a multi-output XGBoost leaf refers to a missing weight")
            values = np.where(leaf[:, None], lw[slot], 0.0) * weight
        else:
            weights = _float32s(tree["base_weights"], "base_weights")
            if weights.shape[0] != n * width:
                raise ModelFormatError(
                    "a multi-output XGBoost tree has the wrong number of weights"
                )
            values = weights.reshape(n, width) * weight
    else:
        values = np.where(leaf, cond, 0.0) * weight
    categories = {}
    nodes = _ints(tree.get("categories_nodes"), "categories_nodes")
    listed = np.zeros(n, dtype=bool)
    if nodes.size:
        cats = _ints(tree.get("categories"), "categories")
        seg = _ints(tree.get("categories_segments"), "categories_segments")
        size = _ints(tree.get("categories_sizes"), "categories_sizes")
        if seg.shape != nodes.shape or size.shape != nodes.shape:
            raise ModelFormatError(
                f"XGBoost tree {index}: {nodes.size} categorical nodes, {seg.size} segments "
                f"and {size.size} sizes"
            )
        if np.any((seg < 0) | (size < 0) | (seg + size > cats.size)):
            raise ModelFormatError(
                f"XGBoost tree {index}: a categorical split's segment lies outside its "
                f"{cats.size} categories"
            )
        if np.any((nodes < 0) | (nodes >= n)):
            raise ModelFormatError(
                f"XGBoost tree {index}: categories_nodes names a node outside the tree"
            )
        listed[nodes] = True
        if np.unique(nodes).size != nodes.size or np.any(leaf[nodes]):
            raise ModelFormatError(
                f"XGBoost tree {index}: categories_nodes repeats a node or names a leaf"
            )
        for k, node in enumerate(nodes):
            # Categories listed in the split go right; everything else (and invalid values) left.
            categories[int(new_index[node])] = (cats[seg[k] : seg[k] + size[k]], False)
    if np.any(listed != ((split_type == 1) & ~leaf)):
        raise ModelFormatError(
            f"XGBoost tree {index}: categorical split lists do not match its categorical nodes"
        )
    remap = lambda child: np.where(leaf, -1, new_index[np.where(leaf, 0, child)])  # noqa: E731
    builder.add_tree(
        feature=np.where(leaf, -1, feature)[order],
        threshold=np.where(leaf, 0.0, cond)[order],
        left=remap(left)[order],
        right=remap(right)[order],
        default_left=default_left[order],
        cover=cover[order],
        values=values[order],
        output=output,
        categories=categories,
    )


def _cat_lists(model_doc: dict, feature_types) -> dict[int, np.ndarray]:
    """Training categories stored by xgboost >= 3.1, per feature.

    Strings are stored as UTF-8 bytes (signed) with offsets. xgboost 3.2 writes inconsistent
    offsets for non-ASCII names (and re-codes them wrongly itself); such a column keeps no
    stored categories, so a DataFrame's own category codes are used, as xgboost < 3.1 did.
    """
    cats = model_doc.get("cats")
    if not isinstance(cats, dict) or not cats.get("enc"):
        return {}
    out = {}
    for j, enc in enumerate(cats["enc"]):
        values = _as_array(enc.get("values"), np.float64) if isinstance(enc, dict) else None
        offsets = enc.get("offsets") if isinstance(enc, dict) else None
        if values is None or values.size == 0:
            continue
        if offsets is not None and len(offsets) > 0:
            offs = np.asarray(offsets, dtype=np.int64)
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
def from_json_document(
    doc: dict, *, iteration_range=None, estimator=None, missing=None, classes=None
) -> Model:
    """Builds a model from the document ``save_model``/``save_raw`` writes (JSON or UBJSON)."""
    try:
        learner = doc["learner"]
        objective = learner["objective"]["name"]
        mparam = learner["learner_model_param"]
        booster = learner["gradient_booster"]
    except (KeyError, TypeError):
        raise ModelFormatError(
            "not an XGBoost model document (no learner/objective/gradient_booster)"
        ) from None
    _check_objective(objective)
    name = booster.get("name")
    if name == "gbtree":
        model_doc, weights = booster["model"], None
    elif name == "dart":
        model_doc = booster["gbtree"]["model"]
        weights = _float32s(booster.get("weight_drop", []), "weight_drop")
    else:
        raise UnsupportedModelError(
            f"XGBoost booster {brief(name)} is not supported; supported: gbtree, dart"
        )
    trees = model_doc.get("trees", [])
    if not isinstance(trees, list) or not all(isinstance(t, dict) for t in trees):
        raise ModelFormatError("XGBoost trees is not a list of tree objects")
    n_trees = len(trees)
    tree_info = _ints(model_doc.get("tree_info", []), "tree_info")
    if tree_info.shape[0] != n_trees:
        raise ModelFormatError(f"tree_info has {tree_info.shape[0]} entries for {n_trees} trees")
    if weights is not None and weights.shape[0] != n_trees:
        raise ModelFormatError(f"dart weight_drop has {weights.shape[0]} entries for {n_trees}")
    if weights is not None and not np.all(np.isfinite(weights)):
        raise ModelFormatError("dart weight_drop holds a value that is not finite")
    # Sizes the document declares are checked against what it holds before they size anything.
    widths = [_tree_width(t, i) for i, t in enumerate(trees)]
    num_class = _count(mparam.get("num_class", 0) or 0, "num_class", low=0, high=_MAX_OUTPUTS)
    num_target = _count(mparam.get("num_target", 1) or 1, "num_target", low=1, high=_MAX_OUTPUTS)
    n_outputs = max(num_class, num_target, 1)
    n_features = _count(mparam["num_feature"], "num_feature", low=0, high=_MAX_FEATURES)
    # Every output is fed by some tree (one per class and iteration, or vector leaves).
    widest = max(widths + [1])
    if n_outputs > max(n_trees, 1) * widest:
        raise ModelFormatError(f"the model declares {n_outputs} outputs for {n_trees} trees")
    if any(w > 1 and w != n_outputs for w in widths):
        raise ModelFormatError(
            f"a tree has {max(widths)} values per leaf, but the model has {n_outputs} outputs"
        )
    if np.any((tree_info < 0) | (tree_info >= n_outputs)):
        bad = int(np.flatnonzero((tree_info < 0) | (tree_info >= n_outputs))[0])
        raise ModelFormatError(
            f"tree_info says tree {bad} feeds output {tree_info[bad]}, but the model has "
            f"{n_outputs} outputs"
        )
    names = learner.get("feature_names") or []
    if names and len(names) != n_features:
        raise ModelFormatError(
            f"num_feature is {n_features}, but the model names {len(names)} features"
        )
    base = _parse_base_score(mparam.get("base_score", "0.5"))
    if base.size == 1:
        base = np.full(n_outputs, base[0])
    elif base.size != n_outputs:
        raise ModelFormatError(f"base_score has {base.size} values for {n_outputs} outputs")
    margin = base_margin(objective, base)

    # Which trees: iteration_range (begin, end) as in Booster.predict; (0, 0) means all.
    indptr = model_doc.get("iteration_indptr")
    if indptr is None or len(indptr) == 0:
        gparam = model_doc.get("gbtree_model_param", {})
        per_tree = _count(
            gparam.get("num_parallel_tree", 1) or 1, "num_parallel_tree", low=1, high=2**31
        )
        per_iter = per_tree * max(num_class, 1)
        indptr = np.arange(0, n_trees + per_iter, per_iter).clip(max=n_trees)
    indptr = _ints(indptr, "iteration_indptr")
    if indptr.size and (indptr[0] != 0 or indptr[-1] != n_trees or np.any(np.diff(indptr) < 0)):
        raise ModelFormatError(
            f"iteration_indptr is not a partition of the model's {n_trees} trees"
        )
    n_iter = indptr.shape[0] - 1
    begin, end = (0, 0) if iteration_range is None else map(int, iteration_range)
    if end == 0:
        end = n_iter
    if not (0 <= begin < end <= n_iter) and n_iter > 0:
        raise UnsupportedModelError(
            f"iteration_range ({begin}, {end}) is outside the model's {n_iter} iterations"
        )
    selected = range(int(indptr[begin]), int(indptr[end])) if n_iter > 0 else range(0)

    builder = ForestBuilder(
        n_features=n_features,
        n_outputs=n_outputs,
        less_equal=False,
        f32_inputs=True,
        max_category=MAX_CATEGORY,
    )
    for i in selected:
        w = 1.0 if weights is None else float(weights[i])
        _add_json_tree(builder, trees[i], int(tree_info[i]), w, i, widths[i])
    feature_names = learner.get("feature_names") or None
    feature_types = learner.get("feature_types") or None
    if classes is None and (objective == "binary:logistic" or objective.startswith("multi:")):
        # A Booster or a saved classifier: XGBoost's labels are 0 .. n_classes - 1.
        classes = np.arange(max(num_class, 2))
    return Model(
        forest=builder.build(margin),
        feature_names=list(feature_names) if feature_names else None,
        objective=objective,
        link=_link(objective),
        classes=classes,
        library="xgboost",
        sparse_absent_is_missing=True,
        frame_categories=_cat_lists(model_doc, feature_types),
        feature_types=list(feature_types) if feature_types else None,
        missing_value=missing,
        estimator=estimator,
        trees_per_round=int(indptr[1] - indptr[0]) if n_iter > 0 else None,
    )


def from_booster(booster, *, iteration_range=None, estimator=None, missing=None, classes=None):
    raw = booster.save_raw(raw_format="json")
    doc = json.loads(bytes(raw).decode("utf-8"))
    names = booster.feature_names
    if names:
        doc["learner"]["feature_names"] = list(names)
    return from_json_document(
        doc,
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
        doc = ubjson_loads(data)
    elif data.lstrip()[:1] == b"{":
        try:
            doc = deep_json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ModelFormatError(f"the XGBoost JSON model is not UTF-8 text: {e}") from None
        except ModelFormatError as e:
            raise ModelFormatError(f"the XGBoost JSON model is corrupt or truncated: {e}") from None
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
    if not isinstance(doc, dict):
        raise ModelFormatError("not an XGBoost model document (not an object)")
    return from_json_document(doc, iteration_range=kwargs.get("iteration_range"))


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
