"""Interventional TreeSHAP on W1 (XGBoost, 500 trees, depth 6): 1,000 background rows."""

from __future__ import annotations

import treelens as tl
from treelens.interventional import InterventionalExplainer

from .common import workloads


class InterventionalW1:
    params = [[1000, 10000], [100, 1000]]
    param_names = ["rows", "background"]
    timeout = 900

    def setup(self, rows, background):
        est, X, _ = workloads.w1()
        self.model = tl.load(est)
        self.background = X[:background]
        self.X = X[1000 : 1000 + rows]
        self.explainer = InterventionalExplainer(self.model, self.background)

    def time_shap_values(self, rows, background):
        InterventionalExplainer(self.model, self.background).shap_values(self.X, n_jobs=2)

    def peakmem_shap_values(self, rows, background):
        self.explainer.shap_values(self.X, n_jobs=2)


class InterventionalInteractionsW1:
    timeout = 900

    def setup(self):
        est, X, _ = workloads.w1()
        self.explainer = InterventionalExplainer(tl.load(est), X[:1000])
        self.X = X[1000:1200]

    def time_shap_interaction_values(self):
        self.explainer.shap_interaction_values(self.X, n_jobs=2)
