"""`vprop viz`: figures. `vprop viz recon` draws the CropMAE paper's Fig. 3 panel."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from vprop.safety import FINITE, check_outside_dataset


@click.group(name="viz")
def command() -> None:
    """Draw figures from checkpoints."""


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
