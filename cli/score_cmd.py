"""`vprop score`: score saved predictions with the same code as `vprop eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vprop.errors import VpropError
from vprop.utils import json_safe

SUPPORTED_TASKS = ("davis", "jhmdb", "vip")


def _default_out(results: Path) -> Path:
    return results.parent if results.is_file() else results


def _names(sequences: str | None) -> list[str] | None:
    if sequences is None:
        return None
    return [name.strip() for name in sequences.split(",") if name.strip()]


def _score_davis(data_root: Path, results: Path, names: list[str] | None, imageset: str,
                 score_size: str | None, out_dir: Path, progress: bool) -> tuple[dict, str]:
    from vprop.benchmarks.davis.csv_report import format_table, write_csv_reports
    from vprop.benchmarks.davis.scoring import score_davis
    from vprop.cli.options import parse_score_size

    size = parse_score_size(score_size)
    size = None if size == "native" else size
    scores = score_davis(data_root, results, sequences=names, imageset=imageset,
                         progress=progress, score_size=size)
    paths = write_csv_reports(scores, out_dir, split=Path(imageset).stem)
    for path in paths:
        click.echo(f"wrote {path}")
    payload = {"imageset": imageset, "score_size": list(size) if size else "native",
               "global": scores["global"], "per_object": scores["per_object"]}
    return payload, format_table(scores)


def _score_task(task: str, data_root: Path, results: Path, names: list[str] | None,
                split: Path | None) -> tuple[dict[str, Any], str]:
    from vprop.benchmarks.tasks import get_task

    scores = get_task(task).score(data_root, results, names, split)
    table = scores.pop("table")
    return scores, table


@click.command(name="score")
@click.option("--task", type=click.Choice(SUPPORTED_TASKS), default="davis", show_default=True,
              help="Benchmark.")
@click.option("--data-root", required=True, type=click.Path(path_type=Path),
              help="Dataset root in the official layout (DAVIS: holding ImageSets/ and "
                   "Annotations/480p/).")
@click.option("--results", "results", required=True, type=click.Path(path_type=Path),
              help="Predictions: DAVIS <seq>/<frame>.png (or a COCO RLE JSON from `vprop "
                   "convert`); JHMDB <class>/<clip>.json; VIP videosN/<frame>.png. A vprop run "
                   "folder (holding results/) is accepted too.")
@click.option("--sequences", default=None,
              help="Comma-separated sequences / clips / videos (default: the split).")
@click.option("--imageset", default="2017/val.txt", show_default=True,
              help="DAVIS: list under DAVIS/ImageSets.")
@click.option("--split", type=click.Path(path_type=Path), default=None,
              help="JHMDB/VIP: split/list file (default: the task's).")
@click.option("--score-size", default=None,
              help="DAVIS: score at HxW against ground truth nearest-resized to it (480x880: "
                   "the CropMAE/SiamMAE paper protocol); default native.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write scores.json (and DAVIS's CSVs); default: the results folder.")
@click.option("--progress/--no-progress", default=True, help="Per-sequence progress bar.")
def command(task: str, data_root: Path, results: Path, sequences: str | None, imageset: str,
            split: Path | None, score_size: str | None, out: Path | None,
            progress: bool) -> None:
    """Score predictions; write scores.json (DAVIS: and the official CSVs), print a table."""
    from vprop.utils import atomic_write_json, package_versions

    if not results.exists():
        raise VpropError("results not found", results)
    if (results / "results").is_dir() and (results / "results.json").is_file():
        results = results / "results"  # a vprop run folder
    if task != "davis" and score_size is not None:
        raise VpropError("--score-size: only used by --task davis")
    names = _names(sequences)
    out_dir = out if out is not None else _default_out(results)
    if task == "davis":
        payload, table = _score_davis(data_root, results, names, imageset, score_size,
                                      out_dir, progress)
    else:
        payload, table = _score_task(task, data_root, results, names, split)
    json_path = out_dir / "scores.json"
    atomic_write_json(json_path, json_safe({
        "task": task, "data_root": str(data_root), "results": str(results), **payload,
        "versions": package_versions(),
    }))
    click.echo(table)
    click.echo("")
    click.echo(f"wrote {json_path}")
