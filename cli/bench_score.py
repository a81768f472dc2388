"""`vprop bench score`: parallel DAVIS scoring against the one-process scorer."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from vprop.errors import VpropError


def _workers(text: str) -> list[int]:
    from vprop.benchmarks.parallel import check_workers

    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise VpropError(f"--workers: expected comma-separated integers, got {text!r}") from None
    if not counts:
        raise VpropError("--workers: no worker count given")
    return [check_workers(count) for count in counts]


@click.command(name="score")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="DAVIS root (holding Annotations/480p), e.g. ../shared/data/davis-mini/DAVIS.")
@click.option("--results", type=click.Path(path_type=Path), default=None,
              help="Predictions to score (<seq>/<frame>.png); default: the annotations "
                   "shifted 6 px, written to a temporary folder.")
@click.option("--full-scale", is_flag=True,
              help="Score the full-scale synthetic DAVIS val (30 sequences, 1,999 frames at "
                   "854x480, generated in a temporary folder) instead of --data-root.")
@click.option("--full-scale-sequences", type=click.IntRange(1, 30), default=None,
              help="With --full-scale: only the first N sequences (quick checks).")
@click.option("--workers", "workers_text", default="1,2", show_default=True,
              help="Worker counts to time, comma-separated; the first is the reference.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the JSON here.")
def command(data_root: Path | None, results: Path | None, full_scale: bool,
            full_scale_sequences: int | None, workers_text: str, out: Path | None) -> None:
    """Time `vprop score` with each worker count; check every result equals the first."""
    counts = _workers(workers_text)
    if (data_root is None) == (not full_scale):
        raise VpropError("--data-root: give a DAVIS root or --full-scale (one of the two)")
    if data_root is not None and not (data_root / "Annotations" / "480p").is_dir():
        raise VpropError("not a DAVIS root (no Annotations/480p/ folder)", data_root)
    if results is not None and not results.is_dir():
        raise VpropError("results folder not found", results)
    from vprop.benchmarks.davis.synthetic import make_full_scale_sample
    from vprop.benchmarks.parallel import available_cpus
    from vprop.benchmarks.scaling import measure_scoring, write_shifted_predictions

    with tempfile.TemporaryDirectory() as tmp:
        root = (make_full_scale_sample(Path(tmp), full_scale_sequences) if full_scale
                else data_root)
        predictions = results or write_shifted_predictions(root, Path(tmp) / "shifted")
        report = {"data_root": "full-scale synthetic" if full_scale else str(root),
                  "results": str(results) if results else "annotations shifted 6 px",
                  "cpus": available_cpus(), **measure_scoring(root, predictions, counts)}
    click.echo(json.dumps(report, indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
