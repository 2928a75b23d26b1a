"""The pure-Python LightGBM text parser treelens used before the core read LightGBM text:
kept only here, as the oracle the Rust reader's forests are compared with bit for bit."""

from __future__ import annotations

import json

import numpy as np

from treelens.exceptions import ModelFormatError, UnsupportedModelError
from treelens.loaders.forest_builder import (
    MISSING_NAN,
    MISSING_NAN_AS_ZERO,
    MISSING_ZERO_OR_NAN,
    Bitset,
    ForestBuilder,
    malformed_is_format_error,
)
from treelens.loaders.lightgbm import _LINKS, SUPPORTED_OBJECTIVES
from treelens.model import Model

#: LightGBM's feature indices are 32-bit.
_MAX_FEATURES = 2**31 - 1


def _split_blocks(text: str):
    """Header key/values, a list of tree key/value dicts, and pandas_categorical."""
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    pandas_categorical = None
    current = header
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
            continue
        if line == "end of trees":
            current = None
            continue
        if line.startswith("pandas_categorical:"):
            try:
                pandas_categorical = json.loads(line[len("pandas_categorical:") :])
            except json.JSONDecodeError:
                raise ModelFormatError("the model's pandas_categorical line is not JSON") from None
            continue
        if current is None or not line:
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
        elif current is header:
            current[line] = ""
    return header, trees, pandas_categorical


def _numbers(tree: dict, key: str, dtype, count: int | None, index: int) -> np.ndarray:
    raw = tree.get(key)
    if raw is None:
        raise ModelFormatError(f"LightGBM tree {index} lacks {key}")
    try:
        arr = np.array(raw.split(), dtype=np.float64) if raw.strip() else np.zeros(0)
    except ValueError:
        raise ModelFormatError(f"LightGBM tree {index}: {key} holds a non-number") from None
    if np.dtype(dtype).kind == "i" and not np.all(
        np.isfinite(arr) & (arr == np.floor(arr)) & (np.abs(arr) < 2**53)
    ):
        raise ModelFormatError(f"LightGBM tree {index}: {key} holds a non-integer")
    if count is not None and arr.shape[0] != count:
        raise ModelFormatError(
            f"LightGBM tree {index}: {key} has {arr.shape[0]} values, expected {count}"
        )
    return arr.astype(dtype)


