"""The previous, pure-Python reader of XGBoost JSON dumps (``get_dump(dump_format="json")``
lists and dump files), kept only as the test oracle: the Rust reader must build bitwise the same
forest from every dump, and refuse what this refused."""

from __future__ import annotations

import re

import numpy as np

from treelens.exceptions import ModelFormatError
from treelens.loaders import deep_json
from treelens.loaders.forest_builder import ForestBuilder, brief, malformed_is_format_error
from treelens.loaders.xgboost import _check_dump_options, _link, _parse_base_score, base_margin
from treelens.model import Model

from _xgboost_oracle import _count, _ints

#: XGBoost's category ids are integers below 2**24 (exact in float32).
MAX_CATEGORY = 2**24 - 1
#: XGBoost's feature indices are 32-bit (bst_feature_t).
_MAX_FEATURES = 2**31 - 1


def load_file(data: bytes, **kwargs) -> Model:
    """A dump file's bytes, as ``tl.load(path)`` read them."""
    try:
        dump = deep_json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ModelFormatError(f"the XGBoost JSON dump is not UTF-8 text: {e}") from None
    except ModelFormatError as e:
        raise ModelFormatError(f"the XGBoost JSON dump is corrupt or truncated: {e}") from None
    return from_dump(dump, **kwargs)


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
    objective = _check_dump_options(
        base_score=base_score,
        objective=objective,
        iteration_range=iteration_range,
        tree_weights=tree_weights,
        booster=booster,
    )
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
