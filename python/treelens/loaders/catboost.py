"""CatBoost models: live CatBoost / CatBoostRegressor / CatBoostClassifier objects, their JSON
export (``save_model(path, format="json")``) and binary ``.cbm`` files (read through catboost).

CatBoost's trees are oblivious (one split per level, shared by the whole level): each becomes an
ordinary binary tree with ``2**depth`` leaves, the last split at the root, as CatBoost's own
TreeSHAP walks it. A split goes right when it holds: a float feature above its border (both
float32; NaN goes where the feature's ``nan_value_treatment`` sends it), a categorical feature
equal to a one-hot value, or the counter (CTR) of a categorical feature's value above its border.
One-hot and CTR splits over one feature are sets of categories (see :mod:`.catboost_ctr`);
categories are identified by CatBoost's hash of their text (see :mod:`.catboost_hash`), which is
what ``Model.categories`` lists. Leaf weights are the node covers, so path-dependent TreeSHAP
weighs paths as CatBoost's ``ShapValues`` does. Non-symmetric trees (grow_policy Depthwise or
Lossguide) are read as they are.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError
from ..memory import ensure_fits
from ..model import Model
from . import deep_json
from .catboost_ctr import CtrFeature, canonical_identifier, read_table
from .catboost_hash import category_keys
from .forest_builder import ForestBuilder, brief, malformed_is_format_error

#: Losses and the link from CatBoost's raw formula value to its prediction.
LOSS_LINKS = {
    "RMSE": "identity",
    "MAE": "identity",
    "Quantile": "identity",
    "MAPE": "identity",
    "Huber": "identity",
    "Lq": "identity",
    "Expectile": "identity",
    "LogCosh": "identity",
    "MultiRMSE": "identity",
    "MultiQuantile": "identity",
    "Logloss": "logistic",
    "CrossEntropy": "logistic",
    "MultiClass": "softmax",
    "MultiClassOneVsAll": "logistic",
    "MultiLogloss": "logistic",
    "MultiCrossEntropy": "logistic",
    "Poisson": "exp",
    "Tweedie": "exp",
    "YetiRank": "identity",
    "YetiRankPairwise": "identity",
    "PairLogit": "identity",
    "PairLogitPairwise": "identity",
    "QueryRMSE": "identity",
}
#: CatBoost's deepest tree is 16 levels; deeper ones are refused before they are expanded.
MAX_DEPTH = 16
#: Bytes per node of the expanded forest (children, feature, threshold, cover, flags, value).
_NODE_BYTES = 64
_NAN_GOES_LEFT = {"AsIs": True, "AsFalse": True, "AsTrue": False}
_CBM_MAGIC = b"CBM1"


def is_catboost_json(data: bytes) -> bool:
    """Whether ``data`` looks like CatBoost's JSON export (its top-level keys)."""
    head = data.lstrip()[:1]
    return (
        head == b"{"
        and b'"features_info"' in data
        and (b'"oblivious_trees"' in data or b'"trees"' in data)
    )


def is_catboost_binary(data: bytes) -> bool:
    """Whether ``data`` is a CatBoost binary model (``.cbm``)."""
    return data.startswith(_CBM_MAGIC)


