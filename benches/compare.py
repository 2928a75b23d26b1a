"""Times treelens and its peers side by side in one run and prints the ratios.

Usage: python benches/compare.py [--quick] [--only predict,path_shap,...] [--end-to-end]

Each capability has a module in benches/peers/ with ``run(quick) -> list[dict]``; a row is one
timed method on one workload, and treelens' rows carry ``ratio`` = peer time / treelens time
(higher is better), computed from timings taken in this same run. Absolute times on a shared
2-core machine are noisy; the ratios are what to read.

``--end-to-end`` times every method from the fitted estimator, as a user times it (loading the
model and building the explainers included; see benches/peers/end_to_end.py), and splits
treelens' time into load / setup / kernel / other.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODULES = [
    "load",
    "load_lightgbm",
    "predict",
    "path_shap",
    "interventional",
    "permutation",
    "hstats",
    "deep_trees",
    "dask_shap",
    "dask_hstats",
    "spark_shap",
    "ale",
    "decompose",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (minutes)")
    parser.add_argument("--only", default="", help="comma-separated module names")
    parser.add_argument("--json", default="", help="also write the rows to this file")
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="time from the fitted estimator (load and explainer construction included)",
    )
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or MODULES
    if args.end_to_end:
        names = ["end_to_end"]
    all_rows = []
    for name in names:
        try:
            module = importlib.import_module(f"peers.{name}")
        except ModuleNotFoundError as e:
            print(f"-- {name}: skipped ({e})")
            continue
        print(f"-- {name}", flush=True)
        t = time.perf_counter()
        rows = module.run(args.quick)
        for row in rows:
            ratio = row.get("ratio")
            ratio_text = "" if ratio is None else f"  x{ratio:,.1f}"
            note = f"  ({row['note']})" if row.get("note") else ""
            print(
                f"   {row['workload']:<34} {row['method']:<34} rows={row['rows']:<7} "
                f"{row['seconds']:9.3f}s{ratio_text}{note}",
                flush=True,
            )
            all_rows.append(dict(module=name, **row))
        print(f"   ({time.perf_counter() - t:.0f}s)")
    if args.json:
        Path(args.json).write_text(json.dumps(all_rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
