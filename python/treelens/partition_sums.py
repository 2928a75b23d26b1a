"""What each partition of a distributed collection computes, and how the partitions' results
add up: the sums behind partial dependence averages, permutation importance with decomposable
scorers and the H statistics' stages. Shared by the engines (``treelens.dask``,
``treelens.spark``), which only split, ship and reduce: the maths is the in-memory code's."""

from __future__ import annotations

import functools

import numpy as np

from .exceptions import InvalidInputError

__all__ = [
    "DECOMPOSABLE_SCORERS",
    "add_pairs",
    "ale_bin_counts",
    "ale_bin_sums",
    "ale_range",
    "importance_arguments",
    "importance_result",
    "add_sums",
    "global_scores",
    "hstats_partial",
    "in_task",
    "partition_importance",
    "partition_seed",
    "weighted_average",
]


def add_pairs(a, b):
    """The sum of two ``(sum, count)`` pairs, either of which may be None (nothing)."""
    if a is None:
        return b
    if b is None:
        return a
    return a[0] + b[0], a[1] + b[1]


def in_task(fn):
    """A task function: it runs with ``n_jobs=None`` meaning one thread (see
    :func:`treelens.options.engine_task`)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        from .options import engine_task

        with engine_task():
            return fn(*args, **kwargs)

    return run


def _ale_rows(model, setup, block, w):
    """A block's rows with a value of every ALE feature and a positive weight, their weights,
    and the features' model columns."""
    rows = model.read(block)
    cols = rows.model_columns(setup.chosen)
    x = rows.matrix
    w = np.ones(x.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    if w.shape != (x.shape[0],):
        raise InvalidInputError(
            f"sample_weight has {w.shape[0]} entries for a block of {x.shape[0]} rows"
        )
    x, w = setup.present(x, w, cols, required=False)
    return x, w, cols


@in_task
def ale_range(model, setup, block, w):
    """Per ALE feature ``(min, max)`` over the block's usable rows, or None without any."""
    x, _, cols = _ale_rows(model, setup, block, w)
    if x.shape[0] == 0:
        return None
    return np.array([[x[:, c].min(), x[:, c].max()] for c in cols])


def merge_ranges(a, b):
    """Two blocks' ``(min, max)`` per feature together (None: no rows)."""
    if a is None:
        return b
    if b is None:
        return a
    return np.stack([np.minimum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])], axis=1)


@in_task
def ale_bin_counts(model, setup, feature, edges, block, w):
    """Rows of the block in each bin of ``edges`` for the ALE feature at ``feature``."""
    from .ale import bin_counts

    x, _, cols = _ale_rows(model, setup, block, w)
    return bin_counts(x[:, cols[feature]], edges)


@in_task
def ale_bin_sums(model, setup, edges, block, w):
    """The block's ``(weights, difference sums)`` per bin (cell): see
    :func:`treelens.ale.bin_sums`."""
    from .ale import bin_sums

    x, w, cols = _ale_rows(model, setup, block, w)
    return bin_sums(model, x, w, cols, edges, setup.transform, setup.keep, None)


@in_task
def weighted_average(fn, block, w):
    """(the block's weighted sum of PD averages, its weight) or None for a block without
    weight: ``fn`` is the in-memory partial dependence, whose average is weighted."""
    if w is not None:
        w = np.asarray(w, dtype=np.float64)
    total = float(len(block)) if w is None else float(w.sum())
    if len(block) == 0 or total == 0.0:
        return None
    return fn(X=block, sample_weight=w)["average"] * total, total


DECOMPOSABLE_SCORERS = (
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
    "accuracy",
    "balanced_accuracy",
    "neg_log_loss",
)
"""Scorers whose value over all rows follows from per-partition sums: the ones permutation
importance takes on Dask and Spark."""
#: What a partition computes for each: a weighted mean the in-memory code scores.
PARTITION_SCORER = {
    "r2": "neg_mean_squared_error",
    "neg_root_mean_squared_error": "neg_mean_squared_error",
    "balanced_accuracy": "accuracy",
}


def partition_seed(random_state: int, index: int) -> int:
    """Partition ``index``'s seed: ``random_state`` itself for the first (so that one partition
    draws what the in-memory function draws), a hash of both for the others."""
    if index == 0:
        return random_state
    return int(np.random.SeedSequence([random_state, index]).generate_state(1)[0])


@in_task
def partition_importance(score, X, y, w, index, random_state, scorers, classes):
    """One partition's sums: per scorer name, ``(weight, weight x baseline, weight x permuted
    scores (units, repeats))`` of the weighted-mean score it is computed from, plus what r2
    (the labels' weight, weighted mean and sum of squared deviations) and balanced accuracy
    (the same triple per class, of accuracy over that class's rows) need."""
    n = len(X)
    if n == 0:
        return None
    y = np.asarray(y)
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    total = w.sum()
    seed = partition_seed(random_state, index)

    def weighted(weight, base, permuted):
        return weight, weight * base, weight * np.asarray(permuted)

    out = {}
    means = sorted({PARTITION_SCORER.get(s, s) for s in scorers if s != "balanced_accuracy"})
    if means and total > 0:
        scores = score(X=X, y=y, sample_weight=w, scoring=means, random_state=seed)[0]
        for name in means:
            out[name] = weighted(total, *scores[name])
    if "r2" in scorers and total > 0:
        yf = y.astype(np.float64)
        mean = np.sum(w * yf) / total
        out["labels"] = (total, mean, np.sum(w * (yf - mean) ** 2))
    if "balanced_accuracy" in scorers:
        for c, label in enumerate(classes):
            wc = np.where(y == label, w, 0.0)
            if wc.sum() > 0:
                scores = score(X=X, y=y, sample_weight=wc, scoring=["accuracy"], random_state=seed)
                out[("class", c)] = weighted(wc.sum(), *scores[0]["accuracy"])
    return out


