"""`vprop compare`: evaluate several checkpoints on one task and tabulate them side by side."""

from __future__ import annotations

import time
from pathlib import Path

import click

from vprop.benchmarks.comparison import parse_checkpoint_specs
from vprop.benchmarks.summary import block, headline_text
from vprop.benchmarks.tables import render
from vprop.cli.options import (
    backbone_options,
    parse_spec,
    propagation_options,
    table_format_option,
)


@click.command(name="compare")
@click.argument("checkpoints", nargs=-1, required=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for every run and the table; default: runs/compare-<task>-<time>.")
@click.option("--report", "report", is_flag=True,
              help="Also write the HTML comparison report to OUT/report/index.html.")
@table_format_option
@backbone_options
@propagation_options
def command(checkpoints: tuple[str, ...], out: Path | None, table_format: str, report: bool,
            **options: object) -> None:
    """Evaluate CHECKPOINTS side by side: files, zoo:NAME, `random`, or NAME=CHECKPOINT.

    Writes OUT/comparison.md, .csv and .tex (percentages, task / data / preset / protocol /
    sequences in the header) and prints the table in --format.

    Example: vprop compare cropmae.pth dino.pth random --task davis --data-root DAVIS
    """
    task = str(options["task"])
    runs = parse_checkpoint_specs(checkpoints)
    if out is None:
        out = Path("runs") / f"compare-{task}-{time.strftime('%Y%m%d-%H%M%S')}"
    from vprop.benchmarks.comparison import compare

    names = [name for name, _ in runs]
    specs = [parse_spec(task, None if ckpt is None else Path(ckpt), out / name, options)
             for name, ckpt in runs]
    result = compare(names, specs, out, table_format)
    if result is None:  # a torchrun rank other than 0
        return
    click.echo(render(result.table, table_format))
    items = [(f"run {index + 1}", f"{name}: {headline_text(payload)} (reused "
                                  f"{len(payload['skipped_finished'])}, recomputed "
                                  f"{len(payload['recomputed'])})")
             for index, (name, payload) in enumerate(zip(names, result.payloads))]
    items.append(("tables", ", ".join(str(path) for path in result.written)))
    click.echo(block(f"vprop compare: {task} finished", items), err=True)
    if report:
        from vprop.benchmarks.report.build import build_report

        index = build_report([out / name for name in names], out / "report")
        click.echo(f"report written to {index}", err=True)
