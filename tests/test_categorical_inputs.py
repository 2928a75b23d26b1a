"""Categorical inputs are read as the model's own library reads them, or refused where the
library refuses them: never silently reinterpreted (codes read as missing, categories read as
their codes for a numeric feature).

Every case runs the library's own predict on the same input: equal numbers, or both raise."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingRegressor

import treelens as tl
from treelens.exceptions import InvalidInputError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LABELS = np.array(["u", "v", "w", "x", "y"], dtype=object)
REVERSED_ENUM = pl.Enum(["y", "x", "w", "v", "u"])
F32 = dict(rtol=1e-5, atol=1e-5)  # XGBoost predicts in float32


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 300
    code = rng.integers(0, 5, n)
    a = rng.normal(size=n)
    y = np.where(code % 2 == 0, 3.0, -3.0) + a + (code == 3)
    return a, code, y


def _frame(a, values, order=("a", "b")):
    cols = {"a": a, "b": values}
    return pd.DataFrame({c: cols[c] for c in order})


def _via_pandas(lib_predict):
    """The library's prediction of a polars or Arrow table, read as the pandas frame it is."""
    return lambda X: lib_predict(X.to_pandas())


def _agree(lib_predict, model, X, **tol):
    """treelens predicts X as the library does, or both refuse it."""
    try:
        expected = np.asarray(lib_predict(X))
    except Exception:
        with pytest.raises(InvalidInputError):
            model.predict(X)
        return "refused"
    np.testing.assert_allclose(model.predict(X), expected, **(tol or dict(rtol=1e-12)))
    return "equal"


# -- scikit-learn HistGradientBoosting ---------------------------------------------------------


@pytest.fixture(scope="module")
def hgb_text(data):
    """Categories that are strings (categorical_features="from_dtype" on a pandas Categorical)."""
    a, code, y = data
    df = _frame(a, pd.Categorical(LABELS[code]))
    est = HistGradientBoostingRegressor(max_iter=8, categorical_features="from_dtype").fit(df, y)
    return est, df


def test_hgb_text_categories_refuse_numbers_as_scikit_learn_does(data, hgb_text):
    a, code, _ = data
    est, _ = hgb_text
    model = tl.load(est)
    numbers = {
        "numpy int codes": np.c_[a, code],
        "numpy float codes": np.c_[a, code].astype(float),
        "pandas int column": _frame(a, code),
        "pandas float column": _frame(a, code.astype(float)),
        "pandas categorical of ints": _frame(a, pd.Categorical(code)),
        "polars int column": pl.from_pandas(_frame(a, code)),
        "arrow int column": pa.Table.from_pandas(_frame(a, code), preserve_index=False),
    }
    for name, X in numbers.items():
        with pytest.raises(Exception):  # noqa: B017 - scikit-learn's TypeError/ValueError
            est.predict(X)
        with pytest.raises(InvalidInputError, match="string categories.*scikit-learn refuses"):
            model.predict(X)
            pytest.fail(f"{name} was not refused")
    # The shap values refuse too (they read the input the same way).
    with pytest.raises(InvalidInputError, match="string categories"):
        tl.TreeExplainer(est).shap_values(np.c_[a, code])


