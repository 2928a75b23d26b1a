"""H statistics on W1: treelens (exact, all rows) against brute force at R hstats' default n=500.

The brute force is the definition, as R's hstats evaluates it: every partial dependence function
at the n rows from model predictions on replicated data (n^2 rows per function; XGBoost's own
``inplace_predict``, 2 threads), then the weighted means of the formulas. Its time is measured
for a sample of features and pairs in this run and extrapolated to all 50 overall and all 1,225
pairwise statistics (each statistic's cost is one or two such prediction batches). The sampled
brute-force statistics are also checked against treelens on the same 500 rows.
"""

from __future__ import annotations

import time

import numpy as np

import treelens as tl


def _best_of(fn, repeat: int = 3, min_time: float = 1.0) -> float:
    best = float("inf")
    for i in range(repeat):
        t = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t
        best = min(best, elapsed)
        if i == 0 and elapsed > min_time:
            break
    return best


class _Brute:
    """Centred data-based partial dependence at the rows of X from model predictions."""

    def __init__(self, booster, X):
        self.booster, self.X = booster, X
        self.n = len(X)

    def predict(self, Z):
        return np.asarray(self.booster.inplace_predict(Z, predict_type="margin"), dtype=np.float64)

    def pd(self, S):
        n, X = self.n, self.X
        Z = np.tile(X, (n, 1))
        Z[:, S] = np.repeat(X[:, S], n, axis=0)
        pd = self.predict(Z).reshape(n, n).mean(axis=1)
        return pd - pd.mean()

    def f(self):
        f = self.predict(self.X)
        return f - f.mean()


def run(quick: bool) -> list[dict]:
    from workloads import w1

    est, X, _ = w1()
    booster = est.get_booster()
    booster.set_param({"nthread": 2})
    model = tl.load(est)
    p = X.shape[1]
    n_full = 2000 if quick else 10000
    rows = []

    # treelens: all 50 overall and all 1,225 pairwise statistics on all rows.
    Xf = X[:n_full]
    ours = _best_of(lambda: tl.hstats(model, Xf, pairwise_m=p, n_jobs=2), repeat=1)

    # Brute force at n = 500 (R's default n_max), timed on a sample, then extrapolated.
    n_brute = 500
    Xb = np.ascontiguousarray(X[:n_brute])
    brute = _Brute(booster, Xb)
    n_single = 2 if quick else 4
    n_pairs = 2 if quick else 6
    rng = np.random.default_rng(0)
    singles = [int(j) for j in rng.choice(p, n_single, replace=False)]
    all_pairs = [(a, b) for a in range(p) for b in range(a + 1, p)]
    pairs = [all_pairs[i] for i in rng.choice(len(all_pairs), n_pairs, replace=False)]

    t = time.perf_counter()
    f = brute.f()
    pd1 = {j: brute.pd([j]) for j in singles}
    t_pd1 = (time.perf_counter() - t) / n_single
    t = time.perf_counter()
    overall = {}
    for j in singles:
        notj = brute.pd([a for a in range(p) if a != j])
        overall[j] = np.mean((f - pd1[j] - notj) ** 2) / np.mean(f**2)
    t_notj = (time.perf_counter() - t) / n_single
    t = time.perf_counter()
    pairwise = {}
    for a, b in pairs:
        jk = brute.pd([a, b])
        pa = pd1.get(a)
        pb = pd1.get(b)
        pa = brute.pd([a]) if pa is None else pa
        pb = brute.pd([b]) if pb is None else pb
        pairwise[(a, b)] = np.mean((jk - pa - pb) ** 2) / np.mean(jk**2)
    # Only the joint PD is new per pair once every PD_j is known: subtract the PD_j recomputed.
    t_pair = (time.perf_counter() - t) / n_pairs
    t_pair_joint = max(t_pair - 2 * t_pd1, t_pd1)
    brute_total = p * (t_pd1 + t_notj) + len(all_pairs) * t_pair_joint

    # Exactness: treelens on the same 500 rows equals the brute force.
    same = tl.hstats(model, Xb, pairwise_m=p, n_jobs=2)
    ours_500 = _best_of(lambda: tl.hstats(model, Xb, pairwise_m=p, n_jobs=2))
    ov = same.h2_overall()
    pw = same.h2_pairwise()
    err = max(
        [abs(ov[j] - overall[j]) for j in singles]
        + [abs(pw[a, b] - pairwise[(a, b)]) for a, b in pairs]
    )

    workload = f"W1 hstats 50 overall + {len(all_pairs)} pairs"
    rows.append(
        dict(
            workload=workload,
            method="brute force n=500 (extrapolated)",
            rows=n_brute,
            seconds=brute_total,
            note=f"{n_single} PD_j, {n_single} PD_notj, {n_pairs} pairs timed",
        )
    )
    rows.append(
        dict(
            workload=workload,
            method="treelens n=500",
            rows=n_brute,
            seconds=ours_500,
            ratio=brute_total / ours_500,
            note=f"max |H2 diff| vs brute {err:.1e}",
        )
    )
    rows.append(
        dict(
            workload=workload,
            method="treelens all rows",
            rows=n_full,
            seconds=ours,
            ratio=brute_total / ours,
        )
    )
    # Scaling in rows (2 threads) and threads.
    sizes = [1000, 2000] if quick else [1000, 2500, 5000]
    for n in sizes:
        Xn = X[:n]
        sec = _best_of(lambda Xn=Xn: tl.hstats(model, Xn, pairwise_m=p, n_jobs=2), repeat=1)
        rows.append(dict(workload=workload, method="treelens scaling", rows=n, seconds=sec))
    Xn = X[: sizes[-1]]
    sec = _best_of(lambda: tl.hstats(model, Xn, pairwise_m=p, n_jobs=1), repeat=1)
    rows.append(dict(workload=workload, method="treelens 1 thread", rows=sizes[-1], seconds=sec))
    # Overall statistics only (pairwise_m=0).
    sec = _best_of(lambda: tl.hstats(model, Xf, pairwise_m=0, n_jobs=2), repeat=1)
    rows.append(
        dict(
            workload="W1 hstats 50 overall only",
            method="treelens all rows",
            rows=n_full,
            seconds=sec,
            ratio=p * (t_pd1 + t_notj) / sec,
            note="ratio vs brute force n=500",
        )
    )
    # Partial dependence on a grid: treelens against predicting on replicated data (the
    # brute force of sklearn's method="brute"), timed on 10 grid points and extrapolated.
    for cols, res in (([0], 100), ([0, 1], 20)):
        pd = tl.partial_dependence(model, Xf, cols, grid_resolution=res, n_jobs=2)
        sec = _best_of(
            lambda cols=cols, res=res: tl.partial_dependence(
                model, Xf, cols, grid_resolution=res, n_jobs=2
            )
        )
        points = np.array(np.meshgrid(*pd.grid_values, indexing="ij")).reshape(len(cols), -1).T
        t = time.perf_counter()
        for v in points[:10]:
            Z = Xf.copy()
            Z[:, cols] = v
            brute.predict(Z).mean()
        peer = (time.perf_counter() - t) * len(points) / 10
        wl = f"W1 partial dependence {len(cols)} feature(s), {len(points)} points"
        rows.append(
            dict(workload=wl, method="brute force (extrapolated)", rows=n_full, seconds=peer)
        )
        rows.append(
            dict(workload=wl, method="treelens", rows=n_full, seconds=sec, ratio=peer / sec)
        )
    return rows


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for row in run("--quick" in sys.argv):
        print(row, flush=True)
