"""Input forms: dtypes, memory orders, views, DataFrames and their names, row counts, threads."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

import treelens as tl
from treelens.exceptions import FeatureNameError, InvalidInputError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

NAMES = ["age", "income", "height", "score"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    X = rng.normal(size=(300, 4))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) ** 2
    return X, y


@pytest.fixture(scope="module")
def models(data):
    X, y = data
    df = pd.DataFrame(X, columns=NAMES)
    rf = RandomForestRegressor(n_estimators=5, max_depth=5, random_state=0, n_jobs=1).fit(df, y)
    xg = xgb.XGBRegressor(n_estimators=5, max_depth=3, n_jobs=1).fit(df, y)
    lg = lgb.LGBMRegressor(n_estimators=5, num_leaves=8, verbose=-1, n_jobs=1).fit(df, y)
    return {
        "sklearn": (rf, lambda Z: rf.predict(Z)),
        "xgboost": (xg, lambda Z: xg.predict(Z, output_margin=True)),
        "lightgbm": (lg, lambda Z: lg.predict(Z, raw_score=True)),
    }


LIBS = ["sklearn", "xgboost", "lightgbm"]


def _tol(lib):
    return dict(rtol=1e-5, atol=1e-5) if lib == "xgboost" else dict(rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("lib", LIBS)
def test_dtypes_orders_and_views(data, models, lib):
    X, _ = data
    est, ref_fn = models[lib]
    model = tl.load(est)
    ref = ref_fn(pd.DataFrame(X, columns=NAMES))
    forms = {
        "float64 C": np.ascontiguousarray(X),
        "float64 F": np.asfortranarray(X),
        "float32 C": X.astype(np.float32),
        "float32 F": np.asfortranarray(X.astype(np.float32)),
        "list of lists": X.tolist(),
        "object array of numbers": X.astype(object),
    }
    for name, Xf in forms.items():
        expected = (
            ref if "float32" not in name else ref_fn(pd.DataFrame(np.asarray(Xf), columns=NAMES))
        )
        np.testing.assert_allclose(model.predict(Xf), expected, err_msg=name, **_tol(lib))
    # Strided views (every other row, reversed columns put back) read the right elements.
    wide = np.zeros((600, 8))
    wide[::2, 1::2] = X
    view = wide[::2, 1::2]
    assert not view.flags.c_contiguous
    np.testing.assert_allclose(model.predict(view), ref, **_tol(lib))
    # Integer and boolean matrices are numbers too.
    Xi = np.round(np.nan_to_num(X) * 3).astype(np.int32)
    np.testing.assert_allclose(
        model.predict(Xi), ref_fn(pd.DataFrame(Xi.astype(float), columns=NAMES)), **_tol(lib)
    )
    Xb = np.nan_to_num(X) > 0
    np.testing.assert_allclose(
        model.predict(Xb), ref_fn(pd.DataFrame(Xb.astype(float), columns=NAMES)), **_tol(lib)
    )


@pytest.mark.parametrize("lib", LIBS)
def test_dataframes_names(data, models, lib):
    X, _ = data
    est, ref_fn = models[lib]
    model = tl.load(est)
    assert model.feature_names == NAMES
    df = pd.DataFrame(X, columns=NAMES)
    ref = ref_fn(df)
    np.testing.assert_allclose(model.predict(df), ref, **_tol(lib))
    # The same names in another order: treelens reorders (it never matches by position).
    np.testing.assert_allclose(model.predict(df[NAMES[::-1]]), ref, **_tol(lib))
    np.testing.assert_allclose(
        model.predict(df[["score", "age", "height", "income"]]), ref, **_tol(lib)
    )
    # Other names, as many columns: read by position (as shap does), with a warning.
    with pytest.warns(UserWarning, match=r"by position.*'salary' as 'income'"):
        renamed = model.predict(df.rename(columns={"income": "salary"}))
    np.testing.assert_allclose(renamed, ref, **_tol(lib))
    with pytest.raises(FeatureNameError, match=r"unexpected \['extra'\]"):
        model.predict(df.assign(extra=1.0))
    with pytest.raises(FeatureNameError, match=r"missing \['score'\]"):
        model.predict(df.drop(columns="score"))
    dup = pd.concat([df.iloc[:, :3], df.iloc[:, :1]], axis=1)
    with pytest.raises(FeatureNameError, match="duplicate"):
        model.predict(dup)
    # A plain array is taken by position.
    np.testing.assert_allclose(model.predict(X), ref, **_tol(lib))


def test_dataframe_column_types(data, models):
    """float32, nullable Int64 (with NA), bool and int columns mix in one frame."""
    X, _ = data
    est, ref_fn = models["sklearn"]
    model = tl.load(est)
    ints = np.round(np.nan_to_num(X[:, 1]) * 2)
    na = np.isnan(X[:, 1])
    mixed = pd.DataFrame(
        {
            "age": X[:, 0].astype(np.float32),
            "income": pd.array(np.where(na, None, ints), dtype="Int64"),
            "height": X[:, 2] > 0,
            "score": np.arange(len(X)) % 3,
        }
    )
    expected = pd.DataFrame(
        {
            "age": X[:, 0].astype(np.float32).astype(float),
            "income": np.where(na, np.nan, ints),
            "height": (X[:, 2] > 0).astype(float),
            "score": (np.arange(len(X)) % 3).astype(float),
        }
    )
    np.testing.assert_allclose(model.predict(mixed), ref_fn(expected), rtol=1e-12)


def test_model_without_names_accepts_any_frame(data):
    X, y = data
    est = RandomForestRegressor(n_estimators=3, random_state=0, n_jobs=1).fit(X, y)
    model = tl.load(est)
    assert model.feature_names is None
    frame = pd.DataFrame(X, columns=["p", "q", "r", "s"])
    np.testing.assert_allclose(model.predict(frame), est.predict(X), rtol=1e-12)
    with pytest.raises(InvalidInputError, match="3 columns.*4 features"):
        model.predict(frame.iloc[:, :3])


@pytest.mark.parametrize("lib", LIBS)
def test_row_counts_and_threads(data, models, lib):
    X, _ = data
    est, ref_fn = models[lib]
    model = tl.load(est)
    # Zero rows, one row, and more rows than one block (256) and one chunk of work.
    assert model.predict(X[:0]).shape == (0,)
    np.testing.assert_allclose(
        model.predict(X[:1]), ref_fn(pd.DataFrame(X[:1], columns=NAMES)), **_tol(lib)
    )
    big = np.tile(X, (12, 1))  # 3600 rows
    ref = ref_fn(pd.DataFrame(big, columns=NAMES))
    for n_jobs in (None, 1, 2, -1):
        np.testing.assert_allclose(model.predict(big, n_jobs=n_jobs), ref, **_tol(lib))
    # Deterministic: the same bits whatever the thread count.
    np.testing.assert_array_equal(model.predict(big, n_jobs=1), model.predict(big, n_jobs=2))


def test_prepare_does_not_modify_the_input_and_is_c_float64(data):
    X, y = data
    X = X.copy()
    X[:5, 0] = -999.0
    X[5:10, 1] = 1e-40  # LightGBM reads it as 0.0, but the user's array must not change
    before = X.copy()
    est = xgb.XGBRegressor(n_estimators=3, missing=-999.0, n_jobs=1).fit(X, y)
    lg = lgb.train({"verbose": -1, "num_threads": 1}, lgb.Dataset(X, y), 3)
    for model in (tl.load(est), tl.load(lg)):
        out = model.prepare(np.asfortranarray(X))
        assert out.dtype == np.float64 and out.flags.c_contiguous
        np.testing.assert_array_equal(X, before)
    assert np.isnan(tl.load(est).prepare(X)[:5, 0]).all()
    assert (tl.load(lg).prepare(X)[5:10, 1] == 0.0).all()


def test_load_returns_a_loaded_model_unchanged(models):
    est, _ = models["sklearn"]
    model = tl.load(est)
    assert tl.load(model) is model
    assert model.estimator is est
    assert "sklearn" in repr(model) and "5 trees" in repr(model)


def test_hist_gradient_boosting_string_categories_in_numpy_object_array():
    """An HGB model fitted on a DataFrame with string categories predicts object arrays too."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {"a": rng.normal(size=200), "c": pd.Categorical(rng.choice(["x", "y", "z"], 200))}
    )
    y = df["a"] + (df["c"] == "y")
    est = HistGradientBoostingRegressor(max_iter=5, categorical_features="from_dtype").fit(df, y)
    model = tl.load(est)
    np.testing.assert_allclose(model.predict(df), est.predict(df), rtol=1e-12)
    np.testing.assert_allclose(model.predict(df.to_numpy()), est.predict(df), rtol=1e-12)
