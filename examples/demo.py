"""treelens end to end on a dataset scikit-learn bundles (California housing is downloaded, so
this uses the bundled diabetes and breast-cancer data instead).

Run: python examples/demo.py
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor

import treelens as tl


def section(title: str) -> None:
    print(f"\n== {title}")


def main() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    forest = RandomForestRegressor(n_estimators=200, max_depth=8, random_state=0).fit(X, y)
    model = tl.load(forest)
    section("model")
    print(model)

    section("native prediction (raw margin) against scikit-learn's predict")
    t = time.perf_counter()
    pred = model.predict(X)
    print(
        f"{len(X)} rows in {time.perf_counter() - t:.4f}s;"
        f" max |treelens - sklearn| = {np.max(np.abs(pred - forest.predict(X))):.2e}"
    )

    Xc, yc = load_breast_cancer(return_X_y=True, as_frame=True)
    clf = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(Xc, yc)
    cmodel = tl.load(clf)
    section("classifier margin (decision_function) against scikit-learn")
    print(cmodel)
    diff = np.max(np.abs(cmodel.predict(Xc) - clf.decision_function(Xc)))
    print(f"max |treelens - sklearn| = {diff:.2e}")

    for extra in _EXTRAS:
        extra(model, forest, X, y, cmodel, clf, Xc, yc)


def _shap(model, forest, X, y, cmodel, clf, Xc, yc) -> None:
    if not hasattr(tl, "TreeExplainer"):
        return
    section("exact TreeSHAP (path-dependent): top features of the first row")
    ex = tl.TreeExplainer(forest)
    t = time.perf_counter()
    sv = ex.shap_values(X)
    print(f"{len(X)} rows in {time.perf_counter() - t:.3f}s")
    local = np.max(np.abs(sv.sum(axis=1) + ex.expected_value - model.predict(X)))
    print(f"local accuracy: max |sum(phi) + E[f] - f(x)| = {local:.2e}")
    order = np.argsort(-np.abs(sv[0]))[:4]
    for j in order:
        print(f"  {X.columns[j]:>6}: {sv[0, j]:+.3f}")

    section("SHAP interaction values: mean |phi_ij| over all rows, without the n x p x p tensor")
    summary = ex.shap_interaction_values(X, reduce="mean_abs")
    off = summary - np.diag(np.diag(summary))
    i, j = np.unravel_index(np.argmax(off), off.shape)
    print(f"strongest pair: {X.columns[i]} x {X.columns[j]} (mean |phi| = {off[i, j]:.3f})")

    section("interventional TreeSHAP against 100 background rows, classifier probabilities")
    ex = tl.TreeExplainer(clf, data=Xc[:100], model_output="probability")
    sv = ex.shap_values(Xc)
    proba = clf.predict_proba(Xc)[:, 1]
    local = np.max(np.abs(sv.sum(axis=1) + ex.expected_value - proba))
    print(
        f"E[p] over the background = {ex.expected_value:.4f};"
        f" max |sum(phi) + E[p] - p(x)| = {local:.2e}"
    )


def _importance(model, forest, X, y, cmodel, clf, Xc, yc) -> None:
    if not hasattr(tl, "permutation_importance"):
        return
    section("permutation importance (r2), identical to scikit-learn's for the same seed")
    t = time.perf_counter()
    r = tl.permutation_importance(forest, X, y, n_repeats=10, random_state=0)
    ours = time.perf_counter() - t
    for j in np.argsort(-r.importances_mean)[:4]:
        print(f"  {X.columns[j]:>6}: {r.importances_mean[j]:.4f} +- {r.importances_std[j]:.4f}")
    from sklearn.inspection import permutation_importance

    t = time.perf_counter()
    ref = permutation_importance(forest, X, y, n_repeats=10, random_state=0)
    theirs = time.perf_counter() - t
    diff = np.max(np.abs(r.importances - ref.importances))
    print(f"max |treelens - sklearn| = {diff:.1e}; {theirs / ours:.0f}x faster than sklearn")


def _hstats(model, forest, X, y, cmodel, clf, Xc, yc) -> None:
    if not hasattr(tl, "hstats"):
        return
    section("Friedman's H-statistics on all rows (exact partial dependence)")
    hs = tl.hstats(forest, X, pairwise_m=4)
    print(f"global H^2 = {hs.h2():.4f}")
    overall = hs.h2_overall()
    for j in np.argsort(-overall)[:4]:
        print(f"  overall H^2 {hs.features[j]:>6}: {overall[j]:.4f}")


_EXTRAS = [_shap, _importance, _hstats]

if __name__ == "__main__":
    main()
