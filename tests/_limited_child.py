"""A fresh interpreter under a memory limit, for tests that a refusal happens before any
allocation: a crash of the child (SIGABRT on a failed allocation) fails the test."""

from __future__ import annotations

import json
import subprocess
import sys

#: What every child has: ``status(field)`` reads /proc/self/status in bytes,
#: ``limit_address_space(extra)`` caps RLIMIT_AS at the current size plus ``extra``,
#: ``refused(fn)`` gives an OutputTooLargeError's message (None when ``fn`` ran), and
#: ``report(**kw)`` prints the JSON line the parent reads.
PRELUDE = """
import json, resource
import numpy as np
import treelens as tl
from treelens.exceptions import OutputTooLargeError

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

def limit_address_space(extra):
    cap = status("VmSize:") + int(extra)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap

def refused(fn):
    try:
        fn()
    except OutputTooLargeError as e:
        return str(e)
    return None

def report(**kw):
    print(json.dumps(kw))
"""


def run_child(code: str, timeout: float = 180) -> dict:
    """Runs ``code`` after :data:`PRELUDE` in a fresh interpreter and returns the JSON of its
    last line of output; the child must exit normally."""
    r = subprocess.run(
        [sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, timeout=timeout
    )
    assert r.returncode == 0, f"child exited with {r.returncode}: {r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])
