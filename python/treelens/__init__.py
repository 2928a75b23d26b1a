"""treelens: exact, fast explanations of tree ensembles.

Load a scikit-learn, XGBoost or LightGBM model with :func:`load` and predict natively; explain it
with the functions and classes exported here.
"""

from __future__ import annotations

# tl.dask and tl.spark import their engines only when called: importing them costs nothing.
from . import dask, exceptions, plot, spark
from ._core import __version__ as __version__
from ._core import available_threads
from .ale import ALEResult, ale
from .decompose import Decomposition, decompose
from .explainer import TreeExplainer, shap_values
from .explanation import Explanation
from .hstats import HStats, hstats
from .importance import permutation_importance
from .interventional import InterventionalExplainer
from .loaders import load
from .memory import memory_budget
from .model import Model
from .partial_dependence import partial_dependence
from .surrogate import Surrogate, surrogate

__all__ = [
    "ALEResult",
    "Decomposition",
    "Explanation",
    "HStats",
    "InterventionalExplainer",
    "Model",
    "Surrogate",
    "TreeExplainer",
    "ale",
    "available_threads",
    "dask",
    "decompose",
    "exceptions",
    "hstats",
    "load",
    "memory_budget",
    "partial_dependence",
    "permutation_importance",
    "plot",
    "shap_values",
    "spark",
    "surrogate",
]