def _add_tree(builder: ForestBuilder, tree: dict, index: int, output: int) -> None:
    try:
        n_leaves = int(tree["num_leaves"])
        n_cat = int(tree.get("num_cat", "0"))
    except (KeyError, ValueError):
        raise ModelFormatError(f"LightGBM tree {index} lacks num_leaves") from None
    if tree.get("is_linear", "0").strip() not in ("0", ""):
        raise UnsupportedModelError(
            "LightGBM linear trees (linear_tree=True) are not supported: their leaves are "
            "linear models, not constants"
        )
    if n_leaves < 1:
        raise ModelFormatError(f"LightGBM tree {index} has {n_leaves} leaves")
    leaf_value = _numbers(tree, "leaf_value", np.float64, n_leaves, index)
    if n_leaves == 1:
        builder.add_tree(
            feature=[-1],
            threshold=[0.0],
            left=[-1],
            right=[-1],
            default_left=[False],
            cover=[float(tree.get("leaf_count", "0").split()[0] or 0)],
            values=leaf_value,
            output=output,
        )
        return
    m = n_leaves - 1
    feature = _numbers(tree, "split_feature", np.int64, m, index)
    threshold = _numbers(tree, "threshold", np.float64, m, index)
    decision = _numbers(tree, "decision_type", np.int64, m, index)
    lc = _numbers(tree, "left_child", np.int64, m, index)
    rc = _numbers(tree, "right_child", np.int64, m, index)
    leaf_count = _numbers(tree, "leaf_count", np.float64, n_leaves, index)
    internal_count = _numbers(tree, "internal_count", np.float64, m, index)
    for name, child in (("left_child", lc), ("right_child", rc)):
        # Internal nodes are 0 .. m-1; leaves are written as ~k, k in 0 .. n_leaves-1.
        bad = np.flatnonzero((child >= m) | (child < -n_leaves))
        if bad.size:
            raise ModelFormatError(
                f"LightGBM tree {index}: node {bad[0]} has {name} {child[bad[0]]}, outside the "
                f"tree's {m} internal nodes and {n_leaves} leaves"
            )
    if np.any(leaf_count < 0) or np.any(internal_count < 0):
        raise ModelFormatError(f"LightGBM tree {index}: a node has a negative data count")
    bad = np.flatnonzero((decision < 0) | (decision > 15) | (((decision >> 2) & 3) == 3))
    if bad.size:
        raise ModelFormatError(
            f"LightGBM tree {index}: node {bad[0]} has decision_type {decision[bad[0]]} (bits: "
            "1 categorical, 2 default left, 4-8 missing type 0-2)"
        )
    # Internal nodes keep their numbers; leaf k becomes node m + k (LightGBM writes it as ~k).
    left = np.where(lc >= 0, lc, m + ~lc)
    right = np.where(rc >= 0, rc, m + ~rc)
    categorical = (decision & 1).astype(bool)
    default_left = ((decision >> 1) & 1).astype(bool)
    missing_type = (decision >> 2) & 3
    missing = np.select(
        [missing_type == 0, missing_type == 1],
        [MISSING_NAN_AS_ZERO, MISSING_ZERO_OR_NAN],
        MISSING_NAN,
    ).astype(np.uint8)
    cats = {}
    if categorical.any():
        bounds = _numbers(tree, "cat_boundaries", np.int64, n_cat + 1, index)
        if n_cat < 1:
            raise ModelFormatError(f"LightGBM tree {index} has categorical splits but num_cat 0")
        words = _numbers(tree, "cat_threshold", np.float64, None, index)
        if np.any((words < 0) | (words >= 2**32) | (words != np.floor(words))):
            raise ModelFormatError(f"LightGBM tree {index}: cat_threshold holds non-uint32 words")
        words = words.astype(np.uint32)
        if bounds[0] != 0 or np.any(np.diff(bounds) < 0) or bounds[-1] != words.size:
            raise ModelFormatError(
                f"LightGBM tree {index}: cat_boundaries {bounds.tolist()[:8]} do not partition "
                f"its {words.size} cat_threshold words"
            )
        for node in np.flatnonzero(categorical):
            if not np.isfinite(threshold[node]) or not 0 <= threshold[node] < n_cat:
                raise ModelFormatError(
                    f"LightGBM tree {index}: categorical split {threshold[node]} unknown"
                )
            k = int(threshold[node])
            # Members go left; NaN and non-members go right.
            cats[int(node)] = (Bitset(words[bounds[k] : bounds[k + 1]]), True)
        missing = np.where(categorical, MISSING_NAN, missing).astype(np.uint8)
        default_left = np.where(categorical, False, default_left)
    pad = np.full(n_leaves, -1, dtype=np.int64)
    builder.add_tree(
        feature=np.concatenate([feature, pad]),
        threshold=np.concatenate([np.where(categorical, 0.0, threshold), np.zeros(n_leaves)]),
        left=np.concatenate([left, pad]),
        right=np.concatenate([right, pad]),
        default_left=np.concatenate([default_left, np.zeros(n_leaves, dtype=bool)]),
        missing=np.concatenate([missing, np.zeros(n_leaves, dtype=np.uint8)]),
        cover=np.concatenate([internal_count, leaf_count]),
        values=np.concatenate([np.zeros(m), leaf_value]),
        output=output,
        categories=cats,
    )


