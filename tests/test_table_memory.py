"""Tables read by name meet the memory budget: a pandas or polars DataFrame or a pyarrow Table
is sized against the budget before any of it is converted (as numpy arrays are), and float32
results computed a block of rows at a time keep each value under its own column of the table.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.ensemble import GradientBoostingRegressor

import treelens as tl
from treelens.exceptions import OutputTooLargeError

from _limited_child import run_child

NAMES = ["a", "b", "c", "d"]
#: The table shows model column ``PERM[i]`` at its position ``i``.
PERM = [2, 0, 3, 1]


def _table(kind: str, X: np.ndarray):
    df = pd.DataFrame({NAMES[j]: X[:, j] for j in PERM})
    if kind == "polars":
        return pl.from_pandas(df)
    if kind == "pyarrow":
        return pa.Table.from_pandas(df, preserve_index=False)
    return df


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(3)
    X = rng.random((200, 4))
    y = X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3]
    est = GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=0)
    return est.fit(pd.DataFrame(X, columns=NAMES), y), X


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_float32_blocks_of_a_table_follow_its_column_order(fitted, kind, monkeypatch):
    est, X = fitted
    table = _table(kind, X)
    # Small blocks: the table is read and explained in several slices of rows.
    monkeypatch.setattr(tl.memory, "CONVERSION_BYTES", 2048)
    for ex in (tl.TreeExplainer(est), tl.TreeExplainer(est, data=X[:20])):
        ref = ex.shap_values(X)[:, PERM]
        half = ex.shap_values(table, dtype=np.float32)
        assert half.dtype == np.float32
        np.testing.assert_array_equal(half, ref.astype(np.float32))
        np.testing.assert_array_equal(ex.shap_values(table), ref)
        inter = ex.shap_interaction_values(X[:40])[:, PERM][:, :, PERM]
        inter32 = ex.shap_interaction_values(
            table.slice(0, 40) if kind != "pandas" else table.iloc[:40], dtype=np.float32
        )
        np.testing.assert_array_equal(inter32, inter.astype(np.float32))


def test_in_place_reordering_of_a_large_result_equals_take(fitted, monkeypatch):
    """Results in another order are permuted a block of rows at a time, in place."""
    est, X = fitted
    monkeypatch.setattr(tl.memory, "CONVERSION_BYTES", 512)
    ex = tl.TreeExplainer(est)
    ref = ex.shap_interaction_values(X)
    out = ex.shap_interaction_values(_table("pandas", X))
    np.testing.assert_array_equal(out, np.take(np.take(ref, PERM, axis=1), PERM, axis=2))


def test_empty_table_gives_an_empty_float32_result(fitted):
    est, X = fitted
    out = tl.TreeExplainer(est).shap_values(_table("polars", X[:0]), dtype=np.float32)
    assert out.shape == (0, 4) and out.dtype == np.float32


_CHILD = """
import pandas as pd
import polars as pl
import pyarrow as pa
from sklearn.tree import DecisionTreeRegressor

cols = [f"f{j}" for j in range(10)]
rng = np.random.default_rng(0)
small = rng.random((100, 10))
model = tl.load(DecisionTreeRegressor(max_depth=3).fit(pd.DataFrame(small, columns=cols),
                                                      small[:, 0]))
rows = 6_000_000  # 240 MB as float32, 480 MB as float64
frame = pd.DataFrame({c: np.zeros(rows, dtype=np.float32) for c in cols[::-1]})
table = {"pandas": frame, "polars": pl.from_pandas(frame),
         "pyarrow": pa.Table.from_pandas(frame, preserve_index=False)}[KIND]
del frame
limit_address_space(300 << 20)
before = status("VmHWM:")
report(message=refused(lambda: model.prepare(table)), growth=status("VmHWM:") - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc/self/status are Linux's")
@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_a_table_is_sized_before_it_is_converted(kind):
    out = run_child(_CHILD.replace("KIND", repr(kind)))
    assert out["message"] is not None, "the table was converted, not refused"
    assert "X converted to float64 (6000000 x 10)" in out["message"], out["message"]
    assert "RLIMIT_AS" in out["message"], out["message"]
    # Converting even one column (48 MB as float64) would show here.
    assert out["growth"] < 32 << 20, out


def test_max_bytes_refuses_a_table_before_reading_it(fitted):
    est, X = fitted
    with pytest.raises(OutputTooLargeError, match="max_bytes=1"):
        tl.TreeExplainer(est).shap_values(_table("pyarrow", X), max_bytes=1)


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow", "recordbatch"])
def test_hstats_subsample_of_a_table_draws_the_rows_numpy_draws(fitted, kind):
    """n_max rows are taken from the table before it is converted: the same rows as from the
    model-ordered array (and from nested lists, subsampled after conversion)."""
    est, X = fitted
    table = _table("pyarrow" if kind == "recordbatch" else kind, X)
    if kind == "recordbatch":
        table = table.combine_chunks().to_batches()[0]
    w = np.random.default_rng(4).random(len(X))
    ref = tl.hstats(est, X, n_max=60, random_state=9, sample_weight=w, pairwise_m=None)
    lists = tl.hstats(est, X.tolist(), n_max=60, random_state=9, sample_weight=w, pairwise_m=None)
    out = tl.hstats(est, table, n_max=60, random_state=9, sample_weight=w, pairwise_m=None)
    assert out.features == [NAMES[j] for j in PERM]
    np.testing.assert_array_equal(lists.h2_overall(), ref.h2_overall())
    np.testing.assert_allclose(out.h2_overall(), ref.h2_overall()[PERM], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        out.h2_pairwise(), ref.h2_pairwise()[PERM][:, PERM], rtol=1e-12, atol=1e-15
    )
    full = tl.hstats(est, table, pairwise_m=None)
    assert not np.allclose(full.h2_overall(), out.h2_overall())


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_interventional_summary_of_a_table_in_blocks_follows_its_order(fitted, kind, monkeypatch):
    est, X = fitted
    ex = tl.TreeExplainer(est, data=X[:15])
    ref = ex.shap_interaction_values(X[:90])
    # Blocks of a few rows: the summary is summed block by block.
    monkeypatch.setattr(tl.memory, "CONVERSION_BYTES", 8 * 16 * 7)
    for reduce, fn in (("mean_abs", lambda v: np.abs(v).mean(axis=0)), ("mean", np.mean)):
        out = ex.shap_interaction_values(_table(kind, X[:90]), reduce=reduce)
        expected = (fn(ref) if reduce == "mean_abs" else ref.mean(axis=0))[PERM][:, PERM]
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
