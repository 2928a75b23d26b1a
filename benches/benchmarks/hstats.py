"""H statistics and partial dependence on the W1 workload (XGBoost, 500 trees, depth 6)."""

from __future__ import annotations

import sys
from pathlib import Path

import treelens as tl

_BENCHES = Path(__file__).resolve().parent.parent
if str(_BENCHES) not in sys.path:
    sys.path.insert(0, str(_BENCHES))

import workloads  # noqa: E402


class HStatsW1:
    """All 50 overall and 1,225 pairwise H^2 on 10,000 rows, 2 threads (target: under 60 s)."""

    timeout = 900
    number = 1
    repeat = 1

    def setup(self):
        est, X, _ = workloads.w1()
        self.model = tl.load(est)
        self.X = X[:10000]

    def time_overall_and_all_pairs(self):
        tl.hstats(self.model, self.X, pairwise_m=50, n_jobs=2)

    def time_overall_only(self):
        tl.hstats(self.model, self.X, pairwise_m=0, n_jobs=2)

    def time_default(self):
        tl.hstats(self.model, self.X, n_jobs=2)


class HStatsScaling:
    params = [1000, 2500, 5000]
    param_names = ["rows"]
    timeout = 600
    number = 1
    repeat = 1

    def setup(self, rows):
        est, X, _ = workloads.w1()
        self.model = tl.load(est)
        self.X = X[:rows]

    def time_overall_and_all_pairs(self, rows):
        tl.hstats(self.model, self.X, pairwise_m=50, n_jobs=2)


class PartialDependenceW1:
    timeout = 600

    def setup(self):
        est, X, _ = workloads.w1()
        self.model = tl.load(est)
        self.X = X[:10000]

    def time_one_feature_100_points(self):
        tl.partial_dependence(self.model, self.X, [0], n_jobs=2)

    def time_two_features_20x20(self):
        tl.partial_dependence(self.model, self.X, [0, 1], grid_resolution=20, n_jobs=2)
