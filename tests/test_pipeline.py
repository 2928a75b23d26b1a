"""scikit-learn Pipelines (and ColumnTransformers) ending in a tree model.

``tl.load(pipe)`` explains the final step on the transformed rows: predictions equal the
pipeline's own (its final step's raw margin), SHAP values equal shap's on the final step and the
transformed rows, names are ``get_feature_names_out()``; ``sum_groups`` adds the one-hot columns
back to their raw column; permutation importance permutes the raw columns and equals
scikit-learn's on the pipeline.

Tolerances: 1e-9 relative where the library predicts in float64 (scikit-learn, LightGBM);
float32-sized for XGBoost, which predicts (and shap explains it) in float32.
"""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import shap
import xgboost as xgb
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_regression
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    PolynomialFeatures,
    SplineTransformer,
    StandardScaler,
)

import treelens as tl
from treelens.exceptions import InvalidInputError, UnsupportedModelError

N = 160
F32 = dict(rtol=1e-5, atol=1e-5)
F64 = dict(rtol=1e-9, atol=1e-9)


def _raw_frame(n=N, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "color": rng.choice(["red", "green", "blue"], n),
            "income": rng.normal(50.0, 15.0, n),
            "city": rng.choice(["Paris", "Lima", "Oslo", "Pune"], n),
            "unused": rng.normal(size=n),
        }
    )
    signal = (
        0.05 * X["age"]
        + (X["color"] == "red") * 1.5
        - (X["city"] == "Oslo") * 1.0
        + 0.03 * X["income"]
    )
    y_reg = signal + rng.normal(0.0, 0.3, n)
    y_cls = np.where(signal + rng.normal(0.0, 0.5, n) > np.median(signal), "yes", "no")
    return X, y_reg.to_numpy(), y_cls


def _column_transformer(sparse: bool, numeric=None):
    numeric = numeric or ("num", StandardScaler(), ["income"])
    return ColumnTransformer(
        [
            ("cat", OneHotEncoder(sparse_output=sparse), ["color", "city"]),
            numeric,
            ("pass", "passthrough", ["age"]),
        ],
        remainder="drop",  # "unused" is dropped
        # Sparse output whatever the density (the default 0.3 would densify these few columns).
        sparse_threshold=1.0 if sparse else 0.0,
    )


FINAL = {
    "rf": lambda: RandomForestRegressor(n_estimators=8, max_depth=5, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0),
    "xgb": lambda: xgb.XGBRegressor(n_estimators=12, max_depth=3, random_state=0),
    "lgbm": lambda: lgb.LGBMClassifier(n_estimators=12, num_leaves=8, verbose=-1, random_state=0),
}
CLASSIFIERS = {"hgb", "lgbm"}


def _fitted(kind: str, sparse: bool):
    X, y_reg, y_cls = _raw_frame()
    pipe = Pipeline([("prep", _column_transformer(sparse)), ("model", FINAL[kind]())])
    y = y_cls if kind in CLASSIFIERS else y_reg
    pipe.fit(X, y)
    return pipe, X, y


def _margin(kind: str, pipe, X) -> np.ndarray:
    """The final step's own raw margin on the transformed rows."""
    Xt = pipe[:-1].transform(X)
    if kind == "hgb":
        return pipe[-1].decision_function(Xt)
    if kind == "lgbm":
        return pipe[-1].predict(Xt, raw_score=True)
    return pipe[-1].predict(Xt)


def _shap_peer(kind: str, pipe, X) -> np.ndarray:
    Xt = pipe[:-1].transform(X)
    if hasattr(Xt, "toarray") and kind != "xgb":
        # Absent entries are 0 for scikit-learn and LightGBM (missing for XGBoost: kept sparse).
        Xt = Xt.toarray()
    values = shap.TreeExplainer(pipe[-1]).shap_values(Xt)
    if isinstance(values, list):
        values = np.stack(values, axis=-1)
    return np.asarray(values, dtype=np.float64)


CASES = [
    ("rf", False),
    ("rf", True),
    ("hgb", False),  # HistGradientBoosting refuses sparse input
    ("xgb", False),
    ("xgb", True),
    ("lgbm", False),
    ("lgbm", True),
]