@malformed_is_format_error("the LightGBM model")
def from_model_string(text: str, *, estimator=None, classes=None) -> Model:
    """A model from LightGBM's text format (``save_model`` file or ``model_to_string``)."""
    if not text.lstrip().startswith("tree"):
        raise ModelFormatError("not a LightGBM model file (it does not start with 'tree')")
    header, trees, pandas_categorical = _split_blocks(text)
    # A complete file lists its tree sizes and closes with "end of trees": anything less is a
    # truncated file, which must not load as a smaller model.
    sizes = header.get("tree_sizes", "").split()
    if "end of trees" not in text or (sizes and len(sizes) != len(trees)):
        raise ModelFormatError(
            f"the LightGBM model is truncated: {len(trees)} tree blocks"
            + (f" of the {len(sizes)} its header lists" if sizes else "")
            + ", and no 'end of trees' line"
            if "end of trees" not in text
            else f"the LightGBM model is corrupt: {len(trees)} tree blocks, but its header "
            f"lists {len(sizes)} tree sizes"
        )
    try:
        n_class = int(header.get("num_class", "1"))
        per_iter = int(header.get("num_tree_per_iteration", str(n_class)))
        n_features = int(header["max_feature_idx"]) + 1
    except (KeyError, ValueError):
        raise ModelFormatError("the LightGBM header lacks num_class/max_feature_idx") from None
    objective_line = header.get("objective", "custom").split()
    objective = objective_line[0] if objective_line else "custom"
    if objective not in SUPPORTED_OBJECTIVES:
        raise UnsupportedModelError(
            f"LightGBM objective {objective!r} is not supported; supported: "
            f"{', '.join(SUPPORTED_OBJECTIVES)}"
        )
    if per_iter < 1:
        raise ModelFormatError("num_tree_per_iteration must be positive")
    # Declared sizes are checked against the trees present before they size anything.
    if not 1 <= n_class <= max(len(trees), 1):
        raise ModelFormatError(f"num_class is {n_class}, but the model has {len(trees)} trees")
    if not 1 <= n_features <= _MAX_FEATURES:
        raise ModelFormatError(
            f"max_feature_idx is {n_features - 1}; LightGBM's feature indices are 0..2**31-2"
        )
    if per_iter > max(len(trees), 1):
        raise ModelFormatError(
            f"num_tree_per_iteration is {per_iter}, but the model has {len(trees)} trees"
        )
    # "binary sigmoid:2": LightGBM's probability is 1 / (1 + exp(-2 * margin)).
    link_scale = 1.0
    for token in objective_line[1:]:
        key, _, value = token.partition(":")
        if key == "sigmoid" and _LINKS.get(objective) == "logistic":
            try:
                link_scale = float(value)
            except ValueError:
                raise ModelFormatError(f"bad sigmoid parameter {token!r}") from None
    names = header.get("feature_names", "").split() or None
    if n_features < 1 or (names is not None and len(names) != n_features):
        raise ModelFormatError(
            f"max_feature_idx says {n_features} features, but feature_names lists "
            f"{len(names or [])}"
        )
    builder = ForestBuilder(
        n_features=n_features,
        n_outputs=per_iter,
        less_equal=True,
        f32_inputs=False,
        average="average_output" in header,
        category_truncate_first=True,
    )
    for i, tree in enumerate(trees):
        _add_tree(builder, tree, i, i % per_iter)
    if names == [f"Column_{i}" for i in range(n_features)]:
        names = None  # LightGBM's placeholder names: the model was trained without names.
    if classes is None and objective in ("binary", "multiclass", "multiclassova"):
        # A Booster or a saved classifier: LightGBM's labels are 0 .. n_classes - 1.
        classes = np.arange(max(n_class, 2))
    return Model(
        forest=builder.build(np.zeros(per_iter)),
        feature_names=names,
        objective=" ".join(objective_line),
        link=_LINKS.get(objective, "identity"),
        link_scale=link_scale,
        classes=classes,
        library="lightgbm",
        pandas_categorical=pandas_categorical,
        estimator=estimator,
    )
