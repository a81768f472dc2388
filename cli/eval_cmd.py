"""`vprop eval`: score one backbone on a propagation benchmark."""

from __future__ import annotations

import time
from pathlib import Path

import click

from vprop.cli.options import (
    backbone_options,
    parse_spec,
    propagation_options,
    table_format_option,
)


@click.command(name="eval")
@click.option("--ckpt", type=click.Path(path_type=Path), default=None,
              help="Checkpoint file or zoo:NAME (`vprop models`); default: random "
                   "initialisation (with a warning).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder; default: runs/<task>-<preset>-<time>.")
@click.option("--report", "report", is_flag=True,
              help="Also write the HTML report to OUT/report/index.html.")
@table_format_option
@backbone_options
@propagation_options
def command(ckpt: Path | None, out: Path | None, table_format: str, report: bool,
            **options: object) -> None:
    """Evaluate a backbone by label propagation (DAVIS J&F, JHMDB PCK, VIP mIoU).

    Example: vprop eval --task davis --data-root DAVIS --ckpt cropmae.pth --out runs/cropmae
    """
    task = str(options["task"])
    if out is None:
        out = Path("runs") / f"{task}-{options['preset']}-{time.strftime('%Y%m%d-%H%M%S')}"
    from vprop.benchmarks.evaluate import evaluate

    payload = evaluate(parse_spec(task, ckpt, out, options), table_format=table_format)
    if report and payload is not None:  # None: a torchrun rank other than 0
        from vprop.benchmarks.report.build import build_report

        click.echo(f"report written to {build_report([out], out / 'report')}", err=True)