@pytest.mark.parametrize("kind,sparse", CASES)
def test_column_transformer_predict_shap_names(kind, sparse):
    pipe, X, _ = _fitted(kind, sparse)
    assert sparse == hasattr(pipe[:-1].transform(X.iloc[:5]), "toarray")
    model = tl.load(pipe)
    tol = F32 if kind == "xgb" else F64
    margin = model.predict(X)
    np.testing.assert_allclose(margin, _margin(kind, pipe, X), **tol)
    if kind == "rf":
        np.testing.assert_allclose(margin, pipe.predict(X), **F64)
    names = [str(n) for n in pipe[:-1].get_feature_names_out()]
    assert model.feature_names == names
    ex = tl.TreeExplainer(pipe)
    values = ex.shap_values(X)
    np.testing.assert_allclose(values, _shap_peer(kind, pipe, X), **tol)
    # Additivity (against treelens' own margin: exact).
    total = values.sum(axis=1) + ex.expected_value
    np.testing.assert_allclose(total, margin, **F64)
    explanation = ex(X)
    assert explanation.feature_names == names
    # The explained (transformed) rows, dense; one row explained alone.
    Xt = pipe[:-1].transform(X)
    np.testing.assert_array_equal(explanation.data, Xt.toarray() if sparse else Xt)
    one = ex(X.iloc[3])
    np.testing.assert_array_equal(one.values, values[3])
    np.testing.assert_array_equal(one.data, explanation.data[3])


def test_scaler_gradient_boosting_array():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, 4)) * [1.0, 10.0, 100.0, 0.1]
    y = X[:, 0] + 0.01 * X[:, 1] ** 2 + rng.normal(0, 0.1, N)
    pipe = make_pipeline(StandardScaler(), GradientBoostingRegressor(n_estimators=20, max_depth=3))
    pipe.fit(X, y)
    model = tl.load(pipe)
    np.testing.assert_allclose(model.predict(X), pipe.predict(X), **F64)
    assert model.feature_names == ["x0", "x1", "x2", "x3"]
    assert model.feature_groups == {f"x{j}": [f"x{j}"] for j in range(4)}
    values = tl.shap_values(pipe, X)
    peer = shap.TreeExplainer(pipe[-1]).shap_values(pipe[:-1].transform(X))
    np.testing.assert_allclose(values, peer, **F64)
    # A loaded model (not only the pipeline) reads raw rows too.
    np.testing.assert_allclose(tl.TreeExplainer(model).shap_values(X), values, **F64)
    # A Pipeline ending in a Pipeline.
    inner = make_pipeline(MinMaxScaler(), GradientBoostingRegressor(n_estimators=5))
    nested = make_pipeline(StandardScaler(), inner).fit(X, y)
    np.testing.assert_allclose(tl.load(nested).predict(X), nested.predict(X), **F64)


@pytest.mark.parametrize("sparse", [False, True])
def test_feature_groups_and_sum_groups(sparse):
    pipe, X, _ = _fitted("lgbm", sparse)
    model = tl.load(pipe)
    assert model.feature_groups == {
        "age": ["pass__age"],
        "color": ["cat__color_blue", "cat__color_green", "cat__color_red"],
        "income": ["num__income"],
        "city": ["cat__city_Lima", "cat__city_Oslo", "cat__city_Paris", "cat__city_Pune"],
    }
    ex = tl.TreeExplainer(pipe)
    explanation = ex(X)
    grouped = explanation.sum_groups()
    assert sorted(grouped.feature_names) == ["age", "city", "color", "income"]
    names = explanation.feature_names
    for raw, members in model.feature_groups.items():
        cols = [names.index(m) for m in members]
        g = grouped.feature_names.index(raw)
        np.testing.assert_allclose(
            grouped.values[:, g], explanation.values[:, cols].sum(axis=1), **F64
        )
    # Additivity is kept.
    np.testing.assert_allclose(
        grouped.values.sum(axis=1) + grouped.base_values, model.predict(X), **F64
    )
    # A one-hot group's value is nonzero where the column matters.
    assert np.abs(grouped.values[:, grouped.feature_names.index("color")]).max() > 0


def test_groups_refused_where_a_transformer_mixes_columns():
    X, y, _ = _raw_frame()
    pipe = Pipeline(
        [
            ("prep", _column_transformer(False, ("pca", PCA(2), ["income", "age"]))),
            ("model", GradientBoostingRegressor(n_estimators=10, max_depth=3)),
        ]
    ).fit(X, y)
    model = tl.load(pipe)
    assert model.feature_groups is None
    assert "pca" in model.preprocessing.groups_problem
    np.testing.assert_allclose(model.predict(X), pipe.predict(X), **F64)
    with pytest.raises(ValueError, match="groups"):
        tl.TreeExplainer(pipe)(X).sum_groups()


