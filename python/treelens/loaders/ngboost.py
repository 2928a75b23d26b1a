"""NGBoost: one scikit-learn regression tree per distribution parameter per boosting stage.

The model's outputs are the distribution's parameters in NGBoost's internal parameterisation
(Normal: loc and log scale), as ``NGBoost.pred_param`` computes them: the initial parameters
less, for each stage, the learning rate times the stage's scaling times its trees' outputs.
shap's ``TreeExplainer(ngb, model_output=j)`` explains output ``j``.
"""

from __future__ import annotations

import sys

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from .forest_builder import ForestBuilder, malformed_is_format_error


def is_ngboost(obj) -> bool:
    """Whether ``obj`` is an NGBoost model (ngboost is only looked at when already imported)."""
    module = sys.modules.get("ngboost.ngboost")
    return module is not None and isinstance(obj, getattr(module, "NGBoost", ()))


def _output_names(ngb, k: int) -> list[str]:
    """The distribution's parameter names when it lists one per internal parameter."""
    try:
        names = list(ngb.Dist(np.asarray(ngb.init_params, dtype=np.float64)[:, None]).params)
    except Exception:  # a distribution that cannot be built from its initial parameters
        names = []
    return [str(n) for n in names] if len(names) == k else [f"param{j}" for j in range(k)]


@malformed_is_format_error("the NGBoost model")
def from_ngboost(ngb) -> Model:
    from sklearn.tree import DecisionTreeRegressor

    stages = getattr(ngb, "base_models", None)
    if not stages:
        raise UnsupportedModelError("the NGBoost model is not fitted; call fit first")
    init = np.asarray(ngb.init_params, dtype=np.float64).ravel()
    k = init.size
    scalings = np.asarray(ngb.scalings, dtype=np.float64).ravel()
    columns = list(ngb.col_idxs)
    if not (len(stages) == scalings.size == len(columns)):
        raise ModelFormatError(
            f"the NGBoost model has {len(stages)} stages, {scalings.size} scalings and "
            f"{len(columns)} column sets"
        )
    n_features = getattr(ngb, "n_features", None)
    if n_features is None:  # older NGBoost: the widest column the stages sampled
        n_features = max(int(np.max(c, initial=-1)) for c in columns) + 1
    n_features = int(n_features)
    rate = float(ngb.learning_rate)
    builder = ForestBuilder(n_features=n_features, n_outputs=k, less_equal=True, f32_inputs=True)
    for i, (models, scaling, cols) in enumerate(zip(stages, scalings, columns)):
        if len(models) != k:
            raise ModelFormatError(f"NGBoost stage {i} has {len(models)} trees for {k} parameters")
        cols = np.asarray(cols, dtype=np.int64).ravel()
        if cols.size and (cols.min() < 0 or cols.max() >= n_features):
            raise ModelFormatError(f"NGBoost stage {i} reads a column outside 0..{n_features - 1}")
        for j, base in enumerate(models):
            if not isinstance(base, DecisionTreeRegressor):
                raise UnsupportedModelError(
                    f"NGBoost with base learner {type(base).__name__} is not supported: only "
                    "scikit-learn decision tree regressors (NGBoost's default learner)"
                )
            tree = base.tree_
            if tree.value.shape[1] != 1:
                raise UnsupportedModelError("NGBoost base trees with several outputs")
            # The stage's trees see only its sampled columns.
            feature = np.asarray(tree.feature, dtype=np.int64)
            inner = feature >= 0
            if np.any(feature[inner] >= cols.size):
                raise ModelFormatError(f"NGBoost stage {i}: a tree splits on an unknown column")
            mapped = np.where(inner, cols[np.where(inner, feature, 0)], -1)
            builder.add_tree(
                feature=mapped,
                threshold=tree.threshold,
                left=tree.children_left,
                right=tree.children_right,
                default_left=np.asarray(
                    getattr(tree, "missing_go_to_left", np.zeros(tree.node_count)), dtype=bool
                ),
                cover=tree.weighted_n_node_samples,
                values=np.asarray(tree.value, dtype=np.float64)[:, 0, 0] * (-rate * scaling),
                output=j,
            )
    return Model(
        forest=builder.build(init),
        feature_names=None,
        objective=f"ngboost {getattr(ngb.Dist, '__name__', 'distribution')}",
        link="identity",
        library="ngboost",
        estimator=ngb,
        output_names=_output_names(ngb, k),
    )
