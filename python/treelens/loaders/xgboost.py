"""XGBoost models: live Booster / XGBModel objects, JSON and UBJSON model files, JSON dumps."""

from __future__ import annotations

import json
import math
import re

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from .forest_builder import ForestBuilder, malformed_is_format_error
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
        raise ModelFormatError(f"cannot read base_score {text!r}") from None


def _check_objective(objective: str) -> None:
    if objective not in SUPPORTED_OBJECTIVES:
        raise UnsupportedModelError(
            f"XGBoost objective {objective!r} is not supported; supported: "
            f"{', '.join(SUPPORTED_OBJECTIVES)}"
        )


def _as_array(v, dtype) -> np.ndarray:
    return np.asarray(v if v is not None else [], dtype=dtype)


def _add_json_tree(builder: ForestBuilder, tree: dict, output: int, weight: float) -> None:
    try:
        left = _as_array(tree["left_children"], np.int64)
        right = _as_array(tree["right_children"], np.int64)
        feature = _as_array(tree["split_indices"], np.int64)
        cond = _as_array(tree["split_conditions"], np.float64)
        default_left = _as_array(tree["default_left"], np.int64).astype(bool)
        cover = _as_array(tree["sum_hessian"], np.float64)
        n = left.shape[0]
        width = int(tree.get("tree_param", {}).get("size_leaf_vector", 1) or 1)
        split_type = _as_array(tree.get("split_type", np.zeros(n)), np.int64)
    except KeyError as e:
        raise ModelFormatError(f"an XGBoost tree lacks the field {e}") from None
    for name, arr in (("right_children", right), ("split_indices", feature),
                      ("split_conditions", cond), ("default_left", default_left),
                      ("sum_hessian", cover)):  # fmt: skip
        if arr.shape[0] != n:
            raise ModelFormatError(f"an XGBoost tree has {arr.shape[0]} {name} for {n} nodes")
    leaf = left < 0
    # XGBoost compares float32 values: round thresholds the way it stores them.
    threshold = cond.astype(np.float32).astype(np.float64)
    if width > 1:
        leaf_weights = tree.get("leaf_weights")
        if leaf_weights is not None and len(leaf_weights) > 0:
            # xgboost >= 3.1 keeps leaf vectors apart; a leaf's right child indexes them.
            lw = _as_array(leaf_weights, np.float64)
            if lw.shape[0] % width:
                raise ModelFormatError("a multi-output XGBoost tree has ragged leaf weights")
            lw = lw.reshape(-1, width)
            slot = np.where(leaf, right, 0)
            if np.any(leaf & ((slot < 0) | (slot >= lw.shape[0]))):
                raise ModelFormatError("a multi-output XGBoost leaf refers to a missing weight")
            values = np.where(leaf[:, None], lw[slot], 0.0) * weight
        else:
            weights = _as_array(tree["base_weights"], np.float64)
            if weights.shape[0] != n * width:
                raise ModelFormatError(
                    "a multi-output XGBoost tree has the wrong number of weights"
                )
            values = weights.reshape(n, width) * weight
    else:
        values = threshold * weight
    categories = {}
    nodes = _as_array(tree.get("categories_nodes"), np.int64)
    if nodes.size:
        cats = _as_array(tree["categories"], np.int64)
        seg = _as_array(tree["categories_segments"], np.int64)
        size = _as_array(tree["categories_sizes"], np.int64)
        if cats.size and (cats.min() < 0 or cats.max() >= 2**24):
            # XGBoost's categories are integers below 2**24 (exact in float32).
            raise ModelFormatError(f"categorical split lists category {cats.max()} >= 2**24")
        for k, node in enumerate(nodes):
            # Categories listed in the split go right; everything else (and invalid values) left.
            categories[int(node)] = (cats[seg[k] : seg[k] + size[k]], False)
        if np.any(split_type[nodes] != 1):
            raise ModelFormatError("categorical split lists refer to numeric nodes")
    builder.add_tree(
        feature=np.where(leaf, -1, feature),
        threshold=np.where(leaf, 0.0, threshold),
        left=left,
        right=right,
        default_left=default_left,
        cover=cover,
        values=values,
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
        weights = np.asarray(booster.get("weight_drop", []), dtype=np.float64)
    else:
        raise UnsupportedModelError(
            f"XGBoost booster {name!r} is not supported; supported: gbtree, dart"
        )
    trees = model_doc.get("trees", [])
    n_trees = len(trees)
    tree_info = np.asarray(model_doc.get("tree_info", []), dtype=np.int64)
    if tree_info.shape[0] != n_trees:
        raise ModelFormatError(f"tree_info has {tree_info.shape[0]} entries for {n_trees} trees")
    if weights is not None and weights.shape[0] != n_trees:
        raise ModelFormatError(f"dart weight_drop has {weights.shape[0]} entries for {n_trees}")
    num_class = int(mparam.get("num_class", 0) or 0)
    num_target = int(mparam.get("num_target", 1) or 1)
    n_outputs = max(num_class, num_target, 1)
    n_features = int(mparam["num_feature"])
    # Every output is fed by some tree (one per class and iteration, or vector leaves).
    widest = max(
        [int(t.get("tree_param", {}).get("size_leaf_vector", 1) or 1) for t in trees] + [1]
    )
    if n_outputs > max(n_trees, 1) * widest:
        raise ModelFormatError(f"the model declares {n_outputs} outputs for {n_trees} trees")
    names = learner.get("feature_names") or []
    if n_features < 0 or (names and len(names) != n_features):
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
        per_iter = int(gparam.get("num_parallel_tree", 1) or 1) * max(num_class, 1)
        indptr = np.arange(0, n_trees + per_iter, per_iter).clip(max=n_trees)
    indptr = np.asarray(indptr, dtype=np.int64)
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
        n_features=n_features, n_outputs=n_outputs, less_equal=False, f32_inputs=True
    )
    for i in selected:
        w = 1.0 if weights is None else float(weights[i])
        _add_json_tree(builder, trees[i], int(tree_info[i]), w)
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
        frame_categories=_cat_lists(model_doc, feature_types),
        feature_types=list(feature_types) if feature_types else None,
        missing_value=missing,
        estimator=estimator,
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


