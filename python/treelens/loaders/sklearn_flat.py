"""scikit-learn CART trees read all at once: each array of every tree concatenated, checked with
a few whole-forest numpy operations and handed to the core in one call.

Adding the trees one by one costs tens of numpy calls per tree, which for a forest of hundreds of
fully grown trees is most of its load time. Here the per-tree work is one attribute read per
array. The checks are the ones :class:`ForestBuilder` makes, done over the whole forest; where
one of them finds anything unusual (a split on a negative feature, covers that do not add up,
class weights instead of fractions, arrays of mismatched sizes), the forest is read again tree by
tree, so that a malformed model gets the same error, naming its tree and node.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .forest_builder import COVER_TOLERANCE


class _Unusual(Exception):
    """Something the whole-forest checks do not settle: read the trees one by one."""


def _column(parts, sizes, dtype) -> np.ndarray:
    """The trees' arrays end to end; each must hold one entry per node of its tree."""
    if any(np.shape(a) != (s,) for a, s in zip(parts, sizes.tolist())):
        raise _Unusual
    return np.ascontiguousarray(np.concatenate(parts), dtype=dtype)


def _covers_add_up(cover, left, right, leaf, first, end) -> bool:
    """Whether every inner node whose children lie in its tree has its children's covers
    summed (to ``COVER_TOLERANCE``); ``first`` and ``end`` bound each node's tree."""
    inner = np.flatnonzero(~leaf)
    lg, rg, stop = left[inner] + first[inner], right[inner] + first[inner], end[inner]
    ok = (left[inner] >= 0) & (right[inner] >= 0) & (lg < stop) & (rg < stop)
    inner, lg, rg = inner[ok], lg[ok], rg[ok]
    lc, rc, pc = cover[lg], cover[rg], cover[inner]
    with np.errstate(over="ignore", invalid="ignore"):
        gap = np.abs(lc + rc - pc)
        bound = COVER_TOLERANCE * (np.abs(lc) + np.abs(rc) + np.abs(pc)) + 1e-9
    return not np.any(gap > bound)


def cart_forest(
    trees,
    *,
    n_features: int,
    n_outputs: int,
    classifier: bool,
    average: bool,
    outputs=None,
    scale: float = 1.0,
    base_score=None,
):
    """The core forest of fitted scikit-learn ``Tree`` objects (``estimator.tree_``), or None
    when a check needs the tree-by-tree reading (which then raises the precise error).

    Classifier trees give class fractions (scikit-learn >= 1.4 stores them; older versions
    store weights, for which None is returned); regressors their values times ``scale``, one
    per output, or, with ``outputs`` (one per tree), one value feeding that output (gradient
    boosting). ``base_score`` is per output, zeros by default.
    """
    try:
        parts = _cart_parts(
            trees,
            n_features=n_features,
            n_outputs=n_outputs,
            classifier=classifier,
            average=average,
            outputs=outputs,
            scale=scale,
            base_score=base_score,
        )
    except (_Unusual, ValueError, TypeError, AttributeError, IndexError):
        return None
    # Outside the try: the core's own checks (children, features, finite values) raise here as
    # they would tree by tree, on the same arrays.
    return _core.Forest(**parts)


def _cart_parts(
    trees, *, n_features, n_outputs, classifier, average, outputs, scale, base_score
) -> dict:
    """The keyword arguments of ``_core.Forest`` for ``trees``; raises on anything unusual."""
    if not trees:
        raise _Unusual
    sizes = np.array([t.node_count for t in trees], dtype=np.int64)
    if np.any(sizes <= 0):
        raise _Unusual
    n = int(sizes.sum())
    tree_start = np.zeros(len(trees) + 1, dtype=np.int64)
    np.cumsum(sizes, out=tree_start[1:])
    feature = _column([t.feature for t in trees], sizes, np.int64)
    threshold = _column([t.threshold for t in trees], sizes, np.float64)
    left = _column([t.children_left for t in trees], sizes, np.int64)
    right = _column([t.children_right for t in trees], sizes, np.int64)
    cover = _column([t.weighted_n_node_samples for t in trees], sizes, np.float64)
    value_parts = [np.asarray(t.value) for t in trees]
    if any(v.ndim != 3 or v.shape[0] != s for v, s in zip(value_parts, sizes.tolist())):
        raise _Unusual
    value = np.concatenate(value_parts)
    missing_parts = [getattr(t, "missing_go_to_left", None) for t in trees]
    if any(m is None for m in missing_parts):
        if not all(m is None for m in missing_parts):
            raise _Unusual
        default_left = np.zeros(n, dtype=bool)
    else:
        raw = _column(missing_parts, sizes, None)
        if raw.dtype != bool and not np.isin(raw, (0, 1)).all():
            raise _Unusual
        default_left = raw.astype(bool)
    leaf = left < 0
    if np.any(~leaf & (feature < 0)):
        raise _Unusual  # the tree-by-tree reading names the node
    first, end = np.repeat(tree_start[:-1], sizes), np.repeat(tree_start[1:], sizes)
    if not _covers_add_up(cover, left, right, leaf, first, end):
        raise _Unusual
    if classifier:
        v = value[:, 0, :]
        total = v.sum(axis=1)
        if not np.all(np.abs(total[total > 0] - 1.0) <= 1e-9):
            raise _Unusual  # class weights (scikit-learn < 1.4): divided tree by tree
        values = np.ascontiguousarray(v, dtype=np.float64)
        tree_output = np.full(len(trees), -1, dtype=np.int64)
    elif value.shape[1] == 1:
        values = np.ascontiguousarray(value[:, 0, 0] * scale, dtype=np.float64)
        if outputs is None:
            tree_output = np.zeros(len(trees), dtype=np.int64)
        else:
            tree_output = np.asarray(outputs, dtype=np.int64)
    else:
        values = np.ascontiguousarray(value[:, :, 0] * scale, dtype=np.float64)
        tree_output = np.full(len(trees), -1, dtype=np.int64)
    if values.ndim == 2 and values.shape[1] != n_outputs:
        raise _Unusual
    if outputs is not None and (values.ndim != 1 or tree_output.shape != (len(trees),)):
        raise _Unusual
    if base_score is None:
        base_score = np.zeros(n_outputs)
    return dict(
        n_features=int(n_features),
        n_outputs=int(n_outputs),
        base_score=np.ascontiguousarray(
            np.broadcast_to(np.asarray(base_score, dtype=np.float64), (n_outputs,))
        ),
        average=bool(average),
        less_equal=True,
        f32_inputs=True,
        tree_start=tree_start,
        tree_output=tree_output,
        feature=np.where(leaf, -1, feature),
        threshold=threshold,
        left=np.where(leaf, -1, left),
        right=np.where(leaf, -1, right),
        default_left=default_left,
        missing=np.zeros(n, dtype=np.uint8),
        cover=cover,
        values=values.ravel(),
        category_set=np.full(n, -1, dtype=np.int64),
        category_offsets=np.zeros(1, dtype=np.int64),
        category_words=np.zeros(0, dtype=np.uint32),
        category_members_left=np.zeros(0, dtype=bool),
        category_truncate_first=False,
    )
