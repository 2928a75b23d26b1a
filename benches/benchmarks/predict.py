"""Native prediction on the W1 workload (XGBoost, 500 trees, depth 6) and a random forest."""

from __future__ import annotations

import treelens as tl

from .common import workloads


class PredictW1:
    params = [1, 2]
    param_names = ["threads"]
    timeout = 600

    def setup(self, threads):
        est, X, _ = workloads.w1()
        self.model = tl.load(est)
        self.X = X[:10000]

    def time_predict(self, threads):
        self.model.predict(self.X, n_jobs=threads)


class PredictRandomForest:
    timeout = 600

    def setup(self):
        est, X, _ = workloads.random_forest_regressor()
        self.model = tl.load(est)
        self.X = X[:10000]

    def time_predict(self):
        self.model.predict(self.X, n_jobs=2)
