"""The wheel holds every module of the source tree.

The top-level folders are installed as ``vprop.*`` through pyproject's package-dir mapping.
An editable install finds any new subpackage (``benchmarks/newtask/``) through its parent's
folder, but the wheel only ships the packages listed in ``[tool.setuptools] packages``. This
test builds the wheel from a copy of the source tree, installs it into a fresh virtual
environment (the dependencies, torch etc., are borrowed from this interpreter's
site-packages through a ``.pth`` file; the editable install of vprop is not, because the
``.pth`` files of a borrowed folder are not executed) and imports every module there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser from PyPI (vprop[test] installs it)
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = {"tests", "docs", "build", "dist"}

IMPORT_ALL = """
import importlib, json, sys, traceback
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=1).strip().splitlines()[-1]
import vprop
print(json.dumps({"failed": failed, "vprop": vprop.__file__}))
"""


def _package_dirs() -> dict[str, str]:
    """pyproject's ``[tool.setuptools.package-dir]``: package name -> folder."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["package-dir"]


def source_modules(package_dirs: dict[str, str]) -> list[str]:
    """Every ``*.py`` under the mapped folders, named as installed (``vprop.benchmarks.x``)."""
    by_folder = sorted(((REPO_ROOT / folder, name) for name, folder in package_dirs.items()),
                       key=lambda item: len(item[0].parts), reverse=True)
    modules = set()
    for folder, _ in by_folder:
        for path in folder.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            base, package = next((f, n) for f, n in by_folder if f in path.parents)
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules.add(".".join([package, *parts]))
    return sorted(modules)


def _run(args: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure, fail the test with its output (no silent skip)."""
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({' '.join(map(str, args))}):\n{done.stdout}\n{done.stderr}")
    return done


def _offline_backend() -> bool:
    """Whether this interpreter can build the wheel itself (no network for build isolation)."""
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):
        return True  # bdist_wheel is part of setuptools
    try:
        import wheel  # noqa: F401 - older setuptools builds wheels with it
    except ImportError:
        return False
    return True


def build_wheel(package_dirs: dict[str, str], work: Path) -> Path:
    """``pip wheel --no-deps`` of a copy of the source tree (the checkout stays untouched)."""
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in {folder.split("/")[0] for folder in package_dirs.values()}:
        shutil.copytree(REPO_ROOT / folder, source / folder, ignore=ignore)
    isolation = ["--no-build-isolation", "--no-index"] if _offline_backend() else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w",
          str(work / "dist"), str(source)], "building the wheel (offline: pip install "
         "'setuptools>=70.1'; otherwise pip fetches the build backend)")
    wheels = sorted((work / "dist").glob("vprop-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def fresh_venv(work: Path) -> Path:
    """A new venv that sees this interpreter's dependencies but not its vprop; its python."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(work / "venv")], "python -m venv")
    python = work / "venv" / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                       "['purelib'])"], "reading the venv's site-packages")
    borrowed = [entry for entry in sys.path
                if Path(entry).name in ("site-packages", "dist-packages")]
    borrowed.append(sysconfig.get_paths()["purelib"])
    Path(purelib.stdout.strip(), "borrowed_deps.pth").write_text(
        "\n".join(dict.fromkeys(borrowed)) + "\n")
    return python


def test_every_source_module_imports_from_the_installed_wheel(tmp_path):
    package_dirs = _package_dirs()
    top_level = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")} - NOT_SOURCE
    assert top_level <= {folder.split("/")[0] for folder in package_dirs.values()}, (
        "a top-level package folder is missing from pyproject's package-dir mapping")
    modules = source_modules(package_dirs)
    assert {"vprop", "vprop.cli.main", "vprop.benchmarks.davis.task"} <= set(modules)
    wheel = build_wheel(package_dirs, tmp_path)
    python = fresh_venv(tmp_path)
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "-q", str(wheel)], "installing the wheel into the fresh venv")
    done = _run([str(python), "-I", "-c", IMPORT_ALL, json.dumps(modules)],
                "importing the modules", cwd=tmp_path)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(report["vprop"]).is_relative_to(tmp_path / "venv"), report["vprop"]
    assert report["failed"] == {}, "modules missing from (or broken in) the wheel; list their " \
        f"packages in pyproject.toml: {report['failed']}"
    scripts = _run([str(python.parent / "vprop"), "--help"], "the vprop console script")
    assert "pretrain" in scripts.stdout
