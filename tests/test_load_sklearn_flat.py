"""scikit-learn's CART trees read all at once (loaders/sklearn_flat.py) make exactly the forest
that reading them tree by tree makes; anything unusual goes the tree-by-tree way, with its
errors and its handling of class weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier

import treelens as tl
from treelens.exceptions import ModelFormatError
from treelens.loaders.sklearn import _gradient_boosting_base, cart_trees_one_by_one


def _data(n_classes=None, n_targets=1):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    X[rng.random(X.shape) < 0.05] = np.nan  # trees that send missing values either way
    if n_classes is not None:
        y = (np.nan_to_num(X[:, 0]) > 0).astype(int) + (np.nan_to_num(X[:, 1]) > 0.5)
        return X, y % n_classes
    y = np.nan_to_num(X[:, :n_targets]) * 2 + rng.normal(size=(300, n_targets))
    return X, y[:, 0] if n_targets == 1 else y


def _one_by_one(est):
    """The forest of ``est`` read tree by tree, with the options the loader uses."""
    if hasattr(est, "learning_rate"):
        stages = np.asarray(est.estimators_)
        k = stages.shape[1]
        return cart_trees_one_by_one(
            [stages[i, j].tree_ for i in range(stages.shape[0]) for j in range(k)],
            n_features=est.n_features_in_,
            n_outputs=k,
            classifier=False,
            average=False,
            outputs=np.tile(np.arange(k), stages.shape[0]),
            scale=float(est.learning_rate),
            base_score=_gradient_boosting_base(est),
        )
    classifier = hasattr(est, "classes_")
    estimators = getattr(est, "estimators_", [est])
    return cart_trees_one_by_one(
        [e.tree_ for e in estimators],
        n_features=est.n_features_in_,
        n_outputs=len(est.classes_) if classifier else est.n_outputs_,
        classifier=classifier,
        average=hasattr(est, "estimators_"),
    )


def _parts(forest) -> dict:
    return forest.__reduce__()[1][0]


CASES = {
    "random_forest_3_classes": (lambda: RandomForestClassifier(12, random_state=0), 3, 1),
    "random_forest_regressor": (lambda: RandomForestRegressor(8, random_state=0), None, 1),
    "extra_trees_two_targets": (lambda: ExtraTreesRegressor(6, random_state=0), None, 2),
    "decision_tree_binary": (lambda: DecisionTreeClassifier(random_state=0), 2, 1),
    "gradient_boosting_regressor": (
        lambda: GradientBoostingRegressor(n_estimators=15, random_state=0),
        None,
        1,
    ),
    "gradient_boosting_3_classes": (
        lambda: GradientBoostingClassifier(n_estimators=6, random_state=0),
        3,
        1,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_all_at_once_equals_tree_by_tree(name):
    make, n_classes, n_targets = CASES[name]
    X, y = _data(n_classes, n_targets)
    if name.startswith("gradient"):
        X = np.nan_to_num(X)  # GradientBoosting refuses missing values
    est = make().fit(X, y)
    flat, reference = _parts(tl.load(est).forest), _parts(_one_by_one(est))
    assert flat.keys() == reference.keys()
    for key in flat:
        np.testing.assert_array_equal(flat[key], reference[key], err_msg=key)


def test_covers_that_do_not_add_up_are_refused_naming_the_tree():
    X, y = _data(2)
    est = RandomForestClassifier(5, random_state=0).fit(X, y)
    est.estimators_[3].tree_.weighted_n_node_samples[0] *= 3
    with pytest.raises(ModelFormatError, match="tree 3, node 0: its cover"):
        tl.load(est)


def test_a_negative_split_feature_is_refused_naming_the_tree():
    X, y = _data(None)
    est = RandomForestRegressor(4, random_state=0).fit(X, y)
    est.estimators_[2].tree_.feature[0] = -7
    with pytest.raises(ModelFormatError, match="tree 2: node 0 splits on the negative feature"):
        tl.load(est)


def test_class_weights_instead_of_fractions_are_divided():
    """Trees storing class weights (scikit-learn < 1.4) are normalised tree by tree."""
    X, y = _data(3)
    est = RandomForestClassifier(6, random_state=0).fit(X, y)
    want = est.predict_proba(X)
    np.testing.assert_allclose(tl.load(est).predict(X), want, rtol=1e-12, atol=1e-15)
    est.estimators_[4].tree_.value[:] *= 7.0
    np.testing.assert_allclose(tl.load(est).predict(X), want, rtol=1e-12, atol=1e-15)
