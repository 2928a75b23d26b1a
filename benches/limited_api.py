"""Times two builds of treelens side by side in one run and prints the ratios: the speed cost of
the stable ABI (an abi3 wheel against a wheel for this interpreter only), or of any change.

Usage: python benches/limited_api.py WHEEL_A WHEEL_B [--rounds 3]

Each wheel is unpacked into its own directory and imported from there (PYTHONPATH) by this
interpreter, so both builds run with the same Python and the same peer libraries. The
workloads alternate A, B, A, B, ... for ``--rounds`` rounds; each time is the best of its
rounds. ``ratio`` = time of B / time of A: 1.00 is the same speed, above 1 B is slower.
The small-call workloads weigh the Python boundary (where the limited API could cost); the
large ones, the kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile


def _workloads():
    """(name, repeats, callable) on models fitted with fixed seeds."""
    import lightgbm as lgb
    import numpy as np
    import xgboost as xgb
    from sklearn.ensemble import RandomForestRegressor

    import treelens as tl

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 10))
    y = X[:, 0] + X[:, 1] * X[:, 2] + np.sin(X[:, 3])
    forest = RandomForestRegressor(n_estimators=100, max_depth=8, random_state=0, n_jobs=2)
    forest.fit(X[:5000], y[:5000])
    booster = xgb.XGBRegressor(n_estimators=200, max_depth=6, random_state=0).fit(X, y)
    gbm = lgb.LGBMRegressor(n_estimators=200, verbose=-1, random_state=0).fit(X, y)
    model = tl.load(forest)
    ex = tl.TreeExplainer(forest)
    one = X[:1]

    def small_predicts():
        for _ in range(1000):
            model.predict(one)

    def small_explains():
        # Without the additivity check, which times the estimator's own predict (joblib).
        for _ in range(200):
            ex.shap_values(one, check_additivity=False)

    return [
        ("1,000 calls of predict on 1 row", 3, small_predicts),
        ("200 calls of shap_values on 1 row", 3, small_explains),
        ("load scikit-learn forest (100 trees)", 3, lambda: tl.load(forest)),
        ("load XGBoost booster (200 trees)", 3, lambda: tl.load(booster)),
        ("load LightGBM booster (200 trees)", 3, lambda: tl.load(gbm)),
        ("predict 20,000 rows", 3, lambda: model.predict(X)),
        ("path SHAP 20,000 rows", 1, lambda: ex.shap_values(X)),
        ("SHAP interactions 1,000 rows", 1, lambda: ex.shap_interaction_values(X[:1000])),
        (
            "permutation importance 20,000 rows x 5",
            1,
            lambda: tl.permutation_importance(forest, X, y, n_repeats=5, random_state=0),
        ),
        ("H statistics 2,000 rows", 1, lambda: tl.hstats(forest, X[:2000])),
    ]


def _child() -> None:
    """Times every workload once (best of its repeats) and prints JSON."""
    import treelens

    out = {"__file__": treelens.__file__}
    for name, repeats, fn in _workloads():
        fn()  # warm-up: first-call costs are not what is compared
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        out[name] = best
    print(json.dumps(out))


def _unpack(wheel: str, into: str) -> str:
    with zipfile.ZipFile(wheel) as z:
        z.extractall(into)
    return into


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        _child()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel_a")
    parser.add_argument("wheel_b")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {
            label: _unpack(path, os.path.join(tmp, label))
            for label, path in (("A", args.wheel_a), ("B", args.wheel_b))
        }
        best: dict[str, dict[str, float]] = {"A": {}, "B": {}}
        for r in range(args.rounds):
            for label in ("A", "B"):
                env = dict(os.environ, PYTHONPATH=dirs[label])
                done = subprocess.run(
                    [sys.executable, __file__, "--child"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=tmp,
                )
                times = json.loads(done.stdout.strip().splitlines()[-1])
                where = times.pop("__file__")
                assert where.startswith(dirs[label]), f"{label} imported {where}"
                for name, t in times.items():
                    best[label][name] = min(best[label].get(name, float("inf")), t)
            print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
    print(f"A = {os.path.basename(args.wheel_a)}")
    print(f"B = {os.path.basename(args.wheel_b)}")
    print(f"{'workload':<42} {'A (s)':>9} {'B (s)':>9} {'B/A':>6}")
    for name, a in best["A"].items():
        b = best["B"][name]
        print(f"{name:<42} {a:9.4f} {b:9.4f} {b / a:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
