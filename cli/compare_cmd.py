"""`vprop compare`: evaluate several checkpoints on one task and tabulate them side by side."""

from __future__ import annotations

import time
from pathlib import Path

import click

from vprop.benchmarks.comparison import parse_checkpoint_specs
from vprop.benchmarks.summary import block, headline_text, plural
from vprop.benchmarks.tables import render, results_table, write_all
from vprop.cli.options import (
    backbone_options,
    check_options,
    propagation_options,
    run_evaluation,
    table_format_option,
)
from vprop.safety import RunLock, check_inside, check_outside_dataset


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
    check_options(None, options)
    if out is None:
        out = Path("runs") / f"compare-{task}-{time.strftime('%Y%m%d-%H%M%S')}"
    names = [name for name, _ in runs]
    click.echo(block(f"vprop compare: {task}, {plural(len(names), 'checkpoint')}",
                     [*((f"run {i + 1}", f"{name} -> {out / name}")
                        for i, name in enumerate(names)), ("output", str(out))]), err=True)
    payloads = []
    if options["data_root"] is not None:
        check_outside_dataset(out, options["data_root"])
    with RunLock(out):
        for index, (name, ckpt) in enumerate(runs):
            click.secho(f"\n== [{index + 1}/{len(names)}] {name}", bold=True, err=True)
            run_dir = check_inside(out / name, out)
            payloads.append(run_evaluation(task, None if ckpt is None else Path(ckpt),
                                           run_dir, options, table_format=None, name=name))
        table = results_table(names, payloads)
        written = write_all(table, out / "comparison")
    click.echo(render(table, table_format))
    items = [(f"run {index + 1}", f"{name}: {headline_text(payload)} (reused "
                                  f"{len(payload['skipped_finished'])}, recomputed "
                                  f"{len(payload['recomputed'])})")
             for index, (name, payload) in enumerate(zip(names, payloads))]
    items.append(("tables", ", ".join(str(path) for path in written)))
    click.echo(block(f"vprop compare: {task} finished", items), err=True)
    if report:
        from vprop.benchmarks.report.build import build_report

        index = build_report([out / name for name in names], out / "report")
        click.echo(f"report written to {index}", err=True)
