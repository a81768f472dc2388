"""`vprop bench features`: dense-feature frames/s of backbones at the DAVIS input size."""

from __future__ import annotations

import json

import click

from vprop.benchmarks.sizes import parse_size
from vprop.cli.options import parse_autocast, precision_options


@click.command(name="features")
@click.option("--arch", "archs", multiple=True,
              default=("vit_small_patch16_224", "vit_small_patch14_reg4_dinov2", "resnet18"),
              show_default=True, help="Backbones (repeat the option).")
@click.option("--size", default="480x880", show_default=True, help="Protocol input size HxW.")
@click.option("--frames", type=int, default=8, show_default=True, help="Frames timed.")
@click.option("--batch-size", type=int, default=1, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@precision_options
def command(archs: tuple[str, ...], size: str, frames: int, batch_size: int, device: str,
            precision: str | None, amp: str | None) -> None:
    """Time the backbone forward alone (random weights) and print one JSON line per arch."""
    from vprop.benchmarks.feature_speed import feature_throughput
    from vprop.benchmarks.settings import resolve_autocast

    amp = resolve_autocast(parse_autocast(precision, amp), device)
    for arch in archs:
        report = feature_throughput(arch, parse_size(size), frames, batch_size, device, amp=amp)
        click.echo(json.dumps(report))
