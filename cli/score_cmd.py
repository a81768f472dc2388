"""`vprop score`: score saved predictions with the official benchmark semantics."""

from __future__ import annotations

from pathlib import Path

import click

from vprop.benchmarks.summary import plural
from vprop.benchmarks.tables import TASK_METRICS, Table, percent, render, sequences_text
from vprop.cli.options import table_format_option
from vprop.errors import VpropError
from vprop.utils import json_safe

SUPPORTED_TASKS = ("davis",)


def _default_out(results: Path) -> Path:
    """CSVs of a results folder go into it; those of an RLE file into ``<stem>-scores/``."""
    return results.parent / f"{results.stem}-scores" if results.is_file() else results


def _sequences(results: Path, sequences: str | None, data_root: Path,
               imageset: str) -> tuple[list[str], str]:
    """The sequences to score and a line saying where they came from."""
    from vprop.benchmarks.davis.dataset import read_imageset
    from vprop.benchmarks.davis.scoring import covered_sequences

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
    help="Where to write the CSVs and scores.json (default: the results folder; for an RLE "
    "file, <file stem>-scores/ beside it).",
)
@click.option("--progress/--no-progress", default=True, help="Per-sequence progress bar.")
@table_format_option
def command(
    task: str,
    data_root: Path,
    results: Path,
    sequences: str | None,
    imageset: str,
    out: Path | None,
    progress: bool,
    table_format: str,
) -> None:
    """Score predictions; write global/per-sequence CSVs and scores.json, print a table.

    Without --sequences, scores the imageset, or the sequences the run covered when it
    covered only some (read from its results.json, the RLE file or the folder; announced).
    """
    if task.lower() not in SUPPORTED_TASKS:
        raise VpropError(
            f"task '{task}' is not supported by `vprop score` yet (supported: "
            f"{', '.join(SUPPORTED_TASKS)})"
        )
    if not results.exists():
        raise VpropError("results not found", results)
    if not data_root.is_dir():
        raise VpropError("DAVIS folder not found (--data-root)", data_root)
    from vprop.benchmarks.davis.csv_report import write_csv_reports
    from vprop.benchmarks.davis.scoring import score_davis
    from vprop.utils import atomic_write_json, package_versions

    names, note = _sequences(results, sequences, data_root, imageset)
    click.echo(note, err=True)
    scores = score_davis(data_root, results, sequences=names, imageset=imageset, progress=progress)

    out_dir = out if out is not None else _default_out(results)
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
                "sequences": names,
                "sequences_source": note,
                "global": scores["global"],
                "per_object": scores["per_object"],
                "versions": package_versions(),
            }
        ),
    )
    table = Table(
        title=f"DAVIS-2017, scored predictions ({TASK_METRICS['davis'].unit})",
        meta=[("task", "davis"), ("data", str(data_root)), ("results", str(results)),
              ("sequences", sequences_text(names))],
        header=["results", *TASK_METRICS["davis"].metrics],
        rows=[[results.name, *(percent({"task": "davis", **scores}, metric)
                               for metric in TASK_METRICS["davis"].metrics)]],
    )
    click.echo(render(table, table_format))
    click.echo(f"wrote {', '.join(str(path) for path in [*csv_paths, json_path])}", err=True)
