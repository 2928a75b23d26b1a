"""Times treelens and its peers side by side in one run and prints the ratios.

Usage: python benches/compare.py [--quick] [--only predict,path_shap,...]

Each capability has a module in benches/peers/ with ``run(quick) -> list[dict]``; a row is one
timed method on one workload, and treelens' rows carry ``ratio`` = peer time / treelens time
(higher is better), computed from timings taken in this same run. Absolute times on a shared
2-core machine are noisy; the ratios are what to read.
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

MODULES = ["predict", "path_shap", "interventional", "permutation", "hstats", "deep_trees"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (minutes)")
    parser.add_argument("--only", default="", help="comma-separated module names")
    parser.add_argument("--json", default="", help="also write the rows to this file")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or MODULES
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
