"""Side-by-side tables of several runs' headline metrics (markdown and CSV)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vprop.errors import VpropError


def comparison_rows(
    names: Sequence[str], payloads: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[list[Any]]]:
    """Build the table: one row per run, the union of the runs' global metrics as columns.

    Args:
        names: Display name of each run (e.g. the checkpoint file name).
        payloads: Each run's ``results.json`` payload (``"global"``, ``"backbone"``).

    Returns:
        (header, rows): ``checkpoint``, ``sha256`` (first 12 hex digits), ``arch``, ``scored at``
        (DAVIS runs: ``native`` or ``HxW``), then metrics.

    Raises:
        VpropError: The runs were scored at different sizes (their J&F are different
            protocols and cannot share a column).
    """
    sizes = {name: _score_size(payload) for name, payload in zip(names, payloads)}
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{name}: {size or 'n/a'}" for name, size in sizes.items())
        raise VpropError(f"runs scored at different sizes cannot share a column ({listing}); "
                         "compare them in separate tables")
    metrics: list[str] = []
    for payload in payloads:
        metrics.extend(key for key in payload["global"] if key not in metrics)
    scored = any(size is not None for size in sizes.values())
    header = ["checkpoint", "sha256", "arch", *(["scored at"] if scored else []), *metrics]
    rows = []
    for name, payload in zip(names, payloads):
        backbone = payload.get("backbone", {})
        digest = backbone.get("sha256") or "random-init"
        rows.append([name, digest[:12], backbone.get("arch", ""),
                     *([sizes[name]] if scored else []),
                     *(payload["global"].get(metric) for metric in metrics)])
    return header, rows


def _score_size(payload: Mapping[str, Any]) -> str | None:
    """A run's score size as text (``native``, ``480x880``), ``None`` when it has none."""
    size = payload.get("score_size")
    if size is None or isinstance(size, str):
        return size
    return f"{size[0]}x{size[1]}"


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return "" if value is None else str(value)


def to_markdown(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 4) -> str:
    """Render a GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value, digits) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render CSV with full-precision numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(value, 17) if isinstance(value, float) else _cell(value, 0)
                       for value in row] for row in rows])
    return buffer.getvalue()


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
