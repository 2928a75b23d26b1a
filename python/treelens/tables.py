"""Named tables: pandas and polars DataFrames, pyarrow Tables and RecordBatches, read column by
column.

A table's columns are found by name, so each is read on its own, in one of three forms:
numbers (float64, missing as NaN), categorical (integer codes into a list of categories, as a
pandas Categorical, a polars Categorical/Enum or an arrow dictionary column holds them), or
other values (a numpy array, object for text) that the caller encodes or refuses. polars and
pyarrow are optional: they are imported only when the input is one of their objects.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .exceptions import InvalidInputError

__all__ = ["Column", "Table", "named_table"]


@dataclass
class Column:
    """One column of a table.

    Exactly one form is set: ``numbers`` (float64, NaN for missing), ``codes`` with
    ``categories`` (codes are int64 positions in ``categories``, -1 for missing), or
    ``values`` (anything else, as a numpy array). ``dtype`` is the library's name for the
    column's type, for messages.
    """

    dtype: str
    numbers: np.ndarray | None = None
    codes: np.ndarray | None = None
    categories: np.ndarray | None = None
    values: np.ndarray | None = None

    @property
    def is_categorical(self) -> bool:
        return self.codes is not None

    def category_values(self) -> np.ndarray:
        """A categorical column's values (object array, NaN for missing)."""
        cats = np.asarray(self.categories, dtype=object)
        out = np.full(self.codes.shape[0], np.nan, dtype=object)
        present = self.codes >= 0
        out[present] = cats[self.codes[present]]
        return out


class ColumnView:
    """A numeric column read through numpy views of its buffers (one per chunk), never copied
    whole: :meth:`rows` gives a range of rows (a view, or a copy of that range alone where it
    spans chunks)."""

    def __init__(self, chunks: list[np.ndarray]):
        self.chunks = chunks
        self.starts = np.cumsum([0] + [len(c) for c in chunks])

    def rows(self, r0: int, r1: int) -> np.ndarray:
        if len(self.chunks) == 1:
            return self.chunks[0][r0:r1]
        k = int(np.searchsorted(self.starts, r0, side="right")) - 1
        pieces = []
        while r0 < r1 and k < len(self.chunks):
            start = int(self.starts[k])
            piece = self.chunks[k][r0 - start : r1 - start]
            pieces.append(piece)
            r0 += len(piece)
            k += 1
        if len(pieces) == 1:
            return pieces[0]
        return np.concatenate(pieces) if pieces else self.chunks[0][:0]


class Table:
    """A named table: its column names (as str), row count and columns read one at a time."""

    def __init__(self, obj, kind: str, names: list[str], n_rows: int):
        self.obj = obj
        self.kind = kind
        self.names = names
        self.n_rows = n_rows

    def column(self, i: int) -> Column:
        """Column ``i`` (by position in the table)."""
        return _READERS[self.kind](self.obj, i)

    def rows(self, r0: int, r1: int) -> Table:
        """Rows ``r0:r1`` of the table, without copying its columns (a slice)."""
        obj = self.obj.iloc[r0:r1] if self.kind == "pandas" else self.obj.slice(r0, r1 - r0)
        return Table(obj, self.kind, self.names, r1 - r0)

    def numeric_view(self, i: int) -> ColumnView | None:
        """Column ``i`` as views of its buffers when it holds numbers (or booleans, in pandas)
        without nulls in numpy's layout; None when reading it needs a conversion."""
        if self.kind == "pandas":
            dtype = self.obj.dtypes.iloc[i]
            if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
                return ColumnView([self.obj.iloc[:, i].to_numpy()])
            return None
        if self.kind == "polars":
            s = self.obj.to_series(i)
            if not s.dtype.is_numeric() or s.null_count() > 0:
                return None
            try:
                chunks = [c.to_numpy(allow_copy=False) for c in s.get_chunks()]
            except Exception:  # not numpy's layout (decimals, ...): converted instead
                return None
        else:
            import pyarrow as pa

            col = self.obj.column(i)
            t = col.type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t)) or col.null_count > 0:
                return None
            try:
                parts = col.chunks if hasattr(col, "chunks") else [col]
                chunks = [c.to_numpy(zero_copy_only=True) for c in parts]
            except Exception:  # not numpy's layout: converted instead
                return None
        chunks = [c for c in chunks if len(c) > 0] or chunks[:1]
        if not chunks or any(c.dtype.kind not in "fiub" for c in chunks):
            return None
        return ColumnView(chunks)

    def is_categorical(self, i: int) -> bool:
        """Whether column ``i`` is categorical, without reading it."""
        if self.kind == "pandas":
            return type(self.obj.dtypes.iloc[i]).__name__ == "CategoricalDtype"
        if self.kind == "polars":
            return type(self.obj.dtypes[i]).__name__ in ("Categorical", "Enum")
        return type(self.obj.schema.field(i).type).__name__ == "DictionaryType"

    def data(self) -> np.ndarray:
        """The table's values as a 2-D numpy array in the table's column order (for plots)."""
        if self.kind in ("pandas", "polars"):
            return self.obj.to_numpy()
        cols = [self.obj.column(i) for i in range(len(self.names))]
        arrays = [np.asarray(c.to_numpy(zero_copy_only=False)) for c in _flat(cols)]
        if not arrays:
            return np.empty((self.n_rows, 0))
        kind = np.result_type(*arrays) if all(a.dtype.kind in "fiub" for a in arrays) else object
        return np.column_stack([a.astype(kind) for a in arrays])


