"""Helpers of the bad-input tests: invoke vprop, hash trees, check the one-line refusal."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from vprop.cli.main import main

TINY_EVAL = ["--arch", "vit_test_patch16", "--no-progress", "--device", "cpu"]
TINY_PRETRAIN = ["--arch", "vit_test_patch16", "--img-size", "32", "--workers", "0",
                 "--no-progress", "--decoder-dim", "32", "--decoder-ffn-dim", "64",
                 "--decoder-depth", "1", "--batch-size", "2", "--device", "cpu"]
LOCK_NAME = ".vprop.lock"  # the only file a refused run may leave (see README)


def invoke(*args: str) -> Result:
    """Run ``vprop ARGS`` in-process (stdout and stderr kept apart)."""
    return CliRunner().invoke(main, list(args))


def tree_hash(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file under ``roots`` (symlinks followed), keyed by path.

    The run-folder lock file is left out: it is bookkeeping, not data or output.
    """
    digests = {}
    for root in roots:
        for dirpath, _, files in os.walk(root, followlinks=True):
            for name in files:
                if name == LOCK_NAME:
                    continue
                path = Path(dirpath) / name
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def assert_refused(result: Result, names: str | Iterable[str]) -> str:
    """Exit 2, exactly one ``error:`` line on stderr naming ``names``, no traceback anywhere.

    Returns:
        The error line.
    """
    stderr, stdout = result.stderr, result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}\n{stderr}")
    assert result.exit_code == 2, f"exit {result.exit_code}\n{stdout}\n{stderr}"
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    for text in [names] if isinstance(names, str) else names:
        assert text in errors[0], f"{text!r} not named in {errors[0]!r}"
    assert "Traceback" not in stderr + stdout
    return errors[0]


class Guard:
    """Hash ground truth and finished outputs before a bad run, and compare afterwards."""

    def __init__(self, *roots: Path) -> None:
        self.roots = roots
        self.before = tree_hash(*roots)
        assert self.before, "nothing to guard"

    def check(self) -> None:
        """Every guarded file is still there, byte-identical, and nothing was added."""
        assert tree_hash(*self.roots) == self.before


def refused(guard: Guard, names: str | Iterable[str], *args: str) -> str:
    """Invoke vprop, check the refusal and that ``guard``'s trees did not change.

    With ``VPROP_BAD_INPUT_LOG`` set, appends ``<test id> | <error line>`` to that file (the
    table of cases in the closing note is made this way).
    """
    line = assert_refused(invoke(*args), names)
    guard.check()
    log = os.environ.get("VPROP_BAD_INPUT_LOG")
    if log:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
        with open(log, "a") as handle:
            handle.write(f"{test} | {line}\n")
    return line


def copy_davis(source: Path, dest: Path, sequences: dict[str, int]) -> Path:
    """Copy the first N frames (JPEG + PNG) of real sequences into a fresh DAVIS layout."""
    root = dest / "DAVIS"
    for name, frames in sequences.items():
        for kind, suffix in (("JPEGImages", "jpg"), ("Annotations", "png")):
            target = root / kind / "480p" / name
            target.mkdir(parents=True)
            for index in range(frames):
                shutil.copy(source / kind / "480p" / name / f"{index:05d}.{suffix}", target)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(f"{s}\n" for s in sequences))
    return root


class TinyFs:
    """A small tmpfs mounted for one test (real ENOSPC / EROFS), or a skip where not allowed."""

    def __init__(self, where: Path, size: str = "256k", read_only: bool = False) -> None:
        where.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                              capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root): "
                        f"{done.stderr.decode(errors='replace').strip()}")
        self.where = where

    def close(self) -> None:
        """Unmount."""
        subprocess.run(["umount", "-l", str(self.where)], check=False)
