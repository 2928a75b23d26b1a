"""Results are bitwise identical for any n_jobs: every reduction runs in a fixed order (fixed
blocks of rows or trees, added in block order), never in an order the thread count decides.

The models make floating-point order matter: hundreds of trees, averaged forests, several
outputs, background data, sums over rows.
"""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestRegressor

import treelens as tl

JOBS = (2, 3)


def _same(run) -> None:
    """``run(n_jobs)`` gives the same bits for 1 and for several threads."""
    first = run(1)
    for jobs in JOBS:
        other = run(jobs)
        if isinstance(first, dict):
            assert first.keys() == other.keys()
            for key in first:
                assert np.array_equal(first[key], other[key], equal_nan=True), (key, jobs)
        else:
            assert np.array_equal(first, other, equal_nan=True), jobs


@pytest.fixture(scope="module")
def boosted():
    """XGBoost regression, 200 trees of depth 6."""
    x, y = make_regression(n_samples=700, n_features=8, noise=1.0, random_state=0)
    model = xgb.XGBRegressor(
        n_estimators=200, max_depth=6, learning_rate=0.1, random_state=0, n_jobs=1
    )
    return model.fit(x, y), x, y


@pytest.fixture(scope="module")
def multiclass():
    """XGBoost softmax with 3 classes (three outputs), 100 rounds."""
    x, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=1
    )
    model = xgb.XGBClassifier(n_estimators=100, max_depth=5, random_state=0, n_jobs=1)
    return model.fit(x, y), x, y


@pytest.fixture(scope="module")
def forest():
    """An averaged scikit-learn forest of deep trees."""
    x, y = make_regression(n_samples=500, n_features=6, noise=5.0, random_state=2)
    model = RandomForestRegressor(n_estimators=60, random_state=0).fit(x, y)
    return model, x, y


@pytest.fixture(params=["boosted", "multiclass", "forest"])
def case(request):
    return request.getfixturevalue(request.param)


def test_predict(case):
    model, x, _ = case
    m = tl.load(model)
    _same(lambda jobs: m.predict(x, n_jobs=jobs))


def test_path_shap_values(case):
    model, x, _ = case
    ex = tl.TreeExplainer(model)
    _same(lambda jobs: ex.shap_values(x, n_jobs=jobs))


def test_path_interaction_values_and_summaries(case):
    model, x, _ = case
    ex = tl.TreeExplainer(model)
    _same(lambda jobs: ex.shap_interaction_values(x[:150], n_jobs=jobs))
    _same(lambda jobs: ex.shap_interaction_values(x, reduce="mean_abs", n_jobs=jobs))


def test_path_dependent_with_data_covers(case):
    model, x, _ = case
    w = np.random.default_rng(0).uniform(0.1, 3.0, size=len(x))

    def run(jobs):
        ex = tl.TreeExplainer(
            model, data=x, data_weights=w, feature_perturbation="tree_path_dependent"
        )
        return np.asarray(ex.expected_value), ex.shap_values(x[:50], n_jobs=jobs)

    first = run(1)
    for other in (run(2), run(3)):
        assert np.array_equal(first[0], other[0])
        assert np.array_equal(first[1], other[1])


def test_interventional(case):
    model, x, _ = case
    ex = tl.TreeExplainer(model, data=x[:120])
    _same(lambda jobs: ex.shap_values(x[:200], n_jobs=jobs))
    _same(lambda jobs: ex.shap_interaction_values(x[:40], n_jobs=jobs))


def test_interventional_probability(boosted):
    _, x, y = boosted
    model = xgb.XGBClassifier(n_estimators=120, max_depth=5, random_state=0, n_jobs=1)
    model.fit(x, y > np.median(y))
    ex = tl.TreeExplainer(model, data=x[:80], model_output="probability")
    _same(lambda jobs: ex.shap_values(x[:100], n_jobs=jobs))


def test_permutation_importance(case):
    model, x, y = case
    _same(
        lambda jobs: (
            tl.permutation_importance(
                model, x, y, n_repeats=4, random_state=0, n_jobs=jobs
            ).importances
        )
    )


def test_hstats(case):
    model, x, _ = case

    def run(jobs):
        hs = tl.hstats(model, x[:300], pairwise_m=4, threeway_m=3, n_jobs=jobs)
        out = {
            "h2": np.asarray(hs.h2()),
            "overall": hs.h2_overall(),
            "pairwise": hs.h2_pairwise(),
        }
        for key, value in hs.h2_threeway().items():
            out[str(key)] = np.asarray(value)
        return out

    _same(run)


def test_partial_dependence(case):
    model, x, _ = case
    w = np.random.default_rng(1).uniform(0.1, 3.0, size=len(x))

    def run(jobs):
        pd = tl.partial_dependence(
            model, x, [0, 2], kind="both", sample_weight=w, grid_resolution=12, n_jobs=jobs
        )
        return {"average": pd["average"], "individual": pd["individual"]}

    _same(run)
