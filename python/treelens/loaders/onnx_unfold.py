"""One ONNX tree as a binary tree of ``x <= t`` / ``x < t`` splits.

onnxruntime evaluates a tree as a graph: a node may be reached from several parents (onnxmltools
writes LightGBM's categorical splits as chains of BRANCH_EQ nodes sharing their true child), and
BRANCH_EQ / BRANCH_NEQ compare for equality. The forest needs trees of ordered comparisons, so
shared nodes are copied and each equality becomes two comparisons: ``x == t`` is ``not x < t``
and ``x <= t``. The function computed, NaN routing included, is onnxruntime's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError

LEQ, LT, GTE, GT, LEAF, EQ, NEQ = range(7)


@dataclass
class Unfolded:
    """The unfolded tree: node 0 is the root; leaves have ``left == -1`` and name the ONNX
    node (``source``) whose weights they carry."""

    feature: np.ndarray
    threshold: np.ndarray
    less_equal: np.ndarray  # per split: x <= t (True) or x < t (False)
    left: np.ndarray
    right: np.ndarray
    default_left: np.ndarray
    source: np.ndarray


def as_tree(feature, threshold, mode, true_child, false_child, tracks) -> Unfolded | None:
    """The tree as it is, computed on whole arrays, when it already is a tree of ordered
    comparisons (every node but the root the child of exactly one node, no equality splits);
    None otherwise."""
    mode = np.asarray(mode)
    n = mode.size
    inner = mode != LEAF
    if np.any(mode[inner] > GT):
        return None
    children = np.concatenate([true_child[inner], false_child[inner]])
    if children.size != n - 1 or np.any(children == 0) or np.unique(children).size != n - 1:
        return None
    true_left = np.isin(mode, (LEQ, LT))
    leaf_or = lambda a: np.where(inner, a, -1)  # noqa: E731
    return Unfolded(
        feature=leaf_or(np.asarray(feature, dtype=np.int64)),
        threshold=np.where(inner, np.asarray(threshold, dtype=np.float64), 0.0),
        less_equal=np.isin(mode, (LEQ, GT)),
        left=leaf_or(np.where(true_left, true_child, false_child)),
        right=leaf_or(np.where(true_left, false_child, true_child)),
        default_left=(np.asarray(tracks) != 0) == true_left,
        source=np.where(inner, -1, np.arange(n)),
    )


def unfolded_size(mode, true_child, false_child, tree: str) -> int:
    """The number of nodes :func:`unfold` makes, counted before anything is built (the copies
    of shared nodes can outgrow the ONNX graph). A cycle is a ModelFormatError."""
    n = len(mode)
    # Nodes reachable from the root, then a post-order by an explicit stack.
    order, state = [], np.zeros(n, dtype=np.int8)  # 0 new, 1 open, 2 done
    stack = [0]
    while stack:
        i = stack[-1]
        if state[i] == 0:
            state[i] = 1
            if mode[i] != LEAF:
                for c in (true_child[i], false_child[i]):
                    if state[c] == 1:
                        raise ModelFormatError(f"ONNX tree {tree} has a cycle through node {c}")
                    if state[c] == 0:
                        stack.append(int(c))
            continue
        stack.pop()
        if state[i] == 1:
            state[i] = 2
            order.append(i)
    size = [0] * n
    for i in order:  # children first
        m = mode[i]
        if m == LEAF:
            size[i] = 1
            continue
        t, f = size[true_child[i]], size[false_child[i]]
        size[i] = 2 + t + 2 * f if m == EQ else 2 + 2 * t + f if m == NEQ else 1 + t + f
    return size[0]


def unfold(feature, threshold, mode, true_child, false_child, tracks) -> Unfolded:
    """Unfolds one tree whose nodes are given locally (node 0 is the root; children are local
    indices, -1 for leaves); call :func:`unfolded_size` first to bound its size."""
    out_feature: list[int] = []
    out_threshold: list[float] = []
    out_le: list[bool] = []
    out_left: list[int] = []
    out_right: list[int] = []
    out_default: list[bool] = []
    out_source: list[int] = []

    def new() -> int:
        out_feature.append(-1)
        out_threshold.append(0.0)
        out_le.append(True)
        out_left.append(-1)
        out_right.append(-1)
        out_default.append(False)
        out_source.append(-1)
        return len(out_feature) - 1

    def split(k, i, le, left, right, default_left) -> None:
        out_feature[k] = int(feature[i])
        out_threshold[k] = float(threshold[i])
        out_le[k] = le
        out_left[k] = left
        out_right[k] = right
        out_default[k] = default_left

    stack = [(0, new())]
    while stack:
        i, k = stack.pop()
        m, track = mode[i], bool(tracks[i])
        if m == LEAF:
            out_source[k] = i
            continue
        t, f = int(true_child[i]), int(false_child[i])
        if m in (LEQ, LT, GTE, GT):
            # x >= t is not x < t, x > t is not x <= t: the true side goes right.
            true_left = m in (LEQ, LT)
            a, b = new(), new()
            left, right = (a, b) if true_left else (b, a)
            split(k, i, m in (LEQ, GT), left, right, track == true_left)
            stack += [(t, a), (f, b)]
        elif m == EQ:
            # x < t: not equal (false); else x <= t: equal (true), else false. NaN compares
            # unequal: it goes to the true side only when missing values track true.
            below, rest = new(), new()
            split(k, i, False, below, rest, not track)
            equal, above = new(), new()
            split(rest, i, True, equal, above, track)
            stack += [(f, below), (t, equal), (f, above)]
        elif m == NEQ:
            # The mirror image; NaN != t holds, so NaN always takes the true side.
            below, rest = new(), new()
            split(k, i, False, below, rest, True)
            equal, above = new(), new()
            split(rest, i, True, equal, above, False)
            stack += [(t, below), (f, equal), (t, above)]
        else:
            raise UnsupportedModelError(f"ONNX node mode {m} is not supported")
    return Unfolded(
        feature=np.asarray(out_feature, dtype=np.int64),
        threshold=np.asarray(out_threshold, dtype=np.float64),
        less_equal=np.asarray(out_le, dtype=bool),
        left=np.asarray(out_left, dtype=np.int64),
        right=np.asarray(out_right, dtype=np.int64),
        default_left=np.asarray(out_default, dtype=bool),
        source=np.asarray(out_source, dtype=np.int64),
    )
