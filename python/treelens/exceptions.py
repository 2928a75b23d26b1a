"""Exception classes raised by treelens.

Every error treelens raises derives from :class:`TreelensError` and from the matching built-in
class (``ValueError``, ``TypeError``, ``MemoryError``), so code written against scikit-learn or shap
keeps catching what it caught before.
"""

from __future__ import annotations

__all__ = [
    "TreelensError",
    "InvalidInputError",
    "FeatureNameError",
    "UnsupportedModelError",
    "ModelFormatError",
    "OutputTooLargeError",
    "AdditivityError",
]


class TreelensError(Exception):
    """Base class of every treelens error."""


class InvalidInputError(TreelensError, ValueError):
    """The data or an option is unusable: wrong shape, non-numeric values, bad option value."""


class FeatureNameError(InvalidInputError):
    """The columns of a DataFrame do not match the feature names the model was trained on."""


class UnsupportedModelError(TreelensError, TypeError, ValueError):
    """The estimator, objective or model kind is not one treelens can explain exactly.

    Both a ``TypeError`` (the kind of object is wrong) and a ``ValueError``: shap raises its
    ``InvalidModelError`` for an unsupported model, and code written for shap catches it with
    ``except ValueError`` or ``except Exception``; both keep working. (Python allows the two
    bases together: neither adds fields to ``BaseException``'s layout.)"""


class ModelFormatError(TreelensError, ValueError):
    """A model file or dump is corrupt, truncated or of an unknown format."""


class OutputTooLargeError(TreelensError, MemoryError):
    """The requested result would not fit in memory; the message says how much it needs."""


class AdditivityError(TreelensError, ValueError):
    """``check_additivity``: the SHAP values plus the expected value do not add up to the
    model's own output (shap raises its ``ExplainerError`` for this); the message gives the
    largest difference. It means the input is not what the model was trained on (columns,
    encoding), or a bug: please report it."""
