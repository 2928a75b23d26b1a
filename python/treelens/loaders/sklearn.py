"""scikit-learn estimators: decision trees, random forests, extra trees, gradient boosting,
histogram gradient boosting and isolation forests."""

from __future__ import annotations

import sys

import numpy as np

from ..exceptions import UnsupportedModelError
from ..model import Model
from .forest_builder import Bitset, ForestBuilder, malformed_is_format_error
from .sklearn_flat import cart_forest

SUPPORTED = (
    "DecisionTreeRegressor",
    "DecisionTreeClassifier",
    "ExtraTreeRegressor",
    "ExtraTreeClassifier",
    "RandomForestRegressor",
    "RandomForestClassifier",
    "ExtraTreesRegressor",
    "ExtraTreesClassifier",
    "GradientBoostingRegressor",
    "GradientBoostingClassifier",
    "HistGradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "IsolationForest",
)


def _kinds():
    """``(class, kind)`` pairs, most derived first: every supported estimator, and any subclass
    of one (imbalanced-learn's and scikit-optimize's forests, a user's own), is one of these."""
    from sklearn import ensemble, tree

    return (
        (ensemble.IsolationForest, "isolation_forest"),
        (ensemble.HistGradientBoostingClassifier, "hist_gradient_boosting"),
        (ensemble.HistGradientBoostingRegressor, "hist_gradient_boosting"),
        (ensemble.GradientBoostingClassifier, "gradient_boosting"),
        (ensemble.GradientBoostingRegressor, "gradient_boosting"),
        (ensemble.RandomForestClassifier, "forest"),
        (ensemble.RandomForestRegressor, "forest"),
        (ensemble.ExtraTreesClassifier, "forest"),
        (ensemble.ExtraTreesRegressor, "forest"),
        (tree.DecisionTreeClassifier, "tree"),
        (tree.DecisionTreeRegressor, "tree"),
    )


def sklearn_kind(obj) -> str | None:
    """What kind of scikit-learn tree model ``obj`` is an instance of, or None.

    Decided by ``isinstance``, so subclasses from other packages load. scikit-learn is only
    looked at when it is already imported: an instance of its classes cannot exist otherwise.
    """
    if "sklearn" not in sys.modules:
        return None
    for cls, kind in _kinds():
        if isinstance(obj, cls):
            return kind
    return None


def _is_classifier(est) -> bool:
    from sklearn.base import ClassifierMixin

    return isinstance(est, ClassifierMixin)


