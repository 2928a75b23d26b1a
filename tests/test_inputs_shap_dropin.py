"""Column names as the model's own library and shap take them.

LightGBM stores a column ``"age years"`` as ``"age_years"`` and refuses names holding
``",:[]{}`` (so users rename those to ``_`` to train): the user's own DataFrame is matched to the
model after that renaming, by name, in any order, and every result is labelled with the user's
names. Where the names differ otherwise but the count agrees, shap reads the columns by position:
so does treelens, with a ``UserWarning`` naming the differences, and never by reordering the
names that happen to match."""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pytest
import shap
import xgboost as xgb
from sklearn.ensemble import RandomForestRegressor

import treelens as tl
from treelens.exceptions import FeatureNameError
from treelens.inputs import lightgbm_feature_name

# The references on numpy arrays make scikit-learn say the array has no names.
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")

#: The user's names: spaces and the characters LightGBM refuses.
USER = ["age years", "income [usd]", 'rate: "net"', "zip,code", "{flag}"]
#: What the model was trained on: LightGBM's own renaming of spaces, and the user's renaming of
#: the characters LightGBM refuses (it raises "Do not support special JSON characters").
TRAINED = ["age years", "income _usd_", "rate_ _net_", "zip_code", "_flag_"]
STORED = ["age_years", "income__usd_", "rate___net_", "zip_code", "_flag_"]
PERM = [3, 0, 4, 2, 1]
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    X = rng.normal(size=(150, 5))
    y = 2 * X[:, 0] + X[:, 1] * X[:, 2] - X[:, 4] + 0.1 * rng.normal(size=150)
    return X, y


@pytest.fixture(scope="module")
def lightgbm_model(data):
    X, y = data
    est = lgb.LGBMRegressor(n_estimators=8, num_leaves=8, verbose=-1, n_jobs=1)
    return est.fit(pd.DataFrame(X, columns=TRAINED), y)


def test_lightgbm_renames_spaces_and_refuses_json_characters(data, lightgbm_model):
    """The rule treelens reproduces, checked on LightGBM itself."""
    X, y = data
    assert lightgbm_model.booster_.feature_name() == STORED
    assert [lightgbm_feature_name(n) for n in TRAINED] == STORED
    assert [lightgbm_feature_name(n) for n in USER] == STORED
    with pytest.raises(lgb.basic.LightGBMError, match="special JSON characters"):
        lgb.LGBMRegressor(n_estimators=1, verbose=-1).fit(pd.DataFrame(X, columns=USER), y)


