"""The Explanation: a real shap.Explanation with shap installed (shap's plots take it), shap's
slicing and aggregation without shap (the numpy-only class, checked against shap's own results
on the same arrays), and sum_groups."""

from __future__ import annotations

import numpy as np
import pytest

import treelens as tl
from treelens.explanation import Explanation

shap = pytest.importorskip("shap")
ens = pytest.importorskip("sklearn.ensemble")


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    y = X[:, 0] - 2 * X[:, 1] * X[:, 2]
    reg = ens.GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=0).fit(X, y)
    labels = np.array(["low", "mid", "high"])[np.digitize(y, [-1, 1])]
    clf = ens.RandomForestClassifier(5, max_depth=3, random_state=0).fit(X, labels)
    return X, reg, clf


NAMES = ["f0", "f1", "f2", "f3"]


def test_call_returns_a_shap_explanation_that_shaps_plots_draw(fitted):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, reg, clf = fitted
    ex = tl.TreeExplainer(reg, feature_names=NAMES)
    e = ex(X)
    assert isinstance(e, shap.Explanation) and isinstance(e, tl.Explanation)
    shap.plots.bar(e, show=False)
    shap.plots.beeswarm(e, show=False)
    shap.plots.waterfall(e[0], show=False)
    shap.plots.scatter(e[:, "f0"], show=False)
    shap.plots.bar(e.cohorts(2), show=False)
    plt.close("all")
    np.testing.assert_array_equal(e[:, "f1"].values, e.values[:, 1])
    np.testing.assert_allclose(e.abs.mean(0).values, np.abs(e.values).mean(axis=0))
    assert e.to_shap() is e
    multi = tl.TreeExplainer(clf)(X[:10])
    assert list(multi.output_names) == list(clf.classes_)
    np.testing.assert_array_equal(multi[:, :, "mid"].values, multi.values[..., 2])
    shap.plots.waterfall(multi[0, :, "mid"], show=False)
    plt.close("all")


def _arrays(X, reg, clf, multi: bool):
    est = clf if multi else reg
    e = tl.TreeExplainer(est)(X[:20], check_additivity=False)
    return dict(
        values=np.asarray(e.values),
        base_values=np.asarray(e.base_values),
        data=np.asarray(e.data),
        feature_names=NAMES,
        output_names=list(clf.classes_) if multi else None,
    )


SINGLE = {
    "row": lambda e: e[3],
    "rows": lambda e: e[2:7],
    "mask": lambda e: e[np.arange(20) % 3 == 0],
    "index list": lambda e: e[[4, 1, 9]],
    "name": lambda e: e[:, "f2"],
    "names": lambda e: e[:, ["f3", "f0"]],
    "row and name": lambda e: e[5, "f1"],
    "abs": lambda e: e.abs,
    "mean": lambda e: e.mean(0),
    "abs mean": lambda e: e.abs.mean(0),
    "max": lambda e: e.max(0),
    "min": lambda e: e.min(0),
    "sum": lambda e: e.sum(0),
    "sample": lambda e: e.sample(7, random_state=3),
    "sample all": lambda e: e.sample(50),
}
MULTI = {
    "row": lambda e: e[3],
    "output name": lambda e: e[:, :, "mid"],
    "row feature output": lambda e: e[2, "f1", "high"],
    "rows and output": lambda e: e[1:4, :, "low"],
    "abs mean": lambda e: e.abs.mean(0),
    "sample": lambda e: e.sample(5, random_state=0),
}


def _same(ours, theirs, label):
    np.testing.assert_allclose(
        np.asarray(ours.values, dtype=float), np.asarray(theirs.values, dtype=float), err_msg=label
    )
    np.testing.assert_allclose(
        np.asarray(ours.base_values, dtype=float),
        np.asarray(theirs.base_values, dtype=float),
        err_msg=label,
    )
    assert np.shape(ours.data) == np.shape(theirs.data), label
    if theirs.data is not None and np.asarray(theirs.data).dtype != object:
        np.testing.assert_allclose(ours.data, theirs.data, err_msg=label)
    assert np.asarray(ours.feature_names, dtype=object).tolist() == (
        np.asarray(theirs.feature_names, dtype=object).tolist()
    ), label


@pytest.mark.parametrize("multi", [False, True])
def test_numpy_only_explanation_slices_and_aggregates_like_shap(fitted, multi):
    """Without shap, treelens' own class gives shap's numbers for shap's everyday operations."""
    arrays = _arrays(*fitted, multi=multi)
    ours = Explanation(**arrays)
    theirs = shap.Explanation(**arrays)
    assert ours.shape == theirs.shape and len(ours) == len(theirs)
    for label, op in (MULTI if multi else SINGLE).items():
        got, want = op(ours), op(theirs)
        assert type(got) is Explanation, label
        _same(got, want, label)


