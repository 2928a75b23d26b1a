"""End to end from the fitted estimator, as a user times it: treelens against its peers.

Every timing starts from the fitted estimator: treelens' includes ``tl.load`` (inside
``TreeExplainer(est)`` or ``permutation_importance(est, ...)``), shap's and FastTreeSHAP's the
construction of their explainer, scikit-learn's its ``permutation_importance``. Each library
runs with its defaults (``check_additivity=True`` for the SHAP explainers) and 2 threads where
it has threads. treelens' rows note where its time goes: ``load`` (``tl.load``), ``setup`` (the
explainer built from the loaded model), ``kernel`` (the Rust computation alone) and ``other``
(the rest: input reading, the additivity check's prediction, Python).

Workloads (issue #14): W1 (XGBRegressor, 500 trees of depth 6) interventional SHAP of 300 rows
against 200 background rows (shap, given all of them through a masker); W1 path-dependent SHAP
of 2,000 rows (FastTreeSHAP v2); W1 permutation importance on 10,000 rows x 5 repeats and
RandomForestClassifier (200 unlimited trees) on 10,000 rows x 5 (scikit-learn). Quick mode
explains and permutes fewer rows.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings

import numpy as np

import treelens as tl
from treelens import _core

from . import timing

#: The core functions whose time counts as treelens' kernel.
_KERNELS = (
    "path_shap_values",
    "interventional_shap_values",
    "importance_permuted",
    "importance_baseline",
)


class _KernelClock:
    """Adds up the time spent in the core's kernels while active (wraps them in
    ``treelens._core``, where the Python layer looks them up at each call)."""

    def __init__(self):
        self.seconds = 0.0

    @contextlib.contextmanager
    def running(self):
        saved = {name: getattr(_core, name) for name in _KERNELS}

        def timed(fn):
            def call(*args, **kwargs):
                t = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - t

            return call

        try:
            for name, fn in saved.items():
                setattr(_core, name, timed(fn))
            yield self
        finally:
            for name, fn in saved.items():
                setattr(_core, name, fn)


def _ours(end_to_end, load, setup, repeat: int = 3) -> dict:
    """Best of ``repeat`` end-to-end runs of treelens, with its split (seconds)."""
    best, kernel = float("inf"), 0.0
    for _ in range(repeat):
        clock = _KernelClock()
        with clock.running():
            t = time.perf_counter()
            end_to_end()
            elapsed = time.perf_counter() - t
        if elapsed < best:
            best, kernel = elapsed, clock.seconds
    t_load = timing.best_of(load, repeat=repeat)
    t_setup = timing.best_of(setup, repeat=repeat) if setup is not None else 0.0
    other = max(best - t_load - t_setup - kernel, 0.0)
    return dict(seconds=best, load=t_load, setup=t_setup, kernel=kernel, other=other)


def _split(ours: dict) -> str:
    return (
        f"load {ours['load'] * 1e3:.0f} ms, setup {ours['setup'] * 1e3:.0f} ms, kernel "
        f"{ours['kernel'] * 1e3:.0f} ms, other {ours['other'] * 1e3:.0f} ms; without the load "
        f"x{{:,.1f}}"
    )


def _rows(workload: str, peer: str, n: int, t_peer: float, ours: dict, note: str = "") -> list:
    without_load = t_peer / max(ours["seconds"] - ours["load"], 1e-12)
    split = _split(ours).format(without_load)
    return [
        dict(workload=workload, method=peer, rows=n, seconds=t_peer),
        dict(
            workload=workload,
            method="treelens end to end",
            rows=n,
            seconds=ours["seconds"],
            ratio=t_peer / ours["seconds"],
            note=split + (f"; {note}" if note else ""),
        ),
    ]


def _quiet():
    """Peers draw progress bars and warn: kept out of the report."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def interventional(quick: bool) -> list[dict]:
    import shap

    from workloads import w1

    est, X, _ = w1()
    est.set_params(n_jobs=2)
    n, m = (100, 200) if quick else (300, 200)
    bg, rows = X[:m], X[1000 : 1000 + n]
    holder = {}

    def peer():
        with _quiet():
            # A masker keeps all m rows (given an array, shap samples 100 of them).
            masker = shap.maskers.Independent(bg, max_samples=m)
            ex = shap.TreeExplainer(est, masker, feature_perturbation="interventional")
            holder["shap"] = ex.shap_values(rows)

    t_peer = timing.best_of(peer, repeat=1)
    model = tl.load(est)
    ours = _ours(
        lambda: holder.__setitem__("ours", tl.TreeExplainer(est, bg).shap_values(rows)),
        lambda: tl.load(est),
        lambda: tl.TreeExplainer(model, bg),
    )
    diff = float(np.max(np.abs(holder["ours"] - holder["shap"])))
    return _rows(
        f"W1 interventional {n}x{m}",
        "shap TreeExplainer",
        n,
        t_peer,
        ours,
        f"max |diff| {diff:.1e}",
    )


def path(quick: bool) -> list[dict]:
    from workloads import w1

    est, X, _ = w1()
    est.set_params(n_jobs=2)
    n = 500 if quick else 2000
    rows = X[:n]
    holder = {}
    out = []
    model = tl.load(est)
    ours = _ours(
        lambda: holder.__setitem__("ours", tl.TreeExplainer(est).shap_values(rows)),
        lambda: tl.load(est),
        lambda: tl.TreeExplainer(model),
    )
    try:
        import fasttreeshap_fixed as fts
    except ImportError:  # pragma: no cover
        return out

    def peer():
        with _quiet():
            ex = fts.TreeExplainer(est, algorithm="v2", n_jobs=2)
            holder["fts"] = ex.shap_values(rows)

    t_peer = timing.best_of(peer, repeat=1)
    diff = float(np.max(np.abs(holder["ours"] - holder["fts"])))
    out += _rows(
        f"W1 path SHAP {n} rows",
        "FastTreeSHAP v2",
        n,
        t_peer,
        ours,
        f"max |diff| {diff:.1e}",
    )
    return out


def permutation(quick: bool) -> list[dict]:
    from sklearn.inspection import permutation_importance

    from workloads import random_forest_classifier, w1

    n = 2000 if quick else 10000
    out = []
    for name, (est, X, y) in (
        ("W1 permutation importance", w1()),
        ("RFC (200 trees) permutation importance", random_forest_classifier()),
    ):
        est.set_params(n_jobs=2)
        X, y = X[:n], y[:n]
        kw = dict(n_repeats=5, random_state=0, n_jobs=2)
        holder = {}

        def peer(est=est, X=X, y=y, kw=kw, holder=holder):
            holder["sk"] = permutation_importance(est, X, y, **kw).importances

        t_peer = timing.best_of(peer, repeat=1)
        ours = _ours(
            lambda est=est, X=X, y=y, kw=kw, holder=holder: holder.__setitem__(
                "ours", tl.permutation_importance(est, X, y, **kw).importances
            ),
            lambda est=est: tl.load(est),
            None,
        )
        diff = float(np.max(np.abs(holder["ours"] - holder["sk"])))
        out += _rows(
            f"{name} {n}x5",
            "sklearn permutation_importance",
            n,
            t_peer,
            ours,
            f"max |diff| {diff:.1e}",
        )
    return out


def run(quick: bool) -> list[dict]:
    return interventional(quick) + path(quick) + permutation(quick)
