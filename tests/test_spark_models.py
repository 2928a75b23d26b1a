"""Spark ML tree models (DecisionTree, RandomForest, GBT; classification and regression), live
and saved with ``write().save``: treelens reproduces Spark's own ``transform`` (prediction,
rawPrediction, probability) on the training rows and on edge rows (values on and beside
thresholds, NaN, unseen, negative and fractional categories), its SHAP values equal shap's and a
brute-force enumeration over the trees read from the JVM, and every treelens method runs on
them. Runs a local Spark session (the ``spark`` fixture)."""

from __future__ import annotations

import json
from itertools import combinations
from math import factorial

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import treelens as tl
from treelens.exceptions import ModelFormatError, UnsupportedModelError

pytestmark = pytest.mark.spark

N_CATS = {2: 5, 3: 3}  # categorical features and their number of categories


def _rows(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(n, 4)), 2)
    for j, k in N_CATS.items():
        X[:, j] = rng.integers(0, k, n)
    y = X[:, 0] + 2.0 * (X[:, 2] == 1) - (X[:, 3] == 2) + 0.5 * X[:, 1] * X[:, 0]
    return X, y


def _frame(spark, X, **columns):
    from pyspark.ml.linalg import Vectors

    names = list(columns)
    rows = [(Vectors.dense(x), *[float(columns[c][i]) for c in names]) for i, x in enumerate(X)]
    return spark.createDataFrame(rows, ["features", *names])


def _estimators():
    from pyspark.ml.classification import (
        DecisionTreeClassifier,
        GBTClassifier,
        RandomForestClassifier,
    )
    from pyspark.ml.regression import DecisionTreeRegressor, GBTRegressor, RandomForestRegressor

    estimators = {
        "dt_regressor": DecisionTreeRegressor(maxDepth=5, seed=1),
        "rf_regressor": RandomForestRegressor(numTrees=8, maxDepth=4, seed=1),
        "gbt_regressor": GBTRegressor(maxIter=8, maxDepth=3, seed=1),
        "dt_classifier": DecisionTreeClassifier(maxDepth=5, labelCol="c3", seed=1),
        "rf_classifier": RandomForestClassifier(numTrees=8, maxDepth=4, labelCol="c3", seed=1),
        "gbt_classifier": GBTClassifier(maxIter=8, maxDepth=3, labelCol="c2", seed=1),
    }
    assert list(estimators) == NAMES
    return estimators


def _fit_all(spark, X, y, categorical: bool):
    from pyspark.ml.feature import VectorIndexer

    c2 = (y > 0.5).astype(float)
    c3 = np.digitize(y, [0.0, 1.0]).astype(float)
    df = _frame(spark, X, label=y, c2=c2, c3=c3)
    if categorical:
        # VectorIndexer marks features 2 and 3 categorical in the column's metadata.
        indexer = VectorIndexer(inputCol="features", outputCol="indexed", maxCategories=5)
        df = indexer.fit(df).transform(df).drop("features").withColumnRenamed("indexed", "features")
    df = df.cache()
    return {name: est.fit(df) for name, est in _estimators().items()}


@pytest.fixture(scope="module")
def fitted(spark, tmp_path_factory):
    """{name: (live model, saved directory)}, trained with categorical features 2 and 3."""
    X, y = _rows()
    root = tmp_path_factory.mktemp("spark_models")
    out = {}
    for name, model in _fit_all(spark, X, y, categorical=True).items():
        path = root / name
        model.write().save(str(path))
        out[name] = (model, path)
    return X, out


@pytest.fixture(scope="module")
def numeric(spark):
    """Models with numeric features only: the ones shap explains (it refuses categorical
    splits)."""
    X, y = _rows(seed=1, n=200)
    X[:, 2:] += np.round(np.random.default_rng(2).normal(size=(200, 2)), 2)
    return X, _fit_all(spark, X, y, categorical=False)


def spark_outputs(spark, model, X) -> dict[str, np.ndarray]:
    """Spark's own transform of the rows (in row order)."""
    frame = _frame(spark, X, row=np.arange(len(X)))
    got = model.transform(frame).orderBy("row").collect()
    out = {"prediction": np.array([r["prediction"] for r in got])}
    for col in ("rawPrediction", "probability"):
        if col in got[0].asDict():
            out[col] = np.array([r[col].toArray() for r in got])
    return out


