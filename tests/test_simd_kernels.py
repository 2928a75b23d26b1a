"""Every compiled kernel (AVX-512, AVX2, portable) gives the same bits: each runs in its own
interpreter, forced by ``TREELENS_SIMD`` (read once, at import), on the same saved models and
rows; SHAP values, interactions, interventional SHAP, permutation importance and H statistics
are compared bitwise. A kernel this CPU cannot run is skipped with the reason."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from treelens import _core

HERE = os.path.dirname(os.path.abspath(__file__))
KERNELS = ("avx512", "avx2", "portable")


def _run_child(env_value: str | None, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("TREELENS_SIMD", None)
    if env_value is not None:
        env["TREELENS_SIMD"] = env_value
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Models with one output (regression), two (a binary forest's class values) and three
    (multiclass boosting), small and deep trees, NaN in the rows."""
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier

    d = tmp_path_factory.mktemp("kernels")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 5] = np.round(X[:, 5])  # ties and thresholds hit exactly
    filled = np.nan_to_num(X)
    y_reg = filled[:, 0] + filled[:, 1] * filled[:, 2] + np.sin(filled[:, 3])
    y_cls = (y_reg > 0.3).astype(int) + (y_reg > 1.2).astype(int)
    np.save(d / "X.npy", X)
    np.save(d / "y_reg.npy", y_reg)
    np.save(d / "y_cls.npy", (y_cls > 0).astype(int))
    deep = ExtraTreesRegressor(n_estimators=12, random_state=0).fit(filled, y_reg)
    with open(d / "reg_extratrees.pkl", "wb") as f:
        pickle.dump(deep, f)
    binary = RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0)
    binary.fit(filled, y_cls > 0)
    with open(d / "cls_forest.pkl", "wb") as f:
        pickle.dump(binary, f)
    booster = xgb.XGBRegressor(n_estimators=25, max_depth=4, random_state=0).fit(X, y_reg)
    booster.save_model(d / "reg_xgboost.json")
    lgbm = lgb.LGBMRegressor(n_estimators=25, num_leaves=12, verbose=-1, random_state=0)
    lgbm.fit(X, y_reg)
    lgbm.booster_.save_model(d / "reg_lightgbm.txt")
    # Three classes: the multi-output SHAP kernels (importance's 1- and 2-output vector paths
    # do not apply; the rest does).
    np.save(d / "y_multi.npy", y_cls)
    multi = xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X, y_cls)
    multi.get_booster().save_model(d / "multi_xgboost.json")
    return d


def _kernel_results(saved_models, kernel: str) -> dict[str, np.ndarray]:
    out = saved_models / f"{kernel}.npz"
    if not out.exists():
        done = _run_child(
            kernel, os.path.join(HERE, "_kernel_child.py"), str(saved_models), str(out)
        )
        assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("kernel", KERNELS[:-1])
def test_every_kernel_gives_the_portable_bits(saved_models, kernel):
    if kernel not in _core.simd_kernels:
        pytest.skip(f"this CPU cannot run the {kernel} kernel (it runs {_core.simd_kernels})")
    wide = _kernel_results(saved_models, kernel)
    portable = _kernel_results(saved_models, "portable")
    assert str(wide.pop("kernel")) == kernel
    assert str(portable.pop("kernel")) == "portable"
    assert sorted(wide) == sorted(portable)
    assert len(wide) == 5 * 7
    for key in sorted(wide):
        a, b = wide[key], portable[key]
        assert a.shape == b.shape and a.dtype == b.dtype == np.float64, key
        # The same bits: float64 views compared as integers (NaN included).
        assert np.array_equal(a.view(np.int64), b.view(np.int64)), key
        # Pairs outside the strongest features are NaN by definition; nothing else is.
        assert np.isfinite(a).all() or (key.endswith("h2_pairwise") and np.isfinite(a).any()), key


def test_results_do_not_depend_on_the_kernel_by_accident(saved_models):
    """The comparison above can fail: models of the same rows give different numbers."""
    portable = _kernel_results(saved_models, "portable")
    a, b = portable["reg_xgboost/shap"], portable["reg_lightgbm/shap"]
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert portable["reg_extratrees/pi40"].shape == (6, 40)
    assert np.ptp(portable["reg_extratrees/pi40"], axis=1).min() > 0


def test_the_kernel_in_use_is_the_widest_unless_forced():
    assert _core.simd_kernels[-1] == "portable"
    assert set(_core.simd_kernels) <= set(KERNELS)
    forced = os.environ.get("TREELENS_SIMD", "auto").strip().lower()
    expected = _core.simd_kernels[0] if forced in ("", "auto") else forced
    assert _core.simd_kernel == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sse9", 'TREELENS_SIMD="sse9" is not a kernel: use auto, avx512, avx2 or portable'),
        ("avx-512", "is not a kernel"),
    ],
)
def test_a_value_that_names_no_kernel_stops_the_import(value, message):
    done = _run_child(value, "-c", "import treelens")
    assert done.returncode == 1
    assert "ValueError" in done.stderr and message in done.stderr, done.stderr[-2000:]


def test_a_kernel_the_cpu_cannot_run_stops_the_import():
    missing = [k for k in KERNELS if k not in _core.simd_kernels]
    if not missing:
        pytest.skip(f"this CPU runs every kernel ({_core.simd_kernels})")
    done = _run_child(missing[0], "-c", "import treelens")
    assert done.returncode == 1
    assert "asks for a kernel this CPU cannot run" in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("value", ["portable", " AVX2 ", "auto", ""])
def test_accepted_values(value):
    done = _run_child(value, "-c", "from treelens import _core; print(_core.simd_kernel)")
    name = value.strip().lower()
    if name in _core.simd_kernels:
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == name
    elif name in ("", "auto"):
        assert done.stdout.strip() == _core.simd_kernels[0]
    else:
        assert done.returncode == 1