def _flat(columns):
    """pyarrow columns as plain Arrays (a ChunkedArray's chunks combined)."""
    return [c.combine_chunks() if hasattr(c, "combine_chunks") else c for c in columns]


def named_table(X) -> Table | None:
    """``X`` as a :class:`Table` when it is a pandas or polars DataFrame (or a subclass) or a
    pyarrow Table or RecordBatch; None for anything else. A polars LazyFrame is refused (it is
    not data yet). A library that is not imported yet cannot have made ``X``: nothing is
    imported here."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(X, pd.DataFrame):
        return Table(X, "pandas", [str(c) for c in X.columns], len(X))
    pl = sys.modules.get("polars")
    if pl is not None:
        if isinstance(X, pl.LazyFrame):
            raise InvalidInputError(
                "X is a polars LazyFrame, a query that has not run yet: pass X.collect() "
                "(a polars DataFrame)"
            )
        if isinstance(X, pl.DataFrame):
            return Table(X, "polars", [str(c) for c in X.columns], X.height)
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(X, (pa.Table, pa.RecordBatch)):
        return Table(X, "pyarrow", [str(c) for c in X.column_names], X.num_rows)
    return None


def _pandas_column(df, i: int) -> Column:
    import pandas as pd

    col = df.iloc[:, i]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return Column(
            dtype=str(col.dtype),
            codes=col.cat.codes.to_numpy().astype(np.int64),
            categories=np.asarray(col.cat.categories),
        )
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub":
        # numpy columns hold no NA but NaN: read through a view of the frame's buffer
        # (pandas' to_numpy(na_value=nan) copies them, and fails on int64 in pandas 2.3).
        return Column(dtype=str(col.dtype), values=col.to_numpy())
    # pandas 2.x fails to_numpy(na_value=nan) on an integer column, even without missing values.
    values = col.to_numpy(dtype=None, na_value=np.nan) if col.hasnans else col.to_numpy()
    return Column(dtype=str(col.dtype), values=values)


def _polars_column(df, i: int) -> Column:
    import polars as pl

    s = df.to_series(i)
    dtype = s.dtype
    if dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null:
        # Nulls become NaN; a Float64 column without nulls is not copied.
        return Column(dtype=str(dtype), numbers=s.cast(pl.Float64).to_numpy())
    if dtype == pl.Categorical or isinstance(dtype, pl.Enum):
        return _dictionary_column(s.to_arrow(), str(dtype))
    return Column(dtype=str(dtype), values=s.to_numpy())


def _pyarrow_column(table, i: int) -> Column:
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column(i)
    t = col.type
    if (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    ):
        as_float = pc.cast(col, pa.float64())
        # Nulls become NaN; a float64 column in one chunk without nulls is not copied.
        if hasattr(as_float, "chunks"):
            chunks = as_float.chunks
            if len(chunks) == 1:
                return Column(dtype=str(t), numbers=chunks[0].to_numpy(zero_copy_only=False))
            as_float = as_float.combine_chunks()
        return Column(dtype=str(t), numbers=as_float.to_numpy(zero_copy_only=False))
    if pa.types.is_dictionary(t):
        return _dictionary_column(col, str(t))
    (flat,) = _flat([col])
    return Column(dtype=str(t), values=flat.to_numpy(zero_copy_only=False))


def _dictionary_column(array, dtype: str) -> Column:
    """An arrow dictionary array (or chunked array) as codes into one list of categories."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if hasattr(array, "unify_dictionaries"):  # chunks may each have their own dictionary
        array = array.unify_dictionaries().combine_chunks()
    codes = pc.fill_null(pc.cast(array.indices, pa.int64()), -1).to_numpy(zero_copy_only=False)
    return Column(
        dtype=dtype,
        codes=np.asarray(codes, dtype=np.int64),
        categories=np.asarray(array.dictionary.to_numpy(zero_copy_only=False)),
    )


_READERS = {"pandas": _pandas_column, "polars": _polars_column, "pyarrow": _pyarrow_column}
