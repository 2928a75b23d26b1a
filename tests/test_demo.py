"""The README's demo runs end to end and reports exact agreement with scikit-learn."""

from __future__ import annotations

import runpy
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.py"


def test_demo_runs(capsys):
    runpy.run_path(str(DEMO), run_name="__main__")
    out = capsys.readouterr().out
    assert "native prediction" in out
    assert "max |treelens - sklearn|" in out
