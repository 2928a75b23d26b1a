"""Run in a fresh interpreter with ``TREELENS_SIMD`` set: loads the models a parent test saved,
computes every result that goes through a SIMD kernel and saves them for the parent to compare.

Usage: ``python _kernel_child.py DIR OUT``. DIR holds ``X.npy``, the models (``KIND_NAME.pkl``
pickled estimators, ``.json`` XGBoost and ``.txt`` LightGBM files) and ``y_KIND.npy``, the
labels each kind is scored on; OUT is the ``.npz`` written.
"""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np

import treelens as tl
from treelens import _core


def results(directory: str) -> dict[str, np.ndarray]:
    X = np.load(os.path.join(directory, "X.npy"))
    out: dict[str, np.ndarray] = {}
    for name in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(name)
        if ext == ".pkl":
            with open(os.path.join(directory, name), "rb") as f:
                model = pickle.load(f)
        elif ext in (".json", ".txt"):
            model = os.path.join(directory, name)
        else:
            continue
        y = np.load(os.path.join(directory, f"y_{stem.split('_')[0]}.npy"))
        ex = tl.TreeExplainer(model)
        out[f"{stem}/shap"] = np.asarray(ex.shap_values(X))
        out[f"{stem}/interactions"] = np.asarray(ex.shap_interaction_values(X[:60]))
        background = X[::7]
        iex = tl.InterventionalExplainer(model, background)
        out[f"{stem}/interventional"] = np.asarray(iex.shap_values(X[:80]))
        # Few repeats (leaf tables, row by row) and many (the single-column vector paths).
        for repeats in (3, 40):
            pi = tl.permutation_importance(model, X, y, n_repeats=repeats, random_state=5)
            out[f"{stem}/pi{repeats}"] = pi.importances
        h = tl.hstats(model, X[:150], pairwise_m=3, threeway_m=3)
        out[f"{stem}/h2_overall"] = np.asarray(h.h2_overall(normalize=False))
        out[f"{stem}/h2_pairwise"] = np.asarray(h.h2_pairwise(normalize=False))
    return out


if __name__ == "__main__":
    directory, path = sys.argv[1], sys.argv[2]
    out = results(directory)
    out["kernel"] = np.array(_core.simd_kernel)
    np.savez(path, **out)