def test_hgb_text_categories_by_value_in_every_table(data, hgb_text):
    a, code, _ = data
    est, df = hgb_text
    model = tl.load(est)
    ref = est.predict(df)
    unseen = np.where(code == 0, "zz", LABELS[code]).astype(object)
    tables = {
        "pandas": df,
        "pandas reordered categories": _frame(
            a, pd.Categorical(LABELS[code], categories=LABELS[::-1])
        ),
        "pandas object strings": _frame(a, LABELS[code]),
        "numpy object": np.c_[a.astype(object), LABELS[code]],
        "polars categorical": pl.from_pandas(df),
        "polars enum": pl.from_pandas(df).with_columns(pl.col("b").cast(REVERSED_ENUM)),
        "polars string": pl.from_pandas(df).with_columns(pl.col("b").cast(pl.String)),
        "arrow dictionary": pa.Table.from_pandas(df, preserve_index=False),
    }
    for name, X in tables.items():
        np.testing.assert_allclose(model.predict(X), ref, rtol=1e-12, err_msg=name)
    # Unknown categories go where scikit-learn sends them (as missing), in any table.
    with_unseen = _frame(a, pd.Categorical(unseen))
    ref_unseen = est.predict(with_unseen)
    np.testing.assert_allclose(model.predict(with_unseen), ref_unseen, rtol=1e-12)
    np.testing.assert_allclose(model.predict(pl.from_pandas(with_unseen)), ref_unseen, rtol=1e-12)
    # Shuffled columns: by name.
    shuffled = pl.from_pandas(df[["b", "a"]])
    np.testing.assert_allclose(model.predict(shuffled), ref, rtol=1e-12)
    ex = tl.TreeExplainer(est)
    np.testing.assert_array_equal(ex.shap_values(shuffled), ex.shap_values(df)[:, [1, 0]])


@pytest.mark.parametrize("how", ["index", "mask", "names", "from_dtype"])
def test_hgb_number_categories_read_as_scikit_learn_reads_them(data, how):
    """Integer categories (by index, by mask, or a pandas Categorical of ints): numbers are the
    categories themselves, in numpy and in every table."""
    a, code, y = data
    values = code * 10  # categories 0, 10, ..., 40: codes 0..4 are other (unknown) values
    if how == "from_dtype":
        train = _frame(a, pd.Categorical(values))
        spec = "from_dtype"
    elif how == "names":
        train = _frame(a, values)
        spec = ["b"]
    else:
        train = np.c_[a, values].astype(float)
        spec = [1] if how == "index" else [False, True]
    est = HistGradientBoostingRegressor(max_iter=8, categorical_features=spec).fit(train, y)
    model = tl.load(est)
    unknown = np.where(code == 1, 15, values)  # 15 is no category
    inputs = {
        "numpy values": np.c_[a, values],
        "numpy codes (unknown values)": np.c_[a, code],
        "numpy unknown": np.c_[a, unknown].astype(float),
        "numpy missing": np.c_[a, np.where(code == 2, np.nan, values)],
        "pandas int": _frame(a, values),
        "pandas categorical": _frame(a, pd.Categorical(values, categories=[40, 30, 20, 10, 0])),
        "polars int": pl.from_pandas(_frame(a, values)),
        "polars categorical": pl.from_pandas(_frame(a, pd.Categorical(values.astype(str)))),
        "arrow int": pa.Table.from_pandas(_frame(a, values), preserve_index=False),
    }
    # polars and Arrow tables are compared with scikit-learn's reading of the same table as
    # pandas (scikit-learn < 1.7 does not read them itself).
    outcomes = {
        name: _agree(
            est.predict if name.startswith(("numpy", "pandas")) else _via_pandas(est.predict),
            model,
            X,
        )
        for name, X in inputs.items()
    }
    assert set(outcomes.values()) == {"equal"}, outcomes
    assert outcomes["numpy values"] == outcomes["pandas int"] == "equal"
    assert outcomes["numpy codes (unknown values)"] == "equal"


# -- XGBoost -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xgb_numeric(data):
    a, code, y = data
    est = xgb.XGBRegressor(n_estimators=4, max_depth=3, n_jobs=1).fit(_frame(a, code), y)
    return est


def test_xgboost_numeric_feature_refuses_a_categorical_column(data, xgb_numeric):
    """XGBoost refuses a categorical column in a DMatrix without enable_categorical=True (and
    with it reads the codes, which depend on the column's category list): treelens refuses,
    naming what XGBoost accepts; the codes as numbers give XGBoost's numbers."""
    a, code, _ = data
    est = xgb_numeric
    model = tl.load(est)
    booster = est.get_booster()
    categorical = _frame(a, pd.Categorical(LABELS[code]))
    with pytest.raises(ValueError, match="enable_categorical"):
        booster.predict(xgb.DMatrix(categorical))
    for X in (
        categorical,
        _frame(a, pd.Categorical(code)),
        pl.from_pandas(categorical),
        pa.Table.from_pandas(categorical, preserve_index=False),
    ):
        with pytest.raises(InvalidInputError, match="treats that feature as numeric.*XGBoost"):
            model.predict(X)
    codes = _frame(a, categorical["b"].cat.codes.to_numpy())
    np.testing.assert_allclose(
        model.predict(codes), booster.predict(xgb.DMatrix(codes), output_margin=True), **F32
    )
    np.testing.assert_allclose(
        model.predict(pl.from_pandas(codes)), est.predict(codes, output_margin=True), **F32
    )


