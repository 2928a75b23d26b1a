"""examples/dask_out_of_core.py runs end to end (on a smaller dataset than its default)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dask_out_of_core.py"

# It streams a Parquet dataset through a LocalCluster: about a minute.
pytestmark = [pytest.mark.dask, pytest.mark.slow]


def test_dask_example_runs(tmp_path, monkeypatch, capsys):
    argv = [str(EXAMPLE), "--rows", "400000", "--dir", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "400,000 rows explained and written" in out
    assert "permutation importance (r2)" in out
    # The target's one interaction is the strongest pair over all rows.
    assert "pairwise H^2 f2:f3" in out.split("H statistics over all rows")[1].splitlines()[3]
    assert (tmp_path / "shap").is_dir()
