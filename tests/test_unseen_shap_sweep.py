"""SHAP values of model kinds the other tests do not fit, checked the way an outside reviewer
would: against brute-force enumeration of every feature subset, with the library's own
predictions (interventional) or the loaded trees' covers (path-dependent), and against shap where
shap is right.

Oracles
-------
* Interventional: ``v(S) = mean_z f(x_S, z_notS)`` with ``f`` the library's own raw prediction on
  hybrid rows built in the user's format (DataFrames keep their categorical columns), so the
  loader, the encoding of the inputs and the algorithm are all checked at once.
* Path-dependent: the cover-weighted conditional expectation of every tree, evaluated from the
  loaded forest's arrays with an independent Python branch rule; the rule itself is checked
  against the library's prediction on every explained row.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import treelens as tl
from treelens.exceptions import InvalidInputError

P = 5
N = 240
#: float64 libraries (scikit-learn, LightGBM) and treelens' own float64 sums.
TOL64 = 1e-9
#: XGBoost predicts in float32: brute force through its predict carries float32 rounding.
TOL32 = 1e-5


# --- oracles --------------------------------------------------------------------------------


@functools.cache
def _shapley_matrices(p):
    """Matrices from the 2^p game values to Shapley values (p, 2^p) and interaction indices
    (p, p, 2^p, half the index off the diagonal, as shap)."""
    masks = np.array(list(itertools.product([0, 1], repeat=p)), dtype=bool)
    index = {tuple(m): i for i, m in enumerate(masks.astype(int).tolist())}
    M = np.zeros((p, len(masks)))
    Q = np.zeros((p, p, len(masks)))
    for s, m in enumerate(masks):
        c = int(m.sum())
        for i in np.flatnonzero(~m):
            si = m.copy()
            si[i] = True
            w = math.factorial(c) * math.factorial(p - c - 1) / math.factorial(p)
            M[i, index[tuple(si.astype(int))]] += w
            M[i, s] -= w
            for j in np.flatnonzero(~m):
                if j == i:
                    continue
                sj, sij = m.copy(), si.copy()
                sj[j] = sij[j] = True
                w2 = math.factorial(c) * math.factorial(p - c - 2) / math.factorial(p - 1) / 2
                Q[i, j, index[tuple(sij.astype(int))]] += w2
                Q[i, j, index[tuple(si.astype(int))]] -= w2
                Q[i, j, index[tuple(sj.astype(int))]] -= w2
                Q[i, j, s] += w2
    return masks, M, Q


def _from_game(vals, phi_scale=None):
    """(phi (p, k), interactions (p, p, k)) from game values (2^p, k)."""
    p = int(round(math.log2(vals.shape[0])))
    _, M, Q = _shapley_matrices(p)
    phi = M @ vals
    inter = np.einsum("pqs,sk->pqk", Q, vals)
    for i in range(p):
        inter[i, i] = phi[i] - (inter[i].sum(axis=0) - inter[i, i])
    return phi, inter


def _hybrids(x_row, bg, masks):
    """Rows (bg row, mask) in the user's format: x's values where the mask is set."""
    m, s = len(bg), len(masks)
    sel = np.tile(masks, (m, 1))
    if isinstance(bg, pd.DataFrame):
        out = bg.iloc[np.repeat(np.arange(m), s)].reset_index(drop=True)
        for j, c in enumerate(out.columns):
            col = out[c]
            if isinstance(col.dtype, pd.CategoricalDtype):
                vals = np.array(col.astype(object).to_numpy(), dtype=object)
                vals[sel[:, j]] = x_row.iloc[0, j]
                out[c] = pd.Categorical(vals, categories=col.cat.categories)
            else:
                vals = np.array(col.to_numpy(), dtype=np.float64)
                vals[sel[:, j]] = x_row.iloc[0, j]
                out[c] = vals
        return out
    rep = np.repeat(bg, s, axis=0)
    return np.where(sel, np.broadcast_to(x_row[0], rep.shape), rep)


def _rows(X, idx):
    return X.iloc[idx] if isinstance(X, pd.DataFrame) else X[idx]


def interventional_brute(f, X, bg, g=None, y=None):
    """Exact interventional values/interactions of rows X against background bg, f the library's
    raw margin; ``g(margin, label)`` is shap's per-pair rescaled output (probability, loss)."""
    p = X.shape[1]
    masks, _, _ = _shapley_matrices(p)
    fz = f(bg)
    phis, inters, evs = [], [], []
    for r in range(len(X)):
        xr = _rows(X, [r])
        fx = f(xr)[0]
        v = f(_hybrids(xr, bg, masks)).reshape(len(bg), len(masks), -1)
        scale = np.ones_like(fz)
        gz = fz
        if g is not None:
            label = None if y is None else y[r]
            gz = g(fz, label)
            diff = fx[None, :] - fz
            scale = np.where(
                diff == 0, 1.0, (g(fx, label)[None, :] - gz) / np.where(diff == 0, 1, diff)
            )
        phi = np.zeros((p, fz.shape[1]))
        inter = np.zeros((p, p, fz.shape[1]))
        for z in range(len(bg)):
            a, b = _from_game(v[z])
            phi += scale[z] * a / len(bg)
            inter += scale[z] * b / len(bg)
        phis.append(phi)
        inters.append(inter)
        evs.append(gz.mean(axis=0))
    return np.array(phis), np.array(inters), np.array(evs)