@pytest.mark.parametrize("frame", ["pandas", "polars"])
def test_lightgbm_users_own_frame_is_matched_by_name(data, lightgbm_model, frame):
    X, y = data
    df = pd.DataFrame(X[:, PERM], columns=[USER[j] for j in PERM])  # the user's order
    table = df if frame == "pandas" else pl.from_pandas(df)
    model = tl.load(lightgbm_model)
    ex = tl.TreeExplainer(lightgbm_model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matched by name: nothing to warn about
        pred = model.predict(table)
        values = ex.shap_values(table)
        e = ex(table)
        imp = tl.permutation_importance(lightgbm_model, table, y, n_repeats=3, random_state=0)
        hs = tl.hstats(lightgbm_model, table, pairwise_m=None)
    np.testing.assert_allclose(pred, lightgbm_model.predict(X, raw_score=True), **TOL)
    np.testing.assert_allclose(values, ex.shap_values(X)[:, PERM], **TOL)
    np.testing.assert_allclose(
        values, lightgbm_model.predict(X, pred_contrib=True)[:, PERM], rtol=1e-9, atol=1e-9
    )
    assert e.feature_names == [USER[j] for j in PERM]
    ref = tl.permutation_importance(lightgbm_model, X, y, n_repeats=3, random_state=0)
    np.testing.assert_allclose(imp.importances, ref.importances[PERM], **TOL)
    assert hs.features == [USER[j] for j in PERM]
    # Through scikit-learn's scorer too (the estimator is shown its own names).
    slow = tl.permutation_importance(
        lightgbm_model, df, y, n_repeats=2, random_state=0, scoring="explained_variance"
    )
    slow_ref = tl.permutation_importance(
        lightgbm_model, X, y, n_repeats=2, random_state=0, scoring="explained_variance"
    )
    np.testing.assert_allclose(slow.importances, slow_ref.importances[PERM], **TOL)


@pytest.fixture(scope="module")
def named_booster(data):
    X, y = data
    dtrain = xgb.DMatrix(X, label=y, feature_names=["f0", "f1", "f2", "f3", "f4"])
    return xgb.train({"max_depth": 3, "nthread": 1}, dtrain, num_boost_round=5)


def test_other_names_of_equal_count_are_read_by_position_with_a_warning(data, named_booster):
    """A Booster trained with DMatrix(feature_names=...) explained on a DataFrame with other
    names: shap goes by position; so does treelens, saying so."""
    X, y = data
    df = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    ex = tl.TreeExplainer(named_booster)
    with pytest.warns(UserWarning, match=r"by position.*'a' as 'f0', 'b' as 'f1'"):
        values = ex.shap_values(df)
    np.testing.assert_array_equal(values, ex.shap_values(X))
    theirs = shap.TreeExplainer(named_booster).shap_values(df)
    np.testing.assert_allclose(values, theirs, rtol=1e-5, atol=1e-5)
    with pytest.warns(UserWarning, match="by position"):
        e = ex(df)
    assert e.feature_names == ["a", "b", "c", "d", "e"]
    with pytest.warns(UserWarning, match="by position"):
        pred = tl.load(named_booster).predict(df)
    np.testing.assert_array_equal(pred, tl.load(named_booster).predict(X))


def test_names_that_partly_match_are_never_reordered(data):
    """Two names swapped and one renamed: the columns are read where they stand (a reordering
    by the names that match would be a silent guess), with a warning."""
    X, y = data
    names = ["a", "b", "c", "d", "e"]
    est = RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0, n_jobs=1)
    est.fit(pd.DataFrame(X, columns=names), y)
    model = tl.load(est)
    df = pd.DataFrame(X[:, [1, 0, 2, 3, 4]], columns=["b", "a", "c", "d", "z"])
    with pytest.warns(UserWarning, match=r"'b' as 'a', 'a' as 'b', 'z' as 'e'"):
        pred = model.predict(df)
    np.testing.assert_array_equal(pred, model.predict(df.to_numpy()))
    reordered = model.predict(X)
    assert np.abs(pred - reordered).max() > 1e-3  # the test can tell the two apart
    # Through scikit-learn's scorer, the estimator sees the columns where they stand too.
    with pytest.warns(UserWarning, match="by position"):
        slow = tl.permutation_importance(
            est, df, y, n_repeats=2, random_state=0, scoring="explained_variance"
        )
    ref = tl.permutation_importance(
        est, df.to_numpy(), y, n_repeats=2, random_state=0, scoring="explained_variance"
    )
    np.testing.assert_allclose(slow.importances, ref.importances, **TOL)


def test_same_names_in_another_order_are_matched_by_name_silently(data, named_booster):
    X, _ = data
    names = ["f0", "f1", "f2", "f3", "f4"]
    df = pd.DataFrame(X[:, PERM], columns=[names[j] for j in PERM])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = tl.TreeExplainer(named_booster).shap_values(df)
    np.testing.assert_array_equal(values, tl.TreeExplainer(named_booster).shap_values(X)[:, PERM])


def test_another_count_of_columns_is_refused_naming_the_differences(data, lightgbm_model):
    X, _ = data
    model = tl.load(lightgbm_model)
    extra = pd.DataFrame(X, columns=USER).assign(more=1.0)
    with pytest.raises(FeatureNameError, match=r"6 columns.*5 features.*unexpected \['more'\]"):
        model.predict(extra)
    fewer = pd.DataFrame(X[:, :4], columns=USER[:4])
    with pytest.raises(FeatureNameError, match=r"missing \['_flag_'\]"):
        model.predict(fewer)
    # Names that collide once renamed are not matched by name.
    clash = pd.DataFrame(X, columns=["age years", "age_years", "a", "b", "c"])
    with pytest.warns(UserWarning, match="by position"):
        model.predict(clash)


def test_predict_by_blocks_warns_once_and_equals_the_whole(data, named_booster, monkeypatch):
    X, _ = data
    df = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    model = tl.load(named_booster)
    whole = model.predict(X)
    monkeypatch.setattr(tl.memory, "CONVERSION_BYTES", 8 * 5 * 13)  # blocks of 13 rows
    with pytest.warns(UserWarning, match="by position") as record:
        blocks = model.predict(df)
    assert sum("by position" in str(w.message) for w in record) == 1
    np.testing.assert_array_equal(blocks, whole)
    # The model's names in another order, by blocks: matched by name in every block.
    names = ["f0", "f1", "f2", "f3", "f4"]
    shuffled = pl.DataFrame({names[j]: X[:, j] for j in PERM})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(model.predict(shuffled), whole)