@pytest.fixture(scope="module")
def xgb_categorical(data):
    a, code, y = data
    df = _frame(a, pd.Categorical(LABELS[code]))
    est = xgb.XGBRegressor(
        n_estimators=4, max_depth=3, n_jobs=1, enable_categorical=True, max_cat_to_onehot=1
    ).fit(df, y)
    return est, df


def test_xgboost_categorical_feature_refuses_numbers_in_a_table(data, xgb_categorical):
    """XGBoost (>= 3.1, which stores the categories) refuses numbers in a table for a
    categorical feature; numpy input holds the codes, read as codes by both."""
    a, code, _ = data
    est, df = xgb_categorical
    model = tl.load(est)

    def predict(X):
        return est.predict(X, output_margin=True)

    for X in (_frame(a, code), _frame(a, code.astype(float)), _frame(a, pd.Categorical(code))):
        assert _agree(predict, model, X, **F32) == "refused"
    with pytest.raises(InvalidInputError, match="treats that feature as categorical"):
        model.predict(pl.from_pandas(_frame(a, code)))
    assert _agree(predict, model, np.c_[a, code].astype(float), **F32) == "equal"
    ref = predict(df)
    for X in (
        df[["b", "a"]],
        pl.from_pandas(df[["b", "a"]]),
        pl.from_pandas(df).with_columns(pl.col("b").cast(REVERSED_ENUM)),
        pa.Table.from_pandas(df[["b", "a"]], preserve_index=False),
    ):
        np.testing.assert_allclose(model.predict(X), ref, **F32)
    assert _agree(predict, model, pl.from_pandas(df), **F32) == "equal"


# -- LightGBM ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lgb_categorical(data):
    a, code, y = data
    df = _frame(a, pd.Categorical(LABELS[code]))
    est = lgb.LGBMRegressor(n_estimators=4, min_child_samples=5, verbose=-1, n_jobs=1).fit(df, y)
    return est, df


def test_lightgbm_pandas_categorical_count_must_match(data, lgb_categorical):
    a, code, _ = data
    est, df = lgb_categorical
    model = tl.load(est)

    def predict(X):
        return est.predict(X, raw_score=True)

    assert _agree(predict, model, _frame(a, code)) == "refused"  # codes, not categorical
    both = _frame(pd.Categorical(np.round(a)), pd.Categorical(LABELS[code]))
    assert _agree(predict, model, both) == "refused"
    reordered = _frame(a, pd.Categorical(LABELS[code], categories=LABELS[::-1]))
    assert _agree(predict, model, reordered) == "equal"
    assert _agree(predict, model, np.c_[a, code].astype(float)) == "equal"


def test_lightgbm_polars_and_arrow_categoricals_by_value(data, lgb_categorical):
    """LightGBM reads arrow columns of numbers as they are (codes) and refuses dictionary
    columns; where the model knows the categories (pandas_categorical) treelens reads them by
    value, as for pandas."""
    a, code, _ = data
    est, df = lgb_categorical
    model = tl.load(est)
    ref = est.predict(df, raw_score=True)
    for X in (
        pl.from_pandas(df[["b", "a"]]),
        pl.from_pandas(df).with_columns(pl.col("b").cast(REVERSED_ENUM)),
        pa.Table.from_pandas(df[["b", "a"]], preserve_index=False),
    ):
        np.testing.assert_array_equal(model.predict(X), ref)
    codes = pl.from_pandas(_frame(a, code))
    np.testing.assert_array_equal(model.predict(codes), est.predict(codes, raw_score=True))


