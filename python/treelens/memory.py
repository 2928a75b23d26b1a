"""Size checks made in Python before anything large is converted or allocated, against the
core's one memory budget (``_core.memory_budget``): the converted input and the result are
refused with :class:`OutputTooLargeError` before a byte of them exists."""

from __future__ import annotations

import numpy as np

from . import _core
from .tables import named_table

__all__ = ["block_rows", "ensure_fits", "input_bytes", "memory_budget", "rows_of"]

_UINT64_MAX = 2**64 - 1
#: Rows converted at a time: bounds the temporaries of the input conversion.
CONVERSION_BYTES = 64 << 20


def memory_budget() -> dict:
    """The bytes this process may still allocate and where that budget comes from.

    Every large result is sized against it first (``OutputTooLargeError`` otherwise).

    Returns
    -------
    dict
        ``bytes`` (None when no limit is known), ``source`` (free memory, an rlimit or a
        cgroup's ``memory.max``) and ``bounds`` (every limit found, as ``(source, bytes)``).
    """
    return dict(_core.memory_budget())


def ensure_fits(what: str, needed: int, way_out: str, *, max_bytes: int | None = None) -> None:
    """Raises OutputTooLargeError when ``needed`` bytes exceed the budget (or ``max_bytes``)."""
    _core.ensure_fits(what, int(min(max(needed, 0), _UINT64_MAX)), way_out, max_bytes=max_bytes)


def rows_of(X) -> int | None:
    """The number of rows of an input, read from its shape (a named table's row count) without
    converting it (None when it has no two-dimensional shape, e.g. a list of rows)."""
    table = named_table(X)
    if table is not None:
        return table.n_rows
    if hasattr(X, "num_row") and hasattr(X, "get_data"):  # an xgboost.DMatrix
        return int(X.num_row())
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        return None
    try:
        n = int(shape[0])
    except (TypeError, ValueError):  # lazy (dask) sizes
        return None
    return n if n >= 0 else None


def input_bytes(n_rows: int, n_features: int) -> int:
    """Bytes of the float64 matrix the input becomes."""
    return int(n_rows) * int(n_features) * np.dtype(np.float64).itemsize


def block_rows(bytes_per_row: int) -> int:
    """Rows per block of work done a block at a time (at least 1)."""
    return max(1, CONVERSION_BYTES // max(1, int(bytes_per_row)))


def conversion_rows(n_features: int) -> int:
    """Rows per step of a chunked conversion to float64 (at least 1)."""
    return block_rows(8 * int(n_features))
