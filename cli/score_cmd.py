"""`vprop score`: score saved predictions with the same code as `vprop eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vprop.benchmarks.parallel import check_workers
from vprop.benchmarks.summary import plural
from vprop.benchmarks.tables import TASK_METRICS, Table, percent, render, sequences_text
from vprop.cli.options import parse_score_size, table_format_option
from vprop.errors import VpropError
from vprop.safety import check_outside_dataset
from vprop.utils import json_safe

SUPPORTED_TASKS = ("davis", "jhmdb", "vip")


def _default_out(results: Path) -> Path:
    """CSVs of a results folder go into it; those of an RLE file into ``<stem>-scores/``."""
    return results.parent / f"{results.stem}-scores" if results.is_file() else results


def _davis_sequences(results: Path, sequences: str | None, data_root: Path,
                     imageset: str) -> tuple[list[str], str]:
    """The DAVIS sequences to score and a line saying where they came from."""
    from vprop.benchmarks.davis.dataset import read_imageset
    from vprop.benchmarks.davis.sources import covered_sequences

    if sequences is not None:
        names = [name.strip() for name in sequences.split(",") if name.strip()]
        return names, f"scoring {plural(len(names), 'sequence')} given by --sequences"
    listed = read_imageset(data_root, imageset)
    covered, source = covered_sequences(results)
    if covered is None or set(listed) <= set(covered):
        return listed, f"scoring the {plural(len(listed), 'sequence')} of {imageset}"
    unknown = [name for name in covered if name not in listed]
    if unknown:
        raise VpropError(f"holds sequences not in {imageset}: {', '.join(unknown[:5])}"
                         " (use --imageset or --sequences)", results)
    return covered, (f"scoring the {plural(len(covered), 'sequence')} of {source}: "
                     f"PARTIAL, {len(covered)} of {len(listed)} in {imageset}")


def _score_davis(data_root: Path, results: Path, sequences: str | None, imageset: str,
                 score_size: str | None, out_dir: Path, progress: bool, workers: int | None
                 ) -> tuple[dict[str, Any], list[Path]]:
    from vprop.benchmarks.davis.csv_report import write_csv_reports
    from vprop.benchmarks.davis.scoring import score_davis

    names, note = _davis_sequences(results, sequences, data_root, imageset)
    click.echo(note, err=True)
    size = parse_score_size(score_size)
    size = None if size == "native" else size
    scores = score_davis(data_root, results, sequences=names, imageset=imageset,
                         progress=progress, score_size=size, workers=workers)
    for warning in scores["warnings"]:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    paths = write_csv_reports(scores, out_dir, split=Path(imageset).stem)
    return {"imageset": imageset, "sequences": names, "sequences_source": note,
            "score_size": list(size) if size else "native", "global": scores["global"],
            "per_object": scores["per_object"], "excluded": scores["excluded"]}, paths


def _score_task(task: str, data_root: Path, results: Path, sequences: str | None,
                split: Path | None, out_dir: Path, workers: int | None
                ) -> tuple[dict[str, Any], list[Path]]:
    from vprop.benchmarks.tasks import get_task

    names = None if sequences is None else [
        name.strip() for name in sequences.split(",") if name.strip()]
    scores = get_task(task).score(data_root, results, names, split, out_dir, workers=workers)
    paths = [Path(path) for path in scores.pop("csv")]
    return {"sequences": names, **scores}, paths


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
              help="Comma-separated sequences / clips / videos (default: the list's, or what "
                   "a DAVIS run covered).")
@click.option("--imageset", default="2017/val.txt", show_default=True,
              help="DAVIS: list under DAVIS/ImageSets.")
@click.option("--split", type=click.Path(path_type=Path), default=None,
              help="JHMDB/VIP: split/list file (default: the task's).")
@click.option("--score-size", default=None,
              help="DAVIS: score at HxW against ground truth nearest-resized to it (480x880: "
                   "the CropMAE/SiamMAE paper protocol); default native.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write the CSVs and scores.json (default: the results folder; for "
                   "an RLE file, <file stem>-scores/ beside it).")
@click.option("--progress/--no-progress", default=True, help="Per-sequence progress bar.")
@click.option("--workers", type=int, default=None,
              help="Processes scoring sequences / clips / videos in parallel; results are "
                   "identical for any number. Default: every available CPU that gets enough "
                   "work to pay its start-up (DAVIS/VIP: 150 frames each), else one.")
@table_format_option
def command(task: str, data_root: Path, results: Path, sequences: str | None, imageset: str,
            split: Path | None, score_size: str | None, out: Path | None, progress: bool,
            workers: int | None, table_format: str) -> None:
    """Score predictions; write scores.json and the CSVs, print a table.

    DAVIS without --sequences scores the imageset, or the sequences the run covered when it
    covered only some (read from its results.json, the RLE file or the folder; announced).
    """
    if workers is not None:
        check_workers(workers)
    if task != "davis" and score_size is not None:
        raise VpropError("--score-size: only used by --task davis")
    parse_score_size(score_size)
    if not results.exists():
        raise VpropError("results not found", results)
    if not data_root.is_dir():
        raise VpropError("dataset folder not found (--data-root)", data_root)
    if (results / "results").is_dir() and (results / "results.json").is_file():
        results = results / "results"  # a vprop run folder
    from vprop.utils import atomic_write_json, package_versions

    out_dir = out if out is not None else _default_out(results)
    check_outside_dataset(out_dir, data_root, "--out" if out is not None else "--results")
    if out_dir.exists() and not out_dir.is_dir():
        raise VpropError("exists and is not a folder", out_dir)
    if task == "davis":
        payload, paths = _score_davis(data_root, results, sequences, imageset, score_size,
                                      out_dir, progress, workers)
    else:
        payload, paths = _score_task(task, data_root, results, sequences, split, out_dir,
                                     workers)
    json_path = out_dir / "scores.json"
    atomic_write_json(json_path, json_safe({
        "task": task, "data_root": str(data_root), "results": str(results), **payload,
        "versions": package_versions(),
    }))
    spec = TASK_METRICS[task]
    table = Table(
        title=f"{spec.title}, scored predictions ({spec.unit})",
        meta=[("task", task), ("data", str(data_root)), ("results", str(results)),
              ("sequences", sequences_text(payload.get("sequences")))],
        header=["results", *spec.metrics],
        rows=[[results.name, *(percent({"task": task, **payload}, metric)
                               for metric in spec.metrics)]],
    )
    click.echo(render(table, table_format))
    click.echo(f"wrote {', '.join(str(path) for path in [*paths, json_path])}", err=True)
