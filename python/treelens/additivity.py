"""``check_additivity``: the SHAP values plus the expected value against the model's own output.

The output comes from the model's library when the live estimator is at hand and has a method
for it (XGBoost ``predict(output_margin=True)``, LightGBM ``predict(raw_score=True)``,
scikit-learn ``predict``, ``predict_proba`` or ``decision_function``), otherwise from
treelens' native prediction. Either costs one prediction, O(rows x trees), small next to the
explanation.
"""

from __future__ import annotations

import warnings

import numpy as np

from .exceptions import AdditivityError

__all__ = ["library_margin", "check_additivity"]

#: Relative tolerances: XGBoost sums its trees in float32; the others in float64.
_FLOAT32_TOLERANCE = 1e-4
_FLOAT64_TOLERANCE = 1e-9


def _predicts_these_trees(model, est, root: str) -> bool:
    """Whether the estimator's default prediction uses exactly the loaded trees (a model loaded
    with ``iteration_range``, or a booster's best iteration, may hold fewer)."""
    n = model.forest.n_trees
    try:
        if root == "xgboost":
            booster = est.get_booster()
            per_round = model.trees_per_round or 1
            try:
                rounds = int(est.best_iteration) + 1
            except AttributeError:
                rounds = booster.num_boosted_rounds()
            return rounds * per_round == n
        if root == "lightgbm":
            booster = est.booster_
            params = booster.params or {}
            boosting = params.get("boosting", params.get("boosting_type", est.boosting_type))
            if boosting in ("rf", "random_forest"):
                return False  # its raw score sums the trees; the model averages them
            best = booster.best_iteration
            iterations = best if best > 0 else booster.current_iteration()
            return iterations * booster.num_model_per_iteration() == n
    except Exception:  # an estimator without these attributes: no comparison possible
        return False
    return True


def _predict_margin(model, est, root: str, X) -> tuple[np.ndarray | None, bool]:
    """The live estimator's margin method applied to X, and whether it is float32."""
    if root == "xgboost" and hasattr(est, "get_booster"):
        return est.predict(X, output_margin=True), True
    if root == "lightgbm" and hasattr(type(est), "booster_"):
        return est.predict(X, raw_score=True), False
    if root != "sklearn":
        return None, False
    if model.margin_is_probability:
        return est.predict_proba(X), False
    if model.is_classifier and hasattr(est, "decision_function"):
        return est.decision_function(X), False
    # IsolationForest's predict gives labels (its margin is the mean path length).
    if not model.is_classifier and model.link == "identity" and not hasattr(est, "score_samples"):
        return est.predict(X), False
    return None, False


def library_margin(model, X, n_rows: int) -> tuple[np.ndarray | None, bool]:
    """``(the margin the model's own library predicts for X as (n, k) float64, whether it was
    computed in float32)``; ``(None, False)`` when there is no live estimator with a margin
    method, or it does not take this input."""
    est = model.estimator
    if est is None:
        return None, False
    root = type(est).__module__.split(".")[0]
    if not _predicts_these_trees(model, est, root):
        return None, False
    try:
        with warnings.catch_warnings():
            # The check is treelens' own: the library's remarks on the input are not news.
            warnings.simplefilter("ignore")
            out, float32 = _predict_margin(model, est, root, X)
    # The live estimator may not take this input (a Pipeline's final step given the raw
    # columns, an input type it does not read): the native prediction serves instead.
    except Exception:
        return None, False
    if out is None:
        return None, False
    out = np.asarray(out, dtype=np.float64)
    # (Checked by size: a library's prediction of no rows has no shape to infer a width from.)
    if out.size != n_rows * model.n_outputs:
        return None, False
    return out.reshape(n_rows, model.n_outputs), float32


def check_additivity(
    values: np.ndarray,
    expected: np.ndarray,
    output: np.ndarray,
    *,
    float32: bool,
    source: str,
) -> None:
    """Raises :class:`AdditivityError` unless ``values.sum(axis=1) + expected == output`` within
    the tolerance (relative to the magnitudes summed). ``values`` (n, p, k), ``expected``
    (k,) or (n, k), ``output`` (n, k)."""
    total = values.sum(axis=1) + expected
    scale = np.abs(values).sum(axis=1) + np.abs(expected) + np.abs(output) + 1.0
    tolerance = _FLOAT32_TOLERANCE if float32 else _FLOAT64_TOLERANCE
    diff = np.abs(total - output)
    bad = ~(diff <= tolerance * scale)
    if not bad.any():
        return
    worst = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), diff.shape)
    raise AdditivityError(
        f"Additivity check failed: the SHAP values plus the expected value differ from the "
        f"model's output ({source}) by up to {float(diff.max()):.6g} (row {worst[0]}: "
        f"{float(total[worst]):.6g} against {float(output[worst]):.6g}). Check that X has the "
        f"columns and encoding the model was trained on; check_additivity=False "
        "skips this check."
    )
