"""shap's TreeExplainer API on treelens: signatures and positional order, tree_limit for every
model type, approximate=True (Saabas values), check_additivity, model_output variants, the
interventional-without-data fallback, expected_value shapes and the error classes. Checked
against shap 0.51 itself and against each library's own predictions."""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np
import pytest

import treelens as tl
from treelens.exceptions import AdditivityError, InvalidInputError, UnsupportedModelError

shap = pytest.importorskip("shap")
xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
ens = pytest.importorskip("sklearn.ensemble")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X[:, 0] + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=200)
    return X, y, (y > 0).astype(int), np.digitize(y, [-0.5, 0.5])


@pytest.fixture(scope="module")
def models(data):
    X, y, yb, y3 = data
    return {
        "rf_reg": ens.RandomForestRegressor(6, max_depth=3, random_state=0).fit(X, y),
        "rf_clf": ens.RandomForestClassifier(6, max_depth=3, random_state=0).fit(X, yb),
        "gb_reg": ens.GradientBoostingRegressor(n_estimators=6, max_depth=2).fit(X, y),
        "gb_clf": ens.GradientBoostingClassifier(n_estimators=6, max_depth=2).fit(X, yb),
        "gb_clf3": ens.GradientBoostingClassifier(n_estimators=6, max_depth=2).fit(X, y3),
        "hgb_clf3": ens.HistGradientBoostingClassifier(max_iter=6).fit(X, y3),
        "xgb_reg": xgb.XGBRegressor(n_estimators=6, max_depth=2).fit(X, y),
        "xgb_clf": xgb.XGBClassifier(n_estimators=6, max_depth=2).fit(X, yb),
        "xgb_clf3": xgb.XGBClassifier(n_estimators=6, max_depth=2).fit(X, y3),
        "lgb_reg": lgb.LGBMRegressor(n_estimators=6, verbose=-1).fit(X, y),
        "lgb_clf": lgb.LGBMClassifier(n_estimators=6, verbose=-1).fit(X, yb),
        "lgb_clf3": lgb.LGBMClassifier(n_estimators=6, verbose=-1).fit(X, y3),
        "iforest": ens.IsolationForest(n_estimators=6, random_state=0).fit(X),
    }


def _close(a, b, *, rtol, atol, label=""):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (label, a.shape, b.shape)
    bad = np.abs(a - b) > atol + rtol * np.abs(b)
    assert not bad.any(), f"{label}: max diff {np.max(np.abs(a - b))}"