def assert_reproduces(spark, model, tmodel, X):
    out = spark_outputs(spark, model, X)
    margin = tmodel.predict(X)
    if "probability" not in out:  # regression
        np.testing.assert_allclose(margin.ravel(), out["prediction"], rtol=1e-12, atol=1e-12)
        return
    if tmodel.link == "logistic":  # GBT: margin m, rawPrediction [-m, m]
        m = margin.ravel()
        np.testing.assert_allclose(m, out["rawPrediction"][:, 1], rtol=1e-12, atol=1e-12)
        proba = 1.0 / (1.0 + np.exp(-2.0 * m))
        np.testing.assert_allclose(proba, out["probability"][:, 1], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(m > 0, out["prediction"] == 1.0)
        return
    # Trees and forests: class probabilities (a forest's are its trees' average).
    np.testing.assert_allclose(margin, out["probability"], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(np.argmax(out["probability"], axis=1), out["prediction"])


NAMES = [
    "dt_regressor",
    "rf_regressor",
    "gbt_regressor",
    "dt_classifier",
    "rf_classifier",
    "gbt_classifier",
]


@pytest.mark.parametrize("source", ["live", "saved"])
@pytest.mark.parametrize("name", NAMES)
def test_predictions_equal_spark_transform(spark, fitted, name, source):
    X, models = fitted
    model, path = models[name]
    tmodel = tl.load(model if source == "live" else str(path))
    assert tmodel.library == "spark" and tmodel.n_features == 4
    assert_reproduces(spark, model, tmodel, X)


def _split_values(path) -> dict[int, np.ndarray]:
    """Every continuous threshold of the saved model, by feature (read from its Parquet)."""
    table = pq.read_table(path / "data").flatten()
    if "nodeData" in [n.split(".")[0] for n in table.column_names]:
        table = table.flatten()
    cols = {n.split(".")[-1]: n for n in table.column_names}
    feature = table.column(cols["featureIndex"]).to_numpy()
    n_cats = table.column(cols["numCategories"]).to_numpy()
    splits = table.column(cols["leftCategoriesOrThreshold"]).to_pylist()
    out: dict[int, list] = {}
    for f, k, s in zip(feature, n_cats, splits):
        if f >= 0 and k < 0:
            out.setdefault(int(f), []).append(s[0])
    return {f: np.unique(v) for f, v in out.items()}


def _edge_pool(path, j: int) -> np.ndarray:
    special = [np.nan, 0.0, -0.0, 1e300, -1e300]
    if j in N_CATS:
        k = N_CATS[j]
        # Seen, unseen, negative and fractional categories.
        return np.array([*range(k + 2), -1.0, 0.5, k - 0.5, 1.0000001, *special])
    t = _split_values(path).get(j, np.array([0.0]))
    return np.concatenate([t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), special])


@pytest.mark.parametrize("name", NAMES)
def test_edge_rows_equal_spark_transform(spark, fitted, name):
    """Hypothesis draws rows from each feature's thresholds and their neighbours, NaN, zeros of
    both signs, huge values and, for categorical features, unseen, negative and fractional
    categories; treelens (from the saved directory) reproduces Spark on every one."""
    X, models = fitted
    model, path = models[name]
    tmodel = tl.load(str(path))
    pools = [_edge_pool(path, j) for j in range(4)]

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(*[st.sampled_from(list(p)) for p in pools]), min_size=1, max_size=30))
    def check(rows):
        assert_reproduces(spark, model, tmodel, np.array(rows, dtype=np.float64))

    check()


# --- SHAP: shap's numbers and brute force --------------------------------------------------


class JvmTree:
    """A tree read node by node from the live JVM model (not from treelens' reader)."""

    def __init__(self, java_tree, classification: bool):
        # Pre-order, as the nodes are numbered: a node, its left subtree, its right subtree.
        self.left, self.right, self.feature = [], [], []
        self.cover, self.value, self.split = [], [], []
        stack = [(java_tree.rootNode(), None, None)]  # (node, parent index, is left child)
        while stack:
            node, parent, is_left = stack.pop()
            i = len(self.left)
            if parent is not None:
                (self.left if is_left else self.right)[parent] = i
            stats = np.array(list(node.impurityStats().stats()), dtype=np.float64)
            self.cover.append(float(node.impurityStats().count()))
            if classification:
                self.value.append(stats / stats.sum() if stats.sum() > 0 else 0 * stats)
            else:
                self.value.append(np.array([node.prediction()]))
            self.left.append(-1)
            self.right.append(-1)
            self.feature.append(-1)
            self.split.append(None)
            if node.getClass().getSimpleName() != "InternalNode":
                continue
            split = node.split()
            self.feature[i] = split.featureIndex()
            if split.getClass().getSimpleName() == "CategoricalSplit":
                self.split[i] = ("set", {float(c) for c in split.leftCategories()})
            else:
                self.split[i] = ("le", float(split.threshold()))
            stack.append((node.rightChild(), i, False))
            stack.append((node.leftChild(), i, True))

    def goes_left(self, i, x):
        kind, s = self.split[i]
        v = x[self.feature[i]]
        return v in s if kind == "set" else v <= s

    def cond(self, x, known):
        total = 0.0
        stack = [(0, 1.0)]
        while stack:
            i, w = stack.pop()
            if self.left[i] < 0:
                total = total + w * self.value[i]
                continue
            if self.feature[i] in known:
                stack.append((self.left[i] if self.goes_left(i, x) else self.right[i], w))
            else:
                for c in (self.left[i], self.right[i]):
                    stack.append((c, w * self.cover[c] / self.cover[i]))
        return total