def test_nested_pipelines_groups_and_importance():
    """Pipelines inside a ColumnTransformer (imputer with missing indicator, then encoder or
    scaler), a passthrough remainder; the raw frame's columns in another order."""
    X, y, _ = _raw_frame()
    X.loc[::7, "income"] = np.nan
    X.loc[::5, "color"] = np.nan
    prep = make_column_transformer(
        (
            make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()),
            ["color", "city"],
        ),
        (make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), ["income"]),
        remainder="passthrough",
    )
    pipe = make_pipeline(prep, RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0))
    pipe.fit(X, y)
    model = tl.load(pipe)
    assert model.feature_groups["income"] == [
        "pipeline-2__income",
        "pipeline-2__missingindicator_income",
    ]
    assert list(model.feature_groups) == ["age", "color", "income", "city", "unused"]
    assert sum(map(len, model.feature_groups.values())) == model.n_features
    reordered = X[["city", "unused", "income", "age", "color"]]
    ours = tl.permutation_importance(pipe, reordered, y, n_repeats=2, random_state=0)
    theirs = sk_permutation_importance(pipe, reordered, y, n_repeats=2, random_state=0)
    np.testing.assert_allclose(ours.importances, theirs.importances, **F64)
    # With PolynomialFeatures after it, features mix raw columns: no groups, same importances.
    poly = make_pipeline(prep, PolynomialFeatures(2), RandomForestRegressor(5, random_state=0))
    poly.fit(X, y)
    assert tl.load(poly).feature_groups is None
    ours = tl.permutation_importance(poly, X, y, n_repeats=2, random_state=0)
    theirs = sk_permutation_importance(poly, X, y, n_repeats=2, random_state=0)
    np.testing.assert_allclose(ours.importances, theirs.importances, **F64)


def test_interventional_with_raw_background():
    pipe, X, _ = _fitted("rf", False)
    background, rows = X.iloc[:25], X.iloc[25:45]
    ours = tl.TreeExplainer(pipe, data=background).shap_values(rows)
    bg, xt = pipe[:-1].transform(background), pipe[:-1].transform(rows)
    same = tl.TreeExplainer(pipe[-1], data=bg).shap_values(xt)
    np.testing.assert_array_equal(ours, same)
    # shap keeps its interventional weights in float32 (see test_interventional_shap.py).
    peer = shap.TreeExplainer(pipe[-1], data=bg, feature_perturbation="interventional")
    scale = np.abs(ours).max()
    np.testing.assert_allclose(ours, peer.shap_values(xt), rtol=0, atol=1e-6 * scale)


def _sk_importance(pipe, X, y, **kw):
    return sk_permutation_importance(pipe, X, y, **kw)


@pytest.mark.parametrize(
    "kind,sparse,options",
    [
        ("rf", True, {}),
        ("rf", False, {"max_samples": 0.7, "scoring": "neg_mean_absolute_error"}),
        ("xgb", True, {"scoring": "r2"}),
        ("hgb", False, {"scoring": "roc_auc"}),
        ("lgbm", True, {}),
        ("lgbm", False, {"scoring": "neg_log_loss", "sample_weight": True}),
    ],
)
def test_permutation_importance_equals_sklearn(kind, sparse, options):
    pipe, X, y = _fitted(kind, sparse)
    options = dict(options)
    if options.pop("sample_weight", False):
        options["sample_weight"] = np.random.default_rng(5).uniform(0.5, 2.0, len(y))
    ours = tl.permutation_importance(pipe, X, y, n_repeats=3, random_state=7, **options)
    theirs = _sk_importance(pipe, X, y, n_repeats=3, random_state=7, **options)
    tol = F32 if kind == "xgb" else F64
    assert ours.importances.shape == (X.shape[1], 3)  # raw columns, in X's order
    np.testing.assert_allclose(ours.importances, theirs.importances, **tol)
    # The dropped column does not matter (its score is the unpermuted sample's); the others do.
    assert np.all(ours.importances[4] == ours.importances[4, 0])
    if "max_samples" not in options:
        assert np.all(ours.importances[4] == 0.0)
    assert np.abs(ours.importances_mean[:4]).max() > 0


def test_permutation_importance_mixing_transformer_and_slow_scorer():
    """Raw columns feeding PCA are permuted and transformed copy by copy; a scorer treelens does
    not compute natively runs scikit-learn's on the pipeline."""
    X, y, _ = _raw_frame()
    pipe = Pipeline(
        [
            ("prep", _column_transformer(False, ("pca", PCA(2), ["income", "age"]))),
            ("model", RandomForestRegressor(n_estimators=6, max_depth=4, random_state=0)),
        ]
    ).fit(X, y)
    for scoring in (None, "explained_variance"):
        ours = tl.permutation_importance(pipe, X, y, n_repeats=2, random_state=1, scoring=scoring)
        theirs = _sk_importance(pipe, X, y, n_repeats=2, random_state=1, scoring=scoring)
        np.testing.assert_allclose(ours.importances, theirs.importances, **F64)


def test_other_entry_points_read_raw_rows():
    pipe, X, _ = _fitted("rf", False)
    Xt = pipe[:-1].transform(X)
    final = tl.load(pipe[-1])
    np.testing.assert_allclose(tl.load(pipe).predict(X), final.predict(Xt), **F64)
    ours = tl.partial_dependence(pipe, X, ["num__income"])
    peer = tl.partial_dependence(final, Xt, [7])
    np.testing.assert_allclose(ours["average"], peer["average"], **F64)
    hs = tl.hstats(pipe, X, pairwise_m=3)
    assert hs.features == tl.load(pipe).feature_names
    np.testing.assert_allclose(hs.h2_overall(), tl.hstats(final, Xt, pairwise_m=3).h2_overall())


