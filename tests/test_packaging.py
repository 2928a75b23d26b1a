"""The release artefacts, built and checked as the release workflow's Linux x86_64 job does
(.ci/build-release: the abi3 manylinux2014 wheel through zig, the sdist, twine, auditwheel,
tags and contents, the sdist built and installed from a clean directory), then the wheel
installed into fresh virtualenvs of the oldest and newest CPython here with no cargo on PATH
and smoke-tested against brute force (.ci/test-wheel, .ci/smoke_test.py). The workflows are
linted with actionlint. Needs the dev extra (maturin, ziglang, twine, auditwheel, actionlint)."""

from __future__ import annotations

import glob
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import treelens as tl

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
BIN = os.path.dirname(sys.executable)


def _env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", PYTHON=sys.executable)


def _run(*args, timeout=1200) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], env=_env(), capture_output=True, text=True, timeout=timeout
    )


def _workspace_version() -> str:
    sys.path.insert(0, str(ROOT / ".ci"))
    try:
        import check_dist

        return check_dist.workspace_version()
    finally:
        sys.path.pop(0)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = _run("bash", ROOT / ".ci" / "build-release", out)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    return out, log


def _wheel(out: Path) -> Path:
    (wheel,) = out.glob("treelens-*.whl")
    return wheel


@pytest.mark.slow
def test_release_build_passes_its_checks(dist):
    out, log = dist
    assert "Checking" in log and "PASSED" in log and "FAILED" not in log  # twine --strict
    assert 'platform tag: "manylinux_2_17_x86_64"' in re.sub(r"\s+", " ", log)  # auditwheel
    assert "ok: treelens" in log  # .ci/check_dist.py
    assert f"sdist install: {_workspace_version()}" in log  # built from the sdist, elsewhere
    size = _wheel(out).stat().st_size
    print(f"wheel {_wheel(out).name}: {size / 1e6:.2f} MB")
    assert size < 20e6, f"the wheel weighs {size / 1e6:.1f} MB"


@pytest.mark.slow
def test_wheel_tags_and_contents(dist):
    out, _ = dist
    wheel = _wheel(out)
    version = _workspace_version()
    assert wheel.name == (
        f"treelens-{version}-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    )
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        tags = z.read(f"treelens-{version}.dist-info/WHEEL").decode()
    assert "Tag: cp39-abi3-manylinux_2_17_x86_64" in tags
    for required in ("treelens/_core.abi3.so", "treelens/_core.pyi", "treelens/py.typed"):
        assert required in names
    assert f"treelens-{version}.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if n.startswith(("tests/", "benches/", "rust/", "python/"))]
    assert not [n for n in names if n.endswith((".pyc", ".rs", ".toml"))]


@pytest.mark.slow
def test_the_contents_check_finds_a_stray_file(dist, tmp_path):
    """.ci/check_dist.py is not a check that cannot fail: a wheel with one file more fails it."""
    out, _ = dist
    bad = tmp_path / "bad"
    bad.mkdir()
    with zipfile.ZipFile(_wheel(out)) as src, zipfile.ZipFile(bad / _wheel(out).name, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        dst.writestr("treelens/notes.txt", "left behind")
    for sdist in out.glob("*.tar.gz"):
        shutil.copy(sdist, bad)
    done = _run(sys.executable, ROOT / ".ci" / "check_dist.py", bad)
    assert done.returncode == 1
    assert "stray files: ['treelens/notes.txt']" in done.stderr


def _interpreter(version: str) -> str | None:
    """A CPython of this minor version: pyenv's, else one on PATH."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python3")))
    candidates.append(shutil.which(f"python{version}") or "")
    for exe in filter(None, candidates):
        done = subprocess.run(
            [exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0 and done.stdout.strip() == version:
            return exe
    return None


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_wheel_installs_and_works_without_cargo(dist, version, tmp_path):
    out, _ = dist
    exe = _interpreter(version)
    if exe is None:
        pytest.skip(f"no CPython {version} on this machine (looked in pyenv and on PATH)")
    done = _run("bash", ROOT / ".ci" / "test-wheel", exe, out, tmp_path / "venv")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert f"Python {version}." in log and log.count("smoke test passed") == 2
    assert "kernel portable" in log  # the second run forces the portable kernel
    assert str(tmp_path / "venv") in log  # imported from the fresh virtualenv
    for line in log.splitlines():
        print(line)


def test_the_version_is_defined_once():
    version = _workspace_version()
    assert tl.__version__ == version == importlib.metadata.version("treelens")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject
    for crate in ("core", "python"):
        manifest = (ROOT / "rust" / crate / "Cargo.toml").read_text()
        assert "version.workspace = true" in manifest


def test_nothing_is_compiled_for_the_build_machines_cpu():
    """No target-cpu=native (or any target-cpu) in the build configuration: the wide kernels
    are chosen at run time."""
    configs = [ROOT / "Cargo.toml", ROOT / "pyproject.toml", *ROOT.glob(".cargo/config*")]
    configs += [*ROOT.glob("rust/*/Cargo.toml"), *ROOT.glob(".github/workflows/*.yml")]
    configs += [ROOT / ".ci" / name for name in ("run", "build-release", "test-wheel")]
    for path in configs:
        assert "target-cpu" not in path.read_text(), path


def test_workflows_pass_actionlint():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    done = _run("actionlint", *workflows, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_keeps_the_fresh_checkout_commands_first():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert 'pip install ".[demo]"' in first_block and "examples/demo.py" in first_block
    assert "bash .ci/run" in first_block
    assert "\npip install treelens\n" in readme
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
