"""Interventional TreeSHAP: brute force over all feature subsets and background rows on real fitted
models, local accuracy, interactions, weights, validation."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import treelens as tl
from treelens.exceptions import InvalidInputError, UnsupportedModelError
from treelens.interventional import InterventionalExplainer

TOL = 1e-10


def _data(seed, n=60, p=4, classes=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, size=(n, p)).astype(np.float64) + rng.normal(0, 0.1, size=(n, p))
    X[rng.random((n, p)) < 0.05] = np.nan
    s = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
    if classes:
        y = np.digitize(s, np.quantile(s, np.linspace(0, 1, classes + 1)[1:-1]))
    else:
        y = s + rng.normal(0, 0.1, n)
    return X, y


@functools.cache
def _fit(kind, seed):
    X, y = _data(seed, classes=2 if kind.endswith("binary") else 0)
    X_fill = np.nan_to_num(X)
    if kind == "sklearn":
        from sklearn.ensemble import GradientBoostingRegressor

        est = GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=seed)
        est.fit(X_fill, y)
        return est, X_fill, lambda Z: est.predict(Z)[:, None]
    if kind == "sklearn_rf":
        from sklearn.ensemble import RandomForestRegressor

        est = RandomForestRegressor(n_estimators=4, max_depth=4, random_state=seed)
        est.fit(X_fill, y)
        return est, X_fill, lambda Z: est.predict(Z)[:, None]
    if kind.startswith("xgboost"):
        import xgboost as xgb

        obj = "binary:logistic" if kind.endswith("binary") else "reg:squarederror"
        est = xgb.XGBRegressor(n_estimators=6, max_depth=3, objective=obj, n_jobs=1)
        est.fit(X, y)
        # XGBoost predicts in float32; treelens' native margin is the same sum in float64 (its
        # agreement with XGBoost is tested with the loaders).
        model = tl.load(est)
        return est, X, lambda Z: model.predict(Z).reshape(len(Z), -1)
    if kind == "lightgbm":
        import lightgbm as lgb

        est = lgb.LGBMRegressor(n_estimators=6, num_leaves=6, min_child_samples=3, verbose=-1)
        est.fit(X, y)
        return est, X, lambda Z: est.predict(Z, raw_score=True)[:, None]
    raise ValueError(kind)


def _shapley_matrices(p):
    """Matrices turning the 2^p game values into Shapley values and interaction indices."""
    subsets = np.array(list(itertools.product([0, 1], repeat=p)), dtype=bool)
    index = {tuple(m): i for i, m in enumerate(subsets.astype(int).tolist())}
    size = len(subsets)
    M = np.zeros((p, size))
    N = np.zeros((p, p, size))
    for s, m in enumerate(subsets):
        c = int(m.sum())
        for i in range(p):
            if m[i]:
                continue
            si = m.copy()
            si[i] = True
            wt = math.factorial(c) * math.factorial(p - c - 1) / math.factorial(p)
            M[i, index[tuple(si.astype(int))]] += wt
            M[i, s] -= wt
            for j in range(p):
                if j == i or m[j]:
                    continue
                sj = m.copy()
                sj[j] = True
                sij = si.copy()
                sij[j] = True
                wt2 = math.factorial(c) * math.factorial(p - c - 2) / math.factorial(p - 1) / 2
                N[i, j, index[tuple(sij.astype(int))]] += wt2
                N[i, j, index[tuple(si.astype(int))]] -= wt2
                N[i, j, index[tuple(sj.astype(int))]] -= wt2
                N[i, j, s] += wt2
    return subsets, M, N


def _brute(f, x, bg, w, g=None):
    """Exact values (p, k) and interactions (p, p, k) by enumeration of all subsets and all
    background rows; ``g`` rescales each pair as shap does."""
    p = x.shape[0]
    masks, M, N = _shapley_matrices(p)
    w = np.asarray(w, float) / np.sum(w)
    fx = f(x[None, :])[0]
    hybrids = np.where(masks[None, :, :], x[None, None, :], bg[:, None, :])
    v = f(hybrids.reshape(-1, p)).reshape(len(bg), len(masks), -1)  # (m, 2^p, k)
    fz = f(bg)
    scale = np.ones_like(fz)
    if g is not None:
        diff = fx[None, :] - fz
        safe = np.where(diff == 0, 1.0, diff)
        scale = np.where(diff == 0, 1.0, (g(fx)[None, :] - g(fz)) / safe)
    coef = w[:, None] * scale  # (m, k)
    phi = np.einsum("ps,msk,mk->pk", M, v, coef)
    inter = np.einsum("pqs,msk,mk->pqk", N, v, coef)
    for i in range(p):
        inter[i, i] = phi[i] - (inter[i].sum(axis=0) - inter[i, i])
    return phi, inter


@given(
    kind=st.sampled_from(["sklearn", "sklearn_rf", "xgboost", "lightgbm"]),
    seed=st.integers(0, 10_000),
    weighted=st.booleans(),
)
def test_raw_matches_brute_force(kind, seed, weighted):
    est, X, f = _fit(kind, seed % 5)
    rng = np.random.default_rng(seed)
    bg = X[rng.choice(len(X), 5, replace=False)]
    w = rng.random(5) + 0.1 if weighted else None
    ex = InterventionalExplainer(est, bg, data_weights=w)
    x = X[:3]
    values = ex.shap_values(x)
    inter = ex.shap_interaction_values(x)
    assert values.shape == (3, X.shape[1], 1)
    assert inter.shape == (3, X.shape[1], X.shape[1], 1)
    for r in range(3):
        phi, iv = _brute(f, x[r], bg, np.ones(5) if w is None else w)
        scale = max(1.0, np.abs(phi).max())
        np.testing.assert_allclose(values[r], phi, rtol=0, atol=TOL * scale)
        np.testing.assert_allclose(inter[r], iv, rtol=0, atol=TOL * scale)
    # local accuracy against the library's own prediction
    fx = f(x)
    ev = np.average(f(bg), axis=0, weights=w)
    np.testing.assert_allclose(values.sum(axis=1) + ev, fx, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.atleast_1d(ex.expected_value), ev, rtol=1e-12, atol=1e-12)
    # interactions: symmetric, rows sum to the SHAP values
    np.testing.assert_allclose(inter, inter.transpose(0, 2, 1, 3), rtol=0, atol=1e-12)
    np.testing.assert_allclose(inter.sum(axis=2), values, rtol=0, atol=1e-10)


@given(seed=st.integers(0, 10_000))
def test_probability_and_log_loss_match_brute_force(seed):
    est, X, f = _fit("xgboost_binary", seed % 5)
    rng = np.random.default_rng(seed)
    bg = X[rng.choice(len(X), 4, replace=False)]
    x = X[:3]
    y = np.array([0, 1, 1])
    ex = InterventionalExplainer(est, bg, model_output="probability")
    values = ex.shap_values(x)

    def sig(m):
        return 1 / (1 + np.exp(-m))

    for r in range(3):
        phi, _ = _brute(f, x[r], bg, np.ones(4), g=sig)
        np.testing.assert_allclose(values[r], phi, rtol=0, atol=TOL)
    np.testing.assert_allclose(
        values.sum(axis=1)[:, 0] + ex.expected_value, sig(f(x)[:, 0]), rtol=0, atol=1e-12
    )
    w = rng.random(4) + 0.1
    ex = InterventionalExplainer(est, bg, data_weights=w, model_output="log_loss")
    values = ex.shap_values(x, y=y)
    inter = ex.shap_interaction_values(x, y=y)
    for r in range(3):
        loss = lambda m, yr=y[r]: np.logaddexp(0, m) - yr * m  # noqa: E731
        phi, iv = _brute(f, x[r], bg, w, g=loss)
        np.testing.assert_allclose(values[r], phi, rtol=0, atol=TOL)
        np.testing.assert_allclose(inter[r], iv, rtol=0, atol=TOL)
    fx = f(x)[:, 0]
    np.testing.assert_allclose(
        values.sum(axis=1)[:, 0] + ex.expected_value(y),
        np.logaddexp(0, fx) - y * fx,
        rtol=0,
        atol=1e-12,
    )


def test_multiclass_raw_and_forest_classifier_outputs():
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data(3, n=120, classes=3)
    X = np.nan_to_num(X)
    est = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    bg = X[:20]
    ex = InterventionalExplainer(est, bg, model_output="probability")
    values = ex.shap_values(X[20:30])
    assert values.shape == (10, 4, 3)
    np.testing.assert_allclose(
        values.sum(axis=1) + ex.expected_value, est.predict_proba(X[20:30]), atol=1e-12
    )
    f = lambda Z: est.predict_proba(Z)  # noqa: E731
    phi, iv = _brute(f, X[20], bg, np.ones(20))
    np.testing.assert_allclose(values[0], phi, atol=TOL)
    inter = ex.shap_interaction_values(X[20:22])
    np.testing.assert_allclose(inter[0], iv, atol=TOL)
    # log loss of a probability forest: -log p_y, rescaled per pair on the true class
    yy = y[20:30]
    proba = est.predict_proba(X[20:30])
    ok = proba[np.arange(10), yy] > 0
    exl = InterventionalExplainer(
        est, bg[est.predict_proba(bg).min(axis=1) > 0], model_output="log_loss"
    )
    lv = exl.shap_values(X[20:30][ok], y=yy[ok])
    assert lv.shape == (ok.sum(), 4, 1)
    if not ok.all():
        with pytest.raises(InvalidInputError, match="infinite"):
            exl.shap_values(X[20:30], y=yy)
    np.testing.assert_allclose(
        lv.sum(axis=1)[:, 0] + exl.expected_value(yy[ok]),
        -np.log(proba[ok, yy[ok]]),
        atol=1e-10,
    )


def test_multiclass_softmax_raw_and_refusals():
    import xgboost as xgb

    X, y = _data(4, n=150, classes=3)
    est = xgb.XGBClassifier(n_estimators=4, max_depth=3, n_jobs=1).fit(X, y)
    bg = X[:10]
    ex = InterventionalExplainer(est, bg)
    values = ex.shap_values(X[10:15])
    margin = est.predict(X[10:15], output_margin=True)
    np.testing.assert_allclose(values.sum(axis=1) + ex.expected_value, margin, atol=1e-5)
    booster = est.get_booster()
    f = lambda Z: booster.predict(xgb.DMatrix(Z), output_margin=True).astype(float)  # noqa: E731
    phi, _ = _brute(f, X[10], bg, np.ones(10))
    np.testing.assert_allclose(values[0], phi, atol=1e-5)
    with pytest.raises(UnsupportedModelError, match="softmax"):
        InterventionalExplainer(est, bg, model_output="probability")


def test_validation():
    est, X, _ = _fit("xgboost", 1)
    with pytest.raises(InvalidInputError, match="no rows"):
        InterventionalExplainer(est, X[:0])
    with pytest.raises(InvalidInputError, match="one weight per background row"):
        InterventionalExplainer(est, X[:5], data_weights=np.ones(4))
    with pytest.raises(InvalidInputError, match="non-negative"):
        InterventionalExplainer(est, X[:2], data_weights=[1.0, -1.0])
    with pytest.raises(InvalidInputError, match="all zero"):
        InterventionalExplainer(est, X[:2], data_weights=[0.0, 0.0])
    with pytest.raises(InvalidInputError, match="model_output"):
        InterventionalExplainer(est, X[:2], model_output="margin")
    with pytest.raises(UnsupportedModelError, match="classifier"):
        InterventionalExplainer(est, X[:2], model_output="probability")
    with pytest.raises(InvalidInputError, match="columns"):
        InterventionalExplainer(est, X[:2, :3])
    estb, Xb, _ = _fit("xgboost_binary", 1)
    ex = InterventionalExplainer(estb, Xb[:5], model_output="log_loss")
    with pytest.raises(InvalidInputError, match="pass y"):
        ex.shap_values(Xb[:3])
    with pytest.raises(InvalidInputError, match="one label per row"):
        ex.shap_values(Xb[:3], y=[0, 1])
    with pytest.raises(InvalidInputError, match="class indices|does not know"):
        ex.shap_values(Xb[:3], y=[0, 1, 7])


def test_zero_weight_rows_are_ignored_and_duplicates_count():
    est, X, _ = _fit("lightgbm", 2)
    bg = X[:6]
    a = InterventionalExplainer(est, bg, data_weights=[1, 2, 0, 1, 1, 3]).shap_values(X[10:20])
    dup = np.concatenate([bg[[0]], bg[[1]], bg[[1]], bg[[3]], bg[[4]], bg[[5]], bg[[5]], bg[[5]]])
    b = InterventionalExplainer(est, dup).shap_values(X[10:20])
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_dataframe_background_and_model_object():
    pd = pytest.importorskip("pandas")
    est, X, _ = _fit("sklearn", 5)
    cols = [f"c{i}" for i in range(X.shape[1])]
    est.fit(pd.DataFrame(X, columns=cols), X[:, 0])
    model = tl.load(est)
    ex = InterventionalExplainer(model, pd.DataFrame(X[:8], columns=cols))
    v = ex.shap_values(model.prepare(pd.DataFrame(X[:4], columns=cols)))
    assert v.shape == (4, X.shape[1], 1) and v.dtype == np.float64


def test_lightgbm_categorical_splits_match_brute_force():
    import lightgbm as lgb

    rng = np.random.default_rng(7)
    n = 300
    X = np.column_stack(
        [rng.integers(0, 6, n), rng.normal(size=n), rng.integers(0, 3, n), rng.normal(size=n)]
    ).astype(float)
    y = np.where(np.isin(X[:, 0], [1, 3, 4]), 2.0, -1.0) + X[:, 1] + 0.5 * X[:, 2]
    est = lgb.LGBMRegressor(
        n_estimators=8, num_leaves=8, min_child_samples=5, min_data_per_group=5, verbose=-1
    ).fit(X, y, categorical_feature=[0, 2])
    model = tl.load(est)
    f = lambda Z: model.predict(Z).reshape(len(Z), -1)  # noqa: E731
    np.testing.assert_allclose(f(X[:20])[:, 0], est.predict(X[:20], raw_score=True), atol=1e-12)
    bg = X[:6]
    ex = InterventionalExplainer(est, bg)
    values = ex.shap_values(X[10:13])
    inter = ex.shap_interaction_values(X[10:13])
    for r in range(3):
        phi, iv = _brute(f, X[10 + r], bg, np.ones(6))
        np.testing.assert_allclose(values[r], phi, atol=TOL)
        np.testing.assert_allclose(inter[r], iv, atol=TOL)


def test_no_rows():
    est, X, _ = _fit("xgboost", 0)
    ex = InterventionalExplainer(est, X[:5])
    assert ex.shap_values(X[:0]).shape == (0, X.shape[1], 1)
    assert ex.shap_interaction_values(X[:0]).shape == (0, X.shape[1], X.shape[1], 1)


@pytest.mark.parametrize("kind", ["hgb", "hgb_multiclass", "extra_trees", "xgb_vector_leaves"])
def test_more_model_kinds_match_brute_force(kind):
    import xgboost as xgb
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    X, y = _data(1, n=200)
    Xc, yc = _data(2, n=200, classes=3)
    if kind == "hgb":
        est = HistGradientBoostingRegressor(max_iter=5, max_depth=3).fit(X, y)
    elif kind == "hgb_multiclass":
        X, est = Xc, HistGradientBoostingClassifier(max_iter=3, max_depth=3).fit(Xc, yc)
    elif kind == "extra_trees":
        X = np.nan_to_num(X)
        est = ExtraTreesRegressor(5, max_depth=4, random_state=0).fit(X, y)
    else:
        X = Xc
        est = xgb.XGBClassifier(
            n_estimators=3, max_depth=3, multi_strategy="multi_output_tree", n_jobs=1
        ).fit(Xc, yc)
    model = tl.load(est)
    f = lambda Z: model.predict(Z).reshape(len(Z), -1)  # noqa: E731
    bg = X[:5]
    ex = InterventionalExplainer(est, bg)
    values = ex.shap_values(X[10:12])
    inter = ex.shap_interaction_values(X[10:12])
    for r in range(2):
        phi, iv = _brute(f, X[10 + r], bg, np.ones(5))
        np.testing.assert_allclose(values[r], phi, atol=TOL)
        np.testing.assert_allclose(inter[r], iv, atol=TOL)
