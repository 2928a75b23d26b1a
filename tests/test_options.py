"""Option values are checked before any work: a wrong type or an out-of-range value is an
InvalidInputError naming the parameter (never a bare OverflowError or MemoryError), and
``n_jobs`` beyond a sane maximum is capped rather than spawning a thread per unit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

import treelens as tl
from treelens import _core
from treelens.exceptions import InvalidInputError

rng = np.random.default_rng(0)
X = rng.random((60, 4))
Y = X[:, 0] + X[:, 1] * X[:, 2]
MODEL = tl.load(GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=0).fit(X, Y))
PATH = tl.TreeExplainer(MODEL)
INTERVENTIONAL = tl.TreeExplainer(MODEL, data=X[:10])

#: Values no integer option accepts, whatever its range.
NOT_INTEGERS = ["3", 2.5, True, None, [1]]
#: Integers out of range of every count (the binding would raise OverflowError).
HUGE = [10**30, -(10**30)]


def _entry_points(param):
    """Calls of every public entry point taking ``param``, as functions of its value."""
    calls = {
        "n_jobs": {
            "TreeExplainer": lambda v: tl.TreeExplainer(MODEL, n_jobs=v),
            "shap_values": lambda v: PATH.shap_values(X, n_jobs=v),
            "shap_interaction_values": lambda v: PATH.shap_interaction_values(X, n_jobs=v),
            "shap_interaction_values(reduce)": lambda v: PATH.shap_interaction_values(
                X, reduce="mean_abs", n_jobs=v
            ),
            "explainer call": lambda v: PATH(X, n_jobs=v),
            "interventional shap_values": lambda v: INTERVENTIONAL.shap_values(X, n_jobs=v),
            "InterventionalExplainer": lambda v: tl.InterventionalExplainer(
                MODEL, X[:10]
            ).shap_values(X, n_jobs=v),
            "tl.shap_values": lambda v: tl.shap_values(MODEL, X, n_jobs=v),
            "predict": lambda v: MODEL.predict(X, n_jobs=v),
            "permutation_importance": lambda v: tl.permutation_importance(
                MODEL, X, Y, n_jobs=v, random_state=0
            ),
            "hstats": lambda v: tl.hstats(MODEL, X, n_jobs=v),
            "partial_dependence": lambda v: tl.partial_dependence(MODEL, X, [0], n_jobs=v),
        },
        "max_bytes": {
            "shap_values": lambda v: PATH.shap_values(X, max_bytes=v),
            "shap_interaction_values": lambda v: PATH.shap_interaction_values(X, max_bytes=v),
            "interventional": lambda v: INTERVENTIONAL.shap_values(X, max_bytes=v),
            "tl.shap_values": lambda v: tl.shap_values(MODEL, X, max_bytes=v),
        },
        "n_repeats": {
            "permutation_importance": lambda v: tl.permutation_importance(
                MODEL, X, Y, n_repeats=v, random_state=0
            ),
        },
        "max_samples": {
            "permutation_importance": lambda v: tl.permutation_importance(
                MODEL, X, Y, max_samples=v, random_state=0
            ),
        },
        "random_state": {
            "permutation_importance": lambda v: tl.permutation_importance(
                MODEL, X, Y, random_state=v
            ),
            "hstats": lambda v: tl.hstats(MODEL, X, n_max=30, random_state=v),
        },
        "pairwise_m": {"hstats": lambda v: tl.hstats(MODEL, X, pairwise_m=v)},
        "threeway_m": {"hstats": lambda v: tl.hstats(MODEL, X, threeway_m=v)},
        "n_max": {"hstats": lambda v: tl.hstats(MODEL, X, n_max=v)},
        "grid_resolution": {
            "partial_dependence": lambda v: tl.partial_dependence(MODEL, X, [0], grid_resolution=v),
        },
        "dtype": {
            "shap_values": lambda v: PATH.shap_values(X, dtype=v),
            "shap_interaction_values": lambda v: PATH.shap_interaction_values(X, dtype=v),
        },
    }
    return list(calls[param].items())


# Bad values per parameter: wrong types and out-of-range integers.
BAD = {
    "n_jobs": ["3", 2.5, True, [1]],
    "max_bytes": ["3", 2.5, True, -1, 2**64, 10**30],
    "n_repeats": NOT_INTEGERS + HUGE + [0, -1],
    "max_samples": ["3", True, None, 0, -1, 1.5, 0.0, -(10**30)],
    "random_state": ["3", 2.5, True, -1, 2**32, 10**30],
    "pairwise_m": ["3", 2.5, True, -1, -(10**30)],
    "threeway_m": ["3", 2.5, True, -1, -(10**30)],
    "n_max": ["3", 2.5, True, 1, -(10**30)],
    "grid_resolution": NOT_INTEGERS + [0, -1, -(10**30)],
    "dtype": ["float16", np.int64, "x", object],
}


@pytest.mark.parametrize(
    "param, call",
    [
        pytest.param(param, call, id=f"{param}-{name}")
        for param in BAD
        for name, call in _entry_points(param)
    ],
)
def test_bad_values_are_refused_by_name(param, call):
    for value in BAD[param]:
        with pytest.raises(InvalidInputError, match=param) as info:
            call(value)
        assert not isinstance(info.value, (OverflowError, TypeError)), info.value


@pytest.mark.parametrize(
    "call", [pytest.param(call, id=name) for name, call in _entry_points("n_jobs")]
)
def test_huge_n_jobs_is_capped_and_gives_the_same_numbers(call):
    one = call(1)
    many = call(10**30)
    negative = call(-(10**30))  # as scikit-learn: counts back from the cores, at least one
    for out in (many, negative):
        if isinstance(one, np.ndarray):
            np.testing.assert_array_equal(out, one)


def test_threads_started_are_capped():
    """n_jobs=10**6 starts at most ``max_threads`` workers (counted while the work runs)."""

    def threads_now():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))

    before = threads_now()
    seen = []
    x = np.ascontiguousarray(np.repeat(X, 200, axis=0))
    _core.path_shap_values(
        MODEL.forest, x, n_jobs=10**6, progress=lambda done, total: seen.append(threads_now())
    )
    assert seen and max(seen) <= before + _core.max_threads
    assert _core.max_threads == 4 * _core.available_threads


def test_large_but_valid_counts_are_accepted():
    # Counts above the number of features mean all of them; n_max above the rows: all rows.
    a = tl.hstats(MODEL, X, pairwise_m=10**30, threeway_m=10**30, n_max=10**30)
    b = tl.hstats(MODEL, X, pairwise_m=None, threeway_m=None)
    np.testing.assert_array_equal(a.h2_pairwise(), b.h2_pairwise())
    assert a.h2_threeway() == b.h2_threeway()
    pd = tl.partial_dependence(MODEL, X, [0], grid_resolution=10**30)
    assert len(pd.grid_values[0]) == len(np.unique(X[:, 0]))
    tl.permutation_importance(MODEL, X, Y, random_state=2**32 - 1, max_samples=10)
    tl.hstats(MODEL, X, n_max=30, random_state=np.random.default_rng(1))
    assert PATH.shap_values(X, max_bytes=2**64 - 1).shape == (60, 4)
