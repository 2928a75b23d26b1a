"""Tables are read without copying their numeric columns: a column of numbers without nulls is
read through views of its buffers (one per chunk), block of rows by block of rows, and the
result equals reading the same values from numpy, whatever the chunking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.ensemble import RandomForestRegressor

import treelens as tl
import treelens.inputs
from treelens.tables import named_table

NAMES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(230, 4))
    y = X[:, 0] - X[:, 1] * X[:, 2]
    est = RandomForestRegressor(n_estimators=3, max_depth=5, random_state=0, n_jobs=1)
    return est.fit(pd.DataFrame(X, columns=NAMES), y), X


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_float64_columns_without_nulls_are_views_of_the_table(fitted, kind):
    _, X = fitted
    obj = {
        "pandas": pd.DataFrame(X, columns=NAMES),
        "polars": pl.DataFrame({n: X[:, j] for j, n in enumerate(NAMES)}),
        "pyarrow": pa.table({n: X[:, j].copy() for j, n in enumerate(NAMES)}),
    }[kind]
    table = named_table(obj)
    for i in range(4):
        view = table.numeric_view(i)
        (chunk,) = view.chunks
        # Reading the same buffer twice gives the same memory: nothing was copied.
        again = table.numeric_view(i).chunks[0]
        assert np.shares_memory(chunk, again), (kind, i)
        np.testing.assert_array_equal(chunk, X[:, i])
    with_nulls = pl.DataFrame({"a": [1.0, None]}) if kind == "polars" else None
    if with_nulls is not None:
        assert named_table(with_nulls).numeric_view(0) is None  # nulls: converted to NaN


def test_chunked_tables_across_block_boundaries(fitted, monkeypatch):
    """Chunks of every size, blocks of 7 rows: every block that spans chunks is assembled."""
    est, X = fitted
    model = tl.load(est)
    ref = model.prepare(X)
    monkeypatch.setattr(treelens.inputs, "TABLE_BLOCK_BYTES", 8 * 4 * 7)
    cuts = [0, 1, 5, 6, 50, 51, 52, 200, 230]
    pieces = [pd.DataFrame(X[a:b], columns=NAMES) for a, b in zip(cuts, cuts[1:])]
    arrow = pa.concat_tables([pa.Table.from_pandas(p, preserve_index=False) for p in pieces])
    assert arrow.column(0).num_chunks == len(pieces)
    polars = pl.concat([pl.from_pandas(p) for p in pieces], rechunk=False)
    assert polars.n_chunks() == len(pieces)
    for table in (arrow, polars, arrow.select(["c", "a", "d", "b"]), polars[:, [2, 0, 3, 1]]):
        np.testing.assert_array_equal(model.prepare(table), ref)
    # Mixed columns: a nullable one is converted by blocks beside the views.
    mixed = pl.from_pandas(pd.DataFrame(X, columns=NAMES)).with_columns(
        pl.when(pl.col("b") > 0).then(pl.col("b")).otherwise(None).alias("b")
    )
    expected = ref.copy()
    expected[X[:, 1] <= 0, 1] = np.nan
    np.testing.assert_array_equal(model.prepare(mixed), expected)
    assert named_table(mixed).numeric_view(1) is None
