"""`vprop compare`: run names and checkpoints, and the comparison run (tables in ``tables.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class Comparison:
    """A finished comparison: one payload per run, the table and the files written."""

    payloads: list[dict[str, Any]]
    table: Any
    written: list[Path]


def compare(names: list[str], specs: list[Any], out: Path,
            table_format: str | None) -> Comparison | None:
    """Evaluate each spec in its own run folder ``out/<name>`` and tabulate them.

    Under torchrun every rank calls this: each checkpoint's units are sharded across the
    ranks (:func:`~vprop.benchmarks.evaluate.evaluate`), and rank 0 writes the table.

    Returns:
        The comparison on rank 0, ``None`` on the other ranks.
    """
    import click

    from vprop.benchmarks.distributed import torchrun_env
    from vprop.benchmarks.evaluate import check_spec, evaluate
    from vprop.benchmarks.summary import block, plural
    from vprop.benchmarks.tables import results_table, write_all
    from vprop.safety import RunLock, check_inside, check_outside_dataset

    for spec in specs:
        check_spec(spec)
        check_inside(spec.out_dir, out)
    if specs and specs[0].data_root is not None:
        check_outside_dataset(out, specs[0].data_root)
    main = (torchrun_env() or {}).get("RANK", 0) == 0
    if main:
        click.echo(block(f"vprop compare: {specs[0].task}, {plural(len(names), 'checkpoint')}",
                         [*((f"run {i + 1}", f"{name} -> {out / name}")
                            for i, name in enumerate(names)), ("output", str(out))]), err=True)
    payloads = []
    with RunLock(out) if main else contextlib.nullcontext():
        for index, (name, spec) in enumerate(zip(names, specs)):
            if main:
                click.secho(f"\n== [{index + 1}/{len(names)}] {name}", bold=True, err=True)
            payloads.append(evaluate(spec, table_format=None, name=name))
        if not main:
            return None
        table = results_table(names, payloads)
        return Comparison(payloads, table, write_all(table, out / "comparison"))