def add_sums(a, b):
    if a is None:
        return b
    if b is None:
        return a
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif key == "labels":
            out[key] = pooled(out[key], value)
        else:
            out[key] = tuple(p + q for p, q in zip(out[key], value))
    return out


def pooled(a, b):
    """(weight, mean, sum of squared deviations) of two groups together (Chan et al.): no
    cancellation of large sums of squares."""
    (wa, ma, sa), (wb, mb, sb) = a, b
    w = wa + wb
    delta = mb - ma
    return w, ma + delta * wb / w, sa + sb + delta * delta * wa * wb / w


@in_task
def hstats_partial(model, plan, block, w, n_jobs):
    """A block's part of the H statistics plan's next stage (bytes)."""
    from . import _core
    from .options import check_n_jobs

    x = model.read(block).matrix
    n = x.shape[0]
    w = np.ones(n) if w is None else np.ascontiguousarray(np.asarray(w, dtype=np.float64))
    if w.shape != (n,):
        raise InvalidInputError(f"sample_weight has shape {w.shape} for a block of {n} rows")
    return _core.hstats_partial(model.forest, plan, x, w, n_jobs=check_n_jobs(n_jobs))


def global_scores(name, total, n_classes):
    """``(baseline, permuted (units, repeats))`` of scorer ``name`` over all rows."""
    if name == "balanced_accuracy":
        recalls = [total[k] for k in total if isinstance(k, tuple) and k[0] == "class"]
        base = np.mean([b / w for w, b, _ in recalls])
        permuted = np.mean([p / w for w, _, p in recalls], axis=0)
        return base, permuted
    w, base, permuted = total[PARTITION_SCORER.get(name, name)]
    base, permuted = base / w, permuted / w
    if name == "neg_root_mean_squared_error":
        return -np.sqrt(-base), -np.sqrt(-permuted)
    if name == "r2":
        sst = total["labels"][2]
        return 1.0 + base * w / sst, 1.0 + permuted * w / sst
    return base, permuted


def importance_arguments(
    estimator_or_model,
    *,
    scoring,
    n_repeats,
    n_jobs,
    random_state,
    max_samples,
    groups,
    read_empty,
    where: str,
    sample_with: str,
):
    """Checks permutation importance's arguments for an engine (``where``: "a Dask collection",
    "a Spark DataFrame") before anything runs; ``read_empty(model)`` reads the input's empty
    version and gives its column names. Returns ``(model, scorer names, integer seed, classes,
    score)``, ``score`` being the in-memory :func:`treelens.importance.importance_scores` with
    the options fixed."""
    from .importance import _units, importance_scores
    from .loaders import load
    from .options import check_int, check_n_jobs, check_seed

    model = load(estimator_or_model)
    if model.preprocessing is not None:
        raise InvalidInputError(
            f"permutation importance of a Pipeline on {where} is not available: it "
            "permutes the raw columns before the Pipeline's transformers; pass the transformed "
            "data and the final estimator"
        )
    if max_samples != 1.0:
        raise InvalidInputError(
            f"max_samples draws rows of all of X; on {where} every partition permutes "
            f"its own rows: sample the data (e.g. {sample_with}) instead"
        )
    names = [scoring] if isinstance(scoring, str) else scoring
    if scoring is None:
        names = ["accuracy" if model.is_classifier else "r2"]
    if not isinstance(names, (list, tuple)) or not all(isinstance(s, str) for s in names):
        raise InvalidInputError(
            f"on {where}, scoring must be a scorer name or a list of them, from: "
            + ", ".join(DECOMPOSABLE_SCORERS)
        )
    refused = [s for s in names if s not in DECOMPOSABLE_SCORERS]
    if refused:
        raise InvalidInputError(
            f"scorer {refused[0]!r} does not decompose over partitions; on {where} "
            f"the scorers are: {', '.join(DECOMPOSABLE_SCORERS)}"
        )
    if len(set(names)) != len(names):
        raise InvalidInputError("the list of scorers has duplicates")
    if random_state is None or isinstance(random_state, np.random.RandomState):
        random_state = int(np.random.RandomState(random_state).randint(np.iinfo(np.int32).max))
    check_seed(random_state, generators=False)
    score = functools.partial(
        importance_scores,
        model,
        n_repeats=n_repeats,
        n_jobs=n_jobs,
        max_samples=1.0,
        groups=groups,
        progress=False,
    )
    # Checked before anything runs: the input's columns, the units, the sizes.
    _units(groups, model.n_features, read_empty(model))
    check_int("n_repeats", n_repeats, minimum=1)
    check_n_jobs(n_jobs)
    classes = list(model.classes) if model.is_classifier and model.classes is not None else []
    if "balanced_accuracy" in names and not classes:
        raise InvalidInputError("balanced_accuracy scores classifiers; the model is a regressor")
    if "r2" in names and model.n_outputs != 1:
        raise InvalidInputError(f"r2 on {where} scores models of one output")
    return model, list(names), random_state, classes, score


def importance_result(scoring, names, total, classes):
    """The importance Bunch (or a dict of them, one per scorer, for a list of scorers) from
    the partitions' summed :func:`partition_importance`."""
    from .importance import _bunch

    if total is None:
        raise InvalidInputError("X has no rows")
    results = {name: _bunch(*global_scores(name, total, len(classes))) for name in names}
    single = scoring is None or isinstance(scoring, str)
    return results[names[0]] if single else results
