"""One picture of every plot treelens draws, on Friedman's synthetic regression problem.

Run: python examples/plot_gallery.py [output directory]   (default: docs/gallery)
Needs matplotlib, scikit-learn and pandas (``pip install 'treelens[plot]' scikit-learn pandas``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: this script shows nothing

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.datasets import make_friedman1  # noqa: E402
from sklearn.ensemble import GradientBoostingRegressor  # noqa: E402

import treelens as tl  # noqa: E402

#: The pictures written, in order.
FILES = [
    "hstats_overall.png",
    "hstats_pairwise.png",
    "pd_ice.png",
    "pd_2d.png",
    "ale.png",
    "ale_2d.png",
    "importance.png",
    "shap_bar.png",
    "beeswarm.png",
    "dependence.png",
    "waterfall.png",
    "decomposition.png",
    "surrogate.png",
]

DPI = 80


def _save(ax, path: Path) -> Path:
    figure = np.ravel(ax)[0].figure
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def main(output_dir="docs/gallery") -> list[Path]:
    """Fits a small model and saves one PNG of each plot into ``output_dir``; returns the
    paths written."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    X, y = make_friedman1(n_samples=500, n_features=8, noise=0.5, random_state=0)
    X = pd.DataFrame(X, columns=[f"x{j}" for j in range(8)])
    model = GradientBoostingRegressor(n_estimators=150, max_depth=3, random_state=0).fit(X, y)

    hs = tl.hstats(model, X, pairwise_m=5)
    pd_one = tl.partial_dependence(model, X, ["x3"], kind="both", grid_resolution=30)
    pd_two = tl.partial_dependence(model, X, ["x0", "x1"], grid_resolution=20)
    importances = tl.permutation_importance(model, X, y, n_repeats=10, random_state=0)
    explanation = tl.TreeExplainer(model)(X.iloc[:300])
    dec = tl.decompose(model, X.iloc[:300], data=X.iloc[300:])

    drawings = {
        "hstats_overall.png": lambda: hs.plot("overall"),
        "hstats_pairwise.png": lambda: hs.plot("pairwise"),
        "pd_ice.png": lambda: pd_one.plot(max_ice=60, rug=X),
        "pd_2d.png": lambda: pd_two.plot(),
        "ale.png": lambda: tl.ale(model, X, ["x3"]).plot(),
        "ale_2d.png": lambda: tl.ale(model, X, ["x0", "x1"]).plot(),
        "importance.png": lambda: importances.plot(),
        "shap_bar.png": lambda: explanation.plot("bar"),
        "beeswarm.png": lambda: explanation.plot("beeswarm"),
        "dependence.png": lambda: explanation.plot("dependence", feature="x0"),
        "waterfall.png": lambda: explanation[0].plot("waterfall"),
        "decomposition.png": lambda: dec.plot(top_k=6),
        "surrogate.png": lambda: tl.surrogate(model, X, max_depth=3, random_state=0).plot(),
    }
    return [_save(drawings[name](), out / name) for name in FILES]


if __name__ == "__main__":
    for path in main(*sys.argv[1:2]):
        print(path)
