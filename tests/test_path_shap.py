"""TreeExplainer (path-dependent): parity with shap, XGBoost and LightGBM, shapes, reductions,
memory refusal and errors."""

from __future__ import annotations

import numpy as np
import pytest

import treelens as tl
from treelens.exceptions import InvalidInputError, OutputTooLargeError


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = X[:, 0] * 2 + X[:, 1] * X[:, 2] + np.sin(X[:, 3]) + rng.normal(scale=0.1, size=400)
    return X, y


@pytest.fixture(scope="module")
def classification():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=400, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X, y


def _sklearn_models(regression, classification):
    from sklearn import ensemble, tree

    Xr, yr = regression
    Xc, yc = classification
    yb = (yc > 0).astype(int)
    return [
        (tree.DecisionTreeRegressor(max_depth=6, random_state=0).fit(Xr, yr), Xr),
        (ensemble.RandomForestRegressor(10, max_depth=7, random_state=0).fit(Xr, yr), Xr),
        (ensemble.ExtraTreesRegressor(10, max_depth=7, random_state=0).fit(Xr, yr), Xr),
        (ensemble.GradientBoostingRegressor(n_estimators=20, random_state=0).fit(Xr, yr), Xr),
        (ensemble.RandomForestClassifier(10, max_depth=6, random_state=0).fit(Xc, yc), Xc),
        (ensemble.RandomForestClassifier(10, random_state=0).fit(Xc, yb), Xc),
        (ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0).fit(Xc, yc), Xc),
        (ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0).fit(Xc, yb), Xc),
        (tree.DecisionTreeClassifier(max_depth=5, random_state=0).fit(Xc, yc), Xc),
    ]


def test_sklearn_parity_with_shap(regression, classification):
    shap = pytest.importorskip("shap")
    for model, X in _sklearn_models(regression, classification):
        ours = tl.TreeExplainer(model)
        x = X[:30]
        values = ours.shap_values(x)
        # Local accuracy against treelens' own margin, to 1e-9 relative.
        margin = tl.load(model).predict(x)
        np.testing.assert_allclose(
            values.sum(axis=1) + ours.expected_value, margin, rtol=1e-9, atol=1e-12
        )
        if hasattr(model, "decision_function") and not hasattr(model, "estimators_samples_"):
            np.testing.assert_allclose(margin, model.decision_function(x), rtol=1e-9)
        try:
            theirs = shap.TreeExplainer(model)
        except Exception as e:  # shap refuses multiclass GradientBoostingClassifier
            assert "only supported for binary" in str(e)
            continue
        want = np.asarray(theirs.shap_values(x))
        assert values.shape == want.shape, type(model).__name__
        scale = max(1.0, np.abs(want).max())
        np.testing.assert_allclose(values, want, rtol=0, atol=1e-8 * scale)
        np.testing.assert_allclose(ours.expected_value, theirs.expected_value, rtol=1e-10)
        inter = ours.shap_interaction_values(x[:8])
        want_i = np.asarray(theirs.shap_interaction_values(x[:8]))
        assert inter.shape == want_i.shape
        np.testing.assert_allclose(inter, want_i, rtol=0, atol=1e-8 * scale)


def test_xgboost_parity(regression, classification):
    xgb = pytest.importorskip("xgboost")
    Xr, yr = regression
    Xc, yc = classification
    models = [
        (xgb.XGBRegressor(n_estimators=30, max_depth=5, random_state=0).fit(Xr, yr), Xr),
        (xgb.XGBClassifier(n_estimators=20, max_depth=4, random_state=0).fit(Xc, yc), Xc),
        (xgb.XGBClassifier(n_estimators=20, max_depth=4).fit(Xc, (yc > 0).astype(int)), Xc),
    ]
    for model, X in models:
        x = X[:40].copy()
        x[::7, 2] = np.nan
        booster = model.get_booster()
        contribs = booster.predict(xgb.DMatrix(x), pred_contribs=True)
        inter = booster.predict(xgb.DMatrix(x), pred_interactions=True)
        ex = tl.TreeExplainer(model)
        values = ex.shap_values(x)
        ours_i = ex.shap_interaction_values(x)
        if contribs.ndim == 3:  # (n, k, p + 1) -> (n, p, k)
            want = np.moveaxis(contribs[:, :, :-1], 1, 2)
            want_i = np.moveaxis(inter[:, :, :-1, :-1], 1, 3)
        else:
            want, want_i = contribs[:, :-1], inter[:, :-1, :-1]
        scale = np.abs(want).max()
        np.testing.assert_allclose(values, want, rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(ours_i, want_i, rtol=0, atol=1e-5 * scale)
        margin = booster.predict(xgb.DMatrix(x), output_margin=True)
        np.testing.assert_allclose(
            values.sum(axis=1) + ex.expected_value, margin, rtol=1e-5, atol=1e-5
        )
        exact = tl.load(model).predict(x)
        np.testing.assert_allclose(values.sum(axis=1) + ex.expected_value, exact, rtol=1e-9)


def test_xgboost_categorical_parity():
    xgb = pytest.importorskip("xgboost")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    n = 500
    cat = pd.Categorical(rng.choice(list("abcdefg"), size=n))
    df = pd.DataFrame({"c": cat, "x": rng.normal(size=n), "z": rng.normal(size=n)})
    y = np.asarray(cat.codes % 3, dtype=float) + df["x"].to_numpy()
    model = xgb.XGBRegressor(
        n_estimators=15,
        max_depth=4,
        enable_categorical=True,
        tree_method="hist",
        max_cat_to_onehot=1,
    ).fit(df, y)
    contribs = model.get_booster().predict(
        xgb.DMatrix(df[:50], enable_categorical=True), pred_contribs=True
    )
    ex = tl.TreeExplainer(model)
    values = ex.shap_values(df[:50])
    scale = np.abs(contribs).max()
    np.testing.assert_allclose(values, contribs[:, :-1], rtol=0, atol=1e-5 * scale)
    expl = ex(df[:50])
    assert expl.feature_names == ["c", "x", "z"]


def test_lightgbm_parity(regression, classification):
    lgb = pytest.importorskip("lightgbm")
    Xr, yr = regression
    Xc, yc = classification
    models = [
        (lgb.LGBMRegressor(n_estimators=30, num_leaves=15, verbose=-1).fit(Xr, yr), Xr),
        (lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1).fit(Xc, yc), Xc),
    ]
    for model, X in models:
        x = X[:40]
        contrib = model.predict(x, pred_contrib=True)
        ex = tl.TreeExplainer(model)
        values = ex.shap_values(x)
        k = 1 if values.ndim == 2 else values.shape[2]
        p = x.shape[1]
        if k == 1:
            want = contrib[:, :-1]
        else:
            want = np.stack([contrib[:, o * (p + 1) : o * (p + 1) + p] for o in range(k)], axis=2)
        scale = max(1.0, np.abs(want).max())
        np.testing.assert_allclose(values, want, rtol=0, atol=1e-9 * scale)


