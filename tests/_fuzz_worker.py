"""Subprocess side of tests/test_fuzz_models.py: loads fuzzed models under a memory cap.

Usage: ``python _fuzz_worker.py treelens|library CASE_DIR FIRST MEMORY_BYTES``.

Cases are files ``CASE_DIR/<i>.<format>`` (``meta.json`` lists them). ``treelens`` mode loads
each case with treelens and writes one JSON line per case to ``CASE_DIR/treelens.jsonl``:
``refused`` (a treelens exception), ``loaded`` (predictions saved, SHAP additivity checked) or
``error`` (anything else, with the traceback). ``library`` mode loads the cases treelens loaded
with XGBoost/LightGBM itself and saves their predictions. A line ``start <i>`` is written before
each case, so that a crash or a hang names its case.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from pathlib import Path

import numpy as np

ROWS = 48


def rows(n_features: int) -> np.ndarray:
    """Rows to predict on: normals, integers (categories), zeros and NaN, seeded."""
    rng = np.random.default_rng(1234)
    X = rng.normal(size=(ROWS, n_features)) * 2
    X[::3] = np.round(np.abs(X[::3]) * 3)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[rng.random(X.shape) < 0.05] = 0.0
    return X


def _not_a_forest(parts: dict) -> str | None:
    """An oracle independent of the core's checks: what a loaded forest must be. Each tree's
    nodes are reached exactly once from its root, and split features are in range."""
    start = parts["tree_start"]
    for t in range(len(start) - 1):
        a, b = int(start[t]), int(start[t + 1])
        seen, stack = set(), [0]
        while stack:
            node = stack.pop()
            if node in seen or not 0 <= node < b - a:
                return f"tree {t} reaches node {node} twice or outside the tree"
            seen.add(node)
            f = int(parts["feature"][a + node])
            if f >= 0:
                if f >= parts["n_features"]:
                    return f"tree {t} splits on feature {f} of {parts['n_features']}"
                stack += [int(parts["left"][a + node]), int(parts["right"][a + node])]
            elif f != -1:
                return f"tree {t} node {node} has feature {f}"
        if len(seen) != b - a:
            return f"tree {t} has {b - a - len(seen)} nodes not reached from its root"
    return None


def _treelens_case(path: Path, fmt: str) -> dict:
    import treelens as tl
    from treelens import _core
    from treelens.exceptions import TreelensError

    try:
        if fmt == "parts":
            parts = dict(np.load(path, allow_pickle=False))
            scalars = ("n_features", "n_outputs", "average", "less_equal", "f32_inputs",
                       "category_truncate_first")  # fmt: skip
            for k in scalars:
                parts[k] = parts[k].item()
            forest = _core.Forest(**parts)
            model = tl.Model(forest=forest, feature_names=None, objective="fuzz")
        elif fmt == "dump":
            meta = json.loads(path.with_suffix(".opts").read_text())
            model = tl.load(path, **meta)
        else:
            model = tl.load(path)
    except TreelensError as e:
        return {"status": "refused", "detail": f"{type(e).__name__}: {e}"[:300]}
    except Exception:
        return {"status": "error", "detail": traceback.format_exc()[-3000:]}
    broken = _not_a_forest(model.forest.__reduce__()[1][0])
    if broken:
        return {"status": "error", "detail": f"loaded, but {broken}"}
    if model.n_features > 100_000:
        # Too wide to predict on here; loading it was the point (nothing sized from it).
        return {"status": "loaded_wide", "detail": f"{model.n_features} features"}
    try:
        X = rows(model.n_features)
        pred = np.asarray(model.predict(X), dtype=np.float64)
        if not np.all(np.isfinite(pred)):
            return {"status": "error", "detail": "a loaded model predicts non-finite values"}
        ex = tl.TreeExplainer(model)
        shap = np.asarray(ex.shap_values(X))
        ev = np.asarray(ex.expected_value)
        total = shap.sum(axis=1) + ev
        # Exact up to the rounding of the terms summed (fuzzed covers may make them large).
        scale = 1.0 + np.abs(pred).max() + np.abs(ev).max() + np.abs(shap).sum(axis=1).max()
        if not np.all(np.isfinite(shap)) or not np.allclose(total, pred, rtol=0, atol=1e-9 * scale):
            worst = float(np.abs(total - pred).max())
            return {"status": "error", "detail": f"SHAP additivity off by {worst}"}
        np.save(path.with_suffix(".pred.npy"), pred)
        return {"status": "loaded", "n_features": model.n_features}
    except TreelensError as e:
        # A model that loads but cannot be explained is acceptable only with a clear error.
        return {"status": "refused", "detail": f"after load: {type(e).__name__}: {e}"[:300]}
    except Exception:
        return {"status": "error", "detail": traceback.format_exc()[-3000:]}


def _library_case(path: Path, fmt: str, n_features: int) -> dict:
    X = rows(n_features)
    try:
        if fmt in ("xgb_json", "xgb_ubj"):
            import xgboost as xgb

            booster = xgb.Booster(params={"nthread": 1})
            booster.load_model(bytearray(path.read_bytes()))
            if booster.num_features() != n_features:
                return {"status": "refused", "detail": "different number of features"}
            data = xgb.DMatrix(
                X,
                feature_names=booster.feature_names,
                feature_types=booster.feature_types,
                enable_categorical=True,
            )
            pred = booster.predict(data, output_margin=True)
        elif fmt == "lgb":
            import lightgbm as lgb

            booster = lgb.Booster(model_str=path.read_text(), params={"num_threads": 1})
            pred = booster.predict(X, raw_score=True, num_threads=1)
        else:
            return {"status": "refused", "detail": "no library reader for this format"}
    except Exception as e:
        return {"status": "refused", "detail": f"{type(e).__name__}: {e}"[:300]}
    np.save(path.with_suffix(".ref.npy"), np.asarray(pred, dtype=np.float64))
    return {"status": "loaded"}


def _in_child(work, *args) -> dict:
    """Runs ``work`` in a forked child: the libraries abort on some corrupt files (LightGBM's
    "Fatal" errors), which counts as refusing the file, and must not end the run."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            out = json.dumps(work(*args)).encode()
        except BaseException as e:  # noqa: BLE001 - reported to the parent, whatever it is
            out = json.dumps({"status": "refused", "detail": repr(e)[:300]}).encode()
        os.write(write, out)
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return {"status": "refused", "detail": f"the library crashed (wait status {status})"}
    return json.loads(b"".join(chunks))


def main() -> None:
    mode, case_dir, first, memory = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    meta = json.loads((case_dir / "meta.json").read_text())
    log = open(case_dir / f"{mode}.jsonl", "a")
    loaded = {}
    if mode == "library":
        # Imported once here, not in each forked child.
        import lightgbm  # noqa: F401
        import xgboost  # noqa: F401

        for line in (case_dir / "treelens.jsonl").read_text().splitlines():
            r = json.loads(line)
            if r.get("status") == "loaded":
                loaded[r["case"]] = r["n_features"]
    for i, (name, fmt) in enumerate(meta):
        if i < first or (mode == "library" and i not in loaded):
            continue
        log.write(json.dumps({"start": i}) + "\n")
        log.flush()
        path = case_dir / name
        if mode == "treelens":
            result = _treelens_case(path, fmt)
        else:
            result = _in_child(_library_case, path, fmt, loaded[i])
        log.write(json.dumps({"case": i, **result}) + "\n")
        log.flush()
    log.close()
    os._exit(0)  # skip interpreter teardown (library atexit hooks): the results are written


if __name__ == "__main__":
    main()
