"""`vprop bench pretrain`: pretraining throughput (model, data pipeline, end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vprop.benchmarks.settings import PRECISIONS
from vprop.cli.aliases import option_with_alias, take
from vprop.cropmae.config import METHODS, TrainConfig
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
@click.option("--no-model", is_flag=True,
              help="Only the data pipeline (no model, FLOPs or end-to-end figures).")
@click.option("--reduced-decode/--no-reduced-decode", default=True, show_default=True,
              help="JPEG DCT-domain decoding at the scale the crop needs.")
@click.option("--gpu-decode", is_flag=True, help="Decode and crop JPEGs on the GPU.")
@click.option("--fused-attention/--no-fused-attention", default=True, show_default=True,
              help="SDPA attention kernels in encoder and decoder.")
@click.option("--fused-adamw/--no-fused-adamw", default=True, show_default=True,
              help="Fused AdamW on CUDA.")
@click.option("--channels-last/--no-channels-last", default=False, show_default=True,
              help="Channels-last views for the patch embedding.")
@option_with_alias("--out", "--json", "json_path", type=click.Path(path_type=Path),
                   help="Also write the results (JSON) here.")
def command(archs, method, data, batch_size, img_size, steps, warmup, data_batches, workers,
            precision, compile_, device, no_end_to_end, no_model, reduced_decode, gpu_decode,
            fused_attention, fused_adamw, channels_last, **out) -> None:
    """Measure images/s of CropMAE/SiamMAE training and of its data pipeline.

    Prints model-only, data-only and end-to-end images/s (samples: one CropMAE image or
    one SiamMAE frame pair per sample), the loader's images/s per worker, the share of
    end-to-end time lost to waiting for data, and the forward GFLOPs per pair.
    """
    from vprop.cropmae.bench import run_benchmark
    from vprop.cropmae.data import default_workers

    json_path, _ = take(out, "json_path", "--out", "--json")
    results = []
    for arch in archs:
        config = TrainConfig(
            data=data or "", method=method, arch=arch, img_size=img_size,
            batch_size=batch_size, precision=precision, compile=compile_, device=device,
            workers=default_workers() if workers is None else workers,
            reduced_decode=reduced_decode, gpu_decode=gpu_decode,
            fused_attention=fused_attention,
            fused_adamw=fused_adamw, channels_last=channels_last,
        )
        report = run_benchmark(config, steps, warmup, data_batches or steps,
                               end_to_end=not no_end_to_end, model=not no_model)
        results.append(report)
        click.echo(_summary(arch, report, batch_size))
    payload = {"benchmark": "pretrain", "results": results}
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(json_path, payload)
    click.echo(json.dumps(payload, indent=2))


def _summary(arch: str, report: dict, batch_size: int) -> str:
    """One human-readable line per configuration."""
    line = f"{arch:>24} {report['method']} {report['device_name']}:"
    if "model" in report:
        flops = report["flops_per_pair"]
        line += (f" model {report['model']['images_per_s']:.1f} img/s "
                 f"({report['model']['precision']}, batch {batch_size}),"
                 f" {flops['forward_gflops']:.2f} GFLOPs = {flops['forward_gmacs']:.2f} GMACs"
                 f" forward per pair;")
    if "data" in report:
        data = report["data"]
        line += (f" data {data['images_per_s']:.1f} img/s ({data['workers']} workers, "
                 f"{data['images_per_s_per_worker']:.1f} per worker)")
    if "end_to_end" in report:
        e2e = report["end_to_end"]
        line += (f"; end-to-end {e2e['images_per_s']:.1f} img/s, host waiting for data "
                 f"{100 * e2e['host_wait_frac']:.1f}% of the time, "
                 f"{100 * e2e['lost_to_data_frac']:.1f}% of the model-only rate lost")
    return line.rstrip(";")
