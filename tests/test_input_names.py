"""Names are the truth: pandas, polars and pyarrow tables are read by column name, and every
result and label comes back in the input's column order (the model's for numpy arrays).

Each entry point is checked on tables whose columns are the model's in a shuffled order against
the same entry point on the model-ordered numpy matrix, permuted to the table's order."""

from __future__ import annotations

import pickle
import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance as sk_permutation_importance

import treelens as tl
from treelens.exceptions import FeatureNameError, InvalidInputError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

NAMES = ["age", "income", "height", "score", "zip"]
#: The table's columns: ``PERM[i]`` is the model column shown at the table's position ``i``.
PERM = [3, 0, 4, 2, 1]
SHUFFLED = [NAMES[j] for j in PERM]


def _pandas(X, cols=SHUFFLED):
    return pd.DataFrame({c: X[:, NAMES.index(c)] for c in cols})


def _polars(X, cols=SHUFFLED):
    return pl.from_pandas(_pandas(X, cols))


def _arrow(X, cols=SHUFFLED):
    return pa.Table.from_pandas(_pandas(X, cols), preserve_index=False)


def _batch(X, cols=SHUFFLED):
    return _arrow(X, cols).to_batches()[0]


TABLES = {"pandas": _pandas, "polars": _polars, "pyarrow": _arrow, "recordbatch": _batch}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 5))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) * 2 + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 3]) + X[:, 4] ** 0
    return X, y


@pytest.fixture(scope="module")
def models(data):
    """Models that know the names (trained on a model-ordered DataFrame), one per library; the
    XGBoost one has three outputs, so the output axis is covered too."""
    X, y = data
    df = pd.DataFrame(X, columns=NAMES)
    Xf = np.nan_to_num(X)
    rf = RandomForestRegressor(n_estimators=4, max_depth=5, random_state=0, n_jobs=1)
    rf.fit(pd.DataFrame(Xf, columns=NAMES), y)
    label = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    xg = xgb.XGBClassifier(n_estimators=3, max_depth=3, n_jobs=1).fit(df, label)
    lg = lgb.LGBMRegressor(n_estimators=4, num_leaves=8, verbose=-1, n_jobs=1).fit(df, y)
    return {"sklearn": (rf, Xf, y), "xgboost": (xg, X, label), "lightgbm": (lg, X, y)}


LIBS = ["sklearn", "xgboost", "lightgbm"]


@pytest.mark.parametrize("kind", TABLES)
@pytest.mark.parametrize("lib", LIBS)
def test_predict_and_shap_values_follow_the_tables_order(models, lib, kind):
    est, X, _ = models[lib]
    table = TABLES[kind](X)
    model = tl.load(est)
    np.testing.assert_array_equal(model.predict(table), model.predict(X))
    ex = tl.TreeExplainer(est)
    ref = ex.shap_values(X)
    np.testing.assert_array_equal(ex.shap_values(table), ref[:, PERM])
    ref_int = ex.shap_interaction_values(X)
    np.testing.assert_array_equal(ex.shap_interaction_values(table), ref_int[:, PERM][:, :, PERM])
    summary = ex.shap_interaction_values(table, reduce="mean_abs")
    ref_summary = ex.shap_interaction_values(X, reduce="mean_abs")
    np.testing.assert_array_equal(summary, ref_summary[PERM][:, PERM])
    # The functional form too.
    np.testing.assert_array_equal(tl.shap_values(est, table), ref[:, PERM])


