"""Loading a LightGBM model: treelens' ``tl.load`` against LightGBM's own ``model_to_string``,
which ``tl.load`` calls first (the target: the parsing adds at most 20% to it)."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb

import treelens as tl
from treelens.loaders.lightgbm import from_model_string

from .timing import best_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import workloads  # noqa: E402


def _small():
    """A W-size model: 100 trees of 31 leaves on 2,000 rows."""
    X, y = workloads.regression_data()
    params = {"num_leaves": 31, "verbose": -1, "num_threads": 2, "seed": 0}
    return lgb.train(params, lgb.Dataset(X[:2000], y[:2000]), 100)


def _rows(workload: str, booster) -> list[dict]:
    to_string = best_of(booster.model_to_string, repeat=3)
    text = booster.model_to_string()
    parse = best_of(lambda: from_model_string(text), repeat=3)
    load = best_of(lambda: tl.load(booster), repeat=3)
    return [
        {"workload": workload, "method": "lightgbm model_to_string", "rows": 0,
         "seconds": to_string},
        {"workload": workload, "method": "treelens parse (text to forest)", "rows": 0,
         "seconds": parse, "note": f"+{100 * parse / to_string:.0f}% of model_to_string"},
        {"workload": workload, "method": "treelens tl.load (booster)", "rows": 0,
         "seconds": load, "ratio": to_string / load},
    ]  # fmt: skip


def run(quick: bool) -> list[dict]:
    rows = _rows("LightGBM 100 trees x 31 leaves", _small())
    if not quick:
        booster, _, _ = workloads.lightgbm_large()
        rows += _rows("LightGBM 1,000 trees x 255 leaves", booster)
    return rows
