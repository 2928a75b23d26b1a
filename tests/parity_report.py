"""Runs the prediction-parity tests and prints, per model/objective/format case, the largest
|treelens - library| difference measured.

    PYTHONPATH=python python tests/parity_report.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _parity  # noqa: E402

FILES = [
    "test_load_sklearn.py",
    "test_load_xgboost.py",
    "test_load_lightgbm.py",
    "test_predict_hypothesis.py",
]


def main() -> int:
    code = pytest.main(
        ["-q", "-p", "no:warnings", "-p", "no:cacheprovider"] + [str(HERE / f) for f in FILES]
    )
    rows = sorted(_parity.MEASURED.items())
    width = max(len(k) for k, _ in rows)
    print(f"\n{'case':<{width}}  max |diff|")
    print("-" * (width + 12))
    for label, diff in rows:
        print(f"{label:<{width}}  {diff:.3g}")
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
