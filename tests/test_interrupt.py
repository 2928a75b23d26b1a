"""Ctrl-C stops every entry point within 2 seconds, also inside setup steps and inside one huge
chunk of work (a single tree 20,000 levels deep).

Each case runs a workload that would take far longer than the bound in a subprocess, sends it
SIGINT once it is inside the call, and expects a KeyboardInterrupt traceback soon after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

#: Seconds from SIGINT to the child's exit.
BOUND = 2.0
#: How long the child runs inside the call before the signal.
INSIDE = 0.5

SETUP = """
import numpy as np
import treelens as tl
from test_deep_trees import _core_chains, _rows

depth = 20_000
rng = np.random.default_rng(0)
"""

# Each workload runs for well over ten seconds without the signal.
WORKLOADS = {
    "predict": (
        "m = _core_chains(depth, 3, n_trees=20); x = _rows(1_000_000, depth, 3)",
        "m.predict(x)",
    ),
    "shap_values": (
        "m = _core_chains(depth, 3, n_trees=5); x = _rows(200_000, depth, 3)"
        "; ex = tl.TreeExplainer(m)",
        "ex.shap_values(x)",
    ),
    "shap_interaction_values": (
        "m = _core_chains(depth, 3, n_trees=5); x = _rows(100_000, depth, 3)"
        "; ex = tl.TreeExplainer(m)",
        "ex.shap_interaction_values(x)",
    ),
    "shap_interaction_mean_abs": (
        "m = _core_chains(depth, 3, n_trees=5); x = _rows(200_000, depth, 3)"
        "; ex = tl.TreeExplainer(m)",
        'ex.shap_interaction_values(x, reduce="mean_abs")',
    ),
    "interventional_construction": (
        "m = _core_chains(depth, 3, n_trees=20); z = _rows(1_000_000, depth, 3)",
        "tl.TreeExplainer(m, data=z)",
    ),
    "interventional_shap_values": (
        "m = _core_chains(depth, 3, n_trees=5); x = _rows(200_000, depth, 3)"
        "; ex = tl.TreeExplainer(m, data=_rows(100, depth, 3))",
        "ex.shap_values(x)",
    ),
    "interventional_probability": (
        "m = _core_chains(depth, 3, n_trees=5); m.link = 'logistic'; x = _rows(20_000, depth, 3)"
        "; ex = tl.TreeExplainer(m, data=_rows(200, depth, 3), model_output='probability')",
        "ex.shap_values(x)",
    ),
    "path_dependent_with_data": (
        "m = _core_chains(depth, 3, n_trees=20); z = _rows(1_000_000, depth, 3)",
        "tl.TreeExplainer(m, data=z, feature_perturbation='tree_path_dependent')",
    ),
    "permutation_importance": (
        "m = _core_chains(depth, 3, n_trees=5); x = _rows(300_000, depth, 3)"
        "; y = rng.normal(size=len(x))",
        "tl.permutation_importance(m, x, y, n_repeats=5, random_state=0)",
    ),
    # Chains of 201 nodes get leaf tables: the single-column routing, whose steps hold many
    # blocks of rows and stop between blocks.
    "permutation_importance_tabled": (
        "m = _core_chains(100, 3, n_trees=200); x = _rows(300_000, 100, 3)"
        "; y = rng.normal(size=len(x))",
        "tl.permutation_importance(m, x, y, n_repeats=5, random_state=0)",
    ),
    "hstats_one_deep_tree": (
        "m = _core_chains(3 * depth, 3, n_trees=1); x = _rows(40_000, 3 * depth, 3)",
        "tl.hstats(m, x)",
    ),
    "partial_dependence_one_deep_tree": (
        "m = _core_chains(5 * depth, 3, n_trees=1); x = _rows(400_000, 5 * depth, 3)",
        "tl.partial_dependence(m, x, [0], grid_resolution=100)",
    ),
}


def _child(setup: str, call: str) -> str:
    return (
        textwrap.dedent(SETUP)
        + setup
        + "\nprint('READY', flush=True)\n"
        + call
        + "\nprint('DONE', flush=True)\n"
    )


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_sigint_stops_the_call(name):
    setup, call = WORKLOADS[name]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen(
        [sys.executable, "-c", _child(setup, call)],
        cwd=Path(__file__).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "READY", child.stderr.read()
        time.sleep(INSIDE)
        assert child.poll() is None, f"{name} finished before the signal: make it larger"
        child.send_signal(signal.SIGINT)
        sent = time.monotonic()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} ignored SIGINT for 30 s")
        elapsed = time.monotonic() - sent
        out, err = child.communicate()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "DONE" not in out, f"{name} finished before the signal: make it larger"
    assert "KeyboardInterrupt" in err, err[-2000:]
    assert elapsed < BOUND, f"{name} took {elapsed:.2f} s to stop after SIGINT"
