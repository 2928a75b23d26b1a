"""Friedman and Popescu's H statistics, exactly as R's hstats (1.2) defines them."""

from __future__ import annotations

import numpy as np

from . import _core
from .dask import is_dask_collection
from .exceptions import InvalidInputError
from .inputs import named_table
from .memory import rows_of
from .options import check_n_jobs, check_optional_int, check_seed
from .partial_dependence import resolve_features, weights
from .progress import progress_callback
from .sparse_inputs import is_sparse

#: Numerators below this count as 0 (as in R's hstats).
EPS = 1e-10


def _post(num, den, normalize: bool, squared: bool) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    num = np.where(num < EPS, 0.0, num)
    if normalize:
        den = np.broadcast_to(np.asarray(den, dtype=np.float64), num.shape)
        out = np.zeros_like(num)
        np.divide(num, den, out=out, where=den > 0)
    else:
        out = num
    return out if squared else np.sqrt(out)


class HStats:
    """The result of :func:`hstats`.

    Attributes
    ----------
    features : list of str
        Names of the features considered, in the order of every array returned.
    pairwise_features, threeway_features : list of str
        The features whose pairs (triples) were computed, strongest overall numerator first.
    n_outputs : int
    """

    def __init__(self, names, raw, n_outputs):
        self.features = list(names)
        self.n_outputs = int(n_outputs)
        self._raw = raw
        self.pairwise_features = [self.features[a] for a in raw["pairwise_features"]]
        self.threeway_features = [self.features[a] for a in raw["threeway_features"]]

    def _shape(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        return a[..., 0] if self.n_outputs == 1 else a

    def h2(self, normalize: bool = True, squared: bool = True):
        """Global H^2: share of the prediction's variance not explained by the sum of the
        one-dimensional partial dependence functions.

        Parameters
        ----------
        normalize : bool
            Divide by the denominator (R hstats' ``normalize``); False gives the numerator.
        squared : bool
            The squared statistic (``H^2``); False takes the square root after normalising.

        Returns
        -------
        float or ndarray of shape (k,)
            One value per output.
        """
        r = self._raw
        out = self._shape(_post(r["global_numerator"], r["f_denominator"], normalize, squared))
        return float(out) if np.ndim(out) == 0 else out

    def h2_overall(self, normalize: bool = True, squared: bool = True) -> np.ndarray:
        """Overall H^2_j per feature: the share of the prediction's variance that feature j's
        interactions (of any order) carry.

        Parameters
        ----------
        normalize : bool
            Divide by the denominator (R hstats' ``normalize``); False gives the numerator.
        squared : bool
            The squared statistic (``H^2``); False takes the square root after normalising.

        Returns
        -------
        ndarray of shape (p,) or (p, k)
            Aligned with ``features``.
        """
        r = self._raw
        return self._shape(
            _post(r["overall_numerator"], r["f_denominator"][None, :], normalize, squared)
        )

    def h2_pairwise(self, normalize: bool = True, squared: bool = True) -> np.ndarray:
        """Pairwise H^2_jk: the share of the joint partial dependence of j and k that their
        interaction carries.

        Parameters
        ----------
        normalize : bool
            Divide by the denominator (R hstats' ``normalize``); False gives the numerator.
        squared : bool
            The squared statistic (``H^2``); False takes the square root after normalising.

        Returns
        -------
        ndarray of shape (p, p) or (p, p, k)
            Symmetric, NaN where a pair was not computed (see ``pairwise_m``).
        """
        r = self._raw
        p, k = len(self.features), self.n_outputs
        out = np.full((p, p, k), np.nan)
        vals = _post(r["pair_numerator"], r["pair_denominator"], normalize, squared)
        for (a, b), v in zip(r["pair_index"], vals):
            out[a, b] = v
            out[b, a] = v
        return self._shape(out)

    def h2_threeway(self, normalize: bool = True, squared: bool = True) -> dict:
        """Three-way H^2_jkl of the triples computed (see ``threeway_m``).

        Parameters
        ----------
        normalize : bool
            Divide by the denominator (R hstats' ``normalize``); False gives the numerator.
        squared : bool
            The squared statistic (``H^2``); False takes the square root after normalising.

        Returns
        -------
        dict
            ``{(name_a, name_b, name_c): value}`` (names in ``features`` order); values are
            floats, or (k,) arrays for k outputs.
        """
        r = self._raw
        vals = _post(r["triple_numerator"], r["triple_denominator"], normalize, squared)
        out = {}
        for idx, v in zip(r["triple_index"], vals):
            key = tuple(self.features[a] for a in idx)
            out[key] = float(v[0]) if self.n_outputs == 1 else v
        return out

    def to_frame(self, normalize: bool = True, squared: bool = True):
        """All statistics as one long table.

        Parameters
        ----------
        normalize : bool
            Divide by the denominator (R hstats' ``normalize``); False gives the numerator.
        squared : bool
            The squared statistic (``H^2``); False takes the square root after normalising.

        Returns
        -------
        pandas.DataFrame
            Columns ``statistic`` ("global", "overall", "pairwise", "threeway"), ``features``
            (names joined by ":") and ``value`` (``value_0``, ``value_1``, ... for several
            outputs).
        """
        import pandas as pd

        rows, vals = [], []
        k = self.n_outputs

        def add(stat, names, v):
            rows.append((stat, ":".join(names)))
            vals.append(np.atleast_1d(np.asarray(v, dtype=np.float64)).reshape(k))

        add("global", [], self.h2(normalize, squared))
        for name, v in zip(self.features, np.asarray(self.h2_overall(normalize, squared))):
            add("overall", [name], v)
        pw = self.h2_pairwise(normalize, squared)
        for a, b in self._raw["pair_index"]:
            add("pairwise", [self.features[a], self.features[b]], pw[a, b])
        for key, v in self.h2_threeway(normalize, squared).items():
            add("threeway", list(key), v)
        frame = pd.DataFrame(rows, columns=["statistic", "features"])
        values = np.array(vals).reshape(len(rows), k)
        if k == 1:
            frame["value"] = values[:, 0]
        else:
            for o in range(k):
                frame[f"value_{o}"] = values[:, o]
        return frame

    def plot(self, kind: str = "overall", *, ax=None, **kwargs):
        """Draws the statistics as sorted horizontal bars with matplotlib (``pip install
        'treelens[plot]'``), as R's ``plot.hstats``.

        Parameters
        ----------
        kind : {"overall", "pairwise", "threeway"}
            Which statistic is drawn.
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        **kwargs
            ``top_k``, ``normalize``, ``squared``, ``output``: see :func:`treelens.plot.hstats`.

        Returns
        -------
        matplotlib.axes.Axes
            The bars, largest on top, tick labels the features (``"a:b"`` for pairs).
        """
        from .plot import hstats as draw

        return draw(self, kind=kind, ax=ax, **kwargs)

    def __repr__(self) -> str:
        return (
            f"HStats({len(self.features)} features, {len(self._raw['pair_index'])} pairs, "
            f"{len(self._raw['triple_index'])} triples)"
        )


def _takes_rows(X) -> bool:
    """Whether rows of ``X`` can be taken before conversion (numpy arrays, memmaps, tables,
    sparse matrices and DMatrix)."""
    return isinstance(X, np.ndarray) or named_table(X) is not None or is_sparse(X)


def _rows_at(X, idx: np.ndarray):
    """Rows ``idx`` of ``X`` (see :func:`_takes_rows`), without converting the others."""
    table = named_table(X)
    if is_sparse(X):
        return X.slice(idx) if hasattr(X, "slice") else X.tocsr()[idx]  # DMatrix, or scipy
    if table is None:
        return X[idx]
    if table.kind == "pandas":
        return X.iloc[idx]
    if table.kind == "polars":
        return X[idx]
    return X.take(idx)  # pyarrow Table or RecordBatch


def _considered(rows, features, pairwise_m, threeway_m):
    """``(names, chosen, model columns, pairwise_m, threeway_m)``: X's column names, the
    positions of the features considered, their model columns, and the counts as the core
    takes them (None: every feature considered; counts above that mean all of them)."""
    names = rows.labels()
    chosen = list(range(len(names))) if features is None else resolve_features(features, names)
    cols = rows.model_columns(chosen)
    pairwise_m = len(cols) if pairwise_m is None else min(pairwise_m, len(cols))
    threeway_m = len(cols) if threeway_m is None else min(threeway_m, len(cols))
    return names, chosen, cols, int(pairwise_m), int(threeway_m)


def over_partitions(model, empty, features, pairwise_m, threeway_m, reduce_stage) -> HStats:
    """:func:`hstats` on rows held in partitions: ``empty`` is a block of no rows (its columns
    name the features); ``reduce_stage(plan)`` runs the plan's next stage on every partition and
    returns the merged partial (see ``_core.hstats_partial`` and ``_core.hstats_merge``)."""
    names, chosen, cols, pairwise_m, threeway_m = _considered(
        model.read(empty), features, pairwise_m, threeway_m
    )
    plan = _core.hstats_plan(model.forest, cols, pairwise_m=pairwise_m, threeway_m=threeway_m)
    while _core.hstats_stage(plan)[1] is not None:
        plan = _core.hstats_advance(model.forest, plan, reduce_stage(plan))
    raw = _core.hstats_result(model.forest, plan)
    return HStats([names[i] for i in chosen], raw, model.n_outputs)


def hstats(
    model,
    X,
    *,
    features=None,
    pairwise_m: int | None = 5,
    threeway_m: int | None = 0,
    n_max: int | None = None,
    sample_weight=None,
    random_state=None,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> HStats:
    """Friedman and Popescu's H statistics of a tree ensemble, exact on all rows.

    Follows R's hstats (1.2): every partial dependence function is data-based (the weighted mean
    of predictions over the rows of ``X`` with the other columns kept) and centred to weighted
    mean 0; ``f`` is the centred prediction. Overall ``H^2_j = wmean((f - PD_j - PD_notj)^2) /
    wmean(f^2)``; pairwise ``H^2_jk = wmean((PD_jk - PD_j - PD_k)^2) / wmean(PD_jk^2)``;
    three-way ``H^2_jkl = wmean((PD_jkl - PD_jk - PD_jl - PD_kl + PD_j + PD_k + PD_l)^2) /
    wmean(PD_jkl^2)``; global ``H^2 = wmean((f - sum_j PD_j)^2) / wmean(f^2)``. Numerators below
    1e-10 count as 0 and 0/0 as 0.

    Unlike R's hstats, which evaluates the model on replicated data and therefore subsamples to
    500 rows, treelens computes the partial dependence functions from the trees' structure, so
    all rows are used by default (``n_max=None``).

    The statistics are of the model's raw margin (``model.predict``: log-odds for boosted
    classifiers, class probabilities for scikit-learn forest classifiers), with one value per
    output for multi-output models; R's hstats uses whatever prediction function it is given.

    On a Dask array or DataFrame the statistics are those of all its rows, equal to the
    in-memory result on the same rows: the partial dependence functions are reduced from
    per-partition tables over the model's cells (a few passes over the data; see
    :mod:`treelens.dask`), and no rows travel to the client.

    Parameters
    ----------
    model : Model or anything :func:`treelens.load` accepts
    X : array-like or table of shape (n_samples, n_features)
        At least 2 rows and 2 columns: a numpy array (read by position), or a pandas or polars
        DataFrame or pyarrow Table (columns matched to the model by name, any order), or a
        Dask array (chunked along rows only) or DataFrame.
    features : sequence of str or int, optional
        Features to consider (names or indices of X's columns); all by default, in X's column
        order. Columns without names are called x0, x1, ....
    pairwise_m : int or None
        Pairwise statistics for all pairs of the ``pairwise_m`` features with the largest
        positive overall numerator (summed over outputs); none when below 2. None: all features
        (a feature with a zero overall numerator interacts with nothing; its pairs stay NaN).
    threeway_m : int or None
        Three-way statistics for all triples of the ``threeway_m`` strongest of those (capped at
        ``pairwise_m``); none when below 3. None: all features.
    n_max : int, optional
        Use a random subsample of this many rows (without replacement) if ``X`` has more (not
        on Dask collections, whose rows are all used).
    sample_weight : array-like of shape (n_samples,), optional
        A Dask array or Series alongside a Dask ``X``.
    random_state : int or numpy Generator, optional
        Seeds the subsample.
    n_jobs : int, optional
        Threads; None means the default (all cores; see ``treelens.options.default_n_jobs``).
    progress : bool, optional
        Show a progress bar (rows in memory; on Dask, use Dask's own progress display).

    Returns
    -------
    HStats
        ``features``, ``h2()``, ``h2_overall()``, ``h2_pairwise()``, ``h2_threeway()``,
        ``to_frame()`` and ``plot()`` (bars, see :func:`treelens.plot.hstats`); each takes
        ``normalize=True`` (False: numerators only) and ``squared=True`` (False: square roots
        after normalising).
    """
    from .loaders import load

    pairwise_m = check_optional_int("pairwise_m", pairwise_m, minimum=0, none_means="all features")
    threeway_m = check_optional_int("threeway_m", threeway_m, minimum=0, none_means="all features")
    n_max = check_optional_int("n_max", n_max, minimum=2, none_means="all rows")
    random_state = check_seed(random_state, generators=True)
    checked_n_jobs = check_n_jobs(n_jobs)
    model = load(model)
    if model.n_features < 2:
        raise InvalidInputError(
            f"H statistics need at least 2 features; the model has {model.n_features} column"
        )
    if is_dask_collection(X):
        if n_max is not None:
            raise InvalidInputError(
                "n_max subsamples rows held in memory; on a Dask collection hstats uses all "
                "rows (sample the collection first, e.g. X.sample(frac=...), to use fewer)"
            )
        if progress:
            raise InvalidInputError(
                "progress=True shows treelens' bar for rows in memory; on a Dask collection use "
                "Dask's progress display (dask.diagnostics.ProgressBar, distributed.progress)"
            )
        from . import dask as on_dask

        empty, reduce_stage = on_dask.stage_reducer(
            model, X, sample_weight=sample_weight, n_jobs=n_jobs
        )
        return over_partitions(model, empty, features, pairwise_m, threeway_m, reduce_stage)
    n_jobs = checked_n_jobs
    n_input = rows_of(X)
    presampled = n_input is not None and n_max is not None and n_input > n_max and _takes_rows(X)
    if presampled:
        # Subsample first: only the kept rows are converted (the same draw as below).
        w = weights(sample_weight, n_input)
        idx = np.sort(
            np.random.default_rng(random_state).choice(n_input, size=n_max, replace=False)
        )
        X = _rows_at(X, idx)
        w = np.ascontiguousarray(w[idx])
    rows = model.read(X)
    names, chosen, cols, pairwise_m, threeway_m = _considered(
        rows, features, pairwise_m, threeway_m
    )
    x = rows.matrix
    n = x.shape[0]
    if not presampled:
        w = weights(sample_weight, n)
        if n_max is not None and n > n_max:
            rng = np.random.default_rng(random_state)
            idx = np.sort(rng.choice(n, size=int(n_max), replace=False))
            x = np.ascontiguousarray(x[idx])
            w = np.ascontiguousarray(w[idx])
            n = int(n_max)
    if n < 2:
        raise InvalidInputError(f"H statistics need at least 2 rows, X has {n}")
    raw = _core.hstats(
        model.forest,
        x,
        w,
        cols,
        pairwise_m=pairwise_m,
        threeway_m=threeway_m,
        n_jobs=n_jobs,
        progress=progress_callback(progress, "hstats", n * model.n_trees),
    )
    return HStats([names[i] for i in chosen], raw, model.n_outputs)
