"""Makes benches/workloads.py importable from the asv benchmark modules."""

from __future__ import annotations

import sys
from pathlib import Path

_BENCHES = Path(__file__).resolve().parent.parent
if str(_BENCHES) not in sys.path:
    sys.path.insert(0, str(_BENCHES))

import workloads  # noqa: E402

__all__ = ["workloads"]
