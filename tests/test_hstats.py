"""H statistics against a plain brute-force implementation of R hstats' formulas.

The oracle evaluates every partial dependence function by predicting, with the model's own
library, on replicated data (row i's values of S combined with every row's other values) and
takes weighted means: the definition, with no use of the trees' structure.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import treelens as tl
from treelens.exceptions import FeatureNameError, InvalidInputError

EPS = 1e-10


def margin(est, Z):
    """The raw margin by the model's own library, shape (n, k).

    XGBoost sums its trees in float32, so for XGBoost the oracle uses treelens' float64
    prediction of the same trees, after checking it against XGBoost's to float32 precision.
    """
    name = type(est).__module__
    if name.startswith("xgboost"):
        own = np.asarray(est.predict(Z, output_margin=True), dtype=np.float64).reshape(len(Z), -1)
        out = tl.load(est).predict(Z).reshape(len(Z), -1)
        np.testing.assert_allclose(out, own, rtol=1e-5, atol=1e-5)
    elif name.startswith("lightgbm"):
        out = est.predict(Z, raw_score=True)
    elif (
        hasattr(est, "predict_proba")
        and hasattr(est, "estimators_")
        and not hasattr(est, "decision_function")
    ):
        out = est.predict_proba(Z)
    elif hasattr(est, "decision_function"):
        out = est.decision_function(Z)
    else:
        out = est.predict(Z)
    out = np.asarray(out, dtype=np.float64)
    return out.reshape(len(Z), -1)


class Oracle:
    """Brute-force centred partial dependence at the rows of X."""

    def __init__(self, est, X, w):
        self.est, self.X, self.w = est, X, w
        self.W = w.sum()
        self.cache = {}

    def wmean(self, z):
        return (self.w[:, None] * z).sum(axis=0) / self.W

    def centre(self, z):
        return z - self.wmean(z)

    def f(self):
        return self.centre(margin(self.est, self.X))

    def pd(self, S):
        S = tuple(sorted(S))
        if S not in self.cache:
            X, n = self.X, len(self.X)
            Z = np.tile(X, (n, 1))
            Z[:, list(S)] = np.repeat(X[:, list(S)], n, axis=0)
            pred = margin(self.est, Z).reshape(n, n, -1)
            pd = (pred * self.w[None, :, None]).sum(axis=1) / self.W
            self.cache[S] = self.centre(pd)
        return self.cache[S]

    def not_(self, j):
        return self.pd([a for a in range(self.X.shape[1]) if a != j])

    def overall(self, j):
        return self.wmean((self.f() - self.pd([j]) - self.not_(j)) ** 2)

    def denom(self):
        return self.wmean(self.f() ** 2)

    def pairwise(self, j, k):
        jk = self.pd([j, k])
        return self.wmean((jk - self.pd([j]) - self.pd([k])) ** 2), self.wmean(jk**2)

    def threeway(self, a, b, c):
        t = self.pd([a, b, c])
        d = (
            t
            - self.pd([a, b])
            - self.pd([a, c])
            - self.pd([b, c])
            + self.pd([a])
            + self.pd([b])
            + self.pd([c])
        )
        return self.wmean(d**2), self.wmean(t**2)

    def global_(self, feats):
        return self.wmean((self.f() - sum(self.pd([j]) for j in feats)) ** 2)


def post(num, den):
    num = np.where(num < EPS, 0.0, num)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def check_against_oracle(est, X, w, features=None, pairwise_m=10, threeway_m=10):
    p = X.shape[1]
    feats = list(range(p)) if features is None else features
    hs = tl.hstats(
        est, X, sample_weight=w, features=features, pairwise_m=pairwise_m, threeway_m=threeway_m
    )
    k = hs.n_outputs
    oracle = Oracle(est, X, np.ones(len(X)) if w is None else w)
    den = oracle.denom()
    num = np.array([oracle.overall(j) for j in feats])
    shape = (lambda a: a[..., 0]) if k == 1 else (lambda a: a)
    np.testing.assert_allclose(
        hs.h2_overall(normalize=False), shape(np.where(num < EPS, 0, num)), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(hs.h2_overall(), shape(post(num, den)), rtol=1e-9, atol=1e-12)
    g = oracle.global_(feats)
    np.testing.assert_allclose(hs.h2(), shape(post(g, den)), rtol=1e-9, atol=1e-12)
    pw = hs.h2_pairwise()
    chosen = [hs.features.index(f) for f in hs.pairwise_features]
    for a, b in itertools.combinations(range(len(feats)), 2):
        if a in chosen and b in chosen:
            n2, d2 = oracle.pairwise(feats[a], feats[b])
            np.testing.assert_allclose(pw[a, b], shape(post(n2, d2)), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(pw[b, a], pw[a, b])
        else:
            assert np.all(np.isnan(pw[a, b]))
    three = hs.h2_threeway()
    chosen3 = [hs.features.index(f) for f in hs.threeway_features]
    assert len(three) == len(list(itertools.combinations(chosen3, 3)))
    for key, v in three.items():
        a, b, c = (feats[hs.features.index(name)] for name in key)
        n3, d3 = oracle.threeway(a, b, c)
        np.testing.assert_allclose(v, shape(post(n3, d3)), rtol=1e-9, atol=1e-12)
    return hs


def data(seed, n=30, p=4, nan=False, ties=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    if ties:
        X = np.round(X, 1)
    y = (
        X[:, 0] * X[:, 1]
        + np.sin(X[:, 2])
        + 0.5 * X[:, 0] * X[:, 2] * X[:, 3]
        + 0.1 * rng.normal(size=n)
    )
    if nan:
        X[rng.random(size=X.shape) < 0.1] = np.nan
    return X, y


def weights(seed, n):
    return np.random.default_rng(seed + 100).uniform(0.2, 3.0, size=n)


def sk_gbr(X, y):
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0).fit(X, y)


def sk_rf(X, y):
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=5, max_depth=None, random_state=0).fit(X, y)


def sk_rfc(X, y):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0).fit(X, y > 0)


def xgb_reg(X, y):
    import xgboost as xgb

    return xgb.XGBRegressor(n_estimators=10, max_depth=4, n_jobs=1).fit(X, y)


def xgb_multi(X, y):
    import xgboost as xgb

    cls = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    return xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1).fit(X, cls)


def lgb_reg(X, y):
    import lightgbm as lgb

    return lgb.LGBMRegressor(
        n_estimators=10, num_leaves=8, min_child_samples=2, min_data_in_bin=1, verbose=-1
    ).fit(X, y)


def lgb_bin(X, y):
    import lightgbm as lgb

    return lgb.LGBMClassifier(
        n_estimators=8, num_leaves=6, min_child_samples=2, min_data_in_bin=1, verbose=-1
    ).fit(X, y > 0)


MODELS = {
    "sklearn-gbr": (sk_gbr, False),
    "sklearn-rf": (sk_rf, False),
    "sklearn-rf-classifier": (sk_rfc, False),
    "xgboost": (xgb_reg, True),
    "xgboost-multiclass": (xgb_multi, True),
    "lightgbm": (lgb_reg, True),
    "lightgbm-binary": (lgb_bin, True),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_brute_force(name, weighted):
    build, nan = MODELS[name]
    X, y = data(1, nan=nan)
    est = build(X, y)
    w = weights(1, len(X)) if weighted else None
    hs = check_against_oracle(est, X, w)
    k = tl.load(est).n_outputs
    assert hs.h2_overall().shape == ((4,) if k == 1 else (4, k))
    assert hs.h2_pairwise().shape == ((4, 4) if k == 1 else (4, 4, k))


def test_lightgbm_categorical_equals_brute_force():
    import lightgbm as lgb

    rng = np.random.default_rng(5)
    n = 30
    X = np.column_stack([rng.integers(0, 6, n), rng.normal(size=n), rng.normal(size=n)]).astype(
        float
    )
    y = np.where(np.isin(X[:, 0], [1, 4]), X[:, 1], -X[:, 1]) + X[:, 2]
    est = lgb.LGBMRegressor(
        n_estimators=10,
        num_leaves=6,
        min_child_samples=2,
        min_data_in_bin=1,
        min_data_per_group=1,
        cat_smooth=0,
        verbose=-1,
    ).fit(X, y, categorical_feature=[0])
    check_against_oracle(est, X, weights(5, n), threeway_m=3)


def test_lightgbm_zero_as_missing_equals_brute_force():
    import lightgbm as lgb

    X, y = data(8, n=30, nan=True)
    X[np.random.default_rng(8).random(size=X.shape) < 0.2] = 0.0
    est = lgb.LGBMRegressor(
        n_estimators=10,
        num_leaves=8,
        min_child_samples=2,
        min_data_in_bin=1,
        zero_as_missing=True,
        verbose=-1,
    ).fit(X, y)
    check_against_oracle(est, X, weights(8, 30), threeway_m=4)


@given(
    n=st.integers(3, 18),
    p=st.integers(2, 5),
    seed=st.integers(0, 10_000),
    library=st.sampled_from(["sklearn", "xgboost", "lightgbm"]),
    weighted=st.booleans(),
    ties=st.booleans(),
    subset=st.booleans(),
)
def test_hypothesis_shapes_and_data(n, p, seed, library, weighted, ties, subset):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    if ties:
        X = np.round(X)
    y = X[:, 0] * X[:, -1] + X.sum(axis=1) + rng.normal(size=n)
    if library == "sklearn":
        from sklearn.ensemble import GradientBoostingRegressor

        est = GradientBoostingRegressor(
            n_estimators=4, max_depth=3, min_samples_leaf=1, random_state=seed
        ).fit(X, y)
    elif library == "xgboost":
        import xgboost as xgb

        est = xgb.XGBRegressor(n_estimators=4, max_depth=3, n_jobs=1).fit(X, y)
    else:
        import lightgbm as lgb

        est = lgb.LGBMRegressor(
            n_estimators=4, num_leaves=6, min_child_samples=1, min_data_in_bin=1, verbose=-1
        ).fit(X, y)
    w = rng.uniform(0.1, 2.0, n) if weighted else None
    features = None
    if subset and p > 2:
        features = [int(j) for j in rng.permutation(p)[: p - 1]]
    m = p if features is None else len(features)
    check_against_oracle(est, X, w, features=features, pairwise_m=m, threeway_m=m)


def test_subset_and_selection_equal_brute_force():
    rng = np.random.default_rng(6)
    X = np.round(rng.normal(size=(30, 6)), 1)
    y = X[:, 0] * X[:, 1] * X[:, 2] + X[:, 3] * X[:, 4] + X[:, 5]
    est = xgb_reg(X, y)
    check_against_oracle(
        est, X, weights(6, 30), features=[4, 0, 1, 2, 3], pairwise_m=4, threeway_m=3
    )


def test_additive_model_has_no_interactions():
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 3))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2 + 0.5 * X[:, 2]
    est = GradientBoostingRegressor(n_estimators=100, max_depth=1, random_state=0).fit(X, y)
    hs = tl.hstats(est, X, pairwise_m=3, threeway_m=3)
    assert hs.h2() == 0.0
    np.testing.assert_array_equal(hs.h2_overall(), 0.0)
    # As in R's hstats, pairs are only computed among features with a positive overall
    # numerator: there are none.
    assert hs.pairwise_features == []
    assert np.all(np.isnan(hs.h2_pairwise()))
    assert hs.h2_threeway() == {}
    np.testing.assert_array_equal(hs.h2_overall(normalize=False), 0.0)


def test_product_has_strong_pairwise_interaction():
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 3))
    y = X[:, 0] * X[:, 1]
    est = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
    hs = tl.hstats(est, X, pairwise_m=3)
    pw = hs.h2_pairwise()
    assert pw[0, 1] > 0.8
    assert pw[0, 2] < 0.1 and pw[1, 2] < 0.1
    assert hs.h2_overall()[0] > 0.6 and hs.h2_overall()[1] > 0.6


def test_names_features_and_options():
    import pandas as pd

    X, y = data(3, n=25)
    est = sk_gbr(X, y)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    hs = tl.hstats(est, frame, pairwise_m=4, threeway_m=3)
    assert hs.features == ["a", "b", "c", "d"]
    unnamed = tl.hstats(est, X, pairwise_m=4, threeway_m=3)
    assert unnamed.features == ["x0", "x1", "x2", "x3"]
    np.testing.assert_array_equal(hs.h2_overall(), unnamed.h2_overall())
    by_name = tl.hstats(est, frame, features=["d", "a", "b"], pairwise_m=2)
    by_index = tl.hstats(est, X, features=[3, 0, 1], pairwise_m=2)
    assert by_name.features == ["d", "a", "b"]
    np.testing.assert_array_equal(by_name.h2_overall(), by_index.h2_overall())
    np.testing.assert_allclose(by_name.h2_overall(), hs.h2_overall()[[3, 0, 1]], rtol=1e-12)
    # pairwise_m picks the strongest overall numerators.
    nums = by_name.h2_overall(normalize=False)
    top = [by_name.features[i] for i in np.argsort(-nums, kind="stable")[:2] if nums[i] > 0]
    assert sorted(by_name.pairwise_features) == sorted(top)
    assert np.sum(~np.isnan(by_name.h2_pairwise())) == 2
    # squared=False is the root of the normalised value; normalize=False gives numerators.
    np.testing.assert_allclose(hs.h2_overall(squared=False), np.sqrt(hs.h2_overall()))
    np.testing.assert_allclose(
        np.nan_to_num(hs.h2_pairwise(squared=False)), np.sqrt(np.nan_to_num(hs.h2_pairwise()))
    )
    table = hs.to_frame()
    assert list(table.columns) == ["statistic", "features", "value"]
    assert (table["statistic"] == "pairwise").sum() == 6
    assert (table["statistic"] == "threeway").sum() == 1
    assert table.loc[table["statistic"] == "global", "value"].item() == pytest.approx(hs.h2())
    assert pairs_none(tl.hstats(est, X, pairwise_m=1))
    assert tl.hstats(est, X, pairwise_m=4, threeway_m=2).h2_threeway() == {}


def pairs_none(hs):
    return np.all(np.isnan(hs.h2_pairwise())) and hs.pairwise_features == []


def test_n_max_subsamples_rows():
    X, y = data(4, n=60)
    est = sk_gbr(X, y)
    hs = tl.hstats(est, X, n_max=20, random_state=7, pairwise_m=4)
    idx = np.sort(np.random.default_rng(7).choice(60, size=20, replace=False))
    ref = tl.hstats(est, X[idx], pairwise_m=4)
    np.testing.assert_array_equal(hs.h2_overall(), ref.h2_overall())
    np.testing.assert_array_equal(hs.h2_pairwise(), ref.h2_pairwise())
    full = tl.hstats(est, X, n_max=60, pairwise_m=0)
    np.testing.assert_array_equal(full.h2_overall(), tl.hstats(est, X, pairwise_m=0).h2_overall())


def test_bad_input():
    X, y = data(2, n=20)
    est = sk_gbr(X, y)
    with pytest.raises(FeatureNameError, match="unknown feature name 'zz'"):
        tl.hstats(est, X, features=["x0", "zz"])
    with pytest.raises(InvalidInputError, match="out of range"):
        tl.hstats(est, X, features=[0, 9])
    with pytest.raises(InvalidInputError, match="repeated"):
        tl.hstats(est, X, features=[0, 0])
    with pytest.raises(InvalidInputError, match="n_max"):
        tl.hstats(est, X, n_max=1)
    with pytest.raises(InvalidInputError, match="sample_weight"):
        tl.hstats(est, X, sample_weight=np.ones(5))
    with pytest.raises(InvalidInputError, match="sample_weight"):
        tl.hstats(est, X, sample_weight=-np.ones(20))
    with pytest.raises(InvalidInputError, match="columns"):
        tl.hstats(est, X[:, :2])
    with pytest.raises(InvalidInputError, match="pairwise_m"):
        tl.hstats(est, X, pairwise_m=-1)
    with pytest.raises(InvalidInputError, match="at least 2 rows"):
        tl.hstats(est, X[:1])
    from sklearn.ensemble import GradientBoostingRegressor

    one = GradientBoostingRegressor(n_estimators=3).fit(X[:, :1], y)
    with pytest.raises(InvalidInputError, match="at least 2 features"):
        tl.hstats(one, X[:, :1])


def test_pairwise_m_none_means_all_features():
    from sklearn.datasets import make_friedman1
    from sklearn.ensemble import GradientBoostingRegressor

    X, y = make_friedman1(300, 6, random_state=0)
    est = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X, y)
    every = tl.hstats(est, X, pairwise_m=None)
    explicit = tl.hstats(est, X, pairwise_m=6)
    np.testing.assert_array_equal(every.h2_pairwise(), explicit.h2_pairwise())