def _names(est) -> list[str] | None:
    names = getattr(est, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None


def _add_cart(builder: ForestBuilder, tree, *, classifier: bool, output: int = 0, scale=1.0):
    """Adds one fitted sklearn ``Tree`` (``estimator.tree_``)."""
    value = np.asarray(tree.value, dtype=np.float64)
    if classifier:
        # scikit-learn >= 1.4 stores class fractions, which predict_proba returns as they are;
        # older versions store class weights, which it divides by their sum.
        v = value[:, 0, :]
        total = v.sum(axis=1, keepdims=True)
        if np.allclose(total[total > 0], 1.0, rtol=1e-9, atol=0.0):
            values = v.copy()
        else:
            values = np.divide(v, total, out=np.zeros_like(v), where=total > 0)
    elif value.shape[1] == 1:
        values = value[:, 0, 0] * scale
    else:
        values = value[:, :, 0] * scale
    missing_left = getattr(tree, "missing_go_to_left", None)
    if missing_left is None:
        missing_left = np.zeros(tree.node_count, dtype=bool)
    builder.add_tree(
        feature=tree.feature,
        threshold=tree.threshold,
        left=tree.children_left,
        right=tree.children_right,
        default_left=np.asarray(missing_left, dtype=bool),
        cover=tree.weighted_n_node_samples,
        values=values,
        output=output,
    )


def cart_trees_one_by_one(
    trees,
    *,
    n_features: int,
    n_outputs: int,
    classifier: bool,
    average: bool,
    outputs=None,
    scale: float = 1.0,
    base_score=None,
):
    """:func:`cart_forest` tree by tree through a :class:`ForestBuilder`, whose checks name
    the tree and node of anything malformed."""
    builder = ForestBuilder(
        n_features=n_features,
        n_outputs=n_outputs,
        less_equal=True,
        f32_inputs=True,
        average=average,
    )
    for t, tree in enumerate(trees):
        output = 0 if outputs is None else int(outputs[t])
        _add_cart(builder, tree, classifier=classifier, output=output, scale=scale)
    return builder.build(np.zeros(n_outputs) if base_score is None else base_score)


def _load_trees(est, name: str, *, forest: bool) -> Model:
    estimators = est.estimators_ if forest else [est]
    classifier = _is_classifier(est)
    if classifier:
        if getattr(est, "n_outputs_", 1) != 1:
            raise UnsupportedModelError(
                f"multi-output {name} is not supported (one target column only)"
            )
        n_out = len(est.classes_)
    else:
        n_out = int(getattr(est, "n_outputs_", 1))
    options = dict(
        n_features=est.n_features_in_, n_outputs=n_out, classifier=classifier, average=forest
    )
    trees = [e.tree_ for e in estimators]
    core_forest = cart_forest(trees, **options)
    if core_forest is None:  # something unusual: tree by tree, for the precise error
        core_forest = cart_trees_one_by_one(trees, **options)
    return Model(
        forest=core_forest,
        feature_names=_names(est),
        objective="probability" if classifier else "regression",
        link="identity",
        classes=np.asarray(est.classes_) if classifier else None,
        library="sklearn",
        estimator=est,
        margin_is_probability=classifier,
    )


def _load_isolation_forest(est) -> Model:
    """The margin is the mean path length over the trees, E[h(x)], the quantity shap explains;
    scikit-learn's ``score_samples`` is ``-2 ** (-margin / c(max_samples_))``."""
    from sklearn.ensemble._iforest import _average_path_length

    builder = ForestBuilder(
        n_features=est.n_features_in_, n_outputs=1, less_equal=True, f32_inputs=True, average=True
    )
    for tree_est, columns in zip(est.estimators_, est.estimators_features_):
        tree = tree_est.tree_
        left, right = tree.children_left, tree.children_right
        # A leaf's path length: its depth plus the average length of an unsuccessful search
        # among the training samples that reached it. Children come after their parents.
        depth = np.zeros(tree.node_count)
        for n in range(tree.node_count):
            if left[n] >= 0:
                depth[left[n]] = depth[right[n]] = depth[n] + 1
        values = depth + _average_path_length(np.asarray(tree.n_node_samples))
        columns = np.asarray(columns)
        feature = np.where(tree.feature >= 0, columns[np.maximum(tree.feature, 0)], tree.feature)
        builder.add_tree(
            feature=feature,
            threshold=tree.threshold,
            left=left,
            right=right,
            default_left=np.zeros(tree.node_count, dtype=bool),
            cover=tree.weighted_n_node_samples,
            values=values,
        )
    return Model(
        forest=builder.build(np.zeros(1)),
        feature_names=_names(est),
        objective="regression",
        link="identity",
        library="sklearn",
        estimator=est,
    )


def _gradient_boosting_base(est) -> np.ndarray:
    """The init estimator's raw prediction, which must be a constant to fold into the base."""
    init = est.init_
    p = est.n_features_in_
    if init == "zero":
        return np.zeros(est.n_trees_per_iteration_ if hasattr(est, "n_trees_per_iteration_") else 1)
    if type(init).__name__ not in ("DummyRegressor", "DummyClassifier"):
        raise UnsupportedModelError(
            f"{type(est).__name__} with init={type(init).__name__} is not supported: only the "
            "default (a constant prior) or init='zero' can be folded into a base score"
        )
    probe = np.zeros((2, p), dtype=np.float32)
    raw = np.asarray(est._raw_predict_init(probe), dtype=np.float64)
    if not np.array_equal(raw[0], raw[1]):
        raise UnsupportedModelError("the init estimator is not constant")
    return raw[0]


def _load_gradient_boosting(est) -> Model:
    classifier = _is_classifier(est)
    stages = np.asarray(est.estimators_)
    k = stages.shape[1]
    lr = float(est.learning_rate)
    base = _gradient_boosting_base(est)
    trees = [stages[i, j].tree_ for i in range(stages.shape[0]) for j in range(k)]
    options = dict(
        n_features=est.n_features_in_,
        n_outputs=k,
        classifier=False,
        average=False,
        outputs=np.tile(np.arange(k), stages.shape[0]),
        scale=lr,
        base_score=base,
    )
    core_forest = cart_forest(trees, **options)
    if core_forest is None:  # something unusual: tree by tree, for the precise error
        core_forest = cart_trees_one_by_one(trees, **options)
    if classifier:
        link = "logistic" if k == 1 else "softmax"
    else:
        link = "identity"
    # The exponential (AdaBoost) loss: predict_proba is expit(2 * raw).
    link_scale = 2.0 if classifier and getattr(est, "loss", "") == "exponential" else 1.0
    return Model(
        forest=core_forest,
        feature_names=_names(est),
        objective=getattr(est, "loss", "") or "",
        link=link,
        link_scale=link_scale,
        classes=np.asarray(est.classes_) if classifier else None,
        library="sklearn",
        estimator=est,
        accepts_missing=False,
    )


def _load_hist_gradient_boosting(est) -> Model:
    classifier = _is_classifier(est)
    k = int(est.n_trees_per_iteration_)
    p = est.n_features_in_
    categories: dict[int, np.ndarray] = {}
    # With categorical features, the trees see a reordered matrix: encoded categorical
    # columns first, then the numeric ones. Map the trees' columns back to the user's.
    column_of = np.arange(p)
    pre = getattr(est, "_preprocessor", None)
    if pre is not None:
        is_cat = np.asarray(est.is_categorical_, dtype=bool)
        column_of = np.concatenate([np.flatnonzero(is_cat), np.flatnonzero(~is_cat)])
        encoder = pre.named_transformers_["encoder"]
        for col, cats in zip(np.flatnonzero(is_cat), encoder.categories_):
            cats = np.asarray(cats)
            if cats.size and cats.dtype.kind == "f" and np.isnan(cats[-1]):
                cats = cats[:-1]
            elif cats.size and cats.dtype == object and _is_nan(cats[-1]):
                cats = cats[:-1]
            categories[int(col)] = cats
    builder = ForestBuilder(n_features=p, n_outputs=k, less_equal=True, f32_inputs=False)
    for predictors in est._predictors:
        for j, pred in enumerate(predictors):
            nodes = pred.nodes
            leaf = nodes["is_leaf"].astype(bool)
            feature = np.where(leaf, -1, column_of[nodes["feature_idx"]])
            left = np.where(leaf, -1, nodes["left"].astype(np.int64))
            right = np.where(leaf, -1, nodes["right"].astype(np.int64))
            cat_nodes = {}
            bitsets = pred.raw_left_cat_bitsets
            for node in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
                words = np.asarray(bitsets[nodes["bitset_idx"][node]], dtype=np.uint32)
                cat_nodes[int(node)] = (Bitset(words), True)
            builder.add_tree(
                feature=feature,
                threshold=nodes["num_threshold"],
                left=left,
                right=right,
                default_left=nodes["missing_go_to_left"].astype(bool),
                cover=nodes["count"].astype(np.float64),
                values=nodes["value"].astype(np.float64),
                output=j,
                categories=cat_nodes,
            )
    base = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
    if classifier:
        link = "logistic" if k == 1 else "softmax"
    else:
        link = {"poisson": "exp", "gamma": "exp"}.get(str(est.loss), "identity")
    return Model(
        forest=builder.build(base),
        feature_names=_names(est),
        objective=str(est.loss),
        link=link,
        classes=np.asarray(est.classes_) if classifier else None,
        library="sklearn",
        categories=categories,
        estimator=est,
    )


def _is_nan(v) -> bool:
    try:
        return bool(np.isnan(v))
    except TypeError:
        return v is None


@malformed_is_format_error("the scikit-learn model")
def load_sklearn(est) -> Model:
    """Loads a fitted estimator. Its tree arrays are checked like any model file's (children,
    features, finite values): a pickled or modified estimator is user input."""
    name = type(est).__name__
    kind = sklearn_kind(est)
    if kind is None:
        raise UnsupportedModelError(
            f"scikit-learn estimator {name} is not supported; supported: {', '.join(SUPPORTED)} "
            "and their subclasses"
        )
    if not (hasattr(est, "tree_") or hasattr(est, "estimators_") or hasattr(est, "_predictors")):
        raise UnsupportedModelError(f"{name} is not fitted; call fit before explaining it")
    if kind in ("tree", "forest"):
        return _load_trees(est, name, forest=kind == "forest")
    if kind == "gradient_boosting":
        return _load_gradient_boosting(est)
    if kind == "isolation_forest":
        return _load_isolation_forest(est)
    return _load_hist_gradient_boosting(est)
