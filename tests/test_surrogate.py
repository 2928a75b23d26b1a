"""tl.surrogate: the tree is scikit-learn's fitted to the model's output, fidelity is computed
as scikit-learn's metrics compute it, on the fitted rows and the held-out rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import treelens as tl
from treelens.exceptions import InvalidInputError


def frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["age", "income", "score", "noise"])
    y = 2 * X.age + np.where(X.income > 0, 3, 0) + X.score * X.age
    return X, y


def split(n, test_size, random_state):
    rng = np.random.RandomState(random_state)
    order = rng.permutation(n)
    k = int(np.floor(test_size * n))
    return order[k:], order[:k], rng.randint(np.iinfo(np.int32).max)


def test_regression_fidelity_is_r2_on_train_and_held_out_rows():
    X, y = frame()
    est = RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0).fit(X, y)
    s = tl.surrogate(est, X, max_depth=3, random_state=7)
    train, test, seed = split(len(X), 0.25, 7)
    target = est.predict(X)
    ref = DecisionTreeRegressor(max_depth=3, random_state=seed).fit(X.iloc[train], target[train])
    np.testing.assert_array_equal(s.tree.predict(X.to_numpy()), ref.predict(X.to_numpy()))
    assert s.metric == "r2" and s.target == "predict"
    assert s.fidelity_train == pytest.approx(r2_score(target[train], ref.predict(X.iloc[train])))
    assert s.fidelity_test == pytest.approx(r2_score(target[test], ref.predict(X.iloc[test])))
    assert 0.5 < s.fidelity_train <= 1 and s.fidelity_test < s.fidelity_train + 0.2
    assert "age" in s.rules and "income" in s.rules and "|---" in s.rules
    assert s.tree.get_depth() <= 3
    np.testing.assert_array_equal(s.predict(X), ref.predict(X.to_numpy()))


def test_deeper_surrogates_are_more_faithful_and_weights_count():
    X, y = frame(seed=1)
    est = xgb.XGBRegressor(n_estimators=50, max_depth=4).fit(X, y)
    shallow = tl.surrogate(est, X, max_depth=2, test_size=0, random_state=0)
    deep = tl.surrogate(est, X, max_depth=8, test_size=0, random_state=0)
    assert shallow.fidelity_test is None
    assert deep.fidelity_train > shallow.fidelity_train
    w = np.random.default_rng(0).integers(1, 4, size=len(X))
    weighted = tl.surrogate(est, X, max_depth=3, test_size=0, sample_weight=w, random_state=0)
    pred = tl.load(est).predict(X)
    assert weighted.fidelity_train == pytest.approx(
        r2_score(pred, weighted.tree.predict(X.to_numpy()), sample_weight=w)
    )


def test_classifiers_agreement_probabilities_and_margins():
    X, y = frame(seed=2)
    labels = np.where(y > y.median(), "high", "low")
    est = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(X, labels)
    s = tl.surrogate(est, X, max_depth=2, random_state=3)
    assert s.metric == "accuracy" and isinstance(s.tree, DecisionTreeClassifier)
    train, test, seed = split(len(X), 0.25, 3)
    predicted = est.predict(X)
    assert s.fidelity_train == pytest.approx(
        accuracy_score(predicted[train], s.tree.predict(X.to_numpy()[train]))
    )
    assert s.fidelity_test == pytest.approx(
        accuracy_score(predicted[test], s.tree.predict(X.to_numpy()[test]))
    )
    assert set(s.tree.classes_) <= {"high", "low"}
    proba = tl.surrogate(est, X, target="predict_proba", random_state=3)
    assert proba.metric == "r2" and proba.output_names == ["low"]
    xgbc = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, labels == "high")
    raw = tl.surrogate(xgbc, X, target="raw", test_size=0)
    margin = tl.load(xgbc).predict(X)
    assert raw.fidelity_train == pytest.approx(r2_score(margin, raw.tree.predict(X.to_numpy())))
    agree = tl.surrogate(xgbc, X, test_size=0, max_depth=4)
    np.testing.assert_allclose(
        agree.fidelity_train,
        np.mean(agree.tree.predict(X.to_numpy()) == xgbc.predict(X).astype(bool)),
    )


def test_refusals():
    X, y = frame()
    est = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(InvalidInputError, match="target"):
        tl.surrogate(est, X, target="labels")
    with pytest.raises(InvalidInputError, match="needs a classifier"):
        tl.surrogate(est, X, target="class")
    with pytest.raises(InvalidInputError, match="test_size"):
        tl.surrogate(est, X, test_size=1.0)
    with pytest.raises(InvalidInputError, match="holds out"):
        tl.surrogate(est, X.iloc[:3], test_size=0.1)
    with pytest.raises(InvalidInputError, match="max_depth"):
        tl.surrogate(est, X, max_depth=0)
    with pytest.raises(InvalidInputError, match="no rows"):
        tl.surrogate(est, X.iloc[:0])