def test_numpy_only_cohorts_match_shaps(fitted):
    arrays = _arrays(*fitted, multi=False)
    ours = Explanation(**arrays).cohorts(3)
    theirs = shap.Explanation(**arrays).cohorts(3).cohorts
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        _same(ours[name], theirs[name], name)
    groups = np.where(np.arange(20) < 8, "a", "b")
    split = Explanation(**arrays).cohorts(groups)
    np.testing.assert_array_equal(split["a"].values, arrays["values"][:8])
    with pytest.raises(ValueError, match="one output"):
        Explanation(**_arrays(*fitted, multi=True)).cohorts(2)


def test_sum_groups_on_a_hand_made_grouping(fitted):
    X, reg, _ = fitted
    ex = tl.TreeExplainer(reg, feature_names=NAMES)
    groups = {"g_a": ["f1", "f3"]}
    data = X[:10].copy()
    data[:, 3] = data[:, 1]  # f1 and f3 carry the same value: the group keeps it
    for e in (ex(data), Explanation(**_arrays(data, reg, reg, multi=False) | {"data": data})):
        if not isinstance(e, shap.Explanation):
            e = Explanation(
                values=ex(data).values,
                base_values=ex(data).base_values,
                data=data,
                feature_names=NAMES,
            )
        summed = e.sum_groups(groups)
        assert list(summed.feature_names) == ["f0", "g_a", "f2"]
        v = np.asarray(e.values)
        np.testing.assert_array_equal(
            summed.values, np.stack([v[:, 0], v[:, 1] + v[:, 3], v[:, 2]], axis=1)
        )
        np.testing.assert_array_equal(summed.base_values, e.base_values)
        np.testing.assert_array_equal(np.asarray(summed.data, dtype=float)[:, 1], data[:, 1])
        # Local accuracy survives the grouping.
        np.testing.assert_allclose(summed.values.sum(axis=1), v.sum(axis=1), rtol=1e-12)
    # Columns whose values differ (one-hot codes) have no one value: data is None there.
    differing = ex(X[:10]).sum_groups({"g": ["f0", "f2"]})
    assert list(differing.feature_names) == ["g", "f1", "f3"]
    assert all(d is None for d in differing.data[:, 0])
    np.testing.assert_array_equal(np.asarray(differing.data[:, 1], dtype=float), X[:10, 1])
    # Interaction values are summed over both feature axes.
    inter = ex(X[:4], interactions=True).sum_groups({"g": ["f0", "f2"]})
    full = ex.shap_interaction_values(X[:4])
    assert inter.values.shape == (4, 3, 3)
    np.testing.assert_allclose(
        inter.values[:, 0, 0], full[:, [0, 2]][:, :, [0, 2]].sum(axis=(1, 2)), rtol=1e-12
    )
    with pytest.raises(KeyError, match="no feature"):
        ex(X[:3]).sum_groups({"g": ["f9"]})
    with pytest.raises(ValueError, match="two groups"):
        ex(X[:3]).sum_groups({"a": ["f0"], "b": ["f0", "f1"]})


def test_sum_groups_defaults_to_the_models_feature_groups(fitted):
    X, reg, _ = fitted
    ex = tl.TreeExplainer(reg, feature_names=NAMES)
    ex.model.feature_groups = {"pair": ["f2", "f3"]}
    e = ex(X[:5])
    assert e.feature_groups == {"pair": ["f2", "f3"]}
    np.testing.assert_array_equal(
        e.sum_groups().values, e.sum_groups({"pair": ["f2", "f3"]}).values
    )
    # shap's slices and reductions keep the groups (and treelens' class).
    for part in (e[:3], e[0], e.abs.mean(0), e.sample(2)):
        assert isinstance(part, tl.Explanation) and part.feature_groups == e.feature_groups
        v = np.asarray(part.values)
        np.testing.assert_allclose(part.sum_groups().values[..., 2], v[..., 2] + v[..., 3])
    with pytest.raises(ValueError, match="no groups"):
        tl.TreeExplainer(reg)(X[:5]).sum_groups()


def test_explanations_pickle(fitted):
    import pickle

    X, reg, _ = fitted
    e = tl.TreeExplainer(reg, feature_names=NAMES)(X[:5])
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is type(e) and isinstance(back, shap.Explanation)
    np.testing.assert_array_equal(back.values, e.values)
    plain = pickle.loads(pickle.dumps(Explanation(values=e.values, base_values=e.base_values)))
    np.testing.assert_array_equal(plain.values, e.values)


def test_without_shap_the_call_returns_the_numpy_only_class(fitted, monkeypatch):
    import treelens.explanation as module

    X, reg, _ = fitted
    monkeypatch.setattr(module, "_SHAP_CLASS", False)  # what an environment without shap sees
    e = tl.TreeExplainer(reg, feature_names=NAMES)(X[:6])
    assert type(e) is Explanation
    assert e[:, "f2"].values.shape == (6,) and e.abs.mean(0).values.shape == (4,)
    assert e.sum_groups({"g": ["f0", "f1"]}).values.shape == (6, 3)
