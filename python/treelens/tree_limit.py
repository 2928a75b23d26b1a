"""shap's ``tree_limit``: how many of a model's first trees to explain.

shap counts in its own units, which depend on the library; treelens follows them so that the
same call gives the same numbers:

- XGBoost and scikit-learn's HistGradientBoosting: trees, rounded down to whole boosting rounds
  (a round holds one tree per class, times ``num_parallel_tree``), as shap passes
  ``iteration_range=(0, tree_limit // trees_per_round)`` to XGBoost;
- LightGBM: boosting iterations (shap's ``num_iteration``);
- scikit-learn's GradientBoosting: stages (one tree per class each);
- random forests, extra trees, isolation forests: trees, averaged over the trees kept (as the
  forest's own prediction from its first trees; shap keeps dividing by the full count).
"""

from __future__ import annotations

import numpy as np

from .exceptions import InvalidInputError

__all__ = ["trees_for_limit", "trees_per_round"]


def trees_per_round(model) -> int:
    """Trees of one boosting round (forest trees: 1). Loaders that know it set
    ``Model.trees_per_round``; otherwise a model whose trees each feed one of several outputs
    is taken to cycle over the outputs (one tree per output and round)."""
    known = getattr(model, "trees_per_round", None)
    if known:
        return int(known)
    outputs = np.asarray(model.forest.tree_output)
    if model.n_outputs > 1 and outputs.size and np.all(outputs >= 0):
        return int(model.n_outputs)
    return 1


def _counts_trees(model) -> bool:
    """Whether shap's tree_limit counts trees (not rounds) for this model."""
    if model.library == "xgboost":
        return True
    names = {c.__name__ for c in type(model.estimator).__mro__}
    return bool(names & {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"})


def trees_for_limit(model, tree_limit) -> int | None:
    """The number of first trees of ``model.forest`` that ``tree_limit`` keeps; None for all
    of them (``tree_limit`` None or negative, as in shap, or at least the model's size)."""
    if tree_limit is None:
        return None
    if isinstance(tree_limit, bool) or not isinstance(tree_limit, (int, np.integer)):
        raise InvalidInputError(f"tree_limit must be an int or None, got {tree_limit!r}")
    if tree_limit < 0:
        return None
    per_round = trees_per_round(model)
    rounds = int(tree_limit) // per_round if _counts_trees(model) else int(tree_limit)
    if rounds == 0:
        unit = f"one round of {per_round} trees" if _counts_trees(model) else "one round"
        raise InvalidInputError(
            f"tree_limit={tree_limit} keeps no tree: it must cover at least {unit} "
            "(None or -1 means every tree)"
        )
    n = rounds * per_round
    return None if n >= model.forest.n_trees else n
