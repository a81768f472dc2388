"""`vprop prepare`: write derived copies of datasets (never into the source)."""

from __future__ import annotations

from pathlib import Path

import click

from vprop.errors import VpropError


@click.group(name="prepare")
def command() -> None:
    """Prepare dataset copies for a paper's protocol."""


@command.command(name="davis")
@click.option("--resize", required=True,
              help="HxW of the copy, e.g. 480x880 (the CropMAE/SiamMAE DAVIS_480_880 copy).")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
def davis(resize: str, src: Path, dst: Path) -> None:
    """Write DAVIS SRC resized to HxW under DST in the official layout.

    Frames: the CropMAE loader's resize (OpenCV bilinear), JPEG quality 100; annotations:
    OpenCV nearest, palette kept. The official evaluator then scores predictions written with
    `vprop eval --score-size HxW` unchanged. SRC is never written to.
    """
    from vprop.benchmarks.davis.prepare import prepare_resized
    from vprop.benchmarks.sizes import parse_size

    try:
        size = parse_size(resize)
    except VpropError as error:
        raise VpropError(f"--resize: {error}") from None
    counts = prepare_resized(src, dst, size)
    click.echo(f"wrote {counts['sequences']} sequences ({counts['frames']} frames, "
               f"{counts['annotations']} annotations) at {size[1]}x{size[0]} under {dst}")
