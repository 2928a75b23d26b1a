"""ONNX's ``TreeEnsemble`` operator (ai.onnx.ml opset 5), written in the attributes of the older
TreeEnsembleRegressor, which onnxruntime evaluates the same way: interior nodes and leaves are
listed apart there, and trees are found from their roots."""

from __future__ import annotations

import numpy as np

from ..exceptions import ModelFormatError

_MODES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ",
          "BRANCH_MEMBER")  # fmt: skip
_AGGREGATES = ("AVERAGE", "SUM", "MIN", "MAX")
_POST_TRANSFORMS = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")


def _ints(attrs: dict, name: str, count: int | None = None) -> np.ndarray:
    arr = np.asarray(attrs.get(name, []), dtype=np.int64).ravel()
    if count is not None and arr.size != count:
        raise ModelFormatError(f"the ONNX TreeEnsemble has {arr.size} {name}, expected {count}")
    return arr


def _enum(attrs: dict, name: str, names: tuple, default: int) -> str:
    code = int(attrs.get(name, default))
    if not 0 <= code < len(names):
        raise ModelFormatError(f"the ONNX TreeEnsemble's {name} {code} is unknown")
    return names[code]


def as_regressor_attributes(attrs: dict, tensor) -> dict:
    """TreeEnsembleRegressor attributes computing what the TreeEnsemble ``attrs`` compute.

    ``tensor(value)`` turns a TensorProto attribute into a numpy array. Each tree is walked
    from its root with an explicit stack; an interior node reached twice (a shared subtree) is
    refused, so the walk is linear in the model's size. Leaves may be shared: each reference
    becomes a leaf of its own, with the same weight.
    """
    features = _ints(attrs, "nodes_featureids")
    n = features.size
    modes = tensor(attrs["nodes_modes"]).astype(np.int64).ravel()
    splits = tensor(attrs["nodes_splits"]).astype(np.float64).ravel()
    true_ids = _ints(attrs, "nodes_truenodeids", n)
    false_ids = _ints(attrs, "nodes_falsenodeids", n)
    true_leaf = _ints(attrs, "nodes_trueleafs", n) != 0
    false_leaf = _ints(attrs, "nodes_falseleafs", n) != 0
    tracks = _ints(attrs, "nodes_missing_value_tracks_true")
    tracks = tracks if tracks.size else np.zeros(n, dtype=np.int64)
    targets = _ints(attrs, "leaf_targetids")
    weights = tensor(attrs["leaf_weights"]).astype(np.float64).ravel()
    roots = _ints(attrs, "tree_roots")
    for name, arr in (("nodes_modes", modes), ("nodes_splits", splits),
                      ("nodes_missing_value_tracks_true", tracks)):  # fmt: skip
        if arr.size != n:
            raise ModelFormatError(f"the ONNX TreeEnsemble has {arr.size} {name} for {n} nodes")
    if targets.size != weights.size:
        raise ModelFormatError("the ONNX TreeEnsemble's leaf_targetids and leaf_weights differ")
    if np.any((modes < 0) | (modes >= len(_MODES))):
        raise ModelFormatError("the ONNX TreeEnsemble has an unknown node mode")
    for name, ids, leaf in (("true", true_ids, true_leaf), ("false", false_ids, false_leaf)):
        bound = np.where(leaf, weights.size, n)
        if np.any((ids < 0) | (ids >= bound)):
            raise ModelFormatError(f"the ONNX TreeEnsemble has a {name} branch out of range")
    if roots.size == 0 or np.any((roots < 0) | (roots >= n)):
        raise ModelFormatError("the ONNX TreeEnsemble's tree_roots are empty or out of range")

    out = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
                           "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                           "nodes_missing_value_tracks_true", "target_treeids",
                           "target_nodeids", "target_ids", "target_weights")}  # fmt: skip
    seen = np.zeros(n, dtype=bool)
    next_leaf = n  # leaves are numbered after the interior nodes

    def emit(tree, node_id, feature, value, mode, true_id, false_id, track):
        out["nodes_treeids"].append(tree)
        out["nodes_nodeids"].append(node_id)
        out["nodes_featureids"].append(feature)
        out["nodes_values"].append(value)
        out["nodes_modes"].append(mode)
        out["nodes_truenodeids"].append(true_id)
        out["nodes_falsenodeids"].append(false_id)
        out["nodes_missing_value_tracks_true"].append(track)

    def emit_leaf(tree, node_id, leaf):
        emit(tree, node_id, 0, 0.0, "LEAF", 0, 0, 0)
        out["target_treeids"].append(tree)
        out["target_nodeids"].append(node_id)
        out["target_ids"].append(int(targets[leaf]))
        out["target_weights"].append(float(weights[leaf]))

    for tree, root in enumerate(roots):
        stack = [int(root)]
        while stack:
            i = stack.pop()
            if seen[i]:
                raise ModelFormatError(
                    f"the ONNX TreeEnsemble reaches interior node {i} twice (a shared subtree)"
                )
            seen[i] = True
            if true_leaf[i] and false_leaf[i] and true_ids[i] == false_ids[i]:
                emit_leaf(tree, i, int(true_ids[i]))  # a leaf written as a node (one-leaf tree)
                continue
            children = []
            branches = ((true_leaf[i], int(true_ids[i])), (false_leaf[i], int(false_ids[i])))
            for leaf, child in branches:
                if leaf:
                    children.append(("leaf", next_leaf, child))
                    next_leaf += 1
                else:
                    children.append(("node", child, child))
            emit(tree, i, int(features[i]), float(splits[i]), _MODES[modes[i]],
                 children[0][1], children[1][1], int(tracks[i]))  # fmt: skip
            for kind, node_id, index in reversed(children):
                if kind == "leaf":
                    emit_leaf(tree, node_id, index)
                else:
                    stack.append(index)
    out["n_targets"] = int(attrs.get("n_targets", 1))
    out["aggregate_function"] = _enum(attrs, "aggregate_function", _AGGREGATES, 1)
    out["post_transform"] = _enum(attrs, "post_transform", _POST_TRANSFORMS, 0)
    return out
