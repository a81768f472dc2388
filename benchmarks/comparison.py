"""`vprop compare` arguments: run names and checkpoints (the tables are in ``tables.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vprop.errors import VpropError


def _default_run_name(target: str) -> str:
    if target == "random":
        return "random-init"
    return target.replace(":", "-") if target.startswith("zoo:") else Path(target).name


def parse_checkpoint_specs(specs: Sequence[str]) -> list[tuple[str, str | None]]:
    """``vprop compare`` arguments -> unique (run name, checkpoint or ``None`` for random).

    Each spec is ``random``, ``zoo:NAME``, a file, or ``NAME=SPEC`` to give a run a readable
    name (two ``checkpoint-last.pth`` files). A spec that is an existing file is never split
    at ``=``. Names without ``NAME=`` are file names, suffixed ``-2``, ``-3`` on collision.

    Raises:
        VpropError: A missing file, an empty or path-like name, or a name given twice.
    """
    runs: list[tuple[str, str | None]] = []
    for spec in specs:
        name, _, target = spec.partition("=")
        if not target or Path(spec).is_file():
            name, target = "", spec
        elif not name or "/" in name or name in {".", ".."}:
            raise VpropError(f"run name {name!r} must be a plain name (NAME=checkpoint)", spec)
        if target != "random" and not target.startswith("zoo:") and not Path(target).is_file():
            raise VpropError("checkpoint not found", target)
        if name and name in [n for n, _ in runs]:
            raise VpropError(f"run name {name!r} given twice", spec)
        base = name or _default_run_name(target)
        unique, index = base, 2
        while unique in [n for n, _ in runs]:
            unique, index = f"{base}-{index}", index + 1
        runs.append((unique, None if target == "random" else target))
    return runs