def from_bytes(data: bytes, **kwargs) -> Model:
    """A model saved by ``save_model``/``save_raw``: JSON text or UBJSON."""
    head = data.lstrip()[:1]
    if head == b"{":
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as json_error:
            try:
                doc = ubjson_loads(data)
            except ModelFormatError as ubj_error:
                raise ModelFormatError(
                    "the XGBoost model is corrupt or truncated: it is neither valid JSON "
                    f"({json_error}) nor valid UBJSON ({ubj_error})"
                ) from None
    elif head == b"[":
        try:
            dump = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelFormatError(f"the XGBoost JSON dump is not valid JSON: {e}") from None
        return from_dump(dump, **kwargs)
    else:
        raise ModelFormatError("not an XGBoost JSON or UBJSON model (it does not start with '{')")
    if kwargs.get("base_score") is not None or kwargs.get("objective") is not None:
        raise ModelFormatError("base_score/objective are only for dumps; saved models carry theirs")
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
) -> Model:
    """A model from ``Booster.get_dump(dump_format="json", with_stats=True)``.

    A dump carries no base score, objective or class count: ``base_score`` (as XGBoost reports
    it, in output space), ``objective`` (default reg:squarederror) and ``n_outputs`` (the number
    of classes for multiclass models) say what it lacks. Trees feed outputs round-robin.
    """
    if iteration_range is not None:
        raise UnsupportedModelError("iteration_range is not available for dumps")
    if base_score is None:
        raise UnsupportedModelError(
            "an XGBoost dump has no base score: pass base_score= (booster's learner_model_param "
            "base_score, e.g. 0.5) and objective="
        )
    objective = objective or "reg:squarederror"
    _check_objective(objective)
    k = int(n_outputs or 1)
    try:
        trees = [json.loads(t) if isinstance(t, (str, bytes)) else t for t in dump]
    except json.JSONDecodeError as e:
        raise ModelFormatError(
            f"an XGBoost dump tree is not JSON ({e}): dump with get_dump(dump_format='json', "
            "with_stats=True)"
        ) from None
    if not trees or not all(isinstance(t, dict) for t in trees):
        raise ModelFormatError("an XGBoost JSON dump is a non-empty list of tree objects")
    names = list(feature_names) if feature_names is not None else None
    parsed = [_flatten_dump_tree(t, names) for t in trees]
    max_feature = max((int(p[0].max()) for p in parsed if p[0].size), default=-1)
    if n_features is None:
        n_features = len(names) if names is not None else max_feature + 1
    if max_feature >= n_features:
        raise ModelFormatError(f"the dump splits on feature {max_feature} of {n_features}")
    builder = ForestBuilder(
        n_features=int(n_features), n_outputs=k, less_equal=False, f32_inputs=True
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
            values=values,
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
    )


def _flatten_dump_tree(tree: dict, names):
    nodes = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        try:
            nid = int(node["nodeid"])
        except (KeyError, TypeError, ValueError):
            raise ModelFormatError("a dump node has no nodeid") from None
        if nid in nodes:
            raise ModelFormatError(f"node id {nid} appears twice in a dump tree")
        nodes[nid] = node
        stack.extend(node.get("children", []))
    n = max(nodes) + 1
    if len(nodes) != n:
        raise ModelFormatError("the node ids of a dump tree are not contiguous")
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    default_left = np.zeros(n, dtype=bool)
    cover = np.zeros(n)
    values = np.zeros(n)
    cats = {}
    for nid, node in nodes.items():
        cover[nid] = float(node.get("cover", 0.0))
        if "leaf" in node:
            values[nid] = np.float32(node["leaf"])
            continue
        try:
            split = node["split"]
            yes, no, miss = int(node["yes"]), int(node["no"]), int(node["missing"])
            cond = node["split_condition"]
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFormatError(f"dump node {nid} lacks a split field: {e}") from None
        feature[nid] = _feature_index(split, names)
        # "yes" is taken when x < condition, or when the category is in the listed set.
        left[nid], right[nid] = yes, no
        default_left[nid] = miss == yes
        if isinstance(cond, list):
            cats[nid] = (np.asarray(cond, dtype=np.int64), True)
        else:
            threshold[nid] = np.float32(cond)
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
        f"the dump splits on feature {split!r}: pass feature_names= to map names to columns"
    )