# -- signatures ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method", ["__init__", "__call__", "shap_values", "shap_interaction_values"]
)
def test_positional_parameters_are_shaps(method):
    """shap's parameters in shap's order come first; treelens' own additions are keyword-only."""
    ours = inspect.signature(getattr(tl.TreeExplainer, method)).parameters.values()
    theirs = list(inspect.signature(getattr(shap.TreeExplainer, method)).parameters)
    positional = [p.name for p in ours if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == theirs


def test_positional_order_and_feature_names(models, data):
    X, *_ = data
    m = models["xgb_clf"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ex = tl.TreeExplainer(m, X[:30], "probability", "interventional", ["a", "b", "c", "d"])
    assert ex.model_output == "probability" and ex.feature_perturbation == "interventional"
    e = ex(X[:5])
    assert list(e.feature_names) == ["a", "b", "c", "d"]
    pd = pytest.importorskip("pandas")
    # A table's own names win, as in shap.
    df = pd.DataFrame(X[:5], columns=["f0", "f1", "f2", "f3"])
    assert list(
        tl.TreeExplainer(models["rf_reg"], feature_names=list("abcd"))(df).feature_names
    ) == [
        "f0",
        "f1",
        "f2",
        "f3",
    ]
    with pytest.raises(InvalidInputError, match="feature_names has 2 names"):
        tl.TreeExplainer(m, feature_names=["a", "b"])


def test_link_is_accepted_like_shap_and_changes_nothing(models, data):
    X, *_ = data
    m = models["xgb_clf"]
    plain = tl.TreeExplainer(m).shap_values(X[:10])
    for link in ("identity", "logit", shap.links.logit, shap.links.identity, None):
        ex = tl.TreeExplainer(m, link=link)
        np.testing.assert_array_equal(ex.shap_values(X[:10]), plain)
    assert tl.TreeExplainer(m, link=shap.links.logit).link == "logit"
    with pytest.raises(InvalidInputError, match="link"):
        tl.TreeExplainer(m, link="probit")
    with pytest.warns(DeprecationWarning, match="approximate"):
        tl.TreeExplainer(m, None, "raw", "auto", None, False)


def test_call_takes_shaps_arguments(models, data):
    X, *_ = data
    ex = tl.TreeExplainer(models["gb_reg"])
    e = ex(X[:8], None, False, False, False)
    np.testing.assert_array_equal(e.values, ex.shap_values(X[:8]))
    inter = ex(X[:8], interactions=True)
    assert inter.values.shape == (8, 4, 4)
    np.testing.assert_allclose(inter.values.sum(axis=2), e.values, rtol=1e-12, atol=1e-12)
    sv = ex.shap_values(X[:8], None, None, False, True, True)
    np.testing.assert_array_equal(sv, e.values)


# -- expected_value shapes ------------------------------------------------------------------------
@pytest.mark.parametrize("with_data", [False, True])
@pytest.mark.parametrize(
    "name",
    ["rf_reg", "rf_clf", "gb_reg", "gb_clf", "hgb_clf3", "xgb_reg", "xgb_clf", "xgb_clf3"]
    + ["lgb_reg", "lgb_clf", "lgb_clf3", "iforest"],
)
def test_expected_value_has_shaps_type_and_shape(models, data, name, with_data):
    X, *_ = data
    background = X[:20] if with_data else None
    ours = tl.TreeExplainer(models[name], background).expected_value
    explainer = shap.TreeExplainer(models[name], background)
    theirs = explainer.expected_value
    assert type(ours) is type(theirs) and np.shape(ours) == np.shape(theirs), (ours, theirs)
    if background is None and name.split("_")[0] in ("xgb", "lgb"):
        # shap's value before a call is its own approximation of the trees; after one it is
        # the library's bias term (XGBoost's in float32), which is the one to compare with.
        explainer.shap_values(X[:2])
        theirs = explainer.expected_value
    if background is not None and name == "xgb_clf3":
        # shap's own multiclass XGBoost prediction is off; the mean margin is the reference.
        theirs = models[name].predict(background, output_margin=True).mean(axis=0)
    _close(np.ravel(ours), np.ravel(theirs), rtol=1e-5, atol=1e-6, label=name)


# -- tree_limit -------------------------------------------------------------------------------
def _first_trees(est, k):
    """A copy of a scikit-learn ensemble keeping its first k trees/stages."""
    out = copy.deepcopy(est)
    out.estimators_ = est.estimators_[:k]
    if hasattr(out, "n_estimators_"):
        out.n_estimators_ = k
    if hasattr(out, "estimators_features_"):
        out.estimators_features_ = est.estimators_features_[:k]
    out.n_estimators = k
    return out


@pytest.mark.parametrize("name", ["rf_reg", "rf_clf", "gb_reg", "gb_clf", "gb_clf3", "iforest"])
def test_tree_limit_scikit_learn(models, data, name):
    """The first k trees (forests, averaged over them) or stages (boosting), against the
    estimator cut to those trees, and against shap where shap gives those values (boosting:
    shap's forests keep dividing by the full number of trees)."""
    X, *_ = data
    est, k = models[name], 3
    ex = tl.TreeExplainer(est)
    got = ex.shap_values(X[:20], tree_limit=k)
    cut = tl.TreeExplainer(_first_trees(est, k))
    _close(got, cut.shap_values(X[:20]), rtol=1e-12, atol=1e-12, label=name)
    expected = cut.expected_value
    total = got.sum(axis=1) + expected
    if name == "gb_clf3":
        lib = list(est.staged_decision_function(X[:20]))[k - 1]
    elif name in ("gb_reg", "gb_clf"):
        staged = est.staged_decision_function if name == "gb_clf" else est.staged_predict
        lib = np.ravel(list(staged(X[:20]))[k - 1])
    elif name == "rf_clf":
        lib = np.mean([e.predict_proba(X[:20]) for e in est.estimators_[:k]], axis=0)
    elif name == "rf_reg":
        lib = np.mean([e.predict(X[:20]) for e in est.estimators_[:k]], axis=0)
    else:
        lib = tl.load(_first_trees(est, k)).predict(X[:20])
    _close(total, lib, rtol=1e-9, atol=1e-9, label=name)
    if name in ("gb_reg", "gb_clf"):
        theirs = shap.TreeExplainer(est).shap_values(X[:20], tree_limit=k, check_additivity=False)
        _close(got, theirs, rtol=1e-9, atol=1e-9, label=f"{name} vs shap")


def test_tree_limit_histgradientboosting_counts_trees_like_shap(models, data):
    X, *_ = data
    est = models["hgb_clf3"]
    ex = tl.TreeExplainer(est)
    got = ex.shap_values(X[:20], tree_limit=6)  # 3 classes: 2 stages
    theirs = shap.TreeExplainer(est).shap_values(X[:20], tree_limit=6, check_additivity=False)
    _close(got, theirs, rtol=1e-9, atol=1e-9, label="hgb vs shap")
    lib = list(est.staged_decision_function(X[:20]))[1]
    offset = lib - got.sum(axis=1)
    _close(offset, np.broadcast_to(offset[0], offset.shape), rtol=1e-9, atol=1e-9)
    with pytest.raises(InvalidInputError, match="keeps no tree"):
        ex.shap_values(X[:5], tree_limit=2)


@pytest.mark.parametrize("name", ["xgb_reg", "xgb_clf3"])
def test_tree_limit_xgboost(models, data, name):
    """shap counts XGBoost trees and explains tree_limit // trees_per_round rounds."""
    X, *_ = data
    est = models[name]
    per_round = 3 if name == "xgb_clf3" else 1
    ex = tl.TreeExplainer(est)
    limit = 2 * per_round
    got = ex.shap_values(X[:20], tree_limit=limit)
    theirs = shap.TreeExplainer(est).shap_values(X[:20], tree_limit=limit, check_additivity=False)
    _close(got, theirs, rtol=1e-5, atol=1e-6, label=f"{name} vs shap")
    cut = tl.TreeExplainer(tl.load(est, iteration_range=(0, 2)))
    _close(got, cut.shap_values(X[:20]), rtol=1e-12, atol=1e-12)
    lib = est.predict(X[:20], output_margin=True, iteration_range=(0, 2))
    _close(got.sum(axis=1) + cut.expected_value, lib, rtol=1e-5, atol=1e-5)
    inter = ex.shap_interaction_values(X[:5], tree_limit=limit)
    _close(inter.sum(axis=2), got[:5], rtol=1e-9, atol=1e-9)
    summary = ex.shap_interaction_values(X[:5], tree_limit=limit, reduce="mean")
    _close(summary, inter.mean(axis=0), rtol=1e-9, atol=1e-12)
    if per_round > 1:
        with pytest.raises(InvalidInputError, match="one round of 3 trees"):
            ex.shap_values(X[:5], tree_limit=2)


def test_tree_limit_lightgbm_counts_iterations(models, data):
    X, *_ = data
    est = models["lgb_clf3"]
    got = tl.TreeExplainer(est).shap_values(X[:20], tree_limit=2)
    contrib = est.booster_.predict(X[:20], num_iteration=2, pred_contrib=True).reshape(20, 3, 5)
    _close(got, np.moveaxis(contrib[:, :, :4], 1, 2), rtol=1e-9, atol=1e-9)
    lib = est.predict(X[:20], raw_score=True, num_iteration=2)
    _close(got.sum(axis=1) + contrib[:, :, 4], lib, rtol=1e-9, atol=1e-9)


def test_tree_limit_interventional_and_sentinels(models, data):
    X, *_ = data
    est = models["gb_reg"]
    ex = tl.TreeExplainer(est, X[:25])
    got = ex.shap_values(X[:10], tree_limit=2)
    cut = tl.TreeExplainer(_first_trees(est, 2), X[:25])
    _close(got, cut.shap_values(X[:10]), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ex.shap_values(X[:10], tree_limit=-1), ex.shap_values(X[:10]))
    np.testing.assert_array_equal(ex.shap_values(X[:10], tree_limit=99), ex.shap_values(X[:10]))
    with pytest.raises(InvalidInputError, match="keeps no tree"):
        ex.shap_values(X[:10], tree_limit=0)
    with pytest.raises(InvalidInputError, match="tree_limit must be an int"):
        ex.shap_values(X[:10], tree_limit=1.5)


# -- approximate=True: Saabas values ----------------------------------------------------------
@pytest.mark.parametrize("name", ["rf_reg", "rf_clf", "gb_clf"])
def test_approximate_equals_shaps_saabas(models, data, name):
    X, *_ = data
    est = models[name]
    ours = tl.TreeExplainer(est).shap_values(X[:30], approximate=True)
    theirs = shap.TreeExplainer(est).shap_values(X[:30], approximate=True)
    _close(ours, theirs, rtol=1e-9, atol=1e-9, label=name)


@pytest.mark.parametrize("name", ["xgb_reg", "xgb_clf3"])
def test_approximate_equals_xgboosts_approx_contribs(models, data, name):
    X, *_ = data
    est = models[name]
    ex = tl.TreeExplainer(est)
    ours = ex.shap_values(X[:30], approximate=True)
    contribs = est.get_booster().predict(
        xgb.DMatrix(X[:30]), pred_contribs=True, approx_contribs=True
    )
    if contribs.ndim == 3:
        contribs = np.moveaxis(contribs, 1, 2)
    _close(ours, contribs[:, :-1], rtol=1e-5, atol=2e-6, label=name)
    # Saabas values add up like SHAP values; the call gives the same.
    margin = est.predict(X[:30], output_margin=True)
    _close(ours.sum(axis=1) + ex.expected_value, margin, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ex(X[:30], approximate=True).values, ours)


def test_approximate_refusals(models, data):
    X, *_ = data
    ex = tl.TreeExplainer(models["xgb_clf"], X[:20], model_output="probability")
    with pytest.raises(InvalidInputError, match="raw margin only"):
        ex.shap_values(X[:3], approximate=True)
    with pytest.raises(InvalidInputError, match="no interaction values"):
        tl.TreeExplainer(models["gb_reg"])(X[:3], interactions=True, approximate=True)


def test_approximate_with_background_data_sums_to_the_prediction(models, data):
    X, *_ = data
    est = models["gb_reg"]
    ex = tl.TreeExplainer(est, X[:40])
    values = ex.shap_values(X[:10], approximate=True)
    _close(values.sum(axis=1) + ex.expected_value, est.predict(X[:10]), rtol=1e-9, atol=1e-9)


# -- check_additivity ---------------------------------------------------------------------------
def test_check_additivity_is_a_real_check(data):
    """An estimator refitted after the explainer loaded it no longer matches: shap raises
    ExplainerError, treelens AdditivityError (a ValueError); check_additivity=False skips."""
    X, y, *_ = data
    for est in (
        xgb.XGBRegressor(n_estimators=5, max_depth=2),
        lgb.LGBMRegressor(n_estimators=5, verbose=-1),
        ens.GradientBoostingRegressor(n_estimators=5, max_depth=2),
    ):
        est.fit(X, y)
        ex = tl.TreeExplainer(est)
        ex.shap_values(X[:20])  # passes while the estimator is the one loaded
        est.fit(X, -y)
        with pytest.raises(AdditivityError, match="differ from the model's output") as err:
            ex.shap_values(X[:20])
        assert isinstance(err.value, ValueError)
        with pytest.raises(AdditivityError):
            ex(X[:20])
        ex.shap_values(X[:20], check_additivity=False)
        ex(X[:20], check_additivity=False)
        with pytest.raises(AdditivityError):
            ex.shap_values(X[:20], dtype=np.float32)


# -- model_output -------------------------------------------------------------------------------
def test_predict_proba_of_a_binary_classifier_matches_shap(models, data):
    X, *_ = data
    est = models["xgb_clf"]
    ex = tl.TreeExplainer(est, X[:30], model_output="predict_proba")
    values = ex.shap_values(X[:10])
    assert values.shape == (10, 4, 2) and np.shape(ex.expected_value) == (2,)
    _close(values.sum(axis=1) + ex.expected_value, est.predict_proba(X[:10]), rtol=1e-6, atol=1e-6)
    theirs = shap.TreeExplainer(est, X[:30], model_output="predict_proba")
    _close(values, theirs.shap_values(X[:10]), rtol=1e-4, atol=1e-6)
    _close(ex.expected_value, theirs.expected_value, rtol=1e-6, atol=1e-6)
    e = ex(X[:10])
    assert e.values.shape == (10, 4, 2) and e.base_values.shape == (10, 2)


def test_predict_and_predict_proba_need_no_data_where_they_are_raw(models, data):
    X, *_ = data
    raw = tl.TreeExplainer(models["rf_clf"]).shap_values(X[:5])
    np.testing.assert_array_equal(
        tl.TreeExplainer(models["rf_clf"], model_output="predict_proba").shap_values(X[:5]), raw
    )
    reg = tl.TreeExplainer(models["gb_reg"], model_output="predict")
    np.testing.assert_array_equal(
        reg.shap_values(X[:5]), tl.TreeExplainer(models["gb_reg"]).shap_values(X[:5])
    )
    with pytest.raises(InvalidInputError, match="class labels"):
        tl.TreeExplainer(models["gb_clf"], model_output="predict")
    with pytest.raises(InvalidInputError, match="needs background data"):
        tl.TreeExplainer(models["xgb_clf"], model_output="predict_proba")
    with pytest.raises(UnsupportedModelError, match="softmax"):
        tl.TreeExplainer(models["xgb_clf3"], X[:20], model_output="predict_proba")
    with pytest.raises(InvalidInputError, match="needs a classifier"):
        tl.TreeExplainer(models["gb_reg"], X[:20], model_output="predict_proba")


@pytest.mark.parametrize("with_data", [False, True])
def test_int_model_output_selects_one_output(models, data, with_data):
    X, *_ = data
    background = X[:20] if with_data else None
    full = tl.TreeExplainer(models["gb_clf3"], background)
    one = tl.TreeExplainer(models["gb_clf3"], background, model_output=1)
    np.testing.assert_array_equal(one.shap_values(X[:6]), full.shap_values(X[:6])[..., 1])
    np.testing.assert_array_equal(
        one.shap_interaction_values(X[:3]), full.shap_interaction_values(X[:3])[..., 1]
    )
    assert np.shape(one.expected_value) == ((1,) if background is None else ())
    assert float(np.ravel(one.expected_value)[0]) == full.expected_value[1]
    e = one(X[:6])
    assert e.values.shape == (6, 4) and e.base_values.shape == (6,)
    with pytest.raises(InvalidInputError, match="has 3 output"):
        tl.TreeExplainer(models["gb_clf3"], model_output=3)


def test_interventional_without_data_warns_and_falls_back(models, data):
    X, *_ = data
    with pytest.warns(FutureWarning, match="tree_path_dependent"):
        ex = tl.TreeExplainer(models["gb_reg"], feature_perturbation="interventional")
    with pytest.warns(FutureWarning):
        theirs = shap.TreeExplainer(models["gb_reg"], feature_perturbation="interventional")
    assert ex.feature_perturbation == theirs.feature_perturbation == "tree_path_dependent"
    _close(ex.shap_values(X[:5]), theirs.shap_values(X[:5]), rtol=1e-9, atol=1e-9)


# -- error classes ------------------------------------------------------------------------------
def test_unsupported_model_is_caught_as_value_error_and_type_error():
    assert issubclass(UnsupportedModelError, ValueError) and issubclass(
        UnsupportedModelError, TypeError
    )
    for kind in (ValueError, TypeError, Exception):
        with pytest.raises(kind, match="cannot explain"):
            tl.TreeExplainer(object())