def jvm_trees(model):
    """(trees, weights) of a live model: a single tree, or the ensemble's trees and weights
    (averaged for forests, the tree weights for GBTs)."""
    name = type(model).__name__
    classification = "Classification" in name and not name.startswith("GBT")
    if name.startswith("DecisionTree"):
        return [JvmTree(model._java_obj, classification)], [1.0]
    trees = [JvmTree(t, classification) for t in model._java_obj.trees()]
    if name.startswith("RandomForest"):
        return trees, [1.0 / len(trees)] * len(trees)
    return trees, list(model.treeWeights)


def brute_force_shap(trees, weights, x, p):
    def v(s):
        return sum(w * t.cond(x, set(s)) for t, w in zip(trees, weights))

    phi = []
    for i in range(p):
        rest = [j for j in range(p) if j != i]
        total = 0.0
        for r in range(p):
            w = factorial(r) * factorial(p - r - 1) / factorial(p)
            for s in combinations(rest, r):
                total = total + w * (v(s + (i,)) - v(s))
        phi.append(total)
    return np.array(phi)  # (p, k)


@pytest.mark.parametrize("name", NAMES)
def test_shap_values_equal_brute_force(fitted, name):
    """Categorical splits included (seen categories: the training rows)."""
    X, models = fitted
    model, _ = models[name]
    trees, weights = jvm_trees(model)
    values = tl.TreeExplainer(model).shap_values(X[:12])
    k = 1 if values.ndim == 2 else values.shape[2]
    values = values.reshape(12, 4, k)
    for r in range(12):
        want = brute_force_shap(trees, weights, X[r], 4).reshape(4, k)
        np.testing.assert_allclose(values[r], want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_shap_values_equal_shaps(numeric, name):
    shap = pytest.importorskip("shap")
    X, models = numeric
    model = models[name]
    want = shap.TreeExplainer(model).shap_values(X[:40], check_additivity=False)
    ex = tl.TreeExplainer(model)
    got = ex.shap_values(X[:40])
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        np.atleast_1d(ex.expected_value),
        np.atleast_1d(shap.TreeExplainer(model).expected_value),
        rtol=0,
        atol=1e-10,
    )


# --- every method ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rf_regressor", "gbt_classifier", "rf_classifier"])
def test_every_method_runs_exactly(fitted, name):
    """Interventional SHAP equals its definition by brute force (predictions checked against
    Spark above), interactions add up to SHAP values, permutation importance and H statistics
    run on the native model."""
    X, models = fitted
    model, _ = models[name]
    tmodel = tl.load(model)
    bg = X[:25]
    x = X[30:36]
    iex = tl.InterventionalExplainer(tmodel, bg)
    phi = np.asarray(iex.shap_values(x))
    k = tmodel.n_outputs
    phi = phi.reshape(len(x), 4, k)

    def v(row, s):
        z = bg.copy()
        z[:, list(s)] = row[list(s)]
        return tmodel.predict(z).reshape(len(bg), k).mean(axis=0)

    for r, row in enumerate(x):
        want = np.zeros((4, k))
        for i in range(4):
            rest = [j for j in range(4) if j != i]
            for size in range(4):
                w = factorial(size) * factorial(3 - size) / factorial(4)
                for s in combinations(rest, size):
                    want[i] += w * (v(row, s + (i,)) - v(row, s))
        np.testing.assert_allclose(phi[r], want, rtol=0, atol=1e-10)
    ex = tl.TreeExplainer(tmodel)
    inter = np.asarray(ex.shap_interaction_values(x)).reshape(len(x), 4, 4, k)
    np.testing.assert_allclose(
        inter.sum(axis=2), np.asarray(ex.shap_values(x)).reshape(len(x), 4, k), atol=1e-10
    )
    _, y = _rows()
    labels = {"rf_regressor": y, "gbt_classifier": (y > 0.5) * 1.0}.get(name)
    if labels is None:
        labels = np.digitize(y, [0.0, 1.0]) * 1.0
    pi = tl.permutation_importance(tmodel, X, labels, n_repeats=3, random_state=0)
    assert pi.importances.shape == (4, 3) and np.isfinite(pi.importances).all()
    h = tl.hstats(tmodel, X[:100])
    assert np.isfinite(np.asarray(h.h2_overall())).all()


