"""`vprop bench eval`: frames/s, per-stage split, ratio to the backbone alone, peak memory."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from vprop.benchmarks.settings import AFFINITY_MODES
from vprop.cli.options import parse_autocast, precision_options
from vprop.errors import VpropError


@click.command(name="eval")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="DAVIS root for the throughput run (e.g. ../shared/data/davis-mini/DAVIS); "
                   "required unless --skip-throughput.")
@click.option("--sequences", default="blackswan", show_default=True)
@click.option("--arch", default="vit_small_patch16_224", show_default=True)
@click.option("--ckpt", default=None, help="Checkpoint (random init if absent: same speed).")
@click.option("--memory-arch", default="vit_test_patch16", show_default=True,
              help="Backbone for the long-vs-short video memory runs.")
@click.option("--long-frames", type=int, default=500, show_default=True)
@click.option("--short-frames", type=int, default=50, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@precision_options
@click.option("--feature-dtype", default="float32", show_default=True)
@click.option("--affinity", type=click.Choice(AFFINITY_MODES), default="exact",
              show_default=True)
@click.option("--cpu-workers", type=click.IntRange(min=1), default=None,
              help="CPU threads sharing the cores between frames and bands (default: torch's "
                   "thread count; 1: torch's own intra-op threads).")
@click.option("--skip-memory", is_flag=True, help="Only the throughput run.")
@click.option("--skip-throughput", is_flag=True, help="Only the memory runs.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the JSON here.")
@click.option("--full-scale", is_flag=True,
              help="Throughput on a generated full-scale synthetic DAVIS val (30 sequences, "
                   "1,999 frames at 854x480, 1-5 objects) instead of --data-root.")
@click.option("--full-scale-sequences", type=click.IntRange(1, 30), default=None,
              help="With --full-scale: only the first N sequences (quick checks). --sequences is "
                   "ignored with --full-scale.")
@click.option("--nproc", type=click.IntRange(min=1), default=None,
              help="Run the throughput measurement as `torchrun --nproc_per_node N ... eval` "
                   "(peak RSS per rank).")
def command(data_root: Path, sequences: str, arch: str, ckpt: str | None, memory_arch: str,
            long_frames: int, short_frames: int, device: str, batch_size: int,
            precision: str | None, amp: str | None,
            feature_dtype: str, affinity: str, cpu_workers: int | None, skip_memory: bool,
            skip_throughput: bool, out: Path | None, full_scale: bool,
            full_scale_sequences: int | None, nproc: int | None) -> None:
    """Measure `vprop eval` at the cropmae preset (each run in a fresh process)."""
    if full_scale and data_root is not None:
        raise VpropError("--full-scale: replaces --data-root; give one of the two")
    scale = tempfile.TemporaryDirectory() if full_scale else None
    if scale is not None:  # the full-scale sample lives until the command ends
        from vprop.benchmarks.davis.synthetic import make_full_scale_sample

        data_root = make_full_scale_sample(Path(scale.name), full_scale_sequences)
        sequences = ""
    if not skip_throughput:
        if data_root is None:
            raise VpropError("--data-root: required for the throughput run (a DAVIS root, "
                             "e.g. ../shared/data/davis-mini/DAVIS), or pass --skip-throughput")
        if not (data_root / "JPEGImages").is_dir():
            raise VpropError("not a DAVIS root (no JPEGImages/ folder)", data_root)
    from vprop.benchmarks.davis.synthetic import make_long_sample
    from vprop.benchmarks.speed import format_split, measure_in_subprocess

    common = {"device": device, "batch_size": batch_size, "amp": parse_autocast(precision, amp),
              "feature_dtype": feature_dtype, "affinity": affinity}
    report = {}
    if not skip_throughput and nproc is not None:
        from vprop.benchmarks.scaling import measure_torchrun_eval

        report["throughput"] = measure_torchrun_eval(data_root, sequences, nproc, arch, ckpt,
                                                     **common)
        click.echo(json.dumps(report["throughput"], indent=2))
    elif not skip_throughput:
        report["throughput"] = measure_in_subprocess(
            data_root=data_root, sequences=sequences.split(",") if sequences else None,
            arch=arch, ckpt=ckpt, cpu_workers=cpu_workers, **common)
        click.echo(json.dumps(report["throughput"], indent=2))
        click.echo(format_split(report["throughput"]))
    if not skip_memory:
        with tempfile.TemporaryDirectory() as tmp:
            for label, frames in (("short", short_frames), ("long", long_frames)):
                root = make_long_sample(Path(tmp) / label, frames)
                report[f"memory_{label}"] = measure_in_subprocess(
                    data_root=root, sequences=None, arch=memory_arch, ckpt=None,
                    compare_backbone=False, **common)
                click.echo(json.dumps(report[f"memory_{label}"], indent=2))
        key = "peak_cuda_mib" if "peak_cuda_mib" in report["memory_long"] else "peak_rss_mib"
        report["long_over_short_peak"] = report["memory_long"][key] / report["memory_short"][key]
        click.echo(f"peak memory long/short ({key}): {report['long_over_short_peak']:.3f}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
