"""`vprop report`: a static HTML page for one or several evaluation run folders."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("report"),
              show_default=True, help="Report folder (index.html and img/).")
@click.option("--worst", type=click.IntRange(min=0), default=6, show_default=True,
              help="Worst frames drawn per run (ground truth | prediction).")
@click.option("--max-plots", type=click.IntRange(min=0), default=60, show_default=True,
              help="Per-sequence plots drawn per run (the worst ones).")
def command(run_dirs: tuple[Path, ...], out: Path, worst: int, max_plots: int) -> None:
    """Write OUT/index.html for RUN_DIRS (folders written by vprop eval / compare).

    Example: vprop report runs/cropmae runs/dino --out report/
    """
    from vprop.benchmarks.report.build import build_report

    index = build_report(run_dirs, out, worst=worst, max_plots=max_plots,
                         say=lambda line: click.echo(line, err=True))
    click.echo(f"report written to {index}")