def test_errors():
    X, y, _ = _raw_frame()
    with pytest.raises(UnsupportedModelError, match="logisticregression"):
        tl.load(make_pipeline(StandardScaler(), LogisticRegression()).fit(X[["age"]], y > 3))
    unfitted = make_pipeline(StandardScaler(), GradientBoostingRegressor())
    with pytest.raises(UnsupportedModelError, match="not fitted"):
        tl.load(unfitted)
    scaler = StandardScaler().fit(X[["age", "income"]])
    gb = GradientBoostingRegressor(n_estimators=3).fit(X[["age", "income"]].to_numpy(), y)
    tree = GradientBoostingRegressor(n_estimators=3).fit(X[["age", "income"]].to_numpy(), y)
    with pytest.raises(UnsupportedModelError, match="'tree'.*has no transform"):
        tl.load(Pipeline([("scale", scaler), ("tree", tree), ("gb", gb)]))
    pipe, X, y = _fitted("rf", False)
    with pytest.raises(InvalidInputError, match="preprocessing"):
        tl.load(pipe).predict(X.drop(columns=["color"]))
    numeric = make_pipeline(StandardScaler(with_mean=False), GradientBoostingRegressor())
    numeric.fit(X[["age", "income"]], y)
    with pytest.raises(InvalidInputError, match="dense X"):
        tl.permutation_importance(numeric, scipy.sparse.csr_matrix(X[["age", "income"]]), y)


def test_imbalanced_learn_pipeline():
    """imbalanced-learn's Pipeline (a subclass) skips its samplers when predicting: so do we."""
    from imblearn.pipeline import make_pipeline as imb_make_pipeline
    from imblearn.under_sampling import RandomUnderSampler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 3))
    y = X[:, 0] + rng.normal(size=N) > 1
    forest = RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0)
    pipe = imb_make_pipeline(RandomUnderSampler(random_state=0), StandardScaler(), forest)
    pipe.fit(X, y)
    np.testing.assert_allclose(tl.load(pipe).predict(X), pipe.predict_proba(X), **F64)
    ours = tl.permutation_importance(pipe, X, y, n_repeats=2, random_state=0)
    theirs = sk_permutation_importance(pipe, X, y, n_repeats=2, random_state=0)
    np.testing.assert_allclose(ours.importances, theirs.importances, **F64)


def test_loaded_pipeline_pickles_and_takes_iteration_range():
    pipe, X, _ = _fitted("xgb", True)
    model = tl.load(pipe, iteration_range=(0, 5))
    Xt = pipe[:-1].transform(X)
    np.testing.assert_allclose(
        model.predict(X), pipe[-1].predict(Xt, iteration_range=(0, 5)), **F32
    )
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.feature_groups == model.feature_groups


def test_binning_splines_selectors_keep_groups():
    """KBinsDiscretizer, SplineTransformer, OneHotEncoder with dropped and infrequent categories,
    then feature selectors: each kept column is still traced to its raw column."""
    X, y, _ = _raw_frame()
    encoder = OneHotEncoder(drop="first", min_frequency=45, handle_unknown="infrequent_if_exist")
    prep = ColumnTransformer(
        [
            ("bins", KBinsDiscretizer(n_bins=3, encode="onehot"), ["income"]),
            ("spl", SplineTransformer(n_knots=3), ["age", "unused"]),
            ("oh", encoder, ["color", "city"]),
        ]
    )
    selectors = [VarianceThreshold(), SelectKBest(f_regression, k=7)]
    pipe = make_pipeline(prep, *selectors, GradientBoostingRegressor(n_estimators=10))
    pipe.fit(X, y)
    model = tl.load(pipe)
    names = [str(n) for n in pipe[:-1].get_feature_names_out()]
    groups = model.feature_groups
    assert sorted(n for members in groups.values() for n in members) == sorted(names)
    for raw, members in groups.items():  # names say which raw column each one comes from
        prefix = {"income": "bins__income_", "age": "spl__age_", "unused": "spl__unused_"}
        assert all(m.startswith(prefix.get(raw, f"oh__{raw}_")) for m in members)
    explanation = tl.TreeExplainer(pipe)(X).sum_groups()
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, model.predict(X), **F64
    )
    ours = tl.permutation_importance(pipe, X, y, n_repeats=2, random_state=0)
    theirs = sk_permutation_importance(pipe, X, y, n_repeats=2, random_state=0)
    np.testing.assert_allclose(ours.importances, theirs.importances, **F64)
