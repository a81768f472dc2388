"""`vprop convert`: results folder of indexed PNGs <-> COCO RLE JSON."""

from __future__ import annotations

from pathlib import Path

import click

from vprop.errors import VpropError
from vprop.safety import check_outside_dataset

_HELP = """Convert SOURCE to DESTINATION.

\b
vprop convert RESULTS_DIR OUT.json --to rle
vprop convert IN.json OUT_DIR --to png [--palette-from DAVIS_ROOT]
"""


@click.command(name="convert", help=_HELP)
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("destination", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "target",
    type=click.Choice(["rle", "png"]),
    required=True,
    help="rle: PNG results folder -> JSON file; png: JSON file -> PNG results folder.",
)
@click.option(
    "--palette-from",
    type=click.Path(path_type=Path),
    default=None,
    help="With --to png: DAVIS root whose annotations' palettes the PNGs copy.",
)
def command(source: Path, destination: Path, target: str, palette_from: Path | None) -> None:
    """Convert a PNG results folder to COCO RLE JSON or back (help text: ``_HELP``)."""
    from vprop.benchmarks.davis import rle

    if target == "rle":
        if palette_from is not None:
            raise VpropError("--palette-from only applies to --to png")
        if not source.is_dir():
            raise VpropError("expected a results folder <seq>/<frame>.png", source)
        payload = rle.results_folder_to_rle(source)
        rle.write_rle_json(destination, payload)
        click.echo(
            f"wrote {destination}: {len(payload['videos'])} sequences, "
            f"{len(payload['annotations'])} masks"
        )
        return

    if not source.is_file():
        raise VpropError("expected an RLE JSON file", source)
    if palette_from is not None:
        check_outside_dataset(destination, palette_from, "DESTINATION")
    if destination.exists() and not destination.is_dir():
        raise VpropError("destination exists and is not a folder", destination)
    written = rle.write_png_folder(rle.read_rle_json(source), destination, palette_from)
    click.echo(f"wrote {written} PNG files under {destination}")
