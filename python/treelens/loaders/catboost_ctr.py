"""CatBoost's counters (CTRs) over one categorical feature, as a function of the category.

A CTR split compares a number computed from the category's row in a table of counts (``ctr_data``
of the JSON export) against a border. Over one feature, that number depends on the category
alone, so the split is a set of categories: those whose CTR exceeds the border go right, and
every category the table lacks (including categories never seen in training) gets the value
CatBoost gives an absent category. The arithmetic is CatBoost's, in float32:
``ctr = (count + prior_numerator) / (total + prior_denominator)``, then ``(ctr + shift) * scale``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError
from .catboost_hash import category_of_ctr_key, ctr_key

#: CTR types CatBoost's model applier knows (its static CTR provider).
CTR_TYPES = (
    "Borders",
    "Buckets",
    "BinarizedTargetMeanValue",
    "FloatTargetMeanValue",
    "Counter",
    "FeatureFreq",
)
_MEAN_TYPES = ("BinarizedTargetMeanValue", "FloatTargetMeanValue")
_COUNTER_TYPES = ("Counter", "FeatureFreq")
#: Largest table CatBoost could have written (its counts are 32-bit); guards allocation.
_MAX_ROWS = 2**31


def canonical_identifier(identifier) -> str:
    """A CTR's identifier (JSON text or its parsed form) in one canonical spelling."""
    if isinstance(identifier, str):
        try:
            identifier = json.loads(identifier)
        except json.JSONDecodeError:
            raise ModelFormatError(f"a CTR identifier is not JSON: {identifier[:80]!r}") from None
    return json.dumps(identifier, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class CtrTable:
    """One table of ``ctr_data``: its rows by category hash (non-categories dropped)."""

    ctr_type: str
    #: ``{category hash: row}``; a row is the counts (or sum and count) of the category.
    rows: dict
    counter_denominator: int
    #: Counts per row (the target classes of Borders/Buckets tables).
    width: int


def read_table(identifier: str, table: dict) -> CtrTable:
    """A ``ctr_data`` entry, checked: a flat ``hash_map`` of keys each followed by its row."""
    ctr_type = json.loads(identifier).get("type")
    if ctr_type not in CTR_TYPES:
        raise UnsupportedModelError(
            f"CatBoost CTR type {ctr_type!r} is not supported; supported: {', '.join(CTR_TYPES)}"
        )
    stride = table["hash_stride"]
    flat = table["hash_map"]
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 2:
        raise ModelFormatError(f"a CTR table has hash_stride {stride!r}")
    if not isinstance(flat, list) or len(flat) % stride or len(flat) // stride > _MAX_ROWS:
        raise ModelFormatError(
            f"a CTR table's hash_map holds {len(flat)} entries, not a multiple of its "
            f"hash_stride {stride}"
        )
    width = stride - 1
    expected = {**dict.fromkeys(_MEAN_TYPES, 2), **dict.fromkeys(_COUNTER_TYPES, 1)}
    if ctr_type in expected and width != expected[ctr_type]:
        raise ModelFormatError(f"a {ctr_type} CTR table has rows of {width} values")
    if ctr_type in ("Borders", "Buckets") and width < 2:
        raise ModelFormatError(f"a {ctr_type} CTR table counts {width} target classes")
    rows = {}
    for i in range(0, len(flat), stride):
        key = int(flat[i])
        if not 0 <= key < 2**64:
            raise ModelFormatError(f"a CTR table key {flat[i]!r} is not a 64-bit hash")
        row = flat[i + 1 : i + stride]
        if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in row):
            raise ModelFormatError("a CTR table row holds a non-number")
        category = category_of_ctr_key(key)
        # CatBoost's JSON export also writes keys of empty hash buckets, which no category
        # reaches; the applier keeps the first row of a repeated key.
        if category is not None and ctr_key(category) == key and category not in rows:
            rows[category] = row
    denominator = table.get("counter_denominator", 0)
    if not isinstance(denominator, (int, float)) or not np.isfinite(denominator):
        raise ModelFormatError(f"a CTR table has counter_denominator {denominator!r}")
    return CtrTable(ctr_type, rows, int(denominator), width)


@dataclass(frozen=True)
class CtrFeature:
    """A CTR of ``features_info.ctrs``: its table and priors, and the borders splits use."""

    table: CtrTable
    target_border_idx: int
    prior_numerator: float
    prior_denominator: float
    shift: float
    scale: float

    def _calc(self, count: np.ndarray, total: np.ndarray) -> np.ndarray:
        f32 = np.float32
        with np.errstate(all="ignore"):  # 0/0 is NaN for CatBoost as here (it goes left)
            ctr = (count.astype(f32) + f32(self.prior_numerator)) / (
                total.astype(f32) + f32(self.prior_denominator)
            )
            return (ctr + f32(self.shift)) * f32(self.scale)

    def values(self, categories: np.ndarray) -> np.ndarray:
        """The CTR of each category (hashes), float32, as CatBoost's applier computes it."""
        t = self.table
        rows = [t.rows.get(int(c)) for c in categories]
        if t.ctr_type in _MEAN_TYPES:
            stats = [r if r is not None else (0.0, 0) for r in rows]
            sums = np.array([s for s, _ in stats], dtype=np.float32)
            counts = np.array([c for _, c in stats], dtype=np.int64)
            return self._calc(sums, counts)
        if t.ctr_type in _COUNTER_TYPES:
            counts = np.array([r[0] if r is not None else 0 for r in rows], dtype=np.int64)
            return self._calc(counts, np.full(counts.shape, t.counter_denominator))
        hist = np.array(
            [r if r is not None else [0] * t.width for r in rows], dtype=np.int64
        ).reshape(len(rows), t.width)
        k = self.target_border_idx
        if t.ctr_type == "Buckets":
            return self._calc(hist[:, k], hist.sum(axis=1))
        if t.width > 2:  # Borders over several classes: the classes above the border count
            good = hist[:, k + 1 :].sum(axis=1)
            return self._calc(good, hist[:, : k + 1].sum(axis=1) + good)
        return self._calc(hist[:, 1], hist[:, 0] + hist[:, 1])

    def absent_value(self) -> np.float32:
        """The CTR of a category the table lacks (CatBoost's prior)."""
        denominator = self.table.counter_denominator if self.table.ctr_type in _COUNTER_TYPES else 0
        return self._calc(np.zeros(1, dtype=np.int64), np.full(1, denominator))[0]
