"""The previous, pure-Python reader of XGBoost model documents (JSON / UBJSON), kept only as
the test oracle: the Rust reader must build bitwise the same forest from every model."""

from __future__ import annotations

import json

import numpy as np

from treelens.exceptions import ModelFormatError, UnsupportedModelError
from treelens.loaders.forest_builder import ForestBuilder, brief, malformed_is_format_error
from treelens.loaders.xgboost import _check_objective, _link, _parse_base_score, base_margin
from treelens.model import Model

from _ubjson_oracle import loads as ubjson_loads

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


def load_bytes(data: bytes, *, iteration_range=None, feature_names=None) -> Model:
    """What ``tl.load(data)`` returned before: a document parsed in Python."""
    if data[:1] == b"{" and data[1:2] not in (b"", b" ", b"\t", b"\n", b"\r", b'"', b"}"):
        doc = ubjson_loads(data)
    else:
        doc = json.loads(data.decode("utf-8"))
    if feature_names:
        doc["learner"]["feature_names"] = list(feature_names)
    return from_json_document(doc, iteration_range=iteration_range)