# --- errors ---------------------------------------------------------------------------------


def test_models_that_are_not_trees_are_refused(spark, tmp_path):
    from pyspark.ml.regression import LinearRegression

    X, y = _rows(n=50)
    lr = LinearRegression().fit(_frame(spark, X, label=y))
    with pytest.raises(UnsupportedModelError, match="cannot explain a pyspark"):
        tl.load(lr)
    lr.write().save(str(tmp_path / "lr"))
    with pytest.raises(UnsupportedModelError, match="LinearRegressionModel.*not a tree model"):
        tl.load(str(tmp_path / "lr"))


def _copy_model(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_corrupt_saved_models_are_refused(fitted, tmp_path):
    import pyarrow as pa

    _, models = fitted
    _, path = models["rf_regressor"]
    bad = _copy_model(path, tmp_path / "json")
    for part in (bad / "metadata").glob("part-*"):
        part.write_text('{"class": "org.apache.spark.ml.regression.RandomForestRe')
    with pytest.raises(ModelFormatError, match="metadata is not JSON"):
        tl.load(str(bad))

    # Node ids that skip one, a child out of range, a categorical split outside its categories.
    def rewrite(name, change):
        target = _copy_model(path, tmp_path / name)
        files = sorted((target / "data").glob("*.parquet"))
        table = pa.concat_tables([pq.read_table(f) for f in files])
        for f in files:
            f.unlink()
        rows = table.to_pylist()
        change(rows)
        pq.write_table(
            pa.Table.from_pylist(rows, schema=table.schema), target / "data" / "x.parquet"
        )
        return target

    def skip_id(rows):
        rows[1]["nodeData"]["id"] = 99

    def far_child(rows):
        inner = next(r for r in rows if r["nodeData"]["leftChild"] >= 0)
        inner["nodeData"]["leftChild"] = 10_000

    def wrong_stats(rows):
        rows[0]["nodeData"]["impurityStats"] = [1.0]

    def huge_categories(rows):
        rows[0]["nodeData"]["split"] = {
            "featureIndex": 2,
            "leftCategoriesOrThreshold": [0.0],
            "numCategories": 2**31 - 1,
        }

    for name, change, message in (
        ("categories", huge_categories, "2147483647 categories"),
        ("ids", skip_id, "node ids are not"),
        ("child", far_child, "child 10000 outside the tree"),
        ("stats", wrong_stats, "variance stats have 1 entries"),
    ):
        with pytest.raises(ModelFormatError, match=message):
            tl.load(str(rewrite(name, change)))

    # A class count no node stores (a (nodes, classes) table would not fit in memory).
    _, forest_path = models["rf_classifier"]
    classes = _copy_model(forest_path, tmp_path / "classes")
    for part in (classes / "metadata").glob("part-*"):
        meta = json.loads(part.read_text())
        meta["numClasses"] = 2**40
        part.write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="classifier with 1099511627776 classes"):
        tl.load(str(classes))

    empty = _copy_model(path, tmp_path / "empty")
    for f in (empty / "data").iterdir():
        f.unlink()
    with pytest.raises(ModelFormatError):
        tl.load(str(empty))


def test_rows_of_the_wrong_width_are_refused(fitted):
    X, models = fitted
    tmodel = tl.load(models["gbt_regressor"][0])
    with pytest.raises(tl.exceptions.InvalidInputError, match="4 features"):
        tmodel.predict(X[:, :3])


@pytest.mark.parametrize("name", NAMES)
def test_reading_through_spark_equals_reading_with_pyarrow(spark, fitted, name):
    """On a cluster a live model's directory is on Spark's filesystem and Spark reads it: the
    same model as the local read."""
    from treelens.loaders.spark import _build, _read_with_spark

    X, models = fitted
    _, path = models[name]
    through_spark = _build(*_read_with_spark(spark, str(path)))
    local = tl.load(str(path))
    np.testing.assert_array_equal(through_spark.predict(X), local.predict(X))
    assert through_spark.categories.keys() == local.categories.keys()