def _goes_left(st, n, v):
    """The branch rule, written from the libraries' documentation (not from treelens' core)."""
    if st["f32_inputs"]:
        v = float(np.float32(v))
    missing = st["missing"][n]  # 0: NaN is missing; 1: NaN as 0; 2: 0 and NaN are missing
    if np.isnan(v):
        if missing == 0:
            return bool(st["default_left"][n])
        v = 0.0
    if missing == 2 and abs(v) <= float(np.float32(1e-35)):
        return bool(st["default_left"][n])
    s = st["category_set"][n]
    if s >= 0:
        members_left = bool(st["category_members_left"][s])
        t = math.trunc(v)
        if (t < 0 if st["category_truncate_first"] else v < 0) or t >= 2**32 - 1:
            return not members_left
        words = st["category_words"][st["category_offsets"][s] : st["category_offsets"][s + 1]]
        member = t // 32 < len(words) and (int(words[int(t) // 32]) >> (int(t) % 32)) & 1 == 1
        return member == members_left
    return v <= st["threshold"][n] if st["less_equal"] else v < st["threshold"][n]


def _forest(model):
    st = dict(model.forest.__reduce__()[1][0])
    k = st["n_outputs"]
    offsets, o = [], 0
    for t, out in enumerate(st["tree_output"]):
        offsets.append(o)
        o += (st["tree_start"][t + 1] - st["tree_start"][t]) * (k if out < 0 else 1)
    st["value_offset"] = offsets
    return st


def _expectation(st, x, known):
    """Cover-weighted conditional expectation of the ensemble given the features ``known``."""
    k = st["n_outputs"]
    n_trees = len(st["tree_output"])
    total = np.array(st["base_score"], dtype=np.float64)
    weight = 1.0 / n_trees if st["average"] else 1.0
    left, right, cover = st["left"], st["right"], st["cover"]
    for t in range(n_trees):
        start, out, off = st["tree_start"][t], st["tree_output"][t], st["value_offset"][t]
        width = k if out < 0 else 1

        def rec(i, start=start, off=off, width=width):
            # Children are numbered within their tree (node ``start + i``).
            n = start + i
            if left[n] < 0:
                return np.asarray(st["values"][off + i * width : off + (i + 1) * width])
            if st["feature"][n] in known:
                go = _goes_left(st, n, x[st["feature"][n]])
                return rec(left[n] if go else right[n])
            a, b = left[n], right[n]
            return (cover[start + a] * rec(a) + cover[start + b] * rec(b)) / cover[n]

        v = rec(0)
        if out < 0:
            total = total + weight * v
        else:
            total[out] += weight * v[0]
    return total


def path_brute(model, X):
    st = _forest(model)
    masks, _, _ = _shapley_matrices(st["n_features"])
    phis, inters, preds = [], [], []
    for x in model.prepare(X):
        vals = np.array([_expectation(st, x, set(np.flatnonzero(m).tolist())) for m in masks])
        phi, inter = _from_game(vals)
        phis.append(phi)
        inters.append(inter)
        preds.append(vals[-1])
    return np.array(phis), np.array(inters), vals[0], np.array(preds)


# --- models -------------------------------------------------------------------------------


def _data(seed=0, *, classes=0, nan=0.0, zeros=0.0):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(N, P)), 2)
    s = 2 * X[:, 0] + np.sin(2 * X[:, 1]) + X[:, 2] * X[:, 3] - 0.5 * X[:, 4]
    if zeros:
        X[rng.random(X.shape) < zeros] = 0.0
    if nan:
        X[rng.random(X.shape) < nan] = np.nan
    if classes:
        y = np.digitize(s, np.quantile(s, np.linspace(0, 1, classes + 1)[1:-1]))
    else:
        y = s + rng.normal(scale=0.1, size=N)
    return X, y


def _raw(predict):
    return lambda Z: np.asarray(predict(Z), dtype=np.float64).reshape(len(Z), -1)