def test_shapes_explanation_and_functional(regression):
    from sklearn.ensemble import RandomForestRegressor

    pd = pytest.importorskip("pandas")
    X, y = regression
    model = RandomForestRegressor(5, max_depth=4, random_state=0).fit(X, y)
    ex = tl.TreeExplainer(model)
    # shap's shape without data: a 1-element array.
    assert ex.expected_value.shape == (1,)
    assert ex.shap_values(X[:7]).shape == (7, 6)
    assert ex.shap_interaction_values(X[:7]).shape == (7, 6, 6)
    np.testing.assert_array_equal(tl.shap_values(model, X[:7]), ex.shap_values(X[:7]))
    np.testing.assert_array_equal(
        tl.shap_values(model, X[:7], interactions=True), ex.shap_interaction_values(X[:7])
    )
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    expl = ex(df[:5])
    assert isinstance(expl, tl.Explanation)
    assert expl.values.shape == (5, 6) and expl.base_values.shape == (5,)
    assert expl.feature_names == [f"f{i}" for i in range(6)]
    np.testing.assert_array_equal(expl.data, X[:5])
    pytest.importorskip("shap")
    s = expl.to_shap()
    np.testing.assert_array_equal(s.values, expl.values)
    # Threads do not change the result.
    np.testing.assert_array_equal(ex.shap_values(X, n_jobs=1), ex.shap_values(X, n_jobs=2))


def test_reduction_and_memory_refusal(classification):
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = classification
    model = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)
    ex = tl.TreeExplainer(model)
    full = ex.shap_interaction_values(X[:50])
    assert full.shape == (50, 6, 6, 3)
    mean_abs = ex.shap_interaction_values(X[:50], reduce="mean_abs")
    assert mean_abs.shape == (6, 6, 3)
    np.testing.assert_allclose(mean_abs, np.abs(full).mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        ex.shap_interaction_values(X[:50], reduce="mean"), full.mean(axis=0), atol=1e-14
    )
    with pytest.raises(OutputTooLargeError, match="mean_abs") as err:
        ex.shap_interaction_values(X[:50], max_bytes=10_000)
    # 50 * 6 * 6 * 3 * 8 bytes, in words people read, and the budget it exceeds.
    assert "would need 43 kB" in str(err.value) and "max_bytes=10000" in str(err.value)
    with pytest.raises(InvalidInputError):
        ex.shap_interaction_values(X[:5], reduce="max")


def test_errors(regression):
    from sklearn.ensemble import RandomForestRegressor

    X, y = regression
    model = RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, y)
    with pytest.raises(InvalidInputError, match="needs background data"):
        tl.TreeExplainer(model, model_output="probability")
    with pytest.raises(InvalidInputError, match="feature_perturbation"):
        tl.TreeExplainer(model, feature_perturbation="exact")
    with pytest.raises(InvalidInputError, match="model_output"):
        tl.TreeExplainer(model, model_output="margin")
    # As shap: interventional without data warns and falls back to the path-dependent game.
    with pytest.warns(FutureWarning, match="needs background data"):
        fallback = tl.TreeExplainer(model, feature_perturbation="interventional")
    assert fallback.feature_perturbation == "tree_path_dependent"
    ex = tl.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    with pytest.raises(InvalidInputError, match="columns"):
        ex.shap_values(X[:, :4])


def test_explanation_rows():
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    y = X[:, 0] * X[:, 1] + X[:, 2]
    est = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    e = tl.TreeExplainer(est)(X)
    assert len(e) == 50 and e.shape == (50, 4)
    np.testing.assert_array_equal(e[3].values, e.values[3])
    assert e[3].base_values == e.base_values[3]
    np.testing.assert_array_equal(e[10:20].data, X[10:20])
    assert e[e.values[:, 0] > 0].values.shape[1] == 4
