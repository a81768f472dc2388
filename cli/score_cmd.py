"""`vprop score`: score saved predictions with the official benchmark semantics."""

from __future__ import annotations

from pathlib import Path

import click

from vprop.errors import VpropError
from vprop.safety import check_outside_dataset
from vprop.utils import json_safe

SUPPORTED_TASKS = ("davis",)


def _default_out(results: Path) -> Path:
    return results.parent if results.is_file() else results


@click.command(name="score")
@click.option("--task", default="davis", show_default=True, help="Benchmark (only davis so far).")
@click.option(
    "--data-root",
    required=True,
    type=click.Path(path_type=Path),
    help="The DAVIS folder (holding ImageSets/ and Annotations/480p/).",
)
@click.option(
    "--results",
    "results",
    required=True,
    type=click.Path(path_type=Path),
    help="Results folder <seq>/<frame>.png, or a COCO RLE JSON file from `vprop convert`.",
)
@click.option(
    "--sequences", default=None, help="Comma-separated sequences (default: the imageset)."
)
@click.option(
    "--imageset", default="2017/val.txt", show_default=True, help="List under DAVIS/ImageSets."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the CSVs and scores.json (default: the results folder).",
)
@click.option("--progress/--no-progress", default=True, help="Per-sequence progress bar.")
def command(
    task: str,
    data_root: Path,
    results: Path,
    sequences: str | None,
    imageset: str,
    out: Path | None,
    progress: bool,
) -> None:
    """Score predictions; write global/per-sequence CSVs and scores.json, print a table."""
    if task.lower() not in SUPPORTED_TASKS:
        raise VpropError(
            f"task '{task}' is not supported by `vprop score` yet (supported: "
            f"{', '.join(SUPPORTED_TASKS)})",
            "--task",
        )
    from vprop.benchmarks.davis.csv_report import format_table, write_csv_reports
    from vprop.benchmarks.davis.scoring import score_davis
    from vprop.utils import atomic_write_json, package_versions

    if not results.exists():
        raise VpropError("results not found", results)
    names = None
    if sequences is not None:
        names = [name.strip() for name in sequences.split(",") if name.strip()]
    out_dir = out if out is not None else _default_out(results)
    check_outside_dataset(out_dir, data_root, "--out" if out is not None else "--results")
    if out_dir.exists() and not out_dir.is_dir():
        raise VpropError("exists and is not a folder", out_dir)
    scores = score_davis(data_root, results, sequences=names, imageset=imageset, progress=progress)
    for warning in scores["warnings"]:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    split = Path(imageset).stem
    csv_paths = write_csv_reports(scores, out_dir, split=split)
    json_path = out_dir / "scores.json"
    atomic_write_json(
        json_path,
        json_safe(
            {
                "task": "davis",
                "data_root": str(data_root),
                "results": str(results),
                "imageset": imageset,
                "global": scores["global"],
                "per_object": scores["per_object"],
                "excluded": scores["excluded"],
                "versions": package_versions(),
            }
        ),
    )
    click.echo(format_table(scores))
    click.echo("")
    for path in [*csv_paths, json_path]:
        click.echo(f"wrote {path}")