@pytest.mark.parametrize("kind", TABLES)
@pytest.mark.parametrize("lib", LIBS)
def test_explanation_pairs_each_value_with_its_own_name_and_data(models, lib, kind):
    est, X, _ = models[lib]
    ex = tl.TreeExplainer(est)
    table = TABLES[kind](X)
    e = ex(table)
    assert e.feature_names == SHUFFLED
    np.testing.assert_array_equal(e.values, ex.shap_values(X)[:, PERM])
    np.testing.assert_array_equal(np.asarray(e.data, dtype=np.float64), X[:, PERM])
    # Name by name: the value and the data under a name are that feature's.
    ref = ex(X)
    assert ref.feature_names == NAMES
    for i, name in enumerate(e.feature_names):
        j = ref.feature_names.index(name)
        np.testing.assert_array_equal(e.values[:, i], ref.values[:, j])
        np.testing.assert_array_equal(np.asarray(e.data[:, i], dtype=float), ref.data[:, j])
    shap_e = e.to_shap()
    assert list(shap_e.feature_names) == SHUFFLED
    np.testing.assert_array_equal(shap_e.values, e.values)
    inter = ex(table, interactions=True)
    assert inter.feature_names == SHUFFLED
    np.testing.assert_array_equal(inter.values, ex.shap_interaction_values(X)[:, PERM][:, :, PERM])


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_interventional_follows_the_tables_order(models, kind):
    est, X, _ = models["lightgbm"]
    background = X[:30]
    ref_ex = tl.TreeExplainer(est, data=background)
    # The background in yet another order: it is read by name too.
    other = NAMES[::-1]
    ex = tl.TreeExplainer(est, data=TABLES[kind](background, other))
    assert ex.expected_value == pytest.approx(ref_ex.expected_value, rel=1e-12)
    rows = X[30:60]
    table = TABLES[kind](rows)
    np.testing.assert_allclose(
        ex.shap_values(table), ref_ex.shap_values(rows)[:, PERM], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        ex.shap_interaction_values(table),
        ref_ex.shap_interaction_values(rows)[:, PERM][:, :, PERM],
        rtol=1e-12,
        atol=1e-12,
    )
    e = ex(table)
    assert e.feature_names == SHUFFLED
    np.testing.assert_allclose(e.values, ref_ex.shap_values(rows)[:, PERM], rtol=1e-12, atol=1e-12)
    # The class used directly: (n, p, k) in the table's order.
    direct = tl.InterventionalExplainer(est, TABLES[kind](background, other))
    np.testing.assert_allclose(
        direct.shap_values(table)[..., 0],
        ref_ex.shap_values(rows)[:, PERM],
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_path_dependent_background_is_read_by_name(models, kind):
    est, X, _ = models["sklearn"]
    ref = tl.TreeExplainer(est, data=X[:40], feature_perturbation="tree_path_dependent")
    ex = tl.TreeExplainer(
        est, data=TABLES[kind](X[:40]), feature_perturbation="tree_path_dependent"
    )
    np.testing.assert_array_equal(ex.shap_values(X), ref.shap_values(X))


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
@pytest.mark.parametrize("lib", LIBS)
def test_permutation_importance_follows_the_tables_order(models, lib, kind):
    est, X, y = models[lib]
    ref = tl.permutation_importance(est, X, y, n_repeats=3, random_state=1, n_jobs=1)
    out = tl.permutation_importance(est, TABLES[kind](X), y, n_repeats=3, random_state=1, n_jobs=1)
    np.testing.assert_array_equal(out.importances, ref.importances[PERM])
    # Groups name the table's columns (by index or name).
    grouped = tl.permutation_importance(
        est, TABLES[kind](X), y, n_repeats=3, random_state=1, groups=[[0], ["age", 3]], n_jobs=1
    )
    np.testing.assert_array_equal(grouped.importances[0], ref.importances[PERM[0]])
    ref_pair = tl.permutation_importance(
        est, X, y, n_repeats=3, random_state=1, groups=[[0, PERM[3]]], n_jobs=1
    )
    np.testing.assert_array_equal(grouped.importances[1], ref_pair.importances[0])


def test_permutation_importance_slow_path_follows_the_tables_order(models):
    """A scorer scikit-learn computes on the live estimator: it is given the model's order (it
    refuses another), and the rows come back in the table's order."""
    est, X, y = models["sklearn"]
    ref = sk_permutation_importance(
        est, pd.DataFrame(X, columns=NAMES), y, scoring="explained_variance", n_repeats=2,
        random_state=3,
    )  # fmt: skip
    for kind in ("pandas", "polars"):
        out = tl.permutation_importance(
            est, TABLES[kind](X), y, scoring="explained_variance", n_repeats=2, random_state=3
        )
        np.testing.assert_allclose(out.importances, ref.importances[PERM], rtol=1e-12)


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_hstats_follow_the_tables_order(models, kind):
    est, X, _ = models["sklearn"]
    ref = tl.hstats(est, X, pairwise_m=None, threeway_m=3)
    out = tl.hstats(est, TABLES[kind](X), pairwise_m=None, threeway_m=3)
    assert ref.features == NAMES
    assert out.features == SHUFFLED
    np.testing.assert_allclose(out.h2_overall(), ref.h2_overall()[PERM], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        out.h2_pairwise(), ref.h2_pairwise()[PERM][:, PERM], rtol=1e-12, atol=1e-15
    )
    assert out.h2() == pytest.approx(ref.h2(), rel=1e-12, abs=1e-15)
    # Feature subsets by name or by the table's column index.
    sub = tl.hstats(est, TABLES[kind](X), features=[0, "age"], pairwise_m=None)
    assert sub.features == [SHUFFLED[0], "age"]
    ref_sub = tl.hstats(est, X, features=[PERM[0], 0], pairwise_m=None)
    np.testing.assert_allclose(sub.h2_pairwise(), ref_sub.h2_pairwise(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_partial_dependence_follows_the_tables_order(models, kind):
    est, X, _ = models["lightgbm"]
    table = TABLES[kind](X)
    # By the table's column index: index 1 of the table is the model's column PERM[1].
    out = tl.partial_dependence(est, table, [1, 2], grid_resolution=5)
    ref = tl.partial_dependence(est, X, [PERM[1], PERM[2]], grid_resolution=5)
    assert out.features == [SHUFFLED[1], SHUFFLED[2]] == ref.features
    for a, b in zip(out.grid_values, ref.grid_values):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out.average, ref.average)
    by_name = tl.partial_dependence(est, table, ["zip"], grid=[np.array([0.0, 1.0])])
    ref_name = tl.partial_dependence(est, X, [4], grid=[np.array([0.0, 1.0])])
    np.testing.assert_array_equal(by_name.average, ref_name.average)


def test_one_row_as_a_series_is_read_by_name(models):
    est, X, _ = models["sklearn"]
    ex = tl.TreeExplainer(est)
    row = _pandas(X).iloc[7]
    np.testing.assert_array_equal(ex.shap_values(row), ex.shap_values(X)[7, PERM])
    e = ex(row)
    assert e.feature_names == SHUFFLED
    np.testing.assert_array_equal(e.values, ex.shap_values(X)[7, PERM])


def test_numpy_input_is_in_the_models_order(models):
    est, X, _ = models["sklearn"]
    e = tl.TreeExplainer(est)(X)
    assert e.feature_names == NAMES
    assert tl.hstats(est, X, pairwise_m=0).features == NAMES


@pytest.mark.parametrize("kind", TABLES)
def test_names_that_do_not_match_are_refused(models, kind):
    est, X, y = models["sklearn"]
    model = tl.load(est)
    wrong = TABLES[kind](X, NAMES[:4])  # "zip" missing
    with pytest.raises(FeatureNameError, match=r"missing \['zip'\]"):
        model.predict(wrong)
    # Another count of columns (as many would be read by position, with a warning).
    table = _pandas(X, NAMES).rename(columns={"zip": "postcode"}).assign(extra=1.0)
    if kind != "pandas":
        table = pl.from_pandas(table) if kind == "polars" else pa.Table.from_pandas(table)
        if kind == "recordbatch":
            table = table.to_batches()[0]
    for call in (
        lambda: model.predict(table),
        lambda: tl.TreeExplainer(est).shap_values(table),
        lambda: tl.permutation_importance(est, table, y),
        lambda: tl.hstats(est, table),
    ):
        with pytest.raises(
            FeatureNameError, match=r"missing \['zip'\], unexpected \['postcode', 'extra'\]"
        ):
            call()


def test_duplicate_names_are_refused(models):
    est, X, _ = models["sklearn"]
    model = tl.load(est)
    dup = pd.DataFrame(X, columns=["age", "income", "height", "score", "age"])
    with pytest.raises(FeatureNameError, match=r"duplicate column names: \['age'\]"):
        model.predict(dup)
    arrow = pa.Table.from_arrays([pa.array(X[:, j]) for j in range(5)], names=dup.columns.tolist())
    with pytest.raises(FeatureNameError, match=r"duplicate column names: \['age'\]"):
        model.predict(arrow)


@pytest.mark.parametrize("kind", TABLES)
def test_model_without_names_reads_a_table_by_position(data, kind):
    X, y = data
    Xf = np.nan_to_num(X)
    est = RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(Xf, y)
    table = TABLES[kind](Xf, NAMES)
    ex = tl.TreeExplainer(est)
    np.testing.assert_array_equal(ex.shap_values(table), ex.shap_values(Xf))
    e = ex(table)
    assert e.feature_names == NAMES  # the table's names label the values
    assert tl.hstats(est, table, pairwise_m=0).features == NAMES
    assert tl.hstats(est, Xf, pairwise_m=0).features == [f"x{j}" for j in range(5)]
    with pytest.raises(InvalidInputError, match="4 columns, but the model was trained on 5"):
        tl.load(est).predict(TABLES[kind](Xf, NAMES[:4]))


class _FrameSubclass(pd.DataFrame):
    """A DataFrame subclass from another module (as geopandas makes): still a table."""

    @property
    def _constructor(self):
        return _FrameSubclass


def test_dataframe_subclass_is_read_by_name(models):
    est, X, _ = models["sklearn"]
    sub = _FrameSubclass(_pandas(X))
    ex = tl.TreeExplainer(est)
    np.testing.assert_array_equal(ex.shap_values(sub), ex.shap_values(X)[:, PERM])


def test_polars_lazyframe_is_refused(models):
    est, X, _ = models["sklearn"]
    with pytest.raises(InvalidInputError, match=r"LazyFrame.*collect\(\)"):
        tl.load(est).predict(_polars(X).lazy())


def test_nulls_and_integer_columns_of_polars_and_arrow(models):
    """polars and arrow nulls are missing values (NaN), in integer and float columns alike."""
    est, _, _ = models["lightgbm"]
    rng = np.random.default_rng(2)
    ints = rng.integers(-3, 4, size=(50, 5)).astype(np.float64)
    ints[rng.random(ints.shape) < 0.2] = np.nan
    columns = {
        name: pl.Series(name, [None if np.isnan(v) else int(v) for v in ints[:, j]], pl.Int32)
        for j, name in enumerate(NAMES)
    }
    frame = pl.DataFrame([columns[c] for c in SHUFFLED])
    model = tl.load(est)
    ref = model.predict(ints)
    np.testing.assert_array_equal(model.predict(frame), ref)
    np.testing.assert_array_equal(model.predict(frame.to_arrow()), ref)
    # A chunked arrow column (two chunks) reads the same.
    arrow = frame.to_arrow()
    chunked = pa.Table.from_batches(arrow.to_batches(max_chunksize=20))
    assert chunked.column(0).num_chunks > 1
    np.testing.assert_array_equal(model.predict(chunked), ref)


def test_text_columns_are_refused(models):
    est, X, _ = models["sklearn"]
    frame = _polars(X).with_columns(pl.col("age").cast(pl.String))
    with pytest.raises(InvalidInputError, match="'age' is not numeric"):
        tl.load(est).predict(frame)


def test_polars_and_pyarrow_are_not_imported_for_numpy_or_pandas(models, tmp_path):
    """They are optional: reading numpy and pandas input must not need them."""
    est, X, _ = models["sklearn"]
    path = tmp_path / "rf.pkl"
    path.write_bytes(pickle.dumps(est))
    np.save(tmp_path / "X.npy", X)
    script = f"""
import pickle, sys
sys.modules["polars"] = None  # any import of them now fails
sys.modules["pyarrow"] = None
import numpy as np, pandas as pd
import treelens as tl
est = pickle.loads(open({str(path)!r}, "rb").read())
X = np.load({str(tmp_path / "X.npy")!r})
ex = tl.TreeExplainer(est)
df = pd.DataFrame(X, columns={NAMES!r})[{SHUFFLED!r}]
assert (ex.shap_values(df) == ex.shap_values(X)[:, {PERM!r}]).all()
assert ex(df).feature_names == {SHUFFLED!r}
assert tl.permutation_importance(est, df, X[:, 0], n_repeats=2).importances.shape == (5, 2)
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
