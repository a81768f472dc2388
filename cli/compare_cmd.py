"""`vprop compare`: evaluate several checkpoints on one task and tabulate them side by side."""

from __future__ import annotations

import time
from pathlib import Path

import click

from vprop.benchmarks.comparison import comparison_rows, to_csv, to_markdown
from vprop.cli.options import backbone_options, propagation_options, run_evaluation
from vprop.errors import VpropError
from vprop.utils import atomic_write_bytes


def _run_names(checkpoints: tuple[str, ...]) -> list[str]:
    """Unique, readable folder names: file names, suffixed when two collide."""
    names: list[str] = []
    for ckpt in checkpoints:
        base = "random-init" if ckpt == "random" else Path(ckpt).name
        name, index = base, 2
        while name in names:
            name, index = f"{base}-{index}", index + 1
        names.append(name)
    return names


@click.command(name="compare")
@click.argument("checkpoints", nargs=-1, required=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for every run and the table; default: runs/compare-<task>-<time>.")
@backbone_options
@propagation_options
def command(checkpoints: tuple[str, ...], out: Path | None, **options: object) -> None:
    """Evaluate CHECKPOINTS (files, or `random` for a random-init baseline) side by side.

    Example: vprop compare cropmae.pth dino.pth random --task davis --data-root DAVIS
    """
    task = str(options["task"])
    if out is None:
        out = Path("runs") / f"compare-{task}-{time.strftime('%Y%m%d-%H%M%S')}"
    for ckpt in checkpoints:
        if ckpt != "random" and not Path(ckpt).is_file():
            raise VpropError("checkpoint not found", ckpt)
    names = _run_names(checkpoints)
    payloads = []
    for name, ckpt in zip(names, checkpoints):
        click.secho(f"== {name}", bold=True)
        run_dir = out / name
        payloads.append(run_evaluation(task, None if ckpt == "random" else Path(ckpt),
                                       run_dir, options))
    header, rows = comparison_rows(names, payloads)
    markdown = to_markdown(header, rows)
    atomic_write_bytes(out / "comparison.md", markdown.encode())
    atomic_write_bytes(out / "comparison.csv", to_csv(header, rows).encode())
    click.echo(f"\n{task} comparison" + (" (SYNTHETIC sample)" if payloads[0]["synthetic"] else ""))
    click.echo(markdown)
    click.echo(f"table written to {out / 'comparison.md'} and {out / 'comparison.csv'}")
