"""ONNX tree ensembles: the ``ai.onnx.ml`` operators TreeEnsembleRegressor and
TreeEnsembleClassifier, as skl2onnx and onnxmltools write them for scikit-learn, XGBoost and
LightGBM models, and TreeEnsemble (opset 5).

The loaded model computes what onnxruntime computes before the operator's ``post_transform``
(its margin), which becomes the model's link. ONNX stores no node covers: the model explains
against background data only (``Model.has_covers`` is False).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from .forest_builder import ForestBuilder, malformed_is_format_error
from .onnx_tree_ensemble import as_regressor_attributes
from .onnx_unfold import LEAF, as_tree, unfold, unfolded_size

_ENSEMBLES = ("TreeEnsembleRegressor", "TreeEnsembleClassifier", "TreeEnsemble")
#: Operators that may stand between the graph's input and the ensemble (they keep the values;
#: a Cast to float32 makes the comparisons float32).
_BEFORE = ("Cast", "Identity")
#: Operators that may read the ensemble's outputs: they only reformat them (labels, maps).
_AFTER = ("ZipMap", "Cast", "Identity")
_LINKS = {"NONE": "identity", "LOGISTIC": "logistic", "SOFTMAX": "softmax"}
#: Node modes, in the order of onnx_unfold's codes.
_MODES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "LEAF", "BRANCH_EQ", "BRANCH_NEQ")
#: Nodes the unfolded trees may have at least (copies of shared nodes, doubled equalities).
_MIN_UNFOLD_BUDGET = 2**20
#: Largest number of leaf values of trees that feed several outputs (1 GiB of float64).
_MAX_VECTOR_FLOATS = 2**27
#: Largest input width read from feature ids alone (the input's width is not fixed).
_MAX_FEATURES = 2**31 - 1
#: TensorProto element types: FLOAT and DOUBLE.
_FLOAT, _DOUBLE = 1, 11


def is_onnx_model(obj) -> bool:
    """Whether ``obj`` is an ``onnx.ModelProto`` (onnx is not imported to find out)."""
    return type(obj).__name__ == "ModelProto" and type(obj).__module__.startswith("onnx")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise UnsupportedModelError(
            "reading an ONNX model needs the onnx package: pip install onnx"
        ) from None
    return onnx


def parse_bytes(data: bytes):
    """An ``onnx.ModelProto`` from serialised bytes; anything else is a ModelFormatError."""
    onnx = _onnx()
    try:
        model = onnx.ModelProto()
        model.ParseFromString(bytes(data))
    except Exception as e:  # protobuf's DecodeError and friends
        raise ModelFormatError(f"not a readable ONNX model ({type(e).__name__}: {e})") from None
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise ModelFormatError("the ONNX model has no graph (or an empty one)")
    return model


def looks_like_onnx(data: bytes) -> bool:
    """ONNX files are protobuf: they start with field 1 (ir_version, a varint: byte 0x08)."""
    return data[:1] == b"\x08"


def _attributes(node) -> dict:
    onnx = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _find_ensemble(graph):
    """The one tree-ensemble node, the graph input it reads, and whether its input values are
    compared in float32."""
    ensembles = [n for n in graph.node if n.op_type in _ENSEMBLES]
    if len(ensembles) != 1:
        others = sorted({n.op_type for n in graph.node})
        raise UnsupportedModelError(
            f"the ONNX graph has {len(ensembles)} tree ensembles (operators: {others}); treelens "
            "reads graphs with exactly one TreeEnsembleRegressor, TreeEnsembleClassifier or "
            "TreeEnsemble"
        )
    ensemble = ensembles[0]
    producers = {out: n for n in graph.node for out in n.output}
    inputs = {i.name: i for i in graph.input}
    f32 = False
    name = ensemble.input[0]
    # Walk back to a graph input through value-preserving operators only.
    for _ in range(len(graph.node) + 1):
        if name in inputs:
            elem = inputs[name].type.tensor_type.elem_type
            if elem not in (_FLOAT, _DOUBLE):
                raise UnsupportedModelError(
                    f"the ONNX model's input {name!r} has element type {elem}; treelens reads "
                    "float (1) and double (11) inputs"
                )
            f32 = f32 or elem == _FLOAT
            break
        node = producers.get(name)
        if node is None:
            raise ModelFormatError(f"the ONNX graph does not say where {name!r} comes from")
        if node.op_type not in _BEFORE:
            raise UnsupportedModelError(
                f"the ONNX tree ensemble reads the output of a {node.op_type} operator; treelens "
                f"reads graphs whose ensemble takes the input directly (or through "
                f"{' / '.join(_BEFORE)}): explain the ensemble on the transformed rows instead"
            )
        if node.op_type == "Cast":
            to = _attributes(node).get("to")
            if to not in (_FLOAT, _DOUBLE):
                raise UnsupportedModelError(
                    f"the ONNX graph casts the ensemble's input to element type {to}; only "
                    "float and double casts are supported"
                )
            f32 = f32 or to == _FLOAT
        name = node.input[0]
    else:
        raise ModelFormatError("the ONNX graph's operators before the ensemble form a cycle")
    # Everything downstream of the ensemble may only reformat its outputs.
    reached = set(ensemble.output)
    for _ in range(len(graph.node)):
        readers = [n for n in graph.node if set(n.input) & reached and n is not ensemble]
        for node in readers:
            if node.op_type not in _AFTER and not _times_one(node, reached, graph):
                raise UnsupportedModelError(
                    f"the ONNX tree ensemble's output goes through a {node.op_type} operator, "
                    "which changes it; treelens reads graphs that only reformat the ensemble's "
                    f"output ({', '.join(_AFTER)})"
                )
        grown = reached | {out for n in readers for out in n.output}
        if grown == reached:
            break
        reached = grown
    return ensemble, inputs[name], f32


def _times_one(node, reached: set, graph) -> bool:
    """Whether ``node`` multiplies by a constant 1 (onnxmltools writes one after LightGBM's
    probabilities)."""
    if node.op_type != "Mul":
        return False
    others = [name for name in node.input if name not in reached]
    constants = {t.name: t for t in graph.initializer}
    if len(others) != 1 or others[0] not in constants:
        return False
    value = _onnx().numpy_helper.to_array(constants[others[0]])
    return value.size > 0 and bool(np.all(value == 1))


def _array(attrs: dict, *names, dtype, required: bool = True):
    """The first attribute present among ``names`` as an array (``*_as_tensor`` first)."""
    onnx = _onnx()
    for name in names:
        if name in attrs:
            value = attrs[name]
            if hasattr(value, "dims"):  # a TensorProto
                value = onnx.numpy_helper.to_array(value).ravel()
            return np.asarray(value, dtype=dtype).ravel()
    if required:
        raise ModelFormatError(f"the ONNX tree ensemble lacks {names[-1]}")
    return None


def _less_than_as_less_equal(threshold: np.ndarray, f32: bool) -> np.ndarray:
    """The largest value below each threshold in the comparison's precision: ``x < t`` is
    ``x <= that`` for every such x (used only when one model mixes the two comparisons)."""
    if f32:
        t32 = threshold.astype(np.float32)
        below = np.where(
            t32.astype(np.float64) >= threshold, np.nextafter(t32, np.float32(-np.inf)), t32
        )
        return below.astype(np.float64)
    return np.nextafter(threshold, -np.inf)


@malformed_is_format_error("the ONNX model")
def from_onnx(model_proto) -> Model:
    """Loads the tree ensemble of an ``onnx.ModelProto``."""
    graph = model_proto.graph
    node, source, f32 = _find_ensemble(graph)
    attrs = _attributes(node)
    if node.op_type == "TreeEnsemble":
        attrs = as_regressor_attributes(attrs, _onnx().numpy_helper.to_array)
    classifier = node.op_type == "TreeEnsembleClassifier"
    aggregate = _text(attrs.get("aggregate_function", b"SUM"))
    if aggregate not in ("SUM", "AVERAGE"):
        raise UnsupportedModelError(
            f"ONNX aggregate_function {aggregate!r} is not supported (not additive); "
            "supported: SUM, AVERAGE"
        )
    post = _text(attrs.get("post_transform", b"NONE"))
    if post not in _LINKS:
        raise UnsupportedModelError(
            f"ONNX post_transform {post!r} is not supported; supported: {', '.join(_LINKS)}"
        )

    tree_ids = _array(attrs, "nodes_treeids", dtype=np.int64)
    node_ids = _array(attrs, "nodes_nodeids", dtype=np.int64)
    n = tree_ids.size
    features = _array(attrs, "nodes_featureids", dtype=np.int64)
    thresholds = _array(attrs, "nodes_values_as_tensor", "nodes_values", dtype=np.float64)
    true_ids = _array(attrs, "nodes_truenodeids", dtype=np.int64)
    false_ids = _array(attrs, "nodes_falsenodeids", dtype=np.int64)
    # Mode names are read once per distinct name (a model has millions of nodes, a few names).
    names, modes = np.unique(np.asarray(attrs.get("nodes_modes", []) or [""]), return_inverse=True)
    names = [_text(m) for m in names]
    modes = modes.ravel() if attrs.get("nodes_modes") else np.zeros(0, dtype=np.int64)
    tracks = _array(attrs, "nodes_missing_value_tracks_true", dtype=np.int64, required=False)
    if tracks is None or tracks.size == 0:
        tracks = np.zeros(n, dtype=np.int64)
    for name, arr in (("nodes_nodeids", node_ids), ("nodes_featureids", features),
                      ("nodes_values", thresholds), ("nodes_truenodeids", true_ids),
                      ("nodes_falsenodeids", false_ids), ("nodes_modes", modes),
                      ("nodes_missing_value_tracks_true", tracks)):  # fmt: skip
        if len(arr) != n:
            raise ModelFormatError(f"the ONNX tree ensemble has {len(arr)} {name} for {n} nodes")
    if n == 0:
        raise ModelFormatError("the ONNX tree ensemble has no nodes")
    unknown = sorted(set(names) - set(_MODES))
    if unknown:
        raise UnsupportedModelError(
            f"ONNX node modes {unknown} are not supported; supported: {', '.join(_MODES)}"
        )
    mode = np.array([_MODES.index(m) for m in names], dtype=np.int64)[modes]
    leaf = mode == LEAF
    if not np.all(np.isfinite(thresholds[~leaf])):
        raise ModelFormatError("the ONNX tree ensemble has a non-finite threshold")

    prefix = "class_" if classifier else "target_"
    w_trees = _array(attrs, prefix + "treeids", dtype=np.int64)
    w_nodes = _array(attrs, prefix + "nodeids", dtype=np.int64)
    w_ids = _array(attrs, prefix + "ids", dtype=np.int64)
    w_values = _array(attrs, prefix + "weights_as_tensor", prefix + "weights", dtype=np.float64)
    if not (w_trees.size == w_nodes.size == w_ids.size == w_values.size):
        raise ModelFormatError(f"the ONNX tree ensemble's {prefix}* attributes differ in length")
    if not np.all(np.isfinite(w_values)):
        raise ModelFormatError("the ONNX tree ensemble has a non-finite leaf weight")
    base = _array(attrs, "base_values_as_tensor", "base_values", dtype=np.float64, required=False)
    base = np.zeros(0) if base is None else base
    if not np.all(np.isfinite(base)):
        raise ModelFormatError("the ONNX tree ensemble has a non-finite base value")

    if classifier:
        labels = attrs.get("classlabels_int64s") or attrs.get("classlabels_strings") or []
        classes = np.asarray([_text(c) for c in labels] if labels and isinstance(labels[0], bytes)
                             else list(labels))  # fmt: skip
        n_targets = classes.size
        if n_targets < 2:
            raise ModelFormatError(f"the ONNX classifier has {n_targets} class labels")
    else:
        classes = None
        n_targets = int(attrs.get("n_targets", 1))
        if not 1 <= n_targets <= max(w_values.size, 1):
            raise ModelFormatError(
                f"the ONNX regressor declares {n_targets} targets for {w_values.size} weights"
            )
    if w_ids.size and (w_ids.min() < 0 or w_ids.max() >= n_targets):
        raise ModelFormatError(
            f"the ONNX tree ensemble has a weight for output {w_ids.max()} of {n_targets}"
        )

    # How onnxruntime turns the sums into its output (its TreeAggregator*): which outputs the
    # margin has, the base added to each, and a sign for "the other class" of binary models.
    weighted = np.unique(w_ids)
    one_class = classifier and n_targets == 2 and weighted.size == 1
    negate_for_first = False
    if one_class:
        # Weights of one class only: onnxruntime's binary case. The sum (plus base_values[0])
        # scores the second class; the first gets 1 - score (NONE, weights all positive) or
        # -score (NONE, some negative) and logistic(-score) with LOGISTIC.
        if weighted[0] != 0 or base.size > 1:
            raise UnsupportedModelError(
                "an ONNX binary classifier whose weights are for class 1 only, or with two "
                "base_values, is not supported (skl2onnx and onnxmltools write class 0 and one "
                "base value)"
            )
        if post == "SOFTMAX":
            raise UnsupportedModelError(
                "an ONNX binary classifier with one weighted class and post_transform SOFTMAX "
                "is not supported"
            )
        base_score = np.array([base[0] if base.size else 0.0])
        output_of = np.zeros(n_targets, dtype=np.int64)  # every weight feeds the one score
        n_outputs = 1
        if post == "NONE":
            # Two outputs, as scikit-learn's forests give: [1 - s, s] or [-s, s].
            n_outputs = 2
            all_positive = bool(np.all(w_values >= 0))
            negate_for_first = True
            first_base = (1.0 - base_score[0]) if all_positive else -base_score[0]
            base_score = np.array([first_base, base_score[0]])
    else:
        output_of = np.arange(n_targets)
        n_outputs = n_targets
        if base.size == n_outputs and not (classifier and n_targets == 2):
            base_score = base.copy()
        elif base.size == 0:
            base_score = np.zeros(n_outputs)
        elif base.size == 1 and classifier and n_targets == 2:
            base_score = np.array([base[0], 0.0])  # onnxruntime adds it to class 0 only
        elif base.size == 2 and classifier and n_targets == 2:
            raise UnsupportedModelError(
                "an ONNX binary classifier weighting both classes with two base_values is not "
                "supported (onnxruntime then scores class 1 from class 0's sum)"
            )
        elif base.size == 1 and n_outputs == 1:
            base_score = base.copy()
        else:
            raise ModelFormatError(
                f"the ONNX tree ensemble has {base.size} base_values for {n_outputs} outputs"
            )

    # Trees: each tree's nodes are contiguous; onnxruntime takes the first as its root.
    starts = np.flatnonzero(np.concatenate([[True], tree_ids[1:] != tree_ids[:-1]]))
    if np.unique(tree_ids[starts]).size != starts.size:
        raise ModelFormatError("the ONNX tree ensemble lists a tree's nodes in separate runs")
    bounds = np.append(starts, n)
    weight_by_tree: dict[int, list[int]] = {}
    for k, t in enumerate(w_trees):
        weight_by_tree.setdefault(int(t), []).append(k)
    budget = max(_MIN_UNFOLD_BUDGET, 16 * n)
    trees = []  # (unfolded tree, [(onnx node, output, weight)])
    total = 0
    for t in range(starts.size):
        lo, hi = bounds[t], bounds[t + 1]
        name = str(tree_ids[lo])
        local = _local_index(node_ids[lo:hi], name)
        is_leaf = mode[lo:hi] == LEAF
        true_child = np.where(is_leaf, -1, local(np.where(is_leaf, node_ids[lo], true_ids[lo:hi])))
        false_child = np.where(
            is_leaf, -1, local(np.where(is_leaf, node_ids[lo], false_ids[lo:hi]))
        )
        args = (features[lo:hi], thresholds[lo:hi], mode[lo:hi], true_child, false_child,
                tracks[lo:hi])  # fmt: skip
        tree = as_tree(*args)
        if tree is None:  # equality splits or shared nodes
            total += unfolded_size(mode[lo:hi], true_child, false_child, name)
            if total > budget:
                raise UnsupportedModelError(
                    f"the ONNX trees would unfold into more than {budget} nodes (shared nodes "
                    "are copied, equality splits doubled): the graph is too entangled to explain"
                )
            tree = unfold(*args)
        mine = np.asarray(weight_by_tree.get(int(tree_ids[lo]), []), dtype=np.int64)
        at = local(w_nodes[mine])
        keep = is_leaf[at]  # onnxruntime reads the weights of the leaf reached only
        trees.append((tree, (at[keep], output_of[w_ids[mine[keep]]], w_values[mine[keep]])))

    # One comparison for the forest: x < t becomes x <= (the value below t) where both occur.
    splits = [tr.less_equal[tr.left >= 0] for tr, _ in trees]
    any_le = any(bool(np.any(le)) for le in splits)
    any_lt = any(bool(np.any(~le)) for le in splits)
    less_equal = any_le or not any_lt
    if any_le and any_lt:
        for tr, _ in trees:
            lt = (tr.left >= 0) & ~tr.less_equal
            tr.threshold[lt] = _less_than_as_less_equal(tr.threshold[lt], f32)
    average = aggregate == "AVERAGE"
    vector = n_outputs > 1 and (average or one_class)
    split_features = [tr.feature[tr.left >= 0] for tr, _ in trees]
    builder = ForestBuilder(
        n_features=_input_width(source, max(int(f.max(initial=-1)) for f in split_features) + 1),
        n_outputs=n_outputs,
        less_equal=less_equal,
        f32_inputs=f32,
        average=average,
    )
    vector_floats = 0
    for tr, weights in trees:
        size = tr.feature.size
        is_leaf = tr.left < 0
        common = dict(
            feature=tr.feature,
            threshold=np.where(is_leaf, 0.0, tr.threshold),
            left=tr.left,
            right=tr.right,
            default_left=tr.default_left,
            cover=np.zeros(size),
        )
        at, outs, ws = weights
        fed = np.unique(outs)
        # Leaf values per ONNX node, then read by each unfolded leaf from its source.
        n_source = max(int(tr.source.max(initial=-1)) + 1, 1)
        source = np.where(is_leaf, tr.source, 0)
        if n_outputs == 1 or not (vector or fed.size > 1):
            scalar = np.zeros(n_source)
            np.add.at(scalar, at, ws)
            values = np.where(is_leaf, scalar[source], 0.0)
            builder.add_tree(**common, values=values, output=int(fed[0]) if fed.size else 0)
            continue
        # A tree feeding several outputs: vector leaves, sized against a budget first.
        vector_floats += (size + n_source) * n_outputs
        if vector_floats > _MAX_VECTOR_FLOATS:
            raise ModelFormatError(
                f"the ONNX trees' leaves for {n_outputs} outputs would need more than "
                f"{_MAX_VECTOR_FLOATS * 8 // 2**20} MiB: the model is implausibly large"
            )
        by_source = np.zeros((n_source, n_outputs))
        if negate_for_first:  # [-s, s] or [1 - s, s]: the first output falls as s rises
            np.add.at(by_source, (at, 0), -ws)
            np.add.at(by_source, (at, 1), ws)
        else:
            np.add.at(by_source, (at, outs), ws)
        values = np.where(is_leaf[:, None], by_source[source], 0.0)
        builder.add_tree(**common, values=values)
    if post == "SOFTMAX" and n_outputs == 1:
        raise UnsupportedModelError(
            "an ONNX tree ensemble with one output and post_transform SOFTMAX is not supported"
        )
    return Model(
        forest=builder.build(base_score),
        feature_names=None,
        objective=f"onnx {node.op_type} ({aggregate}, {post})",
        link=_LINKS[post],
        classes=classes,
        library="onnx",
        margin_is_probability=classifier and post == "NONE",
        has_covers=False,
    )


def _local_index(ids: np.ndarray, tree: str):
    """A function from one tree's node ids to their positions in the tree's nodes."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if np.any(sorted_ids[1:] == sorted_ids[:-1]):
        raise ModelFormatError(f"ONNX tree {tree} repeats a node id")

    def local(wanted) -> np.ndarray:
        wanted = np.asarray(wanted, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, wanted), ids.size - 1)
        missing = sorted_ids[pos] != wanted
        if np.any(missing):
            raise ModelFormatError(
                f"ONNX tree {tree}: node {wanted[missing][0]} is not in the tree"
            )
        return order[pos]

    return local


def _input_width(source, needed: int) -> int:
    """The number of input columns: the graph input's declared width, or the largest feature
    the trees split on when the width is not fixed."""
    dims = source.type.tensor_type.shape.dim
    width = int(dims[1].dim_value) if len(dims) == 2 and dims[1].HasField("dim_value") else None
    if width is None:
        if needed > _MAX_FEATURES:
            raise ModelFormatError(f"the ONNX trees split on feature {needed - 1}: implausible")
        return max(needed, 1)
    if needed > width:
        raise ModelFormatError(
            f"the ONNX trees split on feature {needed - 1}, but the input has {width} columns"
        )
    return width
