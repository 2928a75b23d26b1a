"""The one memory budget: work that would not fit under the process's own limits is refused with
OutputTooLargeError (sizes, budget, its source and the way out), never an abort, and nothing
large is converted or allocated before the check.

Each case runs in a child process whose address space is limited with ``RLIMIT_AS`` (a few
hundred MB above what the child already uses), as a job in a container or under ``ulimit -v``
runs: a crash of the child (SIGABRT on a failed allocation) fails the test.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import treelens as tl
from treelens import _core
from treelens.exceptions import InvalidInputError, OutputTooLargeError

from _limited_child import run_child as limited_child

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="RLIMIT_AS and /proc/self/status are Linux's"
)


_MODEL = """
from sklearn.ensemble import RandomForestRegressor
rng = np.random.default_rng(0)
def forest(n_features, n_rows=200, depth=4, trees=3):
    X = rng.random((n_rows, n_features))
    y = X[:, 0] + X[:, 1] * X[:, 2 % n_features]
    return RandomForestRegressor(n_estimators=trees, max_depth=depth, random_state=0).fit(X, y)
"""


def run_child(body: str, timeout: float = 180) -> dict:
    """Runs ``body`` with the model helpers in a memory-limited child (see _limited_child)."""
    return limited_child(_MODEL + textwrap.dedent(body), timeout=timeout)


def assert_names_budget(message: str | None, *needles: str) -> None:
    assert message is not None, "the work was not refused"
    assert "RLIMIT_AS" in message, message
    assert "GB" in message or "MB" in message, message
    assert "GiB)" not in message, message
    for needle in needles:
        assert needle in message, message


def test_budget_reads_the_address_space_limit():
    out = run_child(
        """
        cap = limit_address_space(1 << 30)
        budget = tl.memory.memory_budget()
        used = status("VmSize:")
        report(bytes=budget["bytes"], source=budget["source"], cap=cap, used=used,
               bounds=budget["bounds"])
        """
    )
    assert out["bytes"] <= out["cap"] - out["used"] + (64 << 20)
    assert out["bytes"] >= (1 << 30) - (256 << 20)
    assert "RLIMIT_AS" in out["source"]
    assert any("MemAvailable" in source for source, _ in out["bounds"])


def test_budget_reads_the_data_size_limit():
    out = run_child(
        """
        cap = status("VmData:") + (300 << 20)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
        budget = tl.memory.memory_budget()
        report(bytes=budget["bytes"], source=budget["source"])
        """
    )
    assert out["bytes"] <= 300 << 20
    assert "RLIMIT_DATA" in out["source"]


def test_budget_without_limits_is_at_most_the_available_memory():
    budget = _core.memory_budget()
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if "MemAvailable" in line)
    assert budget["bytes"] is not None
    # Available memory moves between the two reads: allow a little.
    assert budget["bytes"] <= available + (256 << 20)


def test_full_interaction_tensor_is_refused_under_the_limit():
    out = run_child(
        """
        model = forest(50)
        ex = tl.TreeExplainer(model)
        X = rng.random((100_000, 50))  # the tensor: 2.0 GB
        limit_address_space(1.5 * (1 << 30))
        message = refused(lambda: ex.shap_interaction_values(X))
        report(message=message)
        """
    )
    assert_names_budget(out["message"], "2.0 GB", 'reduce="mean_abs"', "100000 x 50 x 50")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_mean_abs_on_5000_features_is_refused_not_aborted(n_jobs):
    out = run_child(
        f"""
        model = forest(5000, n_rows=60)
        ex = tl.TreeExplainer(model)
        X = rng.random((100, 5000))
        limit_address_space(1.5 * (1 << 30))
        message = refused(
            lambda: ex.shap_interaction_values(X, reduce="mean_abs", n_jobs={n_jobs})
        )
        report(message=message)
        """
    )
    assert_names_budget(out["message"], "5000 x 5000")
    # The advice is not "fewer threads" when one thread does not fit either.
    assert "n_jobs" not in out["message"]


def test_interventional_values_are_refused_under_the_limit():
    out = run_child(
        """
        model = forest(40)
        ex = tl.TreeExplainer(model, data=rng.random((50, 40)))
        X = rng.random((200_000, 40))  # the interactions: 2.6 GB
        limit_address_space(1.5 * (1 << 30))
        message = refused(lambda: ex.shap_interaction_values(X))
        report(message=message)
        """
    )
    assert_names_budget(out["message"], "interaction")


def test_partial_dependence_curves_are_refused_under_the_limit():
    out = run_child(
        """
        model = forest(5)
        X = rng.random((2_000_000, 5))  # individual curves on 100 points: 1.6 GB
        limit_address_space(1.2 * (1 << 30))
        message = refused(
            lambda: tl.partial_dependence(model, X, [0], kind="individual", grid_resolution=100)
        )
        report(message=message)
        """
    )
    assert_names_budget(out["message"], "grid")


def test_hstats_on_a_big_input_is_refused_under_the_limit():
    out = run_child(
        """
        model = forest(20)
        X = rng.random((2_000_000, 20))
        limit_address_space(1.0 * (1 << 30))
        # The per-row terms (two (20, rows) arrays, the columns' copy, the cells): 1.2 GB.
        message = refused(lambda: tl.hstats(model, X, n_jobs=8))
        report(message=message)
        """
    )
    assert_names_budget(out["message"], "H statistics")


def test_permutation_importance_with_huge_n_repeats_is_refused():
    out = run_child(
        """
        model = forest(5)
        X = rng.random((2000, 5))
        y = X[:, 0]
        limit_address_space(1.5 * (1 << 30))
        message = refused(lambda: tl.permutation_importance(model, X, y, n_repeats=10**6))
        report(message=message)
        """
    )
    assert_names_budget(out["message"], "n_repeats")


def test_float32_memmap_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.f32"
    rows, cols = 40_000_000, 10  # 1.6 GB on disk (sparse), 3.2 GB as float64
    out = run_child(
        f"""
        model = forest({cols})
        ex = tl.TreeExplainer(model)
        X = np.memmap({str(path)!r}, dtype=np.float32, mode="w+", shape=({rows}, {cols}))
        limit_address_space(1.0 * (1 << 30))
        before = status("VmHWM:")
        message = refused(lambda: ex.shap_values(X))
        report(message=message, growth=status("VmHWM:") - before)
        """
    )
    assert_names_budget(out["message"], "float64")
    assert out["growth"] < 64 << 20


def test_max_bytes_refuses_before_the_input_is_converted(tmp_path):
    path = tmp_path / "rows.f32"
    out = run_child(
        f"""
        model = forest(10)
        ex = tl.TreeExplainer(model)
        X = np.memmap({str(path)!r}, dtype=np.float32, mode="w+", shape=(2_000_000, 10))
        X[:] = 1.0  # pages resident in the file cache, not in this process
        del X
        X = np.memmap({str(path)!r}, dtype=np.float32, mode="r", shape=(2_000_000, 10))
        before = status("VmHWM:")
        message = refused(lambda: ex.shap_values(X, max_bytes=1))
        report(message=message, growth=status("VmHWM:") - before)
        """
    )
    assert "max_bytes=1" in out["message"]
    assert "1 byte" in out["message"]
    # Converting the 80 MB input (or reading it) would show here.
    assert out["growth"] < 16 << 20


def test_the_message_reads_like_people_write_sizes():
    from sklearn.tree import DecisionTreeRegressor

    X = np.random.default_rng(0).random((100, 3))
    ex = tl.TreeExplainer(DecisionTreeRegressor(max_depth=2).fit(X, X[:, 0]))
    with pytest.raises(OutputTooLargeError) as info:
        ex.shap_values(X, max_bytes=800)
    text = str(info.value)
    assert "would need 2.4 kB" in text and "800 bytes" in text, text
    assert "dtype=numpy.float32" in text, text
    with pytest.raises(OutputTooLargeError, match="would need 1.0 kB, more than the budget"):
        _core.ensure_fits("x", 1000, "less", max_bytes=999)


def test_float32_values_are_the_float64_values_rounded(monkeypatch):
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(1)
    X = rng.random((300, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0.8).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    # Small conversion blocks: several blocks of rows even for this small input.
    monkeypatch.setattr(tl.memory, "CONVERSION_BYTES", 4096)
    for ex in (tl.TreeExplainer(model), tl.TreeExplainer(model, data=X[:30])):
        full = ex.shap_values(X)
        half = ex.shap_values(X, dtype=np.float32)
        assert half.dtype == np.float32 and half.shape == full.shape
        np.testing.assert_array_equal(half, full.astype(np.float32))
        inter = ex.shap_interaction_values(X[:50])
        inter32 = ex.shap_interaction_values(X[:50], dtype=np.float32)
        np.testing.assert_array_equal(inter32, inter.astype(np.float32))


def test_chunked_conversion_keeps_the_model_reading(monkeypatch):
    """Missing values and the NaN refusal still see every row when X is converted in blocks."""
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(2)
    X = rng.random((500, 4)).astype(np.float32)
    model = tl.load(GradientBoostingRegressor(n_estimators=5).fit(X, X[:, 0]))
    monkeypatch.setattr(tl.memory, "CONVERSION_BYTES", 1024)
    np.testing.assert_array_equal(model.prepare(X), X.astype(np.float64))
    X[437, 2] = np.nan
    with pytest.raises(InvalidInputError, match="row 437"):
        model.prepare(X)


def test_hstats_subsample_is_taken_before_conversion(tmp_path):
    path = tmp_path / "rows.f32"
    out = run_child(
        f"""
        model = forest(10)
        X = np.memmap({str(path)!r}, dtype=np.float32, mode="w+", shape=(4_000_000, 10))
        X[:] = 0.5
        del X
        X = np.memmap({str(path)!r}, dtype=np.float32, mode="r", shape=(4_000_000, 10))
        before = status("VmHWM:")
        h = tl.hstats(model, X, n_max=2000, random_state=0, n_jobs=1)
        report(growth=status("VmHWM:") - before)
        """
    )
    # Converting every row would take 320 MB.
    assert out["growth"] < 100 << 20


def test_hstats_subsample_draws_the_same_rows_either_way():
    from sklearn.ensemble import GradientBoostingRegressor

    X = np.random.default_rng(3).random((300, 4))
    model = GradientBoostingRegressor(n_estimators=10, max_depth=3).fit(X, X[:, 0] * X[:, 1])
    taken = tl.hstats(model, X, n_max=50, random_state=7)  # rows taken before conversion
    converted = tl.hstats(model, X.tolist(), n_max=50, random_state=7)  # after
    np.testing.assert_array_equal(taken.h2_overall(), converted.h2_overall())
    np.testing.assert_array_equal(taken.h2_pairwise(), converted.h2_pairwise())


def test_interventional_mean_abs_fits_where_the_tensor_does_not():
    out = run_child(
        """
        model = forest(40)
        ex = tl.TreeExplainer(model, data=rng.random((20, 40)))
        X = rng.random((50_000, 40))  # the tensor: 640 MB
        limit_address_space(400 << 20)
        message = refused(lambda: ex.shap_interaction_values(X))
        summary = ex.shap_interaction_values(X, reduce="mean_abs")
        report(message=message, shape=list(summary.shape))
        """
    )
    assert_names_budget(out["message"], "640 MB")
    assert out["shape"] == [40, 40]
