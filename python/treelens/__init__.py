"""treelens: exact, fast explanations of tree ensembles.

Load a scikit-learn, XGBoost or LightGBM model with :func:`load` and predict natively; explain it
with the functions and classes exported here.
"""

from __future__ import annotations

from . import exceptions
from ._core import available_threads
from .explainer import TreeExplainer, shap_values
from .explanation import Explanation
from .loaders import load
from .model import Model

__all__ = ["Model", "available_threads", "exceptions", "load"]
__all__ += ["Explanation", "TreeExplainer", "shap_values"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("treelens")
except Exception:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"
