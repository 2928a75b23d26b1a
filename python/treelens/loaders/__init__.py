"""Model loaders: everything :func:`treelens.load` accepts becomes a :class:`treelens.Model`."""

from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import ModelFormatError, UnsupportedModelError
from ..model import Model
from . import catboost as _catboost
from . import gpboost as _gpboost
from . import lightgbm as _lightgbm
from . import ngboost as _ngboost
from . import onnx as _onnx
from . import pipeline as _pipeline
from . import pyod as _pyod
from . import sklearn as _sklearn
from . import spark as _spark
from . import xgboost as _xgboost

__all__ = ["load"]

_ACCEPTED = (
    "a fitted scikit-learn tree model ("
    + ", ".join(_sklearn.SUPPORTED)
    + " and their subclasses), an xgboost Booster or XGBModel, a lightgbm Booster or LGBMModel, "
    "a catboost CatBoost model, a Spark ML model ("
    + ", ".join(_spark.SUPPORTED)
    + "), an NGBoost model, a gpboost Booster or GPBoostModel, a PyOD "
    "IForest, an ONNX model (TreeEnsembleRegressor/Classifier or TreeEnsemble) as "
    "onnx.ModelProto or bytes, a treelens Model, "
    "a scikit-learn Pipeline ending in one of these, or the path to an XGBoost JSON/UBJSON "
    "model, an XGBoost JSON dump, a LightGBM model file, a CatBoost model (JSON export or "
    ".cbm), an ONNX file or a Spark ML model directory"
)


#: ``(is_kind, load)`` for the libraries recognised by class (each imported only if the user's
#: object comes from it).
_OTHER_LIBRARIES = (
    (_onnx.is_onnx_model, _onnx.from_onnx),
    (_pyod.is_iforest, _pyod.from_iforest),
    (_ngboost.is_ngboost, _ngboost.from_ngboost),
    (_gpboost.is_gpboost, _gpboost.from_gpboost),
    (_spark.is_spark_model, _spark.from_spark_model),
)


def _module_root(obj) -> str:
    return type(obj).__module__.split(".")[0]


def _load_path(path: Path, **kwargs) -> Model:
    if _spark.is_spark_model_dir(path):
        if kwargs:
            raise ModelFormatError(f"options {sorted(kwargs)} do not apply to Spark ML models")
        return _spark.from_spark_dir(path)
    if not path.is_file():
        raise ModelFormatError(f"no model file at {str(path)!r}")
    data = path.read_bytes()
    if not data.strip():
        raise ModelFormatError(f"the model file {str(path)!r} is empty")
    if data.lstrip().startswith(b"tree"):
        if kwargs:
            raise ModelFormatError(f"options {sorted(kwargs)} do not apply to LightGBM files")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFormatError("the LightGBM model file is not text") from None
        return _lightgbm.from_model_string(text)
    if _catboost.is_catboost_binary(data) or _catboost.is_catboost_json(data):
        if kwargs:
            raise ModelFormatError(f"options {sorted(kwargs)} do not apply to CatBoost files")
        return _catboost.from_bytes(data)
    if data.lstrip()[:1] in (b"{", b"["):
        return _xgboost.from_bytes(data, **kwargs)
    if path.suffix.lower() == ".onnx" or _onnx.looks_like_onnx(data):
        if kwargs:
            raise ModelFormatError(f"options {sorted(kwargs)} do not apply to ONNX files")
        return _onnx.from_onnx(_onnx.parse_bytes(data))
    raise ModelFormatError(
        f"{str(path)!r} is not a model treelens can read: expected an XGBoost JSON/UBJSON model "
        "(starts with '{'), an XGBoost JSON dump (starts with '['), a LightGBM model file "
        "(starts with 'tree'), a CatBoost JSON export or .cbm file (starts with 'CBM1') or an "
        "ONNX model (.onnx)"
    )


