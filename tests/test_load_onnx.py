"""ONNX tree ensembles (skl2onnx / onnxmltools conversions and hand-built graphs): the loaded
margin equals onnxruntime's output, also on rows exactly at and beside every threshold, and the
SHAP values of the ONNX model equal those of the model it was converted from."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import treelens as tl
from treelens.exceptions import InvalidInputError, ModelFormatError, UnsupportedModelError

from _parity import assert_parity, edge_rows

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
onnxmltools = pytest.importorskip("onnxmltools")
from onnx import TensorProto, helper  # noqa: E402
from onnxmltools.convert.common.data_types import FloatTensorType  # noqa: E402
from sklearn import ensemble, tree  # noqa: E402

xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")

#: onnxruntime sums float32 weights in float32: agreement to a few float32 roundings of the
#: margin's scale (measured: at most 4.8e-7 absolute, on margins of order 1 to 10).
F32_RTOL = 2e-6


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = X[:, 0] + X[:, 1] ** 2 + 0.3 * X[:, 2]
    return X, y, (y > 1).astype(int), np.digitize(y, [0.0, 1.5])


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _ensemble(model):
    return next(n for n in model.graph.node if n.op_type.startswith("TreeEnsemble"))


def _raw_scores(model, X):
    """onnxruntime's scores with the ensemble's post_transform set to NONE (its margin)."""
    raw = onnx.ModelProto()
    raw.CopyFrom(model)
    node = _ensemble(raw)
    for a in node.attribute:
        if a.name == "post_transform":
            a.s = b"NONE"
    session = _session(raw)
    out = session.run(None, {session.get_inputs()[0].name: X})
    return np.asarray(out[-1], dtype=np.float64)


def _thresholds(model):
    attrs = {a.name: helper.get_attribute_value(a) for a in _ensemble(model).attribute}
    return [
        (f, t)
        for f, t, m in zip(attrs["nodes_featureids"], attrs["nodes_values"], attrs["nodes_modes"])
        if m != b"LEAF"
    ]


def _check_margin(model, X, label):
    loaded = tl.load(model)
    rng = np.random.default_rng(0)
    with np.errstate(over="ignore"):  # neighbours beyond float32's range become +-inf
        rows = edge_rows(X, _thresholds(model), rng=rng).astype(np.float32)
    got = loaded.predict(rows)
    want = _raw_scores(model, rows)
    if got.ndim == 1:
        # One-score binary classifiers: onnxruntime writes [-s, s] (or [1 - s, s]).
        want = want[:, -1] if want.ndim == 2 else want
    scale = max(1.0, float(np.max(np.abs(want))))
    assert_parity(got, want, rtol=0, atol=F32_RTOL * scale, label=label)
    return loaded


def _skl(est, X):
    options = {id(est): {"zipmap": False}} if hasattr(est, "classes_") else None
    return skl2onnx.to_onnx(est, X[:1], options=options)


def _onnxml(est, n_features):
    types = [("input", FloatTensorType([None, n_features]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(est, xgboost.XGBModel):
            return onnxmltools.convert_xgboost(est, initial_types=types, target_opset=15)
        return onnxmltools.convert_lightgbm(est, initial_types=types, target_opset=15, zipmap=False)


SKLEARN = [
    ("rf_regressor", lambda: ensemble.RandomForestRegressor(8, max_depth=5, random_state=0), 1),
    ("rf_binary", lambda: ensemble.RandomForestClassifier(8, max_depth=5, random_state=0), 2),
    ("rf_multiclass", lambda: ensemble.RandomForestClassifier(8, max_depth=5, random_state=0), 3),
    ("gb_regressor", lambda: ensemble.GradientBoostingRegressor(n_estimators=10, max_depth=3), 1),
    ("gb_binary", lambda: ensemble.GradientBoostingClassifier(n_estimators=10, max_depth=3), 2),
    ("gb_multiclass", lambda: ensemble.GradientBoostingClassifier(n_estimators=6, max_depth=3), 3),
    ("tree_regressor", lambda: tree.DecisionTreeRegressor(max_depth=6, random_state=0), 1),
    ("tree_multiclass", lambda: tree.DecisionTreeClassifier(max_depth=6, random_state=0), 3),
]


def _target(data, classes):
    X, y, yb, y3 = data
    return {1: y, 2: yb, 3: y3}[classes]


def _background_shap(model_or_est, X, background, **kw):
    ex = tl.TreeExplainer(model_or_est, data=background, **kw)
    return ex.shap_values(X), ex.expected_value


@pytest.mark.parametrize("name, make, classes", SKLEARN, ids=[c[0] for c in SKLEARN])
def test_skl2onnx_matches_onnxruntime_and_the_original(data, name, make, classes):
    X = data[0]
    est = make().fit(X, _target(data, classes))
    model = _skl(est, X)
    loaded = _check_margin(model, X, f"onnx skl2onnx {name}")
    # The same trees: treelens' explanation of the ONNX model is the original model's, to the
    # float32 rounding of the leaf values in the ONNX file.
    rows = X[:25]
    # Path-dependent with covers counted on data: on the training rows, which reach every node
    # (shap's 1e-6 for an unreached node makes the values depend on how leaves are offset).
    for background, kw in ((X[100:140], {}), (X, {"feature_perturbation": "tree_path_dependent"})):
        got, got_base = _background_shap(loaded, rows, background, **kw)
        want, want_base = _background_shap(est, rows, background, **kw)
        scale = max(1.0, float(np.max(np.abs(want))))
        assert_parity(got, want, rtol=0, atol=F32_RTOL * scale, label=f"onnx shap {name}")
        assert_parity(got_base, want_base, rtol=0, atol=F32_RTOL * scale)
    if classes > 1:
        np.testing.assert_array_equal(loaded.classes, est.classes_)


LIBRARIES = [
    ("xgb_regressor", lambda: xgboost.XGBRegressor(n_estimators=10, max_depth=3, n_jobs=1), 1),
    ("xgb_binary", lambda: xgboost.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1), 2),
    ("xgb_multiclass", lambda: xgboost.XGBClassifier(n_estimators=6, max_depth=3, n_jobs=1), 3),
    (
        "lgb_regressor",
        lambda: lightgbm.LGBMRegressor(n_estimators=10, num_leaves=8, verbose=-1, n_jobs=1),
        1,
    ),
    (
        "lgb_binary",
        lambda: lightgbm.LGBMClassifier(n_estimators=10, num_leaves=8, verbose=-1, n_jobs=1),
        2,
    ),
    (
        "lgb_multiclass",
        lambda: lightgbm.LGBMClassifier(n_estimators=6, num_leaves=8, verbose=-1, n_jobs=1),
        3,
    ),
]


@pytest.mark.parametrize("name, make, classes", LIBRARIES, ids=[c[0] for c in LIBRARIES])
def test_onnxmltools_matches_onnxruntime_and_the_original(data, name, make, classes):
    X = data[0].copy()
    X[::9, 2] = np.nan  # missing values: each library's default direction, kept by the converter
    est = make().fit(X, _target(data, classes))
    model = _onnxml(est, X.shape[1])
    loaded = _check_margin(model, X, f"onnx onnxmltools {name}")
    # Probabilities through the post_transform, as onnxruntime returns them.
    session = _session(model)
    proba = np.asarray(session.run(None, {"input": X})[-1], dtype=np.float64)
    mine = loaded.transform_margin(loaded.predict(X))
    if classes > 1:
        mine = np.c_[1 - mine, mine] if mine.ndim == 1 else mine
        assert_parity(mine, proba, rtol=0, atol=1e-6)
    rows, background = X[:25], X[100:140]
    got, _ = _background_shap(loaded, rows, background)
    want, _ = _background_shap(est, rows, background)
    scale = max(1.0, float(np.max(np.abs(want))))
    assert_parity(got, want, rtol=0, atol=F32_RTOL * scale, label=f"onnx shap {name}")


def test_zipmap_graphs_load_as_without(data):
    X, y3 = data[0], data[3]
    est = ensemble.RandomForestClassifier(5, max_depth=4, random_state=0).fit(X, y3)
    with_zipmap = skl2onnx.to_onnx(est, X[:1])
    assert any(n.op_type == "ZipMap" for n in with_zipmap.graph.node)
    np.testing.assert_array_equal(tl.load(with_zipmap).predict(X), tl.load(_skl(est, X)).predict(X))


def test_lightgbm_categorical_splits():
    rng = np.random.default_rng(3)
    X = np.c_[rng.normal(size=500), rng.integers(0, 9, 500), rng.normal(size=500)]
    X = X.astype(np.float32)
    X[::11, 1] = np.nan
    y = X[:, 0] + 2.0 * np.isin(X[:, 1], [1, 3, 6]) - np.isin(X[:, 1], [2, 8]) + 0.1 * X[:, 2]
    est = lightgbm.LGBMRegressor(
        n_estimators=8, num_leaves=8, min_data_per_group=5, cat_smooth=1, verbose=-1
    ).fit(X, y, categorical_feature=[1])
    model = _onnxml(est, 3)
    modes = next(a for a in _ensemble(model).attribute if a.name == "nodes_modes")
    assert b"BRANCH_EQ" in helper.get_attribute_value(modes)
    loaded = _check_margin(model, X, "onnx onnxmltools lgb_categorical")
    # The same function as LightGBM's on these rows, so the same explanation.
    rows = X[:60]
    np.testing.assert_allclose(loaded.predict(rows), est.predict(rows), rtol=0, atol=1e-5)
    got, _ = _background_shap(loaded, rows[:20], X[100:140])
    want, _ = _background_shap(est, rows[:20], X[100:140])
    assert_parity(got, want, rtol=0, atol=1e-5, label="onnx shap lgb_categorical")


def test_path_bytes_and_proto_load_the_same(data, tmp_path):
    X, y = data[0], data[1]
    model = _skl(ensemble.GradientBoostingRegressor(n_estimators=5).fit(X, y), X)
    path = tmp_path / "gb.onnx"
    path.write_bytes(model.SerializeToString())
    want = tl.load(model).predict(X)
    np.testing.assert_array_equal(tl.load(path).predict(X), want)
    np.testing.assert_array_equal(tl.load(str(path)).predict(X), want)
    np.testing.assert_array_equal(tl.load(model.SerializeToString()).predict(X), want)


def test_path_dependent_without_data_is_refused(data):
    X, y = data[0], data[1]
    model = _skl(ensemble.RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, y), X)
    with pytest.raises(InvalidInputError, match="no node covers"):
        tl.TreeExplainer(model)


# -- hand-built graphs: every comparison mode, missing tracks, averaging, double inputs ---------

_T = np.float32([0.1, -0.3, 0.7, 1.0 / 3.0, -1.1])


def _hand_built(*, modes, aggregate="AVERAGE", elem=TensorProto.FLOAT, cast=False, extra=None):
    """Two trees over three features feeding two targets; tree 0 feeds both, tree 1 the second.
    With ``cast`` the input is double, cast to float before the ensemble."""
    m0, m1, m2, m3 = modes
    attrs = dict(
        nodes_treeids=[0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
        nodes_nodeids=[0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4],
        nodes_featureids=[0, 1, 2, 0, 0, 0, 0, 2, 0, 0, 1, 0],
        nodes_values=[
            float(_T[0]),
            float(_T[1]),
            float(_T[2]),
            0,
            0,
            0,
            0,
            float(_T[3]),
            0,
            float(_T[4]),
            0,
            0,
        ],  # fmt: skip
        nodes_modes=[m0, m1, m2, "LEAF", "LEAF", "LEAF", "LEAF", m3, "LEAF", m0, "LEAF", "LEAF"],
        nodes_truenodeids=[1, 3, 5, 0, 0, 0, 0, 1, 0, 3, 0, 0],
        nodes_falsenodeids=[2, 4, 6, 0, 0, 0, 0, 2, 0, 4, 0, 0],
        nodes_missing_value_tracks_true=[1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0],
        target_treeids=[0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
        target_nodeids=[3, 3, 4, 4, 5, 5, 6, 6, 1, 3, 4],
        target_ids=[0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1],
        target_weights=[1.5, -2.0, 0.25, 3.0, -0.75, 0.5, 2.0, -1.0, 0.125, -4.0, 6.5],
        n_targets=2,
        base_values=[0.5, -1.25],
        aggregate_function=aggregate,
        post_transform="NONE",
    )
    attrs.update(extra or {})
    source = "Xc" if cast else "X"
    nodes = [
        helper.make_node("TreeEnsembleRegressor", [source], ["Y"], domain="ai.onnx.ml", **attrs)
    ]
    if cast:
        nodes.insert(0, helper.make_node("Cast", ["X"], ["Xc"], to=TensorProto.FLOAT))
        elem = TensorProto.DOUBLE
    graph = helper.make_graph(
        nodes,
        "hand_built",
        [helper.make_tensor_value_info("X", elem, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]
    )


def _edge_rows_3():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    pairs = [(0, _T[0]), (1, _T[1]), (2, _T[2]), (2, _T[3]), (0, _T[4])]
    return edge_rows(X, pairs, rng=rng)


MODES = [
    ("BRANCH_LEQ",) * 4,
    ("BRANCH_LT",) * 4,
    ("BRANCH_GTE", "BRANCH_GT", "BRANCH_GTE", "BRANCH_GT"),
    ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"),
    ("BRANCH_EQ", "BRANCH_NEQ", "BRANCH_LT", "BRANCH_EQ"),
]
MODE_IDS = ["leq", "lt", "ge_gt", "mixed", "eq_neq"]


@pytest.mark.parametrize("modes", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE"])
@pytest.mark.parametrize("elem", ["f32", "f64", "f64_cast_to_f32"])
def test_hand_built_comparisons_match_onnxruntime(modes, aggregate, elem):
    model = _hand_built(
        modes=list(modes),
        aggregate=aggregate,
        elem=TensorProto.FLOAT if elem == "f32" else TensorProto.DOUBLE,
        cast=elem == "f64_cast_to_f32",
    )
    rows = _edge_rows_3()
    dtype = np.float32 if elem == "f32" else np.float64
    with np.errstate(over="ignore"):
        rows = rows.astype(dtype)
    want = np.asarray(_session(model).run(None, {"X": rows})[0], dtype=np.float64)
    got = tl.load(model).predict(rows)
    # Leaf weights and base values are dyadic: the float32 sums are exact.
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("modes", MODES, ids=MODE_IDS)
def test_shared_nodes_are_unfolded_as_onnxruntime_reads_them(modes):
    # Interior node 1 is the true side of nodes 0 and 2 (onnxmltools writes LightGBM's
    # categorical splits as chains sharing their true side; onnxruntime wants false sides
    # unshared).
    model = _hand_built(
        modes=list(modes),
        extra=dict(nodes_truenodeids=[1, 3, 1, 0, 0, 0, 0, 1, 0, 3, 0, 0]),
    )
    with np.errstate(over="ignore"):
        rows = _edge_rows_3().astype(np.float32)
    want = np.asarray(_session(model).run(None, {"X": rows})[0], dtype=np.float64)
    np.testing.assert_array_equal(tl.load(model).predict(rows), want)


def _with(model_factory, **changes):
    return model_factory(modes=["BRANCH_LEQ"] * 4, extra=changes)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(aggregate_function="MIN"), "aggregate_function"),
        (dict(post_transform="PROBIT"), "post_transform"),
        (
            dict(post_transform="SOFTMAX", n_targets=1, target_ids=[0] * 11, base_values=[0.5]),
            "SOFTMAX",
        ),
        (
            dict(
                nodes_modes=["BRANCH_MEMBER"]
                + ["BRANCH_LEQ"] * 2
                + ["LEAF"] * 4
                + ["BRANCH_LEQ", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"]
            ),
            "BRANCH_MEMBER",
        ),  # fmt: skip
    ],
)
def test_unsupported_ensembles_are_refused(changes, match):
    with pytest.raises(UnsupportedModelError, match=match):
        tl.load(_with(_hand_built, **changes))


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(nodes_truenodeids=[1, 3, 9, 0, 0, 0, 0, 1, 0, 3, 0, 0]), "not in the tree"),
        (dict(nodes_truenodeids=[1, 3, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0]), "cycle"),
        (dict(target_nodeids=[3, 3, 4, 4, 5, 5, 6, 6, 1, 3, 7]), "not in the tree"),
        (dict(target_ids=[0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 2]), "output 2"),
        (dict(nodes_featureids=[0, 1, 5, 0, 0, 0, 0, 2, 0, 0, 1, 0]), "feature 5"),
        (dict(nodes_values=[0.1, float("nan")] + [0.0] * 10), "non-finite"),
        (dict(nodes_modes=["BRANCH_LEQ"] * 3 + ["LEAF"] * 4), "nodes_modes"),
    ],
)
def test_corrupt_ensembles_are_format_errors(changes, match):
    with pytest.raises(ModelFormatError, match=match):
        tl.load(_with(_hand_built, **changes))


def test_corrupt_files_are_format_errors(data, tmp_path):
    X, y = data[0], data[1]
    good = _skl(ensemble.RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, y), X)
    raw = good.SerializeToString()
    for bad in (raw[: len(raw) // 2], b"\x08\x07\xff\xff\xff garbage", b"\x08"):
        path = tmp_path / "bad.onnx"
        path.write_bytes(bad)
        with pytest.raises(ModelFormatError):
            tl.load(path)
        with pytest.raises(ModelFormatError):
            tl.load(bad)


def test_graphs_that_transform_the_input_are_refused(data):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data[0], data[1]
    pipe = make_pipeline(StandardScaler(), tree.DecisionTreeRegressor(max_depth=3)).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="Scaler"):
        tl.load(skl2onnx.to_onnx(pipe, X[:1]))


# -- the TreeEnsemble operator (ai.onnx.ml opset 5) -------------------------------------------


def _tree_ensemble(*, modes, aggregate, splits_type=TensorProto.FLOAT, extra=None):
    """Three trees, two targets: a shared leaf (tree 1) and a one-leaf tree (tree 2)."""
    code = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4,
            "BRANCH_NEQ": 5}  # fmt: skip
    m0, m1, m2, m3 = (code[m] for m in modes)
    splits = [_T[0], _T[1], _T[2], _T[4], _T[3]]
    attrs = dict(
        nodes_featureids=[0, 1, 2, 0, 1],
        nodes_modes=helper.make_tensor("modes", TensorProto.UINT8, [5], [m0, m1, m2, m3, 0]),
        nodes_splits=helper.make_tensor("splits", splits_type, [5], [float(v) for v in splits]),
        nodes_truenodeids=[1, 1, 3, 3, 5],
        nodes_trueleafs=[0, 1, 0, 1, 1],
        nodes_falsenodeids=[0, 2, 3, 4, 5],
        nodes_falseleafs=[1, 1, 1, 1, 1],
        nodes_missing_value_tracks_true=[1, 0, 1, 0, 0],
        tree_roots=[0, 2, 4],
        leaf_targetids=[0, 0, 1, 1, 0, 1],
        leaf_weights=helper.make_tensor(
            "weights", TensorProto.FLOAT, [6], [1.5, -2.0, 0.25, 3.0, -0.75, 0.5]
        ),
        n_targets=2,
        aggregate_function={"AVERAGE": 0, "SUM": 1}[aggregate],
        post_transform=0,
    )
    attrs.update(extra or {})
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    graph = helper.make_graph(
        [node],
        "tree_ensemble",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)]
    )


@pytest.mark.parametrize("modes", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE"])
def test_tree_ensemble_operator_matches_onnxruntime(modes, aggregate):
    model = _tree_ensemble(modes=list(modes), aggregate=aggregate)
    rows = _edge_rows_3()
    with np.errstate(over="ignore"):
        rows = rows.astype(np.float32)
    want = np.asarray(_session(model).run(None, {"X": rows})[0], dtype=np.float64)
    got = tl.load(model).predict(rows)
    # Dyadic weights: sums are exact; onnxruntime's mean of three trees is rounded to float32.
    np.testing.assert_allclose(got, want, rtol=2**-23, atol=0)


@pytest.mark.parametrize(
    "extra, error, match",
    [
        (dict(tree_roots=[0, 2, 4, 3]), ModelFormatError, "twice"),
        (dict(nodes_falsenodeids=[0, 2, 3, 9, 5]), ModelFormatError, "out of range"),
        (dict(aggregate_function=2), UnsupportedModelError, "MIN"),
        (
            dict(nodes_modes=helper.make_tensor("m", TensorProto.UINT8, [5], [6, 0, 0, 0, 0])),
            UnsupportedModelError,
            "BRANCH_MEMBER",
        ),
    ],
)
def test_tree_ensemble_operator_refusals(extra, error, match):
    model = _tree_ensemble(modes=["BRANCH_LEQ"] * 4, aggregate="SUM", extra=extra)
    with pytest.raises(error, match=match):
        tl.load(model)


def test_graphs_that_transform_the_output_are_refused():
    model = _hand_built(modes=["BRANCH_LEQ"] * 4)
    graph = model.graph
    graph.node.append(helper.make_node("Identity", ["Y"], ["Y1"]))
    graph.node.append(helper.make_node("Sigmoid", ["Y1"], ["Y2"]))
    with pytest.raises(UnsupportedModelError, match="Sigmoid"):
        tl.load(model)


def test_string_class_labels(data):
    X, y3 = data[0], data[3]
    labels = np.array(["low", "mid", "high"])[y3]
    est = ensemble.GradientBoostingClassifier(n_estimators=4, max_depth=2).fit(X, labels)
    loaded = tl.load(_skl(est, X))
    np.testing.assert_array_equal(loaded.classes, est.classes_)
    np.testing.assert_allclose(
        loaded.predict(X), est.decision_function(X), rtol=0, atol=F32_RTOL * 10
    )


def _mutations(rng, model):
    """Seeded mutations of a model: byte flips of its serialisation, or one attribute value
    replaced by a hostile one (negative, huge, NaN, infinite)."""
    raw = model.SerializeToString()
    for k in range(160):
        if k % 2:
            data = bytearray(raw)
            for _ in range(rng.integers(1, 5)):
                data[rng.integers(0, len(data))] = rng.integers(0, 256)
            yield bytes(data)
            continue
        mutated = onnx.ModelProto()
        mutated.CopyFrom(model)
        node = _ensemble(mutated)
        attr = node.attribute[rng.integers(0, len(node.attribute))]
        if attr.ints:
            attr.ints[rng.integers(0, len(attr.ints))] = int(
                rng.choice([-1, 0, 2, 7, 2**31, -(2**40), 2**40])
            )
        elif attr.floats:
            attr.floats[rng.integers(0, len(attr.floats))] = float(
                rng.choice([np.nan, np.inf, -1e38, 0.0])
            )
        elif attr.type == onnx.AttributeProto.INT:
            attr.i = int(rng.choice([-1, 0, 3, 2**40]))
        elif attr.type == onnx.AttributeProto.TENSOR and attr.t.raw_data:
            data = bytearray(attr.t.raw_data)
            data[rng.integers(0, len(data))] = rng.integers(0, 256)
            attr.t.raw_data = bytes(data)
        yield mutated


@pytest.mark.parametrize("which", ["legacy", "opset5"])
def test_mutated_models_load_or_raise_treelens_errors(which):
    model = (
        _hand_built(modes=["BRANCH_EQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_NEQ"])
        if which == "legacy"
        else _tree_ensemble(modes=["BRANCH_EQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_NEQ"],
                            aggregate="SUM")
    )  # fmt: skip
    rows = _edge_rows_3()
    loaded = 0
    for case in _mutations(np.random.default_rng(7), model):
        try:
            mutated = tl.load(case)
        except (ModelFormatError, UnsupportedModelError):
            continue
        loaded += 1
        if mutated.n_features == rows.shape[1]:
            assert np.all(np.isfinite(mutated.predict(rows)))
    assert loaded > 0


def test_without_the_onnx_package_the_refusal_says_what_to_install(data, monkeypatch):
    import sys

    X, y = data[0], data[1]
    raw = _skl(tree.DecisionTreeRegressor(max_depth=2).fit(X, y), X).SerializeToString()
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    with pytest.raises(UnsupportedModelError, match="pip install onnx"):
        tl.load(raw)
