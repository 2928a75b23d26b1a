"""PyOD's ``IForest``: a wrapper around scikit-learn's IsolationForest (its ``detector_``),
explained as shap explains it, through the isolation forest's mean path length."""

from __future__ import annotations

import sys

from ..exceptions import UnsupportedModelError
from ..model import Model
from .sklearn import load_sklearn, sklearn_kind


def is_iforest(obj) -> bool:
    """Whether ``obj`` is a PyOD IForest (PyOD is only looked at when already imported)."""
    module = sys.modules.get("pyod.models.iforest")
    return module is not None and isinstance(obj, getattr(module, "IForest", ()))


def from_iforest(obj) -> Model:
    """The fitted detector's isolation forest; the PyOD object stays the model's estimator."""
    detector = getattr(obj, "detector_", None)
    if detector is None:
        raise UnsupportedModelError("the PyOD IForest is not fitted; call fit before explaining it")
    if sklearn_kind(detector) != "isolation_forest":
        raise UnsupportedModelError(
            f"the PyOD IForest's detector_ is a {type(detector).__name__}, not scikit-learn's "
            "IsolationForest"
        )
    model = load_sklearn(detector)
    model.estimator = obj
    return model