def test_lightgbm_without_categories_refuses_dictionary_columns(data):
    a, code, y = data
    est = lgb.LGBMRegressor(n_estimators=4, verbose=-1, n_jobs=1).fit(np.c_[a, code], y)
    model = tl.load(est)
    df = _frame(a, pd.Categorical(LABELS[code]))
    # pandas: LightGBM reads a categorical column of a model trained on numpy by its codes.
    assert _agree(lambda X: est.predict(X, raw_score=True), model, df) == "equal"
    for X in (pl.from_pandas(df), pa.Table.from_pandas(df, preserve_index=False)):
        with pytest.raises(Exception):  # noqa: B017 - LightGBM: unsupported arrow type
            est.predict(X, raw_score=True)
        with pytest.raises(InvalidInputError, match="categorical \\(dictionary\\) columns"):
            model.predict(X)


def test_xgboost_categorical_feature_without_stored_categories_reads_codes(data):
    """Trained on codes (numpy, feature_types "c"): XGBoost stores no categories and reads a
    categorical column by its codes, a numeric column as codes; so does treelens."""
    a, code, y = data
    train = xgb.DMatrix(
        np.c_[a, code],
        label=y,
        feature_names=["a", "b"],
        feature_types=["q", "c"],
        enable_categorical=True,
    )
    booster = xgb.train({"max_depth": 3, "max_cat_to_onehot": 1, "nthread": 1}, train, 4)
    model = tl.load(booster)
    assert model.feature_types == ["q", "c"] and not model.frame_categories

    def predict(X):
        return booster.predict(xgb.DMatrix(X, enable_categorical=True), output_margin=True)

    for X in (
        _frame(a, pd.Categorical(LABELS[code])),
        _frame(a, pd.Categorical(LABELS[code], categories=LABELS[::-1])),
        _frame(a, code),
    ):
        assert _agree(predict, model, X, **F32) == "equal"


def test_lightgbm_two_categorical_columns_in_another_order(data):
    """The k-th pandas_categorical list belongs to the k-th categorical column of the training
    frame: a table in another order is matched by name first, so each column keeps its list."""
    a, code, y = data
    rng = np.random.default_rng(4)
    other = rng.choice(["lo", "mid", "hi"], size=code.shape[0])
    df = pd.DataFrame(
        {
            "a": a,
            "b": pd.Categorical(LABELS[code]),
            "c": pd.Categorical(other),
        }
    )
    target = y + (other == "hi") * 2.0
    est = lgb.LGBMRegressor(n_estimators=6, min_child_samples=5, verbose=-1, n_jobs=1)
    est.fit(df, target)
    model = tl.load(est)
    ref = est.predict(df, raw_score=True)
    shuffled = df[["c", "a", "b"]]
    for X in (shuffled, pl.from_pandas(shuffled), pa.Table.from_pandas(shuffled)):
        np.testing.assert_array_equal(model.predict(X), ref)
    ex = tl.TreeExplainer(est)
    np.testing.assert_array_equal(ex.shap_values(shuffled), ex.shap_values(df)[:, [2, 0, 1]])


def test_numeric_category_codes_equal_the_lookup_by_value():
    """The vectorised codes of numbers in numeric categories equal a lookup by value: the first
    position of equal categories, -0.0 as 0.0, integers as floats, NaN and unknown values NaN."""
    from treelens.inputs import _encode

    def by_lookup(values, categories):
        lookup = {}
        for i, c in enumerate(categories):
            lookup.setdefault(float(c), float(i))
        return np.array([lookup.get(float(v), np.nan) for v in values])

    rng = np.random.default_rng(1)
    for trial in range(200):
        k = int(rng.integers(1, 12))
        cats = rng.integers(-3, 8, size=k).astype(float if trial % 2 else np.int64)
        if trial % 3 == 0:
            cats = np.append(cats, [np.nan, -0.0, 2.5])[: k + 3]
        values = rng.choice(np.r_[cats.astype(float), [np.nan, 0.0, -0.0, 9.0, 2.5, -1e300]], 40)
        got = _encode(values, cats)
        want = by_lookup(values, cats)
        np.testing.assert_array_equal(got, want)
