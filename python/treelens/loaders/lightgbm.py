"""LightGBM models: live Booster / LGBMModel objects and saved model files (text format)."""

from __future__ import annotations

import json

import numpy as np

from .. import _core
from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from .forest_builder import malformed_is_format_error

SUPPORTED_OBJECTIVES = (
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "mape",
    "gamma",
    "tweedie",
    "binary",
    "multiclass",
    "multiclassova",
    "cross_entropy",
    "cross_entropy_lambda",
    "lambdarank",
    "rank_xendcg",
    "custom",
)

_LINKS = {
    "binary": "logistic",
    "cross_entropy": "logistic",
    "cross_entropy_lambda": "softplus",
    "multiclass": "softmax",
    "multiclassova": "logistic",
    "poisson": "exp",
    "gamma": "exp",
    "tweedie": "exp",
}


@malformed_is_format_error("the LightGBM model")
def from_model_string(text: str, *, estimator=None, classes=None) -> Model:
    """A model from LightGBM's text format (``save_model`` file or ``model_to_string``).

    The core reads the header's sizes and every tree (in parallel, checking each count against
    the numbers present); objective, link and names are read here from the header it returns.
    """
    forest, meta = _core.lightgbm_forest(text, supported_objectives=list(SUPPORTED_OBJECTIVES))
    header = meta["header"]
    pandas_categorical = None
    if meta["pandas_categorical"] is not None:
        try:
            pandas_categorical = json.loads(meta["pandas_categorical"])
        except json.JSONDecodeError:
            raise ModelFormatError("the model's pandas_categorical line is not JSON") from None
    n_class = int(header.get("num_class", "1"))
    objective_line = header.get("objective", "custom").split()
    objective = objective_line[0] if objective_line else "custom"
    # "binary sigmoid:2": LightGBM's probability is 1 / (1 + exp(-2 * margin)).
    link_scale = 1.0
    for token in objective_line[1:]:
        key, _, value = token.partition(":")
        if key == "sigmoid" and _LINKS.get(objective) == "logistic":
            try:
                link_scale = float(value)
            except ValueError:
                raise ModelFormatError(f"bad sigmoid parameter {token!r}") from None
    names = header.get("feature_names", "").split() or None
    if names == [f"Column_{i}" for i in range(forest.n_features)]:
        names = None  # LightGBM's placeholder names: the model was trained without names.
    if classes is None and objective in ("binary", "multiclass", "multiclassova"):
        # A Booster or a saved classifier: LightGBM's labels are 0 .. n_classes - 1.
        classes = np.arange(max(n_class, 2))
    return Model(
        forest=forest,
        feature_names=names,
        objective=" ".join(objective_line),
        link=_LINKS.get(objective, "identity"),
        link_scale=link_scale,
        classes=classes,
        library="lightgbm",
        pandas_categorical=pandas_categorical,
        estimator=estimator,
    )


def from_booster(booster, *, estimator=None, classes=None, num_iteration=None) -> Model:
    text = booster.model_to_string(num_iteration=num_iteration)
    return from_model_string(text, estimator=estimator, classes=classes)


def from_lgbmmodel(est) -> Model:
    try:
        booster = est.booster_
    except Exception as e:
        raise UnsupportedModelError(f"{type(est).__name__} is not fitted: {e}") from None
    classes = getattr(est, "classes_", None) if hasattr(est, "n_classes_") else None
    return from_booster(
        booster, estimator=est, classes=None if classes is None else np.asarray(classes)
    )