def _integer(value, what: str, low: int = 0, high: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelFormatError(f"{what} is {brief(value)}, expected an integer in [{low}, {high}]")
    return value


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ModelFormatError(f"{what} is {brief(value)}, expected a finite number")
    return float(value)


def _f32(value, what: str) -> float:
    """A border as CatBoost stores it (float32), widened exactly."""
    v = _number(value, what)
    with np.errstate(over="ignore"):
        f = np.float32(v)
    if not np.isfinite(f):
        raise ModelFormatError(f"{what} {v} is outside float32")
    return float(f)


@dataclass
class _Features:
    """``features_info``: where each float and categorical feature sits in the input."""

    n_features: int
    names: list[str] | None
    #: float feature index -> (column, NaN goes left)
    floats: dict[int, tuple[int, bool]]
    #: categorical feature index -> column
    cats: dict[int, int]
    float_border_count: int
    one_hot_value_count: int
    #: CTRs in ``features_info.ctrs`` order: (categorical feature index or None, borders, dict)
    ctrs: list = field(default_factory=list)


def _read_features(info: dict) -> _Features:
    for kind in ("text_features", "embedding_features", "estimated_features"):
        if info.get(kind):
            raise UnsupportedModelError(
                f"CatBoost models with {kind.replace('_', ' ')} are not supported: only float "
                "and categorical features are trees over input columns"
            )
    columns: dict[int, str] = {}

    def claim(entry, what):
        flat = _integer(entry["flat_feature_index"], f"{what}'s flat_feature_index")
        if flat in columns:
            raise ModelFormatError(f"two features claim input column {flat}")
        name = entry.get("feature_name", entry.get("feature_id", ""))
        columns[flat] = name if isinstance(name, str) else ""
        return flat

    floats, cats = {}, {}
    float_borders = 0
    for entry in info.get("float_features", []):
        index = _integer(entry["feature_index"], "a float feature's feature_index")
        treatment = entry.get("nan_value_treatment", "AsIs")
        if treatment not in _NAN_GOES_LEFT:
            raise ModelFormatError(f"unknown nan_value_treatment {brief(treatment)}")
        if index in floats:
            raise ModelFormatError(f"float feature {index} is listed twice")
        floats[index] = (claim(entry, "a float feature"), _NAN_GOES_LEFT[treatment])
        borders = entry.get("borders") or []
        if not isinstance(borders, list):
            raise ModelFormatError("a float feature's borders are not a list")
        float_borders += len(borders)
    one_hot_values = 0
    for entry in info.get("categorical_features", []):
        index = _integer(entry["feature_index"], "a categorical feature's feature_index")
        if index in cats:
            raise ModelFormatError(f"categorical feature {index} is listed twice")
        cats[index] = claim(entry, "a categorical feature")
        values = entry.get("values") or []
        if not isinstance(values, list):
            raise ModelFormatError("a categorical feature's one-hot values are not a list")
        one_hot_values += len(values)
    if not columns:
        raise ModelFormatError("the CatBoost model lists no features")
    n_features = max(columns) + 1
    names = [columns.get(j, "") for j in range(n_features)]
    return _Features(
        n_features=n_features,
        names=names if all(names) else None,
        floats=floats,
        cats=cats,
        float_border_count=float_borders,
        one_hot_value_count=one_hot_values,
    )


def _combination_refusal(elements, features: _Features) -> UnsupportedModelError:
    parts = []
    for e in elements:
        kind = e.get("combination_element")
        if kind == "float_feature":
            column = features.floats.get(e.get("float_feature_index"), ("?",))[0]
            parts.append(f"a split of numeric column {column}")
        else:
            column = features.cats.get(e.get("cat_feature_index"), "?")
            parts.append(f"categorical column {column}")
    return UnsupportedModelError(
        "the CatBoost model splits on a CTR over a combination of features ("
        + " and ".join(parts)
        + "): such a split is a function of several features at once, which no single-feature "
        "tree split (and no exact per-feature attribution) represents. Train with "
        "max_ctr_complexity=1 (CTRs over one categorical feature each, which treelens reads "
        "exactly)"
    )


def _read_ctrs(info: dict, ctr_data: dict, features: _Features) -> None:
    """Reads ``features_info.ctrs`` with their tables into ``features.ctrs``."""
    tables = {canonical_identifier(k): (k, v) for k, v in (ctr_data or {}).items()}
    read: dict[str, object] = {}
    seen: set = set()
    for entry in info.get("ctrs", []):
        elements = entry["elements"]
        borders = [_f32(b, "a CTR border") for b in entry["borders"]]
        single = (
            len(elements) == 1 and elements[0].get("combination_element") == "cat_feature_value"
        )
        if single and elements[0].get("cat_feature_index") not in features.cats:
            raise ModelFormatError(
                f"a CTR counts categorical feature {brief(elements[0].get('cat_feature_index'))}"
                ", which features_info does not list"
            )
        if not single:
            # Kept as a placeholder: refused only if a split uses it.
            features.ctrs.append((None, borders, elements))
            continue
        ident = canonical_identifier(entry["identifier"])
        if ident not in tables:
            raise ModelFormatError(f"the CatBoost model has no ctr_data table for CTR {ident}")
        if ident not in read:
            read[ident] = read_table(*tables[ident])
        table = read[ident]
        k = _integer(entry["target_border_idx"], "a CTR's target_border_idx")
        if table.ctr_type in ("Borders", "Buckets") and k >= table.width:
            raise ModelFormatError(
                f"a CTR's target_border_idx {k} exceeds its table's {table.width} classes"
            )
        ctr = CtrFeature(
            table=table,
            target_border_idx=k,
            prior_numerator=_number(entry["prior_numerator"], "a CTR prior"),
            prior_denominator=_number(entry["prior_denomerator"], "a CTR prior"),
            shift=_number(entry["shift"], "a CTR shift"),
            scale=_number(entry["scale"], "a CTR scale"),
        )
        described = (ident, k, ctr.prior_numerator, ctr.prior_denominator, ctr.shift, ctr.scale)
        if described in seen:
            # CatBoost's JSON export drops which target a CTR counts (multi-target models such
            # as MultiRMSE keep one CTR per target): two such CTRs share one table in the file.
            raise UnsupportedModelError(
                f"the CatBoost model has several CTRs described alike ({ident}), which its JSON "
                "export cannot tell apart (CTRs of several targets, e.g. MultiRMSE with "
                "categorical features): their tables are lost, so the model cannot be read "
                "exactly; use numeric features only, or one model per target"
            )
        seen.add(described)
        features.ctrs.append((elements[0]["cat_feature_index"], borders, ctr))


class _Splits:
    """Turns the JSON splits of one model into (column, threshold, NaN-left, category set);
    each distinct category set is added to ``builder`` once, and shared by its nodes."""

    def __init__(self, features: _Features, one_hot: dict[int, list[int]], builder):
        self.features = features
        self.builder = builder
        self.ctr_split_start = features.float_border_count + features.one_hot_value_count
        # split_index of a CTR split -> (ctr position, border position)
        self.ctr_slots = []
        for position, (_, borders, _) in enumerate(features.ctrs):
            self.ctr_slots.extend((position, b) for b in range(len(borders)))
        # Known categories per categorical feature: one-hot values and CTR table rows.
        known: dict[int, set] = {index: set(values) for index, values in one_hot.items()}
        for cat, _, ctr in features.ctrs:
            if cat is not None:
                known.setdefault(cat, set()).update(ctr.table.rows)
        self.categories = {
            index: np.array(sorted(known.get(index, ())), dtype=np.int64) for index in features.cats
        }
        self.codes = {
            index: {int(h): i for i, h in enumerate(cats)}
            for index, cats in self.categories.items()
        }
        self._cache: dict = {}

    def _shared(self, key, members_right: list[int]):
        """The set of categories going right, added to the builder on first use."""
        if key not in self._cache:
            self._cache[key] = self.builder.add_category_set(members_right, False)
        return self._cache[key]

    def read(self, split: dict):
        """``(column, threshold, nan_goes_left, SharedSet or None)`` of a JSON split."""
        kind = split.get("split_type")
        f = self.features
        if kind == "FloatFeature":
            index = split["float_feature_index"]
            if index not in f.floats:
                raise ModelFormatError(f"a split names float feature {brief(index)}, not listed")
            column, nan_left = f.floats[index]
            return column, _f32(split["border"], "a float border"), nan_left, None
        if kind == "OneHotFeature":
            index = split["cat_feature_index"]
            if index not in f.cats:
                raise ModelFormatError(f"a split names categorical feature {brief(index)}")
            value = _integer(split["value"], "a one-hot value", -(2**31), 2**32 - 1) & 0xFFFFFFFF
            code = self.codes[index].get(value)
            if code is None:
                raise ModelFormatError(
                    f"a one-hot split on categorical feature {index} tests value {value}, "
                    "which the feature's one-hot values do not list"
                )
            # Equal goes right; any other category (or one never seen) goes left.
            return f.cats[index], 0.0, True, self._shared(("one-hot", index, code), [code])
        if kind == "OnlineCtr":
            return self._ctr_split(split)
        raise UnsupportedModelError(
            f"CatBoost split type {brief(kind)} is not supported (FloatFeature, "
            "OneHotFeature and OnlineCtr are)"
        )

    def _ctr_split(self, split: dict):
        slot = _integer(split["split_index"], "a split_index") - self.ctr_split_start
        if not 0 <= slot < len(self.ctr_slots):
            raise ModelFormatError(
                f"a CTR split has split_index {split['split_index']}, outside the model's "
                f"{len(self.ctr_slots)} CTR borders"
            )
        position, b = self.ctr_slots[slot]
        cat, borders, ctr = self.features.ctrs[position]
        if cat is None:
            raise _combination_refusal(ctr, self.features)
        border = borders[b]
        # The split repeats its CTR's border and target class: a check that split_index was
        # read against the same list CatBoost numbered.
        if (
            _f32(split["border"], "a CTR split's border") != border
            or split.get("ctr_target_border_idx", ctr.target_border_idx) != ctr.target_border_idx
        ):
            raise ModelFormatError(
                f"the CTR split with split_index {split['split_index']} does not match the "
                "model's CTR list (border or target class differ)"
            )
        key = ("ctr", position, b)
        if key not in self._cache:
            values = ctr.values(self.categories[cat])
            f32_border = np.float32(border)
            right = np.flatnonzero(values > f32_border).tolist()
            # A category the tables lack (or never seen) gets the CTR prior: NaN's branch.
            nan_left = not bool(ctr.absent_value() > f32_border)
            shared = self.builder.add_category_set(right, False)
            self._cache[key] = (self.features.cats[cat], 0.0, nan_left, shared)
        return self._cache[key]


def _one_hot_values(info: dict) -> dict[int, list[int]]:
    out = {}
    for entry in info.get("categorical_features", []):
        values = entry.get("values") or []
        out[entry["feature_index"]] = [
            _integer(v, "a one-hot value", -(2**31), 2**32 - 1) & 0xFFFFFFFF for v in values
        ]
    return out


def _leaf_rows(values, n_leaves: int, dim: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n_leaves * dim,) or not np.all(np.isfinite(arr)):
        raise ModelFormatError(
            f"{what} has {arr.size} leaf values, expected {n_leaves * dim} finite numbers"
        )
    return arr.reshape(n_leaves, dim)


def _check_covers(cover: np.ndarray, index: int) -> None:
    if np.any(cover < 0):
        raise ModelFormatError(f"CatBoost tree {index} has a negative leaf weight")
    if not np.all(np.isfinite(cover)):
        raise ModelFormatError(f"CatBoost tree {index}: its leaf weights add up beyond float64")


def _add_oblivious_tree(builder, tree: dict, index: int, splits: _Splits, dim: int, scale):
    raw_splits = tree["splits"] or []  # null for a tree of one leaf
    if not isinstance(raw_splits, list):
        raise ModelFormatError(f"CatBoost tree {index}: splits are not a list")
    depth = len(raw_splits)
    n_leaves = 1 << depth
    leaves = _leaf_rows(tree["leaf_values"], n_leaves, dim, f"CatBoost tree {index}") * scale
    weights = np.asarray(tree["leaf_weights"], dtype=np.float64)
    if weights.shape != (n_leaves,) or not np.all(np.isfinite(weights) & (weights >= 0)):
        raise ModelFormatError(
            f"CatBoost tree {index} has {weights.size} leaf weights, expected {n_leaves} "
            "non-negative numbers"
        )
    read = [splits.read(s) for s in raw_splits]
    n_inner = n_leaves - 1
    n = n_inner + n_leaves
    # The last split is the root, as in CatBoost's TreeSHAP (and its conversion to ordinary
    # trees): level d tests split depth - 1 - d. Level d holds nodes 2**d - 1 + q, q the
    # branches taken so far, first one highest (1 = right); a leaf's q is CatBoost's leaf
    # index, whose bit s says split s held.
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    default_left = np.zeros(n, dtype=bool)
    cover = np.zeros(n)
    categories = {}
    for d in range(depth):
        column, thr, nan_left, cats = read[depth - 1 - d]
        q = np.arange(1 << d)
        node = (1 << d) - 1 + q
        feature[node] = column
        threshold[node] = thr
        default_left[node] = nan_left
        left[node] = (1 << (d + 1)) - 1 + 2 * q
        right[node] = (1 << (d + 1)) - 1 + 2 * q + 1
        # A node's cover: the weights of the leaves below it (those whose index starts with q).
        with np.errstate(over="ignore"):
            cover[node] = weights.reshape(1 << d, -1).sum(axis=1)
        if cats is not None:  # members go right
            categories.update(dict.fromkeys(node.tolist(), cats))
    cover[n_inner:] = weights
    _check_covers(cover, index)
    values = np.zeros((n, dim))
    values[n_inner:] = leaves
    builder.add_tree(
        feature=feature,
        threshold=threshold,
        left=left,
        right=right,
        default_left=default_left,
        cover=cover,
        values=values if dim > 1 else values[:, 0],
        categories=categories,
    )


def _add_non_symmetric_tree(builder, tree: dict, index: int, splits: _Splits, dim: int, scale):
    """A Depthwise/Lossguide tree: nested ``{"split", "left", "right"}`` / ``{"value"}``."""
    feature, threshold, left, right, default_left, cover, values = [], [], [], [], [], [], []
    categories = {}
    stack = [(tree, -1, False)]  # (node, parent, is right child)
    while stack:
        node, parent, is_right = stack.pop()
        k = len(feature)
        if parent >= 0:
            (right if is_right else left)[parent] = k
        left.append(-1)
        right.append(-1)
        if "split" in node:
            column, thr, nan_left, cats = splits.read(node["split"])
            feature.append(column)
            threshold.append(thr)
            default_left.append(nan_left)
            cover.append(0.0)
            values.append(np.zeros(dim))
            if cats is not None:
                categories[k] = cats
            stack.append((node["right"], k, True))
            stack.append((node["left"], k, False))
        else:
            value = node["value"]
            row = _leaf_rows(value if isinstance(value, list) else [value], 1, dim, "a leaf")
            feature.append(-1)
            threshold.append(0.0)
            default_left.append(False)
            cover.append(_number(node["weight"], f"CatBoost tree {index}: a leaf weight"))
            values.append(row[0] * scale)
        if len(feature) > 2**24:
            raise ModelFormatError(f"CatBoost tree {index} has more than 2**24 nodes")
    # Inner covers: the sum of their leaves', children before parents (reverse preorder).
    cover = np.asarray(cover)
    left_a, right_a = np.asarray(left), np.asarray(right)
    with np.errstate(over="ignore"):
        for k in range(len(cover) - 1, -1, -1):
            if left_a[k] >= 0:
                cover[k] = cover[left_a[k]] + cover[right_a[k]]
    _check_covers(cover, index)
    vals = np.asarray(values)
    builder.add_tree(
        feature=feature,
        threshold=threshold,
        left=left_a,
        right=right_a,
        default_left=default_left,
        cover=cover,
        values=vals if dim > 1 else vals[:, 0],
        categories=categories,
    )


def _loss(doc: dict) -> str:
    params = (doc.get("model_info") or {}).get("params")
    loss = params.get("loss_function") if isinstance(params, dict) else None
    name = loss.get("type") if isinstance(loss, dict) else None
    if not isinstance(name, str):
        raise ModelFormatError(
            "the CatBoost model does not record its loss function (model_info.params."
            "loss_function.type), so its link and outputs are unknown"
        )
    if name not in LOSS_LINKS:
        raise UnsupportedModelError(
            f"CatBoost loss {name!r} is not supported; supported: {', '.join(LOSS_LINKS)}"
        )
    return name


def _scale_and_bias(doc: dict, dim: int) -> tuple[float, np.ndarray]:
    raw = doc.get("scale_and_bias", [1.0, [0.0] * dim])
    if not isinstance(raw, list) or len(raw) != 2:
        raise ModelFormatError(f"scale_and_bias is {brief(raw)}, expected [scale, [bias...]]")
    scale = _number(raw[0], "the model's scale")
    bias = raw[1] if isinstance(raw[1], list) else [raw[1]] * dim
    if len(bias) == 0:
        bias = [0.0] * dim
    if len(bias) != dim:
        raise ModelFormatError(f"the model has {len(bias)} biases for {dim} outputs")
    return scale, np.array([_number(b, "the model's bias") for b in bias])


def _classes(doc: dict, loss: str, dim: int):
    if LOSS_LINKS[loss] not in ("logistic", "softmax"):
        return None
    names = ((doc.get("model_info") or {}).get("class_params") or {}).get("class_names")
    if isinstance(names, list) and len(names) == max(dim, 2):
        return np.asarray(names)
    return np.arange(max(dim, 2))


def _expanded_nodes(trees: list, oblivious: bool) -> int:
    if not oblivious:
        return 0  # nested trees are counted as they are read
    total = 0
    for i, tree in enumerate(trees):
        splits = tree.get("splits", ()) if isinstance(tree, dict) else None
        # A tree without splits (one leaf) is written with "splits": null.
        splits = [] if splits is None and isinstance(tree, dict) else splits
        if not isinstance(splits, list):
            raise ModelFormatError(f"CatBoost tree {i} has no list of splits")
        if len(splits) > MAX_DEPTH:
            raise ModelFormatError(
                f"CatBoost tree {i} has depth {len(splits)}; CatBoost's trees have at most "
                f"{MAX_DEPTH} levels"
            )
        total += (2 << len(splits)) - 1
    return total


@malformed_is_format_error("the CatBoost model")
def from_document(doc, *, estimator=None, classes=None) -> Model:
    """A model from CatBoost's JSON export, parsed."""
    if not isinstance(doc, dict):
        raise ModelFormatError("a CatBoost JSON model is an object at the top level")
    oblivious = "oblivious_trees" in doc
    trees = doc["oblivious_trees"] if oblivious else doc["trees"]
    if not isinstance(trees, list) or not trees:
        raise ModelFormatError("the CatBoost model has no trees")
    loss = _loss(doc)
    info = doc["features_info"]
    features = _read_features(info)
    _read_ctrs(info, doc.get("ctr_data"), features)
    n_nodes = _expanded_nodes(trees, oblivious)
    first = trees[0]
    if oblivious:
        dim = len(first["leaf_values"]) // (1 << len(first["splits"] or []))
    else:
        node = first
        while "split" in node:
            node = node["left"]
        dim = len(node["value"]) if isinstance(node["value"], list) else 1
    if dim < 1:
        raise ModelFormatError("the CatBoost model's first tree has no leaf values")
    ensure_fits(
        f"the CatBoost model expanded to ordinary trees ({n_nodes} nodes)",
        n_nodes * (_NODE_BYTES + 8 * dim),
        "use a model with shallower trees",
    )
    scale, bias = _scale_and_bias(doc, dim)
    builder = ForestBuilder(
        n_features=features.n_features, n_outputs=dim, less_equal=True, f32_inputs=True
    )
    splits = _Splits(features, _one_hot_values(info), builder)
    add = _add_oblivious_tree if oblivious else _add_non_symmetric_tree
    for i, tree in enumerate(trees):
        if oblivious and "leaf_weights" not in tree:
            raise ModelFormatError(
                f"CatBoost tree {i} has no leaf_weights, which are the node covers TreeSHAP "
                "needs (models from catboost >= 0.12 record them)"
            )
        add(builder, tree, i, splits, dim, scale)
    return Model(
        forest=builder.build(bias),
        feature_names=features.names,
        objective=loss,
        link=LOSS_LINKS[loss],
        classes=classes if classes is not None else _classes(doc, loss, dim),
        library="catboost",
        categories={features.cats[index]: cats for index, cats in splits.categories.items()},
        category_key=category_keys,
        estimator=estimator,
    )


def from_json_bytes(data: bytes, **kwargs) -> Model:
    """A model from the bytes of a CatBoost JSON export."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFormatError("the CatBoost JSON model is not UTF-8 text") from None
    return from_document(deep_json.loads(text), **kwargs)


def _catboost_json(obj) -> bytes:
    """The JSON export of a live CatBoost model (written by catboost to a temporary file)."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        obj.save_model(path, format="json")
        with open(path, "rb") as f:
            return f.read()
    except Exception as e:  # catboost's own refusal (e.g. text features), not a corrupt file
        raise UnsupportedModelError(f"catboost cannot export this model to JSON: {e}") from None
    finally:
        os.unlink(path)


def from_estimator(obj) -> Model:
    """A fitted ``catboost.CatBoost`` (or CatBoostRegressor / CatBoostClassifier)."""
    fitted = getattr(obj, "is_fitted", None)
    if not callable(fitted) or not fitted():
        raise UnsupportedModelError(f"{type(obj).__name__} is not fitted")
    classes = getattr(obj, "classes_", None) if hasattr(type(obj), "classes_") else None
    classes = np.asarray(classes) if classes is not None and len(classes) else None
    return from_json_bytes(_catboost_json(obj), estimator=obj, classes=classes)


def from_binary(data: bytes) -> Model:
    """A ``.cbm`` model, read by catboost (its binary format is catboost's own)."""
    try:
        import catboost
    except ImportError:
        raise UnsupportedModelError(
            "this is a CatBoost binary model (.cbm), which treelens reads through catboost, "
            "which is not installed: install catboost, or export the model as JSON with "
            "model.save_model(path, format='json') and load that file"
        ) from None
    model = catboost.CatBoost()
    try:
        model.load_model(blob=data)
    except Exception as e:
        raise ModelFormatError(f"catboost cannot read this .cbm model: {e}") from None
    return from_json_bytes(_catboost_json(model))


def from_bytes(data: bytes) -> Model:
    """A CatBoost model from the bytes of its JSON export or of a ``.cbm`` file."""
    return from_binary(data) if is_catboost_binary(data) else from_json_bytes(data)
