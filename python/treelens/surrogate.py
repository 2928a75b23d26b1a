"""Global surrogate: a shallow scikit-learn decision tree fitted to the model's output."""

from __future__ import annotations

import numpy as np

from .exceptions import InvalidInputError
from .options import check_int, check_n_jobs
from .partial_dependence import response, weights

__all__ = ["Surrogate", "surrogate"]

_TARGETS = ("auto", "raw", "predict_proba", "class")


class Surrogate:
    """The result of :func:`surrogate`.

    Attributes
    ----------
    tree : sklearn.tree.DecisionTreeRegressor or DecisionTreeClassifier
        The fitted surrogate; its features are X's columns, in X's order.
    metric : str
        ``"r2"`` (the surrogate regresses the model's output; several outputs are averaged
        uniformly, as ``sklearn.metrics.r2_score`` does) or ``"accuracy"`` (it classifies the
        model's predicted class: the share of rows where both agree).
    fidelity_train : float
        The metric on the rows the surrogate was fitted on (weighted by ``sample_weight``).
    fidelity_test : float or None
        The metric on the held-out rows (None when ``test_size`` is 0).
    feature_names : list of str
    target : str
        What was fitted: ``"raw"`` (margins), ``"predict"`` (a regressor's prediction),
        ``"predict_proba"`` or ``"class"``.
    output_names : list of str
        The names of the fitted outputs (classes for a classifying surrogate).
    rules : str
        The tree as indented if/else rules (``sklearn.tree.export_text``).
    """

    def __init__(self, tree, metric, fidelity_train, fidelity_test, feature_names, target, outputs):
        self.tree = tree
        self.metric = metric
        self.fidelity_train = fidelity_train
        self.fidelity_test = fidelity_test
        self.feature_names = feature_names
        self.target = target
        self.output_names = outputs

    @property
    def rules(self) -> str:
        from sklearn.tree import export_text

        return export_text(self.tree, feature_names=list(self.feature_names), decimals=4)

    def predict(self, X) -> np.ndarray:
        """The surrogate's prediction for rows in X's column order (an array, or a table with
        the same columns).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self.tree.predict(np.asarray(X, dtype=np.float64))

    def plot(self, *, ax=None, **kwargs):
        """Draws the tree (``sklearn.tree.plot_tree``) with its fidelity.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        **kwargs
            Passed to :func:`treelens.plot.surrogate`.

        Returns
        -------
        matplotlib Axes
        """
        from .plot import surrogate as plot_surrogate

        return plot_surrogate(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        test = "" if self.fidelity_test is None else f", test {self.fidelity_test:.4f}"
        return (
            f"Surrogate(depth={self.tree.get_depth()}, leaves={self.tree.get_n_leaves()}, "
            f"{self.metric}: train {self.fidelity_train:.4f}{test})"
        )


def _r2(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    """``sklearn.metrics.r2_score`` with ``multioutput="uniform_average"``: 1 for a constant
    target fitted exactly, 0 for a constant target missed."""
    y2 = y.reshape(len(y), -1)
    p2 = pred.reshape(len(pred), -1)
    mean = np.average(y2, axis=0, weights=w)
    ss_res = (w[:, None] * (y2 - p2) ** 2).sum(axis=0)
    ss_tot = (w[:, None] * (y2 - mean) ** 2).sum(axis=0)
    scores = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
    scores = np.where((ss_tot == 0) & (ss_res == 0), 1.0, scores)
    return float(scores.mean())


def surrogate(
    model,
    X,
    *,
    max_depth: int = 3,
    target: str = "auto",
    test_size: float = 0.25,
    sample_weight=None,
    min_samples_leaf: int = 1,
    random_state=None,
    n_jobs: int | None = None,
) -> Surrogate:
    """A shallow decision tree fitted to the model's output on X: a global, readable
    approximation, and how faithful it is.

    Parameters
    ----------
    model : Model or anything :func:`treelens.load` accepts
    X : array-like or table of shape (n_samples, n_features)
        The rows (a table is matched to the model by column name; the surrogate's features are
        X's columns in X's order).
    max_depth : int
        Depth of the surrogate tree.
    target : {"auto", "raw", "predict_proba", "class"}
        What the surrogate learns: ``"raw"`` the raw margin of every output (regression);
        ``"predict_proba"`` a classifier's probabilities (regression, the positive class only
        for binary classifiers); ``"class"`` the class the model predicts (a classification
        tree, fidelity = agreement). ``"auto"``: ``"class"`` for classifiers, for regressors
        the prediction (the margin through the link).
    test_size : float
        Share of the rows held out (drawn at random) to measure fidelity on rows the surrogate
        did not see; 0 fits on every row.
    sample_weight : array-like of shape (n_samples,), optional
        Row weights of the fit and the fidelity.
    min_samples_leaf : int
        As in scikit-learn's trees.
    random_state : int, RandomState or None
        Seeds the held-out split and the tree's tie-breaking.
    n_jobs : int, optional
        Threads of the model's predictions.

    Returns
    -------
    Surrogate
        ``tree``, ``fidelity_train``, ``fidelity_test``, ``metric``, ``rules`` (text),
        ``feature_names``.
    """
    try:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
        from sklearn.utils import check_random_state
    except ImportError:  # pragma: no cover - scikit-learn is in every test environment
        raise ImportError(
            "tl.surrogate fits a scikit-learn decision tree: pip install scikit-learn"
        ) from None
    from .loaders import load

    n_jobs = check_n_jobs(n_jobs)
    max_depth = check_int("max_depth", max_depth, minimum=1, maximum=64)
    min_samples_leaf = check_int("min_samples_leaf", min_samples_leaf, minimum=1)
    if target not in _TARGETS:
        raise InvalidInputError(f"target must be one of {_TARGETS}, got {target!r}")
    try:
        test_size = float(test_size)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"test_size must be a number in [0, 1), got {test_size!r}"
        ) from None
    if not 0.0 <= test_size < 1.0:
        raise InvalidInputError(f"test_size must be in [0, 1), got {test_size!r}")
    model = load(model)
    rows = model.read(X)
    x = rows.matrix
    n = x.shape[0]
    if n == 0:
        raise InvalidInputError("X has no rows")
    w = weights(sample_weight, n)
    names = rows.labels()
    data = x if rows.order is None else x[:, np.asarray(rows.order, dtype=np.intp)]
    margin = model.forest.predict(x, n_jobs=n_jobs)
    if target == "auto":
        target = "class" if model.is_classifier else "predict"
    if target == "class":
        if not model.is_classifier:
            raise InvalidInputError('target="class" needs a classifier; use "raw" or "auto"')
        if model.n_outputs == 1:
            # One margin: the positive class when the probability exceeds one half.
            label = (model.transform_margin(margin[:, 0]) > 0.5).astype(np.intp)
        else:
            label = np.argmax(margin, axis=1)
        classes = np.asarray(model.classes)
        y = classes[label]
        outputs = [str(c) for c in classes]
    elif target == "raw":
        y = margin[:, 0] if margin.shape[1] == 1 else margin
        outputs = [f"output {o}" for o in range(margin.shape[1])]
    else:
        method = "predict_proba" if target == "predict_proba" else "auto"
        if method == "predict_proba" and not model.is_classifier:
            raise InvalidInputError('target="predict_proba" needs a classifier')
        transform, keep = response(model, method)
        out = margin if transform is None else transform(margin)
        out = out if keep is None else out[:, keep]
        y = out[:, 0] if out.shape[1] == 1 else out
        outputs = (
            [str(c) for c in np.asarray(model.classes)[keep or slice(None)]]
            if model.is_classifier
            else ["prediction"]
        )
    rng = check_random_state(random_state)
    n_test = int(np.floor(test_size * n))
    if test_size > 0 and (n_test == 0 or n_test == n):
        raise InvalidInputError(
            f"test_size={test_size} holds out {n_test} of {n} rows; pass more rows or test_size=0"
        )
    order = rng.permutation(n)
    test, train = order[:n_test], order[n_test:]
    seed = rng.randint(np.iinfo(np.int32).max)
    Tree = DecisionTreeClassifier if target == "class" else DecisionTreeRegressor
    tree = Tree(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed)
    tree.fit(data[train], y[train], sample_weight=w[train])

    def fidelity(idx):
        pred = tree.predict(data[idx])
        if target == "class":
            return float(np.average(pred == y[idx], weights=w[idx]))
        return _r2(y[idx], pred, w[idx])

    return Surrogate(
        tree=tree,
        metric="accuracy" if target == "class" else "r2",
        fidelity_train=fidelity(train),
        fidelity_test=fidelity(test) if n_test else None,
        feature_names=names,
        target=target,
        outputs=outputs,
    )
