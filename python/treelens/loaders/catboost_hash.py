"""How CatBoost identifies a category: the hash of the value's text, and the key under which its
counter (CTR) tables store a category.

CatBoost reads a categorical value as text (a string as it is, an integer or boolean as its
decimal digits, ``True`` as ``"1"``), refuses floats and missing values, and keeps the low 32
bits of CityHash64 (version 1.0) of the text's UTF-8 bytes. A CTR table over one categorical
feature is keyed by ``M * (M * h)`` (mod 2**64, ``M`` CatBoost's hash multiplier) where ``h`` is
the 32-bit hash read as a signed integer and widened to 64 bits; ``M`` is odd, so the key is
invertible and each key gives back the category hash it was made from.
"""

from __future__ import annotations

import math

import numpy as np

from ..exceptions import InvalidInputError
from .cityhash import cityhash64

_MASK64 = (1 << 64) - 1
#: CatBoost's CalcHash multiplier: CalcHash(a, b) = M * (a + M * b) (mod 2**64).
_HASH_MULT = 0x4906BA494954CB65
_HASH_MULT_INV2 = pow(_HASH_MULT * _HASH_MULT, -1, 1 << 64)


def value_text(value, name: str) -> bytes:
    """The bytes CatBoost hashes for one categorical value (column ``name``, for messages)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bool, np.bool_)):
        return b"1" if value else b"0"
    if isinstance(value, (int, np.integer)):
        return str(int(value)).encode("ascii")
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        # Integer columns reach treelens as float64 (a DataFrame's int column, a numeric
        # array): an integral value is read as the integer it was.
        return str(int(value)).encode("ascii")
    raise InvalidInputError(
        f"column {name} is categorical in the CatBoost model but holds {value!r}; CatBoost "
        "reads categorical values as strings or integers and refuses other numbers and missing "
        "values (NaN, None) too: convert the column to strings (e.g. fill missing values with "
        "a placeholder category)"
    )


def category_hash(value, name: str = "?") -> int:
    """CatBoost's 32-bit hash of a categorical value, as an unsigned integer."""
    return cityhash64(value_text(value, name)) & 0xFFFFFFFF


def category_keys(values, name: str) -> np.ndarray:
    """The hashes of a column's categorical values (int64, each value hashed once).

    This is the ``category_key`` of CatBoost models: ``Model.categories`` lists hashes.
    """
    values = np.asarray(values, dtype=object).ravel()
    seen: dict = {}
    out = np.empty(values.shape[0], dtype=np.int64)
    for i, v in enumerate(values):
        # The type is part of the key: True == 1 in a dict, but their texts differ.
        try:
            key = (type(v), v)
            h = seen.get(key)
        except TypeError:  # unhashable
            key, h = None, None
        if h is None:
            h = category_hash(v, name)
            if key is not None:
                seen[key] = h
        out[i] = h
    return out


def ctr_key(category: int) -> int:
    """The key of a category (its 32-bit hash) in a CTR table over that one feature."""
    signed = category - (1 << 32) if category >= 1 << 31 else category
    return (_HASH_MULT * ((_HASH_MULT * signed) & _MASK64)) & _MASK64


def category_of_ctr_key(key: int) -> int | None:
    """The category hash whose CTR key is ``key``, or None when no 32-bit hash gives that key
    (CatBoost writes such keys for empty buckets of its hash tables)."""
    widened = (key * _HASH_MULT_INV2) & _MASK64
    if widened < 1 << 31 or widened >= (1 << 64) - (1 << 31):
        return widened & 0xFFFFFFFF
    return None