def load(
    obj,
    *,
    iteration_range=None,
    base_score=None,
    objective=None,
    n_outputs=None,
    n_features=None,
    feature_names=None,
    tree_weights=None,
    booster=None,
) -> Model:
    """Load a tree ensemble into treelens' native representation.

    Parameters
    ----------
    obj : estimator, booster, path, bytes or list
        A fitted scikit-learn tree model (or an instance of a subclass, such as
        imbalanced-learn's ``BalancedRandomForestClassifier``), an xgboost ``Booster`` or
        ``XGBModel``, a lightgbm ``Booster`` or ``LGBMModel``, a catboost ``CatBoost`` (or
        ``CatBoostRegressor`` / ``CatBoostClassifier``), a gpboost ``Booster`` or
        ``GPBoostModel`` (its trees; a GP / random-effects model is not part of it), an NGBoost
        model (one output per distribution parameter, in NGBoost's internal parameterisation, as
        ``pred_param``), PyOD's ``IForest`` (its isolation forest, as shap), an ONNX model with
        one ``TreeEnsembleRegressor``, ``TreeEnsembleClassifier`` or ``TreeEnsemble`` (an
        ``onnx.ModelProto``, its bytes or a .onnx file; its margin before ``post_transform``;
        it has no node covers, so explain it against background data), a path to a saved
        model (XGBoost JSON or UBJSON, an XGBoost JSON dump, a LightGBM model file, CatBoost's
        JSON export or ``.cbm`` file, an ONNX file, the directory a Spark ML model's
        ``write().save(path)`` wrote), a Spark ML ``DecisionTree``, ``RandomForest`` or ``GBT``
        classification or regression model, a scikit-learn ``Pipeline`` ending in one of
        these models, the raw bytes of an XGBoost model, the list that
        ``Booster.get_dump(dump_format="json", with_stats=True)`` returns, or a loaded Model.
    iteration_range : (int, int), optional
        XGBoost: the boosting rounds to use, as in ``Booster.predict``. An ``XGBModel`` fitted
        with early stopping uses its best iteration by default, as its ``predict`` does.
    base_score, objective, n_outputs, n_features, feature_names : optional
        For XGBoost JSON dumps only, which lack them: ``base_score`` as XGBoost reports it (in
        output space, e.g. 0.5 for binary:logistic), the objective (default
        ``"reg:squarederror"``), the number of outputs (classes), the number of features, and
        the names used in the dump's splits.
    tree_weights : array-like of shape (n_trees,), optional
        For XGBoost JSON dumps only: each tree's weight. A dart model's dump carries no tree
        weights (its ``weight_drop``), so without them it loads as a different model; pass the
        booster's ``weight_drop`` here, or better load the Booster or its saved JSON/UBJSON
        model, which carry them.
    booster : {"gbtree", "dart"}, optional
        For XGBoost JSON dumps only: the booster that wrote the dump; ``"dart"`` requires
        ``tree_weights``.

    Returns
    -------
    Model
    """
    dump_options = dict(
        base_score=base_score,
        objective=objective,
        n_outputs=n_outputs,
        n_features=n_features,
        feature_names=feature_names,
        tree_weights=tree_weights,
        booster=booster,
    )
    given = {k: v for k, v in dump_options.items() if v is not None}
    if isinstance(obj, Model):
        return obj
    if _pipeline.is_pipeline(obj):  # its final step is loaded as any model
        return _pipeline.load_pipeline(
            obj, lambda est: load(est, iteration_range=iteration_range, **given)
        )
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if iteration_range is not None:
            given["iteration_range"] = iteration_range
        return _load_path(path, **given)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        if _catboost.is_catboost_binary(data) or _catboost.is_catboost_json(data):
            if given or iteration_range is not None:
                raise ModelFormatError("the options of tl.load do not apply to CatBoost models")
            return _catboost.from_bytes(data)
        if _onnx.looks_like_onnx(data[:1]) and iteration_range is None and not given:
            return _onnx.from_onnx(_onnx.parse_bytes(data))
        return _xgboost.from_bytes(data, iteration_range=iteration_range, **given)
    if isinstance(obj, (list, tuple)):
        return _xgboost.from_dump(list(obj), iteration_range=iteration_range, **dump_options)
    if given:
        raise UnsupportedModelError(
            f"options {sorted(given)} apply to XGBoost dumps only, not to {type(obj).__name__}"
        )
    for is_kind, load_kind in _OTHER_LIBRARIES:
        if is_kind(obj):
            if iteration_range is not None:
                raise UnsupportedModelError("iteration_range applies to XGBoost models only")
            return load_kind(obj)
    root = _module_root(obj)
    if root == "sklearn" or _sklearn.sklearn_kind(obj) is not None:
        if iteration_range is not None:
            raise UnsupportedModelError("iteration_range applies to XGBoost models only")
        return _sklearn.load_sklearn(obj)
    if root == "xgboost":
        name = type(obj).__name__
        if name == "Booster":
            return _xgboost.from_booster(obj, iteration_range=iteration_range)
        if hasattr(obj, "get_booster"):
            return _xgboost.from_xgbmodel(obj, iteration_range=iteration_range)
    if root == "lightgbm":
        if iteration_range is not None:
            raise UnsupportedModelError("iteration_range applies to XGBoost models only")
        if type(obj).__name__ == "Booster":
            return _lightgbm.from_booster(obj)
        # Checked on the class: on an unfitted LGBMModel the property itself raises.
        if hasattr(type(obj), "booster_"):
            return _lightgbm.from_lgbmmodel(obj)
    if root == "catboost" and hasattr(obj, "save_model") and hasattr(obj, "is_fitted"):
        if iteration_range is not None:
            raise UnsupportedModelError("iteration_range applies to XGBoost models only")
        return _catboost.from_estimator(obj)
    raise UnsupportedModelError(
        f"cannot explain a {type(obj).__module__}.{type(obj).__name__}; treelens accepts "
        + _ACCEPTED
    )
