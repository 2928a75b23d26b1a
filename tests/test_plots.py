"""treelens.plot and the results' .plot() methods: every plot is drawn (Agg backend) for
one-output and multi-output models, named and unnamed columns, and the drawn artists are
inspected (bars and their order, tick labels, lines, point counts, colorbars, heatmaps, the
waterfall's end at the model's prediction)."""

from __future__ import annotations

import importlib.util
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, QuadMesh  # noqa: E402

pd = pytest.importorskip("pandas")
ensemble = pytest.importorskip("sklearn.ensemble")
xgboost = pytest.importorskip("xgboost")

import treelens as tl  # noqa: E402
import treelens.plot as tlp  # noqa: E402
from treelens.explanation import Explanation  # noqa: E402
from treelens.importance import PermutationImportanceResult  # noqa: E402
from treelens.partial_dependence import PartialDependenceResult  # noqa: E402

NAMES = ["f0", "f1", "f2", "f3", "f4", "f5"]
GALLERY = Path(__file__).resolve().parent.parent / "examples" / "plot_gallery.py"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    """Friedman's regression problem (f0 and f1 interact) and three classes cut from it."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(240, 6))
    y = (
        10 * np.sin(np.pi * X[:, 0] * X[:, 1])
        + 20 * (X[:, 2] - 0.5) ** 2
        + 10 * X[:, 3]
        + 5 * X[:, 4]
        + rng.normal(scale=0.5, size=240)
    )
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    return X, y, labels


@pytest.fixture(scope="module")
def reg(data):
    """A regressor fitted on a DataFrame (named columns)."""
    X, y, _ = data
    Xd = pd.DataFrame(X, columns=NAMES)
    est = ensemble.GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0)
    return est.fit(Xd, y), Xd, y


@pytest.fixture(scope="module")
def clf(data):
    """A 3-class XGBoost classifier fitted on a numpy array (unnamed columns: x0, x1, ...)."""
    X, _, labels = data
    est = xgboost.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1, random_state=0)
    return est.fit(X, labels), X, labels


@pytest.fixture(scope="module")
def hs_reg(reg):
    est, Xd, _ = reg
    return tl.hstats(est, Xd, pairwise_m=4, threeway_m=3)


@pytest.fixture(scope="module")
def hs_clf(clf):
    est, X, _ = clf
    return tl.hstats(est, X, pairwise_m=3)


@pytest.fixture(scope="module")
def ex_reg(reg):
    est, Xd, _ = reg
    return tl.TreeExplainer(est)(Xd.iloc[:80])


@pytest.fixture(scope="module")
def ex_clf(clf):
    est, X, _ = clf
    return tl.TreeExplainer(est)(X[:60])


# -- helpers ---------------------------------------------------------------------------------
def labels_top_down(ax) -> list[str]:
    """The y tick labels, from the top of the axes down."""
    ticks = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()]
    return [text for _, text in sorted(ticks, key=lambda item: -item[0])]


def bars_top_down(ax):
    """``(y centre, left, width)`` of every bar, from the top down."""
    rects = [(p.get_y() + p.get_height() / 2, p.get_x(), p.get_width()) for p in ax.patches]
    return sorted(rects, key=lambda r: -r[0])


def has_colorbar(ax) -> bool:
    return len(ax.figure.axes) > 1


def colorbar_labels(ax) -> list[str]:
    return [a.get_ylabel() for a in ax.figure.axes if a is not ax]


# -- H statistics ----------------------------------------------------------------------------
def test_hstats_overall_bars_are_sorted_largest_on_top(hs_reg):
    ax = hs_reg.plot()
    values = hs_reg.h2_overall()
    order = np.argsort(-values, kind="stable")
    assert labels_top_down(ax) == [NAMES[j] for j in order]
    widths = [w for _, _, w in bars_top_down(ax)]
    np.testing.assert_allclose(widths, values[order])
    assert "H^2" in ax.get_xlabel()


def test_hstats_pairwise_and_threeway_labels(hs_reg):
    pw = hs_reg.h2_pairwise()
    ax = tlp.hstats(hs_reg, kind="pairwise")
    computed = {
        f"{NAMES[a]}:{NAMES[b]}": pw[a, b]
        for a in range(6)
        for b in range(a + 1, 6)
        if not np.isnan(pw[a, b])
    }
    assert len(computed) == 6  # the pairs of the 4 strongest features; NaN pairs skipped
    labels = labels_top_down(ax)
    assert sorted(labels) == sorted(computed)
    widths = [w for _, _, w in bars_top_down(ax)]
    np.testing.assert_allclose(widths, [computed[name] for name in labels])
    assert widths == sorted(widths, reverse=True)

    triples = hs_reg.h2_threeway()
    ax = hs_reg.plot("threeway", top_k=50)
    assert sorted(labels_top_down(ax)) == sorted(":".join(k) for k in triples)
    assert len(ax.patches) == len(triples) == 1


def test_hstats_top_k_unnormalized_and_no_triples(hs_reg, hs_clf):
    ax = hs_reg.plot(top_k=3, normalize=False, squared=False)
    assert len(ax.patches) == 3
    numerators = np.sqrt(hs_reg.h2_overall(normalize=False))
    np.testing.assert_allclose([w for _, _, w in bars_top_down(ax)], np.sort(numerators)[::-1][:3])
    with pytest.raises(ValueError, match="threeway_m"):
        hs_clf.plot("threeway")
    with pytest.raises(ValueError, match="kind"):
        hs_clf.plot("global")


def test_hstats_multi_output_grouped_or_one_output(hs_clf):
    overall = hs_clf.h2_overall()  # (6, 3)
    ax = hs_clf.plot()
    assert len(ax.patches) == 6 * 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "output 0",
        "output 1",
        "output 2",
    ]
    assert labels_top_down(ax) == [f"x{j}" for j in np.argsort(-overall.sum(axis=1), kind="stable")]
    ax = hs_clf.plot(output=1, ax=plt.figure().add_subplot())
    assert len(ax.patches) == 6
    np.testing.assert_allclose([w for _, _, w in bars_top_down(ax)], np.sort(overall[:, 1])[::-1])
    assert "output 1" in ax.get_title()
    ax = hs_clf.plot("pairwise")
    assert len(ax.patches) == 3 * 3  # 3 pairs of 3 features, 3 outputs


# -- partial dependence ----------------------------------------------------------------------
def test_partial_dependence_result_is_a_dict_with_plot(reg):
    est, Xd, _ = reg
    result = tl.partial_dependence(est, Xd, ["f0"], kind="both")
    assert isinstance(result, PartialDependenceResult) and isinstance(result, dict)
    assert set(result) == {"grid_values", "average", "individual", "features"}
    np.testing.assert_array_equal(result.average, result["average"])
    again = pickle.loads(pickle.dumps(result))
    assert type(again) is PartialDependenceResult and set(again) == set(result)


def test_partial_dependence_one_feature_with_ice_and_rug(reg):
    est, Xd, _ = reg
    result = tl.partial_dependence(est, Xd, ["f1"], kind="both", grid_resolution=15)
    ax = result.plot(max_ice=40, rug=Xd)
    assert len(ax.lines) == 40 + 1  # ICE curves, then the average
    pd_line = ax.lines[-1]
    np.testing.assert_allclose(pd_line.get_xdata(), result.grid_values[0])
    np.testing.assert_allclose(pd_line.get_ydata(), result.average[0])
    rugs = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(rugs) == 1 and len(rugs[0].get_segments()) == Xd["f1"].nunique()
    assert ax.get_xlabel() == "f1"
    ax = tlp.partial_dependence(result, ice=False, ax=plt.figure().add_subplot())
    assert len(ax.lines) == 1
    rugs = [c for c in ax.collections if isinstance(c, LineCollection)]
    # The data's deciles by default.
    deciles = np.percentile(Xd["f1"], np.arange(10, 100, 10))
    np.testing.assert_allclose([seg[0][0] for seg in rugs[0].get_segments()], deciles)
    ax = tl.partial_dependence(est, Xd, "f2", grid_resolution=10).plot(rug=False)
    assert len(ax.lines) == 1 and not ax.collections
    with pytest.raises(ValueError, match="kind='individual'"):
        tl.partial_dependence(est, Xd, "f2", grid_resolution=10).plot(ice=True)


def test_partial_dependence_ice_only_draws_every_curve_up_to_max_ice(clf):
    est, X, _ = clf
    result = tl.partial_dependence(est, X[:30], [0], kind="individual", grid_resolution=8)
    ax = result.plot(output=2)
    assert len(ax.lines) == 30
    np.testing.assert_allclose(ax.lines[0].get_ydata(), result.individual[2, 0])
    assert ax.get_xlabel() == "x0" and "output 2" in ax.get_ylabel()


def test_partial_dependence_two_features_heatmap(reg, clf):
    est, Xd, _ = reg
    result = tl.partial_dependence(est, Xd, ["f0", "f1"], grid_resolution=7)
    ax = result.plot()
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert mesh.get_array().shape == (7, 7)
    np.testing.assert_allclose(mesh.get_array(), result.average[0].T)
    assert mesh.colorbar is not None and has_colorbar(ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("f0", "f1")

    est, X, _ = clf
    result = tl.partial_dependence(est, X, [2, 0], grid=[np.linspace(0, 1, 4), [0.2, 0.5, 0.8]])
    ax = result.plot(output=1)
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert mesh.get_array().shape == (3, 4)
    np.testing.assert_allclose(mesh.get_array(), result.average[1].T)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x2", "x0")
    with pytest.raises(ValueError, match="out of range"):
        result.plot(output=3)


# -- ALE -------------------------------------------------------------------------------------
def test_ale_curve_and_heatmap(reg):
    est, Xd, _ = reg
    one, two = tl.ale(est, Xd, ["f0"]), tl.ale(est, Xd, ["f0", "f1"])
    ax = one.plot()
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_xdata(), one.grid_values[0])
    np.testing.assert_allclose(curve.get_ydata(), one.average[0])
    rugs = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(rugs[0].get_segments()) == len(one.grid_values[0])  # a tick per bin edge
    assert ax.get_xlabel() == "f0"
    ax = tlp.ale(two)
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert mesh.get_array().shape == two.average[0].T.shape
    assert has_colorbar(ax) and (ax.get_xlabel(), ax.get_ylabel()) == ("f0", "f1")


def test_ale_of_a_classifier(clf):
    est, X, _ = clf
    result = tl.ale(est, X, [4], grid_resolution=8)
    ax = result.plot(output=1)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), result.average[1])
    assert ax.get_xlabel() == "x4" and "output 1" in ax.get_ylabel()


def test_ale_of_a_multi_output_bunch():
    edges = [np.linspace(0, 1, 5)]
    average = np.stack([np.linspace(-1, 1, 5), np.linspace(1, -1, 5)])
    result = {"grid_values": edges, "average": average, "counts": np.full(4, 10)}
    ax = tlp.ale(result, output=1)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), average[1])
    assert ax.get_xlabel() == "x0" and "output 1" in ax.get_ylabel()


# -- permutation importance ------------------------------------------------------------------
def test_importance_boxes_sorted_with_the_tables_names(reg):
    est, Xd, y = reg
    result = tl.permutation_importance(est, Xd, y, n_repeats=4, random_state=0)
    assert isinstance(result, PermutationImportanceResult)
    assert set(result) == {"importances", "importances_mean", "importances_std"}
    assert result.feature_names == NAMES
    ax = result.plot()
    assert len(ax.patches) == 6  # one box per feature
    order = np.argsort(-result.importances_mean, kind="stable")
    assert labels_top_down(ax) == [NAMES[j] for j in order]
    ax = tlp.importance(result, top_k=2, feature_names=list("abcdef"))
    assert labels_top_down(ax) == [list("abcdef")[j] for j in order[:2]]
    assert len(ax.patches) == 2
    again = pickle.loads(pickle.dumps(result))
    assert again.feature_names == NAMES and set(again) == set(result)


def test_importance_unnamed_groups_and_scorers(clf):
    est, X, labels = clf
    result = tl.permutation_importance(est, X, labels, n_repeats=3, random_state=0)
    assert result.feature_names == [f"x{j}" for j in range(6)]
    assert sorted(labels_top_down(result.plot())) == sorted(result.feature_names)
    grouped = tl.permutation_importance(
        est, X, labels, n_repeats=3, random_state=0, groups=[[0, 1], [2], [3, 4, 5]]
    )
    assert grouped.feature_names == ["x0+x1", "x2", "x3+x4+x5"]
    assert len(grouped.plot().patches) == 3
    several = tl.permutation_importance(
        est, X, labels, n_repeats=2, random_state=0, scoring=["accuracy", "neg_log_loss"]
    )
    assert set(several) == {"accuracy", "neg_log_loss"}
    for part in several.values():
        assert part.feature_names == [f"x{j}" for j in range(6)]
        assert len(part.plot().patches) == 6
    with pytest.raises(ValueError, match="one per scorer"):
        tlp.importance(several)


def test_importance_of_a_sklearn_result_falls_back_to_x_names(reg):
    from sklearn.inspection import permutation_importance

    est, Xd, y = reg
    theirs = permutation_importance(est, Xd, y, n_repeats=2, random_state=0)
    assert sorted(labels_top_down(tlp.importance(theirs))) == [f"x{j}" for j in range(6)]


# -- SHAP summaries --------------------------------------------------------------------------
def test_shap_bar_one_and_many_outputs(ex_reg, ex_clf):
    ax = ex_reg.plot("bar")
    mean_abs = np.abs(ex_reg.values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    assert labels_top_down(ax) == [NAMES[j] for j in order]
    np.testing.assert_allclose([w for _, _, w in bars_top_down(ax)], mean_abs[order])
    assert len(tlp.shap_bar(ex_reg, top_k=4).patches) == 4

    ax = ex_clf.plot("bar")  # stacked: one segment per output
    assert len(ax.patches) == 6 * 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    totals = np.abs(ex_clf.values).mean(axis=0).sum(axis=1)
    assert labels_top_down(ax) == [f"x{j}" for j in np.argsort(-totals, kind="stable")]
    ax = tlp.shap_bar(ex_clf, output=2)
    assert len(ax.patches) == 6 and ax.get_title() == "2"


def test_beeswarm_rows_points_and_colorbar(ex_reg, ex_clf):
    ax = ex_reg.plot("beeswarm", top_k=4)
    swarms = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(swarms) == 4
    assert all(len(c.get_offsets()) == 80 for c in swarms)
    order = np.argsort(-np.abs(ex_reg.values).mean(axis=0), kind="stable")[:4]
    assert labels_top_down(ax) == [NAMES[j] for j in order]
    # The top row holds the strongest feature's SHAP values.
    top = max(swarms, key=lambda c: c.get_offsets()[:, 1].mean())
    np.testing.assert_allclose(
        np.sort(top.get_offsets()[:, 0]), np.sort(ex_reg.values[:, order[0]])
    )
    assert "Feature value" in colorbar_labels(ax)

    ax = tlp.beeswarm(ex_clf, output=1)
    swarms = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(swarms) == 6 and all(len(c.get_offsets()) == 60 for c in swarms)
    assert "1" in ax.get_xlabel()


def test_dependence_scatter_and_interaction_colour(ex_reg, ex_clf):
    ax = ex_reg.plot("dependence", feature="f0")
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(points.get_offsets()[:, 0], ex_reg.data[:, 0])
    np.testing.assert_allclose(points.get_offsets()[:, 1], ex_reg.values[:, 0])
    assert ax.get_xlabel() == "f0" and ax.get_ylabel() == "SHAP value for f0"
    assert colorbar_labels(ax) == ["f1"]  # f0 interacts with f1
    ax = tlp.dependence(ex_reg, 3, interaction_index=None)
    assert not has_colorbar(ax) and ax.get_xlabel() == "f3"
    ax = tlp.dependence(ex_reg, "f3", interaction_index="f4")
    assert colorbar_labels(ax) == ["f4"]
    ax = tlp.dependence(ex_clf, 1, output=2)
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points.get_offsets()) == 60
    np.testing.assert_allclose(points.get_offsets()[:, 1], ex_clf.values[:, 1, 2])
    with pytest.raises(TypeError, match="feature"):
        ex_reg.plot("dependence")


def test_approximate_interaction_finds_the_product_partner():
    from treelens.plot._shap import approximate_interaction

    rng = np.random.default_rng(3)
    data = rng.uniform(size=(300, 4))
    phi = data[:, 0] * (data[:, 2] - 0.5)  # feature 0's effect depends on feature 2
    assert approximate_interaction(data, phi, 0) == 2


def test_waterfall_ends_at_the_prediction(reg, ex_reg, clf, ex_clf):
    est, Xd, _ = reg
    ax = ex_reg[3].plot("waterfall", top_k=3)
    bars = bars_top_down(ax)
    assert len(bars) == 3 + 1
    labels = labels_top_down(ax)
    assert labels[-1] == "3 other features"
    (_, left, width) = bars[0]
    prediction = est.predict(Xd.iloc[[3]])[0]
    np.testing.assert_allclose(left + width, prediction, rtol=1e-9)
    (_, left, _) = bars[-1]
    np.testing.assert_allclose(left, ex_reg.base_values[3])
    phi = ex_reg.values[3]
    top = int(np.argmax(np.abs(phi)))
    assert labels[0] == f"{Xd.iloc[3, top]:.4g} = {NAMES[top]}"
    assert any(t.get_text() == f"f(x) = {prediction:.4g}" for t in ax.texts)

    est, X, _ = clf
    ax = tlp.waterfall(ex_clf, row=5, output=2, top_k=2)
    bars = bars_top_down(ax)
    assert len(bars) == 2 + 1
    margin = tl.load(est).predict(X[[5]])[0, 2]
    np.testing.assert_allclose(bars[0][1] + bars[0][2], margin, rtol=1e-6)
    ax = tlp.waterfall(ex_clf[5, :, 2], top_k=10)  # one row of one output: every feature
    assert len(ax.patches) == 6


def test_plots_of_the_numpy_only_explanation(ex_reg):
    e = Explanation(
        values=np.asarray(ex_reg.values),
        base_values=np.asarray(ex_reg.base_values),
        data=np.asarray(ex_reg.data),
        feature_names=NAMES,
    )
    assert type(e) is Explanation
    assert len(e.plot().patches) == 6
    assert len(e.plot("beeswarm").collections) >= 6
    assert len(e[0].plot("waterfall", top_k=2).patches) == 3
    assert e.plot("dependence", feature="f2").get_xlabel() == "f2"
    with pytest.raises(ValueError, match="kind"):
        e.plot("violin")


def test_outputs_by_name_and_fifty_features_stay_readable():
    rng = np.random.default_rng(0)
    n, p = 40, 50
    values = rng.normal(size=(n, p, 2)) * np.linspace(3, 0.1, p)[None, :, None]
    e = Explanation(
        values=values,
        base_values=np.zeros((n, 2)),
        data=rng.uniform(size=(n, p)),
        feature_names=[f"feature_{j}" for j in range(p)],
        output_names=["no", "yes"],
    )
    ax = tlp.shap_bar(e, output="yes")
    assert len(ax.patches) == 20 and ax.get_title() == "yes"
    mean_abs = np.abs(values[:, :, 1]).mean(axis=0)
    assert labels_top_down(ax) == [f"feature_{j}" for j in np.argsort(-mean_abs)[:20]]
    width, height = ax.figure.get_size_inches()
    assert 5 <= height <= 10  # about a third of an inch per bar
    ax = tlp.beeswarm(e, output="no")
    assert len([c for c in ax.collections if isinstance(c, PathCollection)]) == 20
    assert len(tlp.waterfall(e, row=3, output="yes").patches) == 10 + 1
    with pytest.raises(ValueError, match="output"):
        tlp.shap_bar(e, output="maybe")


def test_partial_dependence_with_lazy_ice_curves(reg):
    da = pytest.importorskip("dask.array")
    est, Xd, _ = reg
    result = tl.partial_dependence(est, Xd, ["f3"], kind="both", grid_resolution=9)
    lazy = PartialDependenceResult(result, individual=da.from_array(result.individual, chunks=50))
    ax = lazy.plot(max_ice=25)
    assert len(ax.lines) == 25 + 1
    curves = np.array([line.get_ydata() for line in ax.lines[:-1]])
    assert all((result.individual[0] == c).all(axis=1).any() for c in curves)  # rows' curves
    # A dask DataFrame's partitions have unknown lengths: the curves are computed, then picked.
    dask = pytest.importorskip("dask")
    unknown = da.from_delayed(
        dask.delayed(np.asarray)(result.individual), shape=(1, np.nan, 9), dtype=np.float64
    )
    ax = PartialDependenceResult(result, individual=unknown).plot(max_ice=25)
    assert len(ax.lines) == 25 + 1


def test_explanation_plot_is_treelens_and_shap_still_works(ex_reg):
    shap = pytest.importorskip("shap")
    assert isinstance(ex_reg, shap.Explanation)
    assert type(ex_reg).plot is Explanation.plot
    assert ex_reg.to_shap() is ex_reg
    shap.plots.bar(ex_reg, show=False)
    shap.plots.waterfall(ex_reg[0], show=False)


# -- decomposition and surrogate -------------------------------------------------------------
def test_decomposition_panels_by_variance(reg):
    est, Xd, _ = reg
    dec = tl.decompose(est, Xd.iloc[:50], data=Xd.iloc[100:160])
    axes = dec.plot(top_k=4)
    assert isinstance(axes, np.ndarray) and axes.shape == (4,)
    order = np.argsort(-np.var(dec.main, axis=0), kind="stable")[:4]
    assert [a.get_xlabel() for a in axes] == [NAMES[j] for j in order]
    line = axes[0].lines[0]
    j = order[0]
    sort = np.argsort(dec.data[:, j], kind="stable")
    np.testing.assert_allclose(line.get_xdata(), dec.data[sort, j])
    np.testing.assert_allclose(line.get_ydata(), dec.main[sort, j])
    assert len(line.get_xdata()) == 50
    ax = plt.figure().add_subplot()
    assert tlp.decomposition(dec, features=["f2"], ax=ax) is ax
    assert ax.get_xlabel() == "f2"
    with pytest.raises(ValueError, match="Axes given"):
        tlp.decomposition(dec, features=["f2", "f3"], ax=ax)


def test_decomposition_multi_output(clf):
    est, X, _ = clf
    dec = tl.decompose(est, X[:40], data=X[100:140], max_order=2)
    assert dec.main.shape == (40, 6, 3)
    axes = tlp.decomposition(dec, output=1, top_k=3)
    order = np.argsort(-np.var(dec.main[:, :, 1], axis=0), kind="stable")[:3]
    assert [a.get_xlabel() for a in axes] == [f"x{j}" for j in order]
    j = order[0]
    sort = np.argsort(X[:40, j], kind="stable")
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), dec.main[sort, j, 1])
    assert "output 1" in axes[0].figure.get_suptitle()


def test_surrogate_trees(reg, clf):
    est, Xd, _ = reg
    s = tl.surrogate(est, Xd, max_depth=2, random_state=0)
    ax = s.plot()
    tree = s.tree
    nodes = [t.get_text() for t in ax.texts if "samples" in t.get_text()]
    assert len(nodes) == tree.tree_.node_count
    assert nodes[0].startswith(f"{NAMES[tree.tree_.feature[0]]} <= ")
    title = ax.get_title()
    assert f"{s.fidelity_train:.3f}" in title and f"{s.fidelity_test:.3f}" in title
    assert s.metric in title

    est, X, _ = clf
    s = tl.surrogate(est, X, max_depth=2, random_state=0)
    ax = tlp.surrogate(s, ax=plt.figure().add_subplot(), fontsize=6)
    nodes = [t.get_text() for t in ax.texts if "samples" in t.get_text()]
    assert nodes[0].startswith("x") and all("class = " in t for t in nodes)


# -- without matplotlib ----------------------------------------------------------------------
def test_a_clear_import_error_without_matplotlib(monkeypatch, hs_reg, ex_reg):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    bunch = {"grid_values": [np.arange(3.0)], "average": np.zeros((1, 3))}
    calls = [
        lambda: hs_reg.plot(),
        lambda: tlp.partial_dependence(bunch),
        lambda: tlp.ale(bunch),
        lambda: tlp.importance({"importances": np.zeros((2, 3)), "importances_mean": [0, 0]}),
        lambda: ex_reg.plot("bar"),
        lambda: tlp.beeswarm(ex_reg),
        lambda: tlp.dependence(ex_reg, 0),
        lambda: tlp.waterfall(ex_reg),
        lambda: tlp.decomposition(types.SimpleNamespace(main=np.zeros((2, 2)))),
        lambda: tlp.surrogate(types.SimpleNamespace(tree=None)),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r"pip install 'treelens\[plot\]'"):
            call()


# -- documentation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [getattr(tlp, name) for name in tlp.__all__]
    + [
        tl.HStats.plot,
        Explanation.plot,
        PartialDependenceResult.plot,
        PermutationImportanceResult.plot,
    ],
    ids=lambda fn: fn.__qualname__,
)
def test_every_plot_is_documented(fn):
    import inspect

    doc = inspect.getdoc(fn) or ""
    assert "Parameters\n----------" in doc and "Returns\n-------" in doc
    assert "ax" in inspect.signature(fn).parameters
    assert inspect.signature(fn).parameters["ax"].kind is inspect.Parameter.KEYWORD_ONLY


# -- the gallery -----------------------------------------------------------------------------
def test_gallery_writes_every_png(tmp_path):
    spec = importlib.util.spec_from_file_location("plot_gallery", GALLERY)
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    written = gallery.main(tmp_path)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == sorted(gallery.FILES) and sorted(Path(p).name for p in written) == names
    for name in names:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
