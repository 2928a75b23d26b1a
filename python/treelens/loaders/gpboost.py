"""GPBoost: a LightGBM fork whose boosters write LightGBM's text format. treelens explains the
tree ensemble (GPBoost's fixed effects), as shap does; a Gaussian-process or random-effects
model attached to the booster is not part of it."""

from __future__ import annotations

import json
import sys

import numpy as np

from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from . import lightgbm as _lightgbm


def is_gpboost(obj) -> bool:
    """Whether ``obj`` is a GPBoost Booster or scikit-learn-style model (gpboost is only looked
    at when already imported)."""
    basic = sys.modules.get("gpboost.basic")
    sk = sys.modules.get("gpboost.sklearn")
    return (basic is not None and isinstance(obj, getattr(basic, "Booster", ()))) or (
        sk is not None and isinstance(obj, getattr(sk, "GPBoostModel", ()))
    )


def _booster_text(booster) -> str:
    text = booster.model_to_string()
    if getattr(booster, "has_gp_model", False):
        # With a GP model the string is JSON holding the booster's LightGBM text.
        try:
            text = json.loads(text)["booster_str"]
        except (ValueError, KeyError, TypeError):
            raise ModelFormatError("the GPBoost model string holds no booster_str") from None
    return text


def from_gpboost(obj) -> Model:
    basic = sys.modules["gpboost.basic"]
    if isinstance(obj, basic.Booster):
        booster, estimator, classes = obj, None, None
    else:
        try:
            booster = obj.booster_
        except Exception as e:
            raise UnsupportedModelError(f"{type(obj).__name__} is not fitted: {e}") from None
        estimator = obj
        classes = getattr(obj, "classes_", None) if hasattr(obj, "n_classes_") else None
        classes = None if classes is None else np.asarray(classes)
    try:
        text = _booster_text(booster)
    except basic.GPBoostError as e:
        raise UnsupportedModelError(f"GPBoost cannot write the booster: {e}") from None
    model = _lightgbm.from_model_string(text, estimator=estimator, classes=classes)
    model.objective = f"gpboost {model.objective}"
    return model
