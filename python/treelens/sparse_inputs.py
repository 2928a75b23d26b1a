"""Sparse inputs: scipy sparse matrices and arrays (any format) and ``xgboost.DMatrix``, read a
block of rows at a time with the meaning an absent entry has for the model's own library.

An absent entry is 0 for scikit-learn and LightGBM (their ``predict`` on a sparse matrix equals
their ``predict`` on ``X.toarray()``) and missing for XGBoost (``DMatrix(csr)`` drops absent
entries: they take the missing branch); :attr:`Model.sparse_absent_is_missing` says which. A
stored entry is always its value: an explicitly stored 0 is the number 0 for XGBoost too. A
DMatrix's absent entries are missing for every model: it was built by dropping the missing values
(NaN or its ``missing``), so that is what its absent entries mean.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .exceptions import InvalidInputError
from .memory import ensure_fits


@dataclass(frozen=True)
class SparseRows:
    """A sparse input as one canonical CSR matrix (no duplicate entries).

    Attributes
    ----------
    csr : scipy.sparse CSR matrix or array
    names : list of str or None
        Column names (a DMatrix's ``feature_names``); None for scipy matrices.
    absent_is_missing : bool or None
        What an absent entry is, when the input itself says (a DMatrix: missing); None when the
        model's library decides.
    what : str
        The input's kind, for messages.
    """

    csr: Any
    names: list[str] | None
    absent_is_missing: bool | None
    what: str

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.csr.shape[0]), int(self.csr.shape[1])


def is_sparse(X) -> bool:
    """Whether ``X`` is a scipy sparse matrix or array, or an ``xgboost.DMatrix`` (without
    importing either library: one not imported yet cannot have made ``X``)."""
    sp = sys.modules.get("scipy.sparse")
    if sp is not None and sp.issparse(X):
        return True
    xgb = sys.modules.get("xgboost")
    return xgb is not None and isinstance(X, xgb.DMatrix)


def sparse_row_count(X) -> int | None:
    """The rows of a sparse input or DMatrix (None for anything else), without reading it."""
    if not is_sparse(X):
        return None
    if hasattr(X, "num_row"):
        return int(X.num_row())
    return int(X.shape[0])


def sparse_rows(X) -> SparseRows | None:
    """``X`` as :class:`SparseRows` when it is sparse (scipy) or a DMatrix; None otherwise.

    Other scipy formats become CSR (a copy the size of the stored entries, never dense);
    duplicate entries are summed, as ``X.toarray()`` sums them."""
    sp = sys.modules.get("scipy.sparse")
    if sp is not None and sp.issparse(X):
        if len(X.shape) != 2:
            raise InvalidInputError(
                f"X must be 2-D (n_samples, n_features), got a sparse array of shape {X.shape}"
            )
        return SparseRows(_canonical_csr(X), None, None, f"a scipy.sparse {X.format} matrix")
    xgb = sys.modules.get("xgboost")
    if xgb is not None and isinstance(X, xgb.DMatrix):
        return _dmatrix_rows(X, xgb)
    return None


def _dmatrix_rows(X, xgb) -> SparseRows:
    quantile = getattr(xgb, "QuantileDMatrix", None)
    if quantile is not None and isinstance(X, quantile):
        raise InvalidInputError(
            "X is an xgboost.QuantileDMatrix, which holds quantised values (histogram bins), "
            "not the data: pass the data itself (or an xgboost.DMatrix of it)"
        )
    try:
        csr = X.get_data()
    except Exception as e:  # older xgboost, or a DMatrix without its data
        raise InvalidInputError(
            f"the xgboost.DMatrix's data cannot be read (DMatrix.get_data() failed: {e}); pass "
            "the data itself (a numpy array, DataFrame or scipy sparse matrix)"
        ) from None
    names = X.feature_names
    names = [str(n) for n in names] if names else None
    return SparseRows(_canonical_csr(csr), names, True, "an xgboost.DMatrix")


def _canonical_csr(X):
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "fiub":
        raise InvalidInputError(
            f"X is a sparse matrix of dtype {dtype}; treelens accepts float, integer and "
            "boolean sparse matrices"
        )
    if X.format != "csr" or not X.has_canonical_format:
        # A copy the size of the stored entries (values and indices), never of the dense form.
        nnz, rows = int(X.nnz), int(X.shape[0])
        ensure_fits(
            f"X ({X.format}, {nnz} stored entries) converted to CSR",
            nnz * (dtype.itemsize + 8) + (rows + 1) * 8,
            "pass a CSR matrix, or fewer rows at a time",
        )
    csr = X if X.format == "csr" else X.tocsr()
    if not csr.has_canonical_format:
        csr = csr.copy() if csr is X else csr
        csr.sum_duplicates()
    return csr


def densify_rows(rows: SparseRows, r0: int, r1: int, fill: float, out: np.ndarray) -> None:
    """Writes rows ``r0:r1`` of ``rows`` into ``out`` (float64, ``(r1 - r0, n_columns)``),
    absent entries as ``fill``, stored entries as their values."""
    csr = rows.csr
    indptr = csr.indptr
    lo, hi = int(indptr[r0]), int(indptr[r1])
    out[...] = fill
    counts = np.diff(indptr[r0 : r1 + 1])
    block_row = np.repeat(np.arange(r1 - r0), counts)
    out[block_row, csr.indices[lo:hi]] = csr.data[lo:hi]