def _sklearn(name):
    from sklearn import ensemble as E
    from sklearn import tree as T

    gb = dict(n_estimators=6, max_depth=3, random_state=0)
    if name == "dtr_multiout":
        X, y = _data()
        est = T.DecisionTreeRegressor(max_depth=4, random_state=0).fit(
            X, np.c_[y, X[:, 1] ** 2, -y]
        )
        return est, X, _raw(est.predict)
    if name == "rfr_multiout_nan":
        X, y = _data(nan=0.1)
        est = E.RandomForestRegressor(4, max_depth=4, random_state=0).fit(
            X, np.c_[y, np.nan_to_num(X[:, 2])]
        )
        return est, X, _raw(est.predict)
    if name == "etc_multi":
        X, y = _data(classes=3)
        est = E.ExtraTreesClassifier(4, max_depth=4, random_state=0).fit(X, y)
        return est, X, _raw(est.predict_proba)
    if name in ("gbr_zero", "gbr_huber_subsample"):
        X, y = _data()
        extra = dict(init="zero") if name == "gbr_zero" else dict(loss="huber", subsample=0.7)
        est = E.GradientBoostingRegressor(**gb, **extra).fit(X, y)
        return est, X, _raw(est.predict)
    if name in ("gbc_bin_zero", "gbc_multi_zero", "gbc_multi"):
        X, y = _data(classes=2 if "bin" in name else 3)
        extra = dict(init="zero") if name.endswith("zero") else {}
        est = E.GradientBoostingClassifier(**gb, **extra).fit(X, y)
        return est, X, _raw(est.decision_function)
    if name == "hgbr_cat_nan":
        X, y = _data()
        rng = np.random.default_rng(1)
        X[:, 1] = rng.integers(0, 6, N)
        X[:, 3] = rng.integers(0, 4, N)
        y = y + np.isin(X[:, 1], [1, 4]) * 2.0 - X[:, 3] % 2
        X[rng.random(N) < 0.05, 1] = np.nan
        X[rng.random(N) < 0.05, 0] = np.nan
        est = E.HistGradientBoostingRegressor(
            max_iter=6, max_depth=3, categorical_features=[1, 3], random_state=0
        ).fit(X, y)
        return est, X, _raw(est._raw_predict)
    if name in ("hgbc_cat_frame", "hgbc_multi_nan"):
        X, y = _data(classes=2 if name == "hgbc_cat_frame" else 3, nan=0.1)
        if name == "hgbc_multi_nan":
            est = E.HistGradientBoostingClassifier(max_iter=4, max_depth=3, random_state=0)
            return est.fit(X, y), X, _raw(est._raw_predict)
        rng = np.random.default_rng(1)
        df = pd.DataFrame(X, columns=[f"c{i}" for i in range(P)])
        df["c1"] = pd.Categorical(rng.choice(["a", "b", "c", "d"], N))
        y = (y + df["c1"].isin(["b", "d"]).astype(int)) % 2
        est = E.HistGradientBoostingClassifier(
            max_iter=6, max_depth=3, categorical_features="from_dtype", random_state=0
        ).fit(df, y)
        return est, df, _raw(est._raw_predict)
    raise KeyError(name)


def _xgb_margin(booster, **dmatrix):
    import xgboost as xgb

    def f(Z):
        dm = xgb.DMatrix(Z, enable_categorical=True, **dmatrix)
        return np.asarray(booster.predict(dm, output_margin=True), np.float64).reshape(len(Z), -1)

    return f


