"""`vprop bench pretrain`: pretraining throughput (model, data pipeline, end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vprop.cropmae.config import METHODS, PRECISIONS, TrainConfig
from vprop.utils import atomic_write_json


@click.command(name="pretrain")
@click.option("--arch", "archs", multiple=True, default=("vit_test_patch16", "vits16"),
              show_default=True, help="Backbone(s) to measure (repeat the flag).")
@click.option("--method", type=click.Choice(METHODS), default="cropmae", show_default=True)
@click.option("--data", default=None,
              help="Data for the data-only and end-to-end figures (skipped when absent).")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--img-size", type=int, default=224, show_default=True)
@click.option("--steps", type=int, default=20, show_default=True, help="Timed steps.")
@click.option("--warmup", type=int, default=3, show_default=True, help="Untimed steps first.")
@click.option("--data-batches", type=int, default=None,
              help="Timed loader batches [default: --steps].")
@click.option("--workers", type=int, default=None, help="Loader workers [default: CPUs - 1].")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True)
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--device", default="auto", show_default=True, help="auto, cuda or cpu.")
@click.option("--no-end-to-end", is_flag=True, help="Skip the model+loader measurement.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Also write the results here.")
def command(archs, method, data, batch_size, img_size, steps, warmup, data_batches, workers,
            precision, compile_, device, no_end_to_end, json_path) -> None:
    """Measure images/s of CropMAE/SiamMAE training and of its data pipeline."""
    from vprop.cropmae.bench import run_benchmark
    from vprop.cropmae.data import default_workers

    results = []
    for arch in archs:
        config = TrainConfig(
            data=data or "", method=method, arch=arch, img_size=img_size,
            batch_size=batch_size, precision=precision, compile=compile_, device=device,
            workers=default_workers() if workers is None else workers,
        )
        report = run_benchmark(config, steps, warmup, data_batches or steps,
                               end_to_end=not no_end_to_end)
        results.append(report)
        line = (f"{arch:>24} {report['device_name']}: model {report['model']['images_per_s']:.1f}"
                f" img/s ({report['model']['precision']}, batch {batch_size})")
        if "data" in report:
            line += (f", data {report['data']['images_per_s']:.1f} img/s "
                     f"({report['data']['workers']} workers, "
                     f"x{report['data_to_model_ratio']:.2f} the model)")
        if "end_to_end" in report:
            line += f", end-to-end {report['end_to_end']['images_per_s']:.1f} img/s"
        click.echo(line)
    payload = {"benchmark": "pretrain", "results": results}
    if json_path is not None:
        atomic_write_json(json_path, payload)
    click.echo(json.dumps(payload, indent=2))
