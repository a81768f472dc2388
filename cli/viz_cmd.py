"""`vprop viz`: the papers' figures.

`recon` (Fig. 3 reconstructions), `overlay` (Fig. 4 propagated masks / keypoints / parts),
`attention` (Fig. 5 CLS attention per head), `curve` (Fig. 6 loss, lr and J&F over pretraining).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from vprop.safety import FINITE, check_outside_dataset


@click.group(name="viz")
def command() -> None:
    """Draw the papers' figures from checkpoints and run folders."""


@command.command(name="recon")
@click.option("--ckpt", required=True, type=click.Path(path_type=Path),
              help="A vprop pretraining checkpoint (decoder included).")
@click.option("--data", required=True, help="Images / videos to draw the views from.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=Path("recon.png"),
              show_default=True, help="PNG to write.")
@click.option("--count", type=click.IntRange(min=1), default=8, show_default=True,
              help="Columns (samples).")
@click.option("--epoch", type=int, default=0, show_default=True,
              help="Draw the crops/masks of this epoch (changes the samples).")
@click.option("--mask-ratio", type=FINITE, default=None,
              help="Override the checkpoint's mask ratio.")
@click.option("--crop-strategy", default=None, help="Override the checkpoint's crop strategy.")
@click.option("--device", default="cpu", show_default=True)
def recon(ckpt: Path, data: str, out_path: Path, count: int, epoch: int,
          mask_ratio: float | None, crop_strategy: str | None, device: str) -> None:
    """Rows: view 1, view 2, masked view 2, reconstruction; one column per sample."""
    from vprop.cropmae import checkpointing, factory
    from vprop.cropmae.config import TrainConfig, resolve
    from vprop.cropmae.data import collate_pairs
    from vprop.cropmae.recon_viz import panel_image, reconstruct, write_png
    from vprop.cropmae.sources import discover
    from vprop.utils import resolve_device

    if Path(data).is_dir():
        check_outside_dataset(out_path, data)
    payload = checkpointing.load_checkpoint(ckpt)
    config = TrainConfig.from_json(payload.get("args", {}))
    changes = {"data": data, "resume": None}
    if mask_ratio is not None:
        changes["mask_ratio"] = mask_ratio
    if crop_strategy is not None:
        changes["crop_strategy"] = crop_strategy
    config = dataclasses.replace(config, **changes)
    source = discover(data, "auto", config.method)
    config = resolve(config, source.format)
    model = factory.build_model(config)
    checkpointing.import_model_state(model, payload["model"])
    model.to(resolve_device(device))
    dataset = factory.build_dataset(config, source)
    items = [dataset[(epoch, i)] for i in range(min(count, len(dataset)))]
    batch = collate_pairs(items)
    write_png(out_path, panel_image(reconstruct(model, batch["views"], batch["noise"])))
    click.echo(f"wrote {out_path}")


@command.command(name="overlay")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--sequence", default=None,
              help="DAVIS sequence, JHMDB clip or VIP video; default: the run's worst.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=Path("overlay.png"),
              show_default=True, help=".png/.jpg: a strip of frames; .mp4/.gif: every frame.")
@click.option("--frames", "count", type=click.IntRange(min=1), default=5, show_default=True,
              help="Frames in a strip (evenly spaced).")
@click.option("--with-gt", is_flag=True, help="Show the ground truth too.")
@click.option("--fps", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--width", type=click.IntRange(min=64), default=1600, show_default=True,
              help="Largest width in pixels.")
def overlay(run_dir: Path, sequence: str | None, out_path: Path, count: int, with_gt: bool,
            fps: int, width: int) -> None:
    """Predictions of a vprop eval RUN_DIR drawn over a sequence's frames (paper Fig. 4)."""
    from vprop.benchmarks.report.overlay import write_overlay
    from vprop.benchmarks.report.runs import load_run

    path = write_overlay(load_run(run_dir), sequence, out_path, count=count, with_gt=with_gt,
                         fps=fps, width=width)
    click.echo(f"wrote {path}")


@command.command(name="attention")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--ckpt", type=click.Path(path_type=Path), default=None,
              help="Checkpoint (any format vprop eval loads); default: random init.")
@click.option("--arch", default=None, help="Backbone name (default: from the checkpoint).")
@click.option("--ckpt-format", default="auto", show_default=True)
@click.option("--size", default=None, help="Backbone input HxW (default: long side 480).")
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              default=Path("attention.png"), show_default=True)
@click.option("--unsafe-load", is_flag=True,
              help="Accept arbitrary pickles in the checkpoint (runs code from the file!).")
@click.option("--device", default="cpu", show_default=True)
def attention(image: Path, ckpt: Path | None, arch: str | None, ckpt_format: str,
              size: str | None, out_path: Path, unsafe_load: bool, device: str) -> None:
    """CLS self-attention of the last block over IMAGE, one panel per head (paper Fig. 5)."""
    from vprop.benchmarks.report.attention import write_attention
    from vprop.benchmarks.sizes import parse_size
    from vprop.checkpoints import load_backbone
    from vprop.utils import resolve_device

    extractor = load_backbone(arch=arch, ckpt=ckpt, ckpt_format=ckpt_format,
                              unsafe_load=unsafe_load).to(resolve_device(device))
    result = write_attention(extractor, image, out_path, parse_size(size))
    click.echo(f"wrote {out_path} ({result.weights.shape[0]} heads, grid "
               f"{result.grid[0]}x{result.grid[1]})")


@command.command(name="curve")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=Path("curve.png"),
              show_default=True)
def curve(run_dirs: tuple[Path, ...], out_path: Path) -> None:
    """Loss, lr and DAVIS J&F over pretraining from RUN_DIRS' log.jsonl (paper Fig. 6)."""
    from vprop.benchmarks.report.plots import plot_curves, read_log
    from vprop.benchmarks.report.runs import unique_names

    names = unique_names(list(run_dirs))
    plot_curves([(name, read_log(path)) for name, path in zip(names, run_dirs)], out_path)
    click.echo(f"wrote {out_path}")