def _xgboost(name, tmp):
    import xgboost as xgb

    common = dict(n_estimators=6, max_depth=3, n_jobs=1, random_state=0)
    if name == "xgb_missing_value":
        X, y = _data(zeros=0.2)
        X[X == 0.0] = -999.0
        est = xgb.XGBRegressor(**common, missing=-999.0).fit(X, y)
        return est, X, _xgb_margin(est.get_booster(), missing=-999.0)
    if name == "xgb_best_iteration":
        X, y = _data()
        est = xgb.XGBRegressor(
            n_estimators=40, max_depth=3, n_jobs=1, learning_rate=0.9, early_stopping_rounds=2
        )
        est.fit(X[:160], y[:160], eval_set=[(X[160:], y[160:])], verbose=False)
        assert est.best_iteration + 1 < est.get_booster().num_boosted_rounds()
        return est, X, _raw(lambda Z: est.predict(Z, output_margin=True))
    if name == "xgb_parallel_trees":
        X, y = _data(classes=3)
        est = xgb.XGBClassifier(**common, num_parallel_tree=2, subsample=0.7).fit(X, y)
        return est, X, _xgb_margin(est.get_booster())
    if name == "xgb_dart":
        X, y = _data()
        est = xgb.XGBRegressor(**common, booster="dart", rate_drop=0.3, skip_drop=0.0).fit(X, y)
        return est, X, _xgb_margin(est.get_booster())
    if name == "xgb_poisson_base":
        X, y = _data()
        est = xgb.XGBRegressor(**common, objective="count:poisson", base_score=1.5)
        return est.fit(X, np.round(np.exp(y / 3))), X, _xgb_margin(est.get_booster())
    if name == "xgb_multitarget":
        X, y = _data()
        est = xgb.XGBRegressor(**common).fit(X, np.c_[y, X[:, 1] ** 2])
        return est, X, _xgb_margin(est.get_booster())
    if name == "xgb_cat_frame_multi":
        X, y = _data(classes=3)
        rng = np.random.default_rng(3)
        df = pd.DataFrame(X, columns=[f"f{i}" for i in range(P)])
        df["f1"] = pd.Categorical(rng.choice(["u", "v", "w", "x", "y"], N))
        df["f3"] = pd.Categorical(rng.choice([10, 20, 30], N))
        est = xgb.XGBClassifier(
            **common, enable_categorical=True, tree_method="hist", max_cat_to_onehot=1
        ).fit(df, y)
        df.loc[df.index[:3], "f1"] = np.nan
        return est, df, _xgb_margin(est.get_booster())
    if name == "xgb_ubj_file":
        X, y = _data(classes=2, nan=0.05)
        est = xgb.XGBClassifier(**common, base_score=0.3).fit(X, y)
        path = str(tmp / "model.ubj")
        est.save_model(path)
        booster = xgb.Booster()
        booster.load_model(path)
        return path, X, _xgb_margin(booster)
    raise KeyError(name)


def _lgb_raw(est):
    return lambda Z: np.asarray(est.predict(Z, raw_score=True), float).reshape(len(Z), -1)


def _lightgbm(name, tmp):
    import lightgbm as lgb

    common = dict(
        n_estimators=6, num_leaves=7, min_child_samples=5, verbose=-1, random_state=0, n_jobs=1
    )
    if name == "lgb_sigmoid2":
        X, y = _data(classes=2)
        est = lgb.LGBMClassifier(**common, sigmoid=2.0).fit(X, y)
        return est, X, _lgb_raw(est)
    if name in ("lgb_zero_as_missing", "lgb_no_missing"):
        X, y = _data(zeros=0.2, nan=0.05)
        opts = (
            dict(zero_as_missing=True) if name == "lgb_zero_as_missing" else dict(use_missing=False)
        )
        est = lgb.LGBMRegressor(**common, **opts).fit(X, y)
        return est, X, _lgb_raw(est)
    if name == "lgb_categorical":
        X, y = _data()
        rng = np.random.default_rng(5)
        X[:, 1] = rng.integers(0, 12, N)
        y = y + np.isin(X[:, 1], [2, 5, 7, 11]) * 2.0
        X[rng.random(N) < 0.05, 1] = np.nan
        est = lgb.LGBMRegressor(**common, min_data_per_group=5, cat_smooth=1)
        return est.fit(X, y, categorical_feature=[1]), X, _lgb_raw(est)
    if name == "lgb_cat_frame":
        X, y = _data(classes=2)
        rng = np.random.default_rng(5)
        df = pd.DataFrame(X, columns=[f"x{i}" for i in range(P)])
        df["x2"] = pd.Categorical(rng.choice(["p", "q", "r", "s", "t", "u"], N))
        y = (y + df["x2"].isin(["q", "t"]).astype(int)) % 2
        est = lgb.LGBMClassifier(**common, min_data_per_group=5, cat_smooth=1).fit(df, y)
        return est, df, _lgb_raw(est)
    if name == "lgb_rf":
        X, y = _data(nan=0.05)
        est = lgb.LGBMRegressor(
            **common, boosting_type="rf", bagging_freq=1, bagging_fraction=0.7
        ).fit(X, y)
        # treelens' margin is the average over the trees (LightGBM's raw_score is their sum).
        return est, X, lambda Z: _lgb_raw(est)(Z) / est.booster_.num_trees()
    if name == "lgb_ova":
        X, y = _data(classes=3)
        est = lgb.LGBMClassifier(**common, objective="multiclassova").fit(X, y)
        return est, X, _lgb_raw(est)
    if name == "lgb_file_multiclass":
        X, y = _data(classes=3, nan=0.05)
        est = lgb.LGBMClassifier(**common).fit(X, y)
        path = str(tmp / "model.txt")
        est.booster_.save_model(path)
        return path, X, _lgb_raw(lgb.Booster(model_file=path))
    raise KeyError(name)


