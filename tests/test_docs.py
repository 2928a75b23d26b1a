"""The documentation site (mkdocs.yml, docs/): built with warnings as errors, so that a broken
reference, an object mkdocstrings cannot document or a code block that fails (markdown-exec runs
every ``exec="on"`` block) fails the build; and every public name documented in the API
reference with a numpy-style docstring (Parameters and Returns for what is called)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import treelens
import treelens.dask
import treelens.exceptions
import treelens.plot
import treelens.spark

pytestmark = [pytest.mark.slow, pytest.mark.docs]

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = [treelens, treelens.plot, treelens.dask, treelens.spark, treelens.exceptions]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    # Spark's Python workers (docs/scaling.md) run this interpreter.
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", ROOT / "mkdocs.yml", "-d", out],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-8000:]
    return out


def test_the_site_builds_with_warnings_as_errors_and_every_page_is_there(site):
    nav = re.findall(r":\s*([\w/-]+)\.md", (ROOT / "mkdocs.yml").read_text())
    assert len(nav) >= 15
    for page in nav:
        built = site / ("" if page == "index" else page) / "index.html"
        assert built.exists(), page
    # The executed blocks' output is on the pages (a failing block aborts the build).
    started = (site / "getting-started" / "index.html").read_text()
    assert "e-1" in started  # local accuracy printed, to rounding
    assert (site / "gallery" / "beeswarm.png").exists()


def test_every_python_block_in_the_docs_runs_when_the_site_is_built():
    # Shell commands (installs, the benchmark command) are shown, not run; every Python block
    # is executed by markdown-exec, whose failure fails the strict build.
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for fence in re.findall(r"^```python[^\n]*$", page.read_text(), flags=re.M):
            assert 'exec="on"' in fence, f"{page.relative_to(ROOT)}: {fence}"


def _sections(doc: str) -> set[str]:
    """The numpy-style section headings of a docstring."""
    lines = doc.splitlines()
    return {
        lines[i].strip()
        for i in range(len(lines) - 1)
        if lines[i].strip() and re.fullmatch(r"-{3,}", lines[i + 1].strip())
    }


def _takes_arguments(fn) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    return any(p.name not in ("self", "cls") for p in params)


def _check_callable(label: str, fn, problems: list[str]) -> None:
    doc = inspect.getdoc(fn) or ""
    if not doc:
        problems.append(f"{label}: no docstring")
        return
    sections = _sections(doc)
    if _takes_arguments(fn) and "Parameters" not in sections:
        problems.append(f"{label}: no Parameters section")
    if "Returns" not in sections:
        problems.append(f"{label}: no Returns section")


def _public_members(cls):
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member):
            yield name, member


def test_every_public_name_is_in_the_api_reference_with_parameters_and_returns(site):
    api = (site / "api" / "index.html").read_text()
    problems: list[str] = []
    for module in PUBLIC:
        for name in module.__all__:
            obj = getattr(module, name)
            label = f"{module.__name__}.{name}"
            if inspect.ismodule(obj):
                assert obj in PUBLIC, f"{label}: a public submodule without its API section"
                continue
            # A function named like its module is documented at its full path.
            qualified = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            if f'id="{label}"' not in api and f'id="{qualified}"' not in api:
                problems.append(f"{label}: not in the API reference")
            if inspect.isclass(obj):
                doc = inspect.getdoc(obj) or ""
                if not doc:
                    problems.append(f"{label}: no docstring")
                if issubclass(obj, Exception):
                    continue
                sections = _sections(doc)
                if not sections & {"Parameters", "Attributes", "Keys"}:
                    problems.append(f"{label}: no Parameters or Attributes section")
                for method, fn in _public_members(obj):
                    _check_callable(f"{label}.{method}", fn, problems)
            elif callable(obj):
                _check_callable(label, obj, problems)
    assert not problems, "\n".join(problems)
