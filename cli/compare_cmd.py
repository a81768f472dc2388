"""`vprop compare`: evaluate several checkpoints on one task and tabulate them side by side."""

from __future__ import annotations

import time
from pathlib import Path

import click

from vprop.benchmarks.comparison import (
    comparison_rows,
    parse_checkpoint_specs,
    to_csv,
    to_markdown,
)
from vprop.cli.options import backbone_options, propagation_options, run_evaluation
from vprop.safety import RunLock, check_inside, check_outside_dataset
from vprop.utils import atomic_write_bytes


@click.command(name="compare")
@click.argument("checkpoints", nargs=-1, required=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for every run and the table; default: runs/compare-<task>-<time>.")
@backbone_options
@propagation_options
def command(checkpoints: tuple[str, ...], out: Path | None, **options: object) -> None:
    """Evaluate CHECKPOINTS side by side: files, zoo:NAME, `random`, or NAME=CHECKPOINT.

    Example: vprop compare cropmae.pth dino.pth random --task davis --data-root DAVIS
    """
    task = str(options["task"])
    if out is None:
        out = Path("runs") / f"compare-{task}-{time.strftime('%Y%m%d-%H%M%S')}"
    runs = parse_checkpoint_specs(checkpoints)
    names = [name for name, _ in runs]
    payloads = []
    if options["data_root"] is not None:
        check_outside_dataset(out, options["data_root"])
    with RunLock(out):
        for name, ckpt in runs:
            click.secho(f"== {name}", bold=True)
            run_dir = check_inside(out / name, out)
            payloads.append(run_evaluation(task, None if ckpt is None else Path(ckpt),
                                           run_dir, options))
        header, rows = comparison_rows(names, payloads)
        markdown = to_markdown(header, rows)
        atomic_write_bytes(out / "comparison.md", markdown.encode())
        atomic_write_bytes(out / "comparison.csv", to_csv(header, rows).encode())
    click.echo(f"\n{task} comparison" + (" (SYNTHETIC sample)" if payloads[0]["synthetic"] else ""))
    click.echo(markdown)
    click.echo(f"table written to {out / 'comparison.md'} and {out / 'comparison.csv'}")
