"""Permutation importance on the W1 and RFC workloads (benches/workloads.py), 2 threads."""

from __future__ import annotations

import sys
from pathlib import Path

import treelens as tl

_BENCHES = Path(__file__).resolve().parent.parent
if str(_BENCHES) not in sys.path:
    sys.path.insert(0, str(_BENCHES))

import workloads  # noqa: E402


class PermutationImportanceW1:
    """XGBoost regressor (500 trees, depth 6), 10,000 rows, 50 features."""

    params = [1, 5, 20]
    param_names = ["n_repeats"]
    timeout = 600

    def setup(self, n_repeats):
        est, X, y = workloads.w1()
        self.model = tl.load(est)
        self.X, self.y = X[:10000], y[:10000]

    def time_permutation_importance(self, n_repeats):
        tl.permutation_importance(
            self.model, self.X, self.y, n_repeats=n_repeats, random_state=0, n_jobs=2
        )


class PermutationImportanceRFC:
    """RandomForestClassifier (200 fully grown trees) on its 10,000 held-out rows."""

    params = [1, 5, 20]
    param_names = ["n_repeats"]
    timeout = 600

    def setup(self, n_repeats):
        est, X, y = workloads.random_forest_classifier()
        self.model = tl.load(est)
        self.X, self.y = X, y

    def time_accuracy(self, n_repeats):
        tl.permutation_importance(
            self.model, self.X, self.y, n_repeats=n_repeats, random_state=0, n_jobs=2
        )

    def time_roc_auc(self, n_repeats):
        tl.permutation_importance(
            self.model, self.X, self.y, scoring="roc_auc", n_repeats=n_repeats,
            random_state=0, n_jobs=2,
        )  # fmt: skip