@functools.cache
def fitted(name):
    """(what tl.load takes, X in the user's format, the library's raw margin of such X)."""
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp(prefix="treelens-sweep-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name.startswith("lgb"):
            return _lightgbm(name, tmp)
        if name.startswith("xgb"):
            return _xgboost(name, tmp)
        return _sklearn(name)


SKLEARN = [
    "dtr_multiout", "rfr_multiout_nan", "etc_multi", "gbr_zero", "gbr_huber_subsample",
    "gbc_bin_zero", "gbc_multi_zero", "hgbr_cat_nan", "hgbc_cat_frame", "hgbc_multi_nan",
]  # fmt: skip
XGBOOST = [
    "xgb_missing_value", "xgb_best_iteration", "xgb_parallel_trees", "xgb_dart",
    "xgb_poisson_base", "xgb_multitarget", "xgb_cat_frame_multi", "xgb_ubj_file",
]  # fmt: skip
LIGHTGBM = [
    "lgb_sigmoid2", "lgb_zero_as_missing", "lgb_no_missing", "lgb_categorical", "lgb_cat_frame",
    "lgb_rf", "lgb_ova", "lgb_file_multiclass",
]  # fmt: skip
ALL = SKLEARN + XGBOOST + LIGHTGBM


def _tol(name):
    return TOL32 if name.startswith("xgb") else TOL64


# --- every model kind against brute force -----------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_path_dependent_matches_brute_force(name):
    obj, X, f = fitted(name)
    model = tl.load(obj)
    Xs = _rows(X, slice(0, 3))
    phi, inter, ev, pred = path_brute(model, Xs)
    # The oracle's branch rule and the loaded trees reproduce the library's own prediction.
    scale = max(1.0, np.abs(pred).max())
    np.testing.assert_allclose(pred, f(Xs), rtol=0, atol=_tol(name) * scale)
    ex = tl.TreeExplainer(obj)
    k = model.n_outputs
    values = ex.shap_values(Xs).reshape(3, P, k)
    inters = ex.shap_interaction_values(Xs).reshape(3, P, P, k)
    np.testing.assert_allclose(np.atleast_1d(ex.expected_value), ev, rtol=0, atol=TOL64 * scale)
    np.testing.assert_allclose(values, phi, rtol=0, atol=TOL64 * scale)
    np.testing.assert_allclose(inters, inter, rtol=0, atol=TOL64 * scale)
    # Local accuracy against the library itself.
    np.testing.assert_allclose(
        values.sum(1) + np.atleast_1d(ex.expected_value), f(Xs), rtol=0, atol=_tol(name) * scale
    )


@pytest.mark.parametrize("name", ALL)
def test_interventional_matches_brute_force(name):
    obj, X, f = fitted(name)
    bg, Xs = _rows(X, slice(100, 112)), _rows(X, slice(0, 2))
    phi, inter, ev = interventional_brute(f, Xs, bg)
    ex = tl.TreeExplainer(obj, bg)
    k = phi.shape[-1]
    scale = max(1.0, np.abs(f(Xs)).max())
    atol = _tol(name) * scale
    np.testing.assert_allclose(np.atleast_1d(ex.expected_value), ev[0], rtol=0, atol=atol)
    np.testing.assert_allclose(ex.shap_values(Xs).reshape(2, P, k), phi, rtol=0, atol=atol)
    np.testing.assert_allclose(
        ex.shap_interaction_values(Xs).reshape(2, P, P, k), inter, rtol=0, atol=atol
    )


# --- regressions ----------------------------------------------------------------------------


def test_lightgbm_sigmoid_scale_in_probability_and_log_loss():
    """LightGBM's ``sigmoid`` parameter: the probability is 1 / (1 + exp(-s m)). The
    interventional probability and log-loss explanations used to ignore s (off by ~0.1)."""
    est, X, f = fitted("lgb_sigmoid2")
    bg, Xi = X[100:115], X[:3]
    y = np.array([0, 1, 1])

    def prob(m, _label):
        return 1.0 / (1.0 + np.exp(-2.0 * m))

    def loss(m, label):
        pr = prob(m, label)
        return -(label * np.log(pr) + (1 - label) * np.log1p(-pr))

    np.testing.assert_allclose(prob(f(X), None), est.predict_proba(X)[:, 1:], rtol=1e-12)
    ex = tl.TreeExplainer(est, bg, model_output="probability")
    phi, inter, ev = interventional_brute(f, Xi, bg, g=prob)
    np.testing.assert_allclose(ex.expected_value, ev[0, 0], rtol=TOL64)
    np.testing.assert_allclose(ex.shap_values(Xi), phi[..., 0], rtol=0, atol=TOL64)
    np.testing.assert_allclose(ex.shap_interaction_values(Xi), inter[..., 0], rtol=0, atol=TOL64)
    values = ex.shap_values(Xi)
    np.testing.assert_allclose(
        values.sum(1) + ex.expected_value, est.predict_proba(Xi)[:, 1], rtol=TOL64
    )

    ex = tl.TreeExplainer(est, bg, model_output="log_loss")
    phi, _, ev = interventional_brute(f, Xi, bg, g=loss, y=y)
    np.testing.assert_allclose(ex.shap_values(Xi, y), phi[..., 0], rtol=0, atol=TOL64)
    np.testing.assert_allclose(ex.expected_value(y), ev[:, 0], rtol=TOL64)
    # The path-dependent margin explanation is unchanged by the scale.
    phi, inter, _, _ = path_brute(tl.load(est), Xi)
    np.testing.assert_allclose(tl.TreeExplainer(est).shap_values(Xi), phi[..., 0], atol=TOL64)


def test_gradient_boosting_refuses_missing_values():
    """scikit-learn's GradientBoosting refuses NaN; treelens used to route NaN to an invented
    branch (the larger child) and return numbers for a model that has no answer."""
    est, X, _ = fitted("gbc_multi_zero")
    bad = X[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(InvalidInputError, match="missing values.*GradientBoostingClassifier"):
        tl.TreeExplainer(est).shap_values(bad)
    with pytest.raises(InvalidInputError, match="missing values"):
        tl.TreeExplainer(est, bad)
    with pytest.raises(InvalidInputError, match="missing values"):
        tl.load(est).predict(bad)
    with pytest.raises(ValueError):  # what scikit-learn itself does
        est.decision_function(bad)


@pytest.mark.parametrize("name", ["etc_multi", "lgb_ova", "xgb_best_iteration"])
def test_one_row_as_1d_array_or_series(name):
    """shap takes one row as a 1-D array or a Series and drops the row axis: so does treelens."""
    obj, X, _ = fitted(name)
    frame = pd.DataFrame(X[:2], columns=[f"f{i}" for i in range(P)])
    for ex in (tl.TreeExplainer(obj), tl.TreeExplainer(obj, X[100:110])):
        full = ex.shap_values(X[:1])
        inter = ex.shap_interaction_values(X[:1])
        np.testing.assert_array_equal(ex.shap_values(X[0]), full[0])
        np.testing.assert_array_equal(ex.shap_values(list(X[0])), full[0])
        np.testing.assert_array_equal(ex.shap_values(frame.iloc[0]), full[0])
        np.testing.assert_array_equal(ex.shap_interaction_values(X[0]), inter[0])


@pytest.mark.parametrize("kind", ["forest", "hist"])
def test_sklearn_reads_numeric_categorical_columns_by_value(kind):
    """A pandas categorical column that a scikit-learn model treats as numeric is read by its
    values, as scikit-learn does; treelens used its category codes (0, 1, 2 instead of 10, 20,
    30) and explained a different prediction."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    X[:, 1] = rng.choice([10.0, 20.0, 30.0], 150)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    est = (
        RandomForestRegressor(3, max_depth=4, random_state=0)
        if kind == "forest"
        else HistGradientBoostingRegressor(max_iter=5, random_state=0)
    ).fit(df, X[:, 1] + X[:, 0])
    cat = df.iloc[:6].copy()
    cat["b"] = pd.Categorical(cat["b"])
    cat.loc[cat.index[1], "b"] = np.nan
    ex = tl.TreeExplainer(est)
    np.testing.assert_allclose(
        ex.shap_values(cat).sum(1) + ex.expected_value,
        est._raw_predict(cat)[:, 0] if kind == "hist" else est.predict(cat),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(ex.shap_values(cat), ex.shap_values(cat.astype({"b": float})))
    text = df.iloc[:2].copy()
    text["b"] = pd.Categorical(["x", "y"])
    with pytest.raises(InvalidInputError, match="not numeric"):
        ex.shap_values(text)


def test_unreadable_inputs_get_a_clear_error():
    import xgboost as xgb

    est, X, _ = fitted("xgb_dart")
    ex = tl.TreeExplainer(est)
    with pytest.raises(InvalidInputError, match="object.*numpy array"):
        ex.shap_values(object())
    # A DMatrix is read (its data, absent entries missing), as XGBoost reads it.
    np.testing.assert_array_equal(ex.shap_values(xgb.DMatrix(X[:3])), ex.shap_values(X[:3]))
    with pytest.raises(InvalidInputError, match="rectangular"):
        ex.shap_values([[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0]])
    with pytest.raises(InvalidInputError, match="X has 4 columns"):
        ex.shap_values(X[0, :4])


def test_permutation_log_loss_uses_the_sigmoid_scale():
    """The native log loss computed probabilities as 1 / (1 + exp(-m)) for LightGBM's
    sigmoid=2 model (off by 0.19 in importance); it now goes through the estimator."""
    from sklearn.inspection import permutation_importance

    est, X, _ = fitted("lgb_sigmoid2")
    y = est.predict(X)
    y[::7] = 1 - y[::7]
    kw = dict(scoring="neg_log_loss", n_repeats=2, random_state=0)
    ref = permutation_importance(est, X, y, **kw)
    got = tl.permutation_importance(est, X, y, **kw)
    np.testing.assert_allclose(got.importances, ref.importances, rtol=1e-9, atol=1e-12)


def test_background_is_used_whole_and_shap_maskers_are_read():
    """shap.TreeExplainer keeps a 100-row sample of a larger background (silently); treelens
    uses every row, and reads a shap masker's rows, which reproduces shap's numbers."""
    shap = pytest.importorskip("shap")
    est, X, f = fitted("lgb_ova")
    bg = X[:140]
    masker = shap.maskers.Independent(bg)  # keeps shap.utils.sample(bg, 100, random_state=0)
    assert masker.data.shape[0] == 100
    ours = tl.TreeExplainer(est, masker)
    theirs = shap.TreeExplainer(est, bg)
    np.testing.assert_allclose(ours.expected_value, theirs.expected_value, rtol=1e-9)
    np.testing.assert_allclose(ours.shap_values(X[:4]), theirs.shap_values(X[:4]), atol=1e-6)
    # With the whole background: the exact mean over all 140 rows.
    whole = tl.TreeExplainer(est, bg)
    np.testing.assert_allclose(whole.expected_value, f(bg).mean(axis=0), rtol=1e-12)


def test_shap_options_with_their_defaults_are_accepted():
    est, X, _ = fitted("gbr_zero")
    ex = tl.TreeExplainer(est)
    base = ex.shap_values(X[:3])
    np.testing.assert_array_equal(
        ex.shap_values(X[:3], None, tree_limit=None, approximate=False, check_additivity=False),
        base,
    )
    # shap's options proper (issue #13): Saabas values, and the first stages only.
    saabas = ex.shap_values(X[:3], approximate=True)
    np.testing.assert_allclose(saabas.sum(1) + ex.expected_value, est.predict(X[:3]), rtol=1e-9)
    first = ex.shap_interaction_values(X[:3], tree_limit=2)
    staged = list(est.staged_predict(X[:3]))[1]
    offset = staged - first.sum(axis=(1, 2))
    np.testing.assert_allclose(offset, np.full(3, offset[0]), rtol=1e-9)


def test_gradient_boosting_exponential_loss_probability():
    """GradientBoostingClassifier(loss="exponential") predicts expit(2 * raw): its probability
    explanations were off by ~0.1 (the loader used expit(raw))."""
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = _data(classes=2)
    est = GradientBoostingClassifier(n_estimators=5, max_depth=3, loss="exponential")
    est.fit(X, y)
    model = tl.load(est)
    np.testing.assert_allclose(
        model.transform_margin(model.predict(X)), est.predict_proba(X)[:, 1], rtol=1e-12
    )
    bg, Xi = X[100:112], X[:3]
    f = _raw(est.decision_function)

    def proba(m, _label):
        return 1.0 / (1.0 + np.exp(-2.0 * m))

    phi, inter, ev = interventional_brute(f, Xi, bg, g=proba)
    ex = tl.TreeExplainer(est, bg, model_output="probability")
    np.testing.assert_allclose(ex.expected_value, ev[0, 0], rtol=TOL64)
    np.testing.assert_allclose(ex.shap_values(Xi), phi[..., 0], rtol=0, atol=TOL64)
    np.testing.assert_allclose(ex.shap_interaction_values(Xi), inter[..., 0], rtol=0, atol=TOL64)
    np.testing.assert_allclose(
        ex.shap_values(Xi).sum(1) + ex.expected_value, est.predict_proba(Xi)[:, 1], rtol=TOL64
    )


def _with_covers(model, covers):
    """A copy of ``model`` whose forest has the given node covers."""
    state = dict(model.forest.__reduce__()[1][0])
    state["cover"] = np.asarray(covers, dtype=np.float64)
    forest = tl._core.Forest(**state)
    return tl.Model(forest=forest, feature_names=None, objective=model.objective)


def _apply_counts(est, rows, weights) -> np.ndarray:
    """The weight of the rows reaching each node of each tree, from the leaves apply() gives."""
    counts = []
    for tree in est.estimators_:
        t = tree.tree_
        parent = np.full(t.node_count, -1)
        for node in range(t.node_count):
            if t.children_left[node] >= 0:
                parent[t.children_left[node]] = parent[t.children_right[node]] = node
        c = np.zeros(t.node_count)
        for leaf, weight in zip(tree.apply(rows), weights):
            node = leaf
            while node >= 0:
                c[node] += weight
                node = parent[node]
        counts.append(c)
    return np.concatenate(counts)


@pytest.mark.parametrize("weighted", [False, True])
def test_path_dependent_with_data_takes_covers_from_the_data(weighted):
    """shap's path-dependent explainer given data counts the data's rows through the trees and
    uses those counts as covers (1e-6 where no row goes); treelens ignored the data."""
    from sklearn.ensemble import RandomForestRegressor

    X, y = _data(nan=0.05)
    est = RandomForestRegressor(3, max_depth=5, random_state=0).fit(X, y)
    bg = X[:40]
    w = np.random.default_rng(1).integers(0, 3, len(bg)).astype(float) if weighted else None
    # Independent covers: the leaves scikit-learn's own apply() sends the rows to, and their
    # ancestors, weighted (not decision_path, which in scikit-learn 1.6 routes NaN otherwise
    # than predict does).
    counts = _apply_counts(est, bg, np.ones(len(bg)) if w is None else w)
    counts[counts == 0] = 1e-6
    assert (counts == 1e-6).any()  # some leaves see none of the 40 rows
    model = tl.load(est)
    assert counts.shape[0] == model.forest.n_nodes
    oracle = _with_covers(model, counts)
    ex = tl.TreeExplainer(est, bg, feature_perturbation="tree_path_dependent", data_weights=w)
    Xs = X[200:203]
    phi, inter, ev, _ = path_brute(oracle, Xs)
    np.testing.assert_allclose(ex.expected_value, ev[0], rtol=TOL64)
    np.testing.assert_allclose(ex.shap_values(Xs), phi[..., 0], rtol=0, atol=TOL64)
    np.testing.assert_allclose(ex.shap_interaction_values(Xs), inter[..., 0], rtol=0, atol=TOL64)
    np.testing.assert_allclose(
        ex.shap_values(Xs).sum(1) + ex.expected_value, est.predict(Xs), rtol=TOL64
    )
    if w is None:
        shap = pytest.importorskip("shap")
        theirs = shap.TreeExplainer(est, bg, feature_perturbation="tree_path_dependent")
        np.testing.assert_allclose(
            ex.shap_values(Xs), theirs.shap_values(Xs, check_additivity=False), atol=1e-12
        )
    else:  # a weight of 2 is a row given twice
        rep = np.repeat(bg, w.astype(int), axis=0)
        twice = tl.TreeExplainer(est, rep, feature_perturbation="tree_path_dependent")
        np.testing.assert_allclose(ex.shap_values(Xs), twice.shap_values(Xs), atol=1e-12)
    # Without data, the training covers.
    plain = tl.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    phi, _, _, _ = path_brute(model, Xs)
    np.testing.assert_allclose(plain.shap_values(Xs), phi[..., 0], rtol=0, atol=TOL64)


@pytest.mark.parametrize(
    "name, interactions",
    [
        ("etc_multi", True),
        ("hgbc_multi_nan", True),
        ("lgb_ova", True),
        ("lgb_file_multiclass", False),  # shap reads a file's Booster as one output for these
        ("xgb_parallel_trees", True),
        ("xgb_cat_frame_multi", False),  # shap's own walk cannot read the categorical frame
    ],
)
def test_path_dependent_agrees_with_shap(name, interactions):
    """Shapes, expected values and values as shap.TreeExplainer gives them (for XGBoost and
    LightGBM shap calls the libraries' own pred_contribs: an independent implementation)."""
    shap = pytest.importorskip("shap")
    obj, X, _ = fitted(name)
    if isinstance(obj, str):  # a model file: shap takes the library's Booster
        import lightgbm as lgb

        theirs = shap.TreeExplainer(lgb.Booster(model_file=obj))
    else:
        theirs = shap.TreeExplainer(obj)
    ours = tl.TreeExplainer(obj)
    Xs = _rows(X, slice(0, 5))
    tol = _tol(name) * 10
    want = np.asarray(theirs.shap_values(Xs))
    got = ours.shap_values(Xs)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    np.testing.assert_allclose(ours.expected_value, theirs.expected_value, rtol=0, atol=tol)
    if interactions:
        want = np.asarray(theirs.shap_interaction_values(Xs))
        got = ours.shap_interaction_values(Xs)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)
