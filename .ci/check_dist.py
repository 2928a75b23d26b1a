"""Checks the release artefacts in a directory: the abi3 manylinux wheel's tags, metadata and
contents, and the sdist's contents. Exits non-zero naming every problem.

Usage: python .ci/check_dist.py DIST_DIR [--platform-tag manylinux_2_17_x86_64] [--no-sdist]

The platform tag is matched as a substring of the wheel's tags (``_arm64`` for any macOS arm64
wheel); ``--no-sdist`` checks a directory with the wheel only (the other platforms' jobs).

Contents are compared with the source tree: the wheel holds exactly the package's modules,
the compiled extension, the stubs and py.typed (and the dist-info); the sdist holds exactly
what building needs (the Cargo workspace, the package's sources) and the license, readme and
changelog. Anything else is a stray file.
"""

from __future__ import annotations

import argparse
import email.parser
import re
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def workspace_version() -> str:
    text = (ROOT / "Cargo.toml").read_text()
    section = text.split("[workspace.package]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^version\s*=\s*"([^"]+)"', section, re.M).group(1)


def package_sources() -> set[str]:
    """The files of python/treelens (bytecode caches excepted), relative to python/."""
    base = ROOT / "python"
    return {
        p.relative_to(base).as_posix()
        for p in (base / "treelens").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def check_wheel(wheel: Path, version: str, platform_tag: str, problems: list[str]) -> None:
    name = wheel.name
    if not name.startswith(f"treelens-{version}-cp39-abi3-"):
        problems.append(f"wheel {name}: not treelens {version} for cp39-abi3")
    if not name.endswith(".whl") or platform_tag not in name:
        problems.append(f"wheel {name}: platform tag {platform_tag} missing")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = f"treelens-{version}.dist-info"
        wheel_meta = z.read(f"{info}/WHEEL").decode()
        metadata = email.parser.Parser().parsestr(z.read(f"{info}/METADATA").decode())
        so_size = sum(i.file_size for i in z.infolist() if "/_core." in i.filename)
    tags = {
        line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")
    }
    if not any(t.startswith("cp39-abi3-") and platform_tag in t for t in tags):
        problems.append(f"WHEEL tags {sorted(tags)} lack cp39-abi3-{platform_tag}")
    if "Root-Is-Purelib: false" not in wheel_meta:
        problems.append("WHEEL: Root-Is-Purelib is not false for a compiled extension")

    expected = package_sources()
    so = {n for n in names if re.fullmatch(r"treelens/_core\.(abi3\.so|pyd)", n)}
    if len(so) != 1:
        problems.append(f"wheel: one compiled treelens/_core expected, found {sorted(so)}")
    for required in ("treelens/_core.pyi", "treelens/py.typed", f"{info}/licenses/LICENSE"):
        if required not in names:
            problems.append(f"wheel: {required} missing")
    missing = expected - names
    if missing:
        problems.append(f"wheel: package files missing: {sorted(missing)}")
    allowed_meta = re.compile(
        rf"{re.escape(info)}/(METADATA|WHEEL|RECORD|licenses/LICENSE|sboms/[\w.-]+\.json)"
    )
    stray = sorted(n for n in names - expected - so if not allowed_meta.fullmatch(n))
    if stray:
        problems.append(f"wheel: stray files: {stray}")

    if metadata["Version"] != version:
        problems.append(f"METADATA Version {metadata['Version']} != workspace {version}")
    if metadata.get("License-Expression") != "MIT":
        problems.append(f"METADATA License-Expression {metadata.get('License-Expression')!r}")
    if metadata.get("Requires-Python") != ">=3.9":
        problems.append(f"METADATA Requires-Python {metadata.get('Requires-Python')!r}")
    base_requires = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    if [r.replace(" ", "") for r in base_requires] != ["numpy>=1.22"]:
        problems.append(f"METADATA: the base package must need numpy only, has {base_requires}")
    classifiers = metadata.get_all("Classifier") or []
    for needed in ("Python :: 3.9", "Python :: 3.13", "Operating System :: Microsoft :: Windows"):
        if not any(c.endswith(needed) for c in classifiers):
            problems.append(f"METADATA: classifier {needed} missing")
    if not metadata.get_all("Project-URL"):
        problems.append("METADATA: no Project-URL")
    if "pip install treelens" not in (metadata.get_payload() or ""):
        problems.append("METADATA: the description (README) lacks `pip install treelens`")
    print(f"wheel {name}: {wheel.stat().st_size / 1e6:.2f} MB ({so_size / 1e6:.2f} MB extension)")


def check_sdist(sdist: Path, version: str, problems: list[str]) -> None:
    top = f"treelens-{version}"
    if sdist.name != f"{top}.tar.gz":
        problems.append(f"sdist {sdist.name}: not {top}.tar.gz")
    with tarfile.open(sdist) as t:
        names = {m.name for m in t.getmembers() if m.isfile()}
    rel = {n.split("/", 1)[1] for n in names if "/" in n}
    required = {
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "Cargo.toml",
        "Cargo.lock",
        "PKG-INFO",
        "rust/core/Cargo.toml",
        "rust/python/Cargo.toml",
    }
    required |= {f"python/{p}" for p in package_sources()}
    required |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "rust").rglob("*.rs")}
    missing = required - rel
    if missing:
        problems.append(f"sdist: files missing: {sorted(missing)}")
    stray = sorted(rel - required)
    if stray:
        problems.append(f"sdist: stray files: {stray}")
    print(f"sdist {sdist.name}: {sdist.stat().st_size / 1e6:.2f} MB, {len(names)} files")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist")
    parser.add_argument("--platform-tag", default="manylinux_2_17_x86_64")
    parser.add_argument("--no-sdist", action="store_true", help="the directory has no sdist")
    args = parser.parse_args()
    dist = Path(args.dist)
    version = workspace_version()
    problems: list[str] = []
    wheels = sorted(dist.glob("treelens-*.whl"))
    sdists = sorted(dist.glob("treelens-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != (0 if args.no_sdist else 1):
        expected = "one wheel" + ("" if args.no_sdist else " and one sdist")
        problems.append(f"{dist}: {expected} expected, found {[p.name for p in wheels + sdists]}")
    else:
        check_wheel(wheels[0], version, args.platform_tag, problems)
        if sdists:
            check_sdist(sdists[0], version, problems)
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    if not problems:
        print(f"ok: treelens {version}, tags and contents as expected")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
