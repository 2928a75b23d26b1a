"""asv benchmarks: path-dependent TreeSHAP values and interaction values (treelens only; see
benches/peers/path_shap.py for the side-by-side comparison with the peers)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402


class W1ShapValues:
    """W1 (XGBoost, 500 trees, depth 6, 50 features): SHAP values of 10,000 rows, 2 threads."""

    timeout = 600

    def setup(self):
        import treelens as tl

        model, X, _ = workloads.w1()
        self.explainer = tl.TreeExplainer(model)
        self.X = X[:10_000]

    def time_shap_values(self):
        self.explainer.shap_values(self.X, n_jobs=2)


class W1InteractionValues:
    """W1: interaction values of 1,000 rows, and their mean |.| over 10,000 rows."""

    timeout = 600

    def setup(self):
        import treelens as tl

        model, X, _ = workloads.w1()
        self.explainer = tl.TreeExplainer(model)
        self.X = X

    def time_interaction_values(self):
        self.explainer.shap_interaction_values(self.X[:1000], n_jobs=2)

    def time_interaction_mean_abs(self):
        self.explainer.shap_interaction_values(self.X[:10_000], reduce="mean_abs", n_jobs=2)


class RandomForestShapValues:
    """RandomForestRegressor(100 trees, max_depth=12): SHAP values of 2,000 rows, 2 threads."""

    timeout = 600

    def setup(self):
        import treelens as tl

        model, X, _ = workloads.random_forest_regressor()
        self.explainer = tl.TreeExplainer(model)
        self.X = X[:2000]

    def time_shap_values(self):
        self.explainer.shap_values(self.X, n_jobs=2)
