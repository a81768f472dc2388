"""Every pretraining knob in one dataclass; defaults are the paper's (PROTOCOLS.md section 5).

Fields left as ``None`` depend on the method or the data and are filled by :func:`resolve`:
the mask ratio (0.985 CropMAE, 0.95 SiamMAE), the global crop scale ((0.1, 1) on still
images, (0.5, 1) on video frames and for SiamMAE's shared crop) and the warmup (5 % of the
epochs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vprop.benchmarks.settings import PRECISIONS
from vprop.cropmae.loggers import LOGGERS
from vprop.errors import VpropError

METHODS = ("cropmae", "siammae")
CROP_STRATEGIES: tuple[str, ...] = ("global-to-local", "local-to-global", "random", "same")
DATA_FORMATS: tuple[str, ...] = ("auto", "images", "videos", "frames")


@dataclass
class TrainConfig:
    """Resolved options of one pretraining run (see ``vprop pretrain --help``)."""

    # data
    data: str = ""
    output_dir: str = "runs/pretrain"
    method: str = "cropmae"
    data_format: str = "auto"
    video_backend: str = "pyav"
    subset: int | None = None
    # model
    arch: str = "vit_small_patch16_224"
    img_size: int = 224
    mask_ratio: float | None = None
    decoder_dim: int = 256
    decoder_depth: int = 4
    decoder_heads: int = 8
    decoder_ffn_dim: int = 2048
    decoder_dropout: float = 0.1
    norm_pix_loss: bool = True
    # views
    crop_strategy: str = "global-to-local"
    global_scale: tuple[float, float] | None = None
    local_scale: tuple[float, float] = (0.3, 0.6)
    aspect_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    flip_p: float = 0.5
    color_jitter: bool = False
    gaussian_blur: bool = False
    interpolation: str = "bilinear"
    frame_gap: tuple[int, int] = (4, 48)
    repeated_sampling: int = 1
    # optimisation
    epochs: int = 400
    batch_size: int = 128
    accum_iter: int = 1
    blr: float = 1e-4
    lr: float | None = None
    min_lr: float = 0.0
    warmup_epochs: float | None = None
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float | None = None
    precision: str = "auto"
    compile: bool = False
    # speed paths (none changes the result beyond rounding; see README "Pretraining speed")
    reduced_decode: bool = True
    gpu_decode: bool = False
    fused_attention: bool = True
    fused_adamw: bool = True
    channels_last: bool = False
    # run
    device: str = "auto"
    workers: int | None = None
    seed: int = 42
    save_every: int = 25
    save_every_steps: int = 0
    resume: str | None = None
    stop_after_steps: int | None = None
    log_every: int = 20
    progress: bool = True
    eval_davis: str | None = None
    eval_every: int = 50
    show_reconstructions: bool = False
    recon_count: int = 8
    logger: str = "jsonl"
    log_images_every: int = 10
    wandb_project: str = "vprop"
    derived: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_json` output (unknown keys ignored)."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, value in payload.items():
            if key in names:
                values[key] = tuple(value) if isinstance(value, list) else value
        return cls(**values)


def resolve(config: TrainConfig, data_format: str | None = None) -> TrainConfig:
    """Fill the method/data-dependent defaults and check the values.

    Args:
        config: Options as given (``None`` = use the default for this method/data).
        data_format: The format the data turned out to be (images/videos/frames).

    Returns:
        A new config with no ``None`` left among the method-dependent fields.
    """
    if config.method not in METHODS:
        raise VpropError(f"unknown method {config.method!r}; use one of {METHODS}")
    if config.precision not in PRECISIONS:
        raise VpropError(f"unknown precision {config.precision!r}; use one of {PRECISIONS}")
    changes: dict[str, Any] = {}
    if config.mask_ratio is None:
        changes["mask_ratio"] = 0.985 if config.method == "cropmae" else 0.95
    if config.global_scale is None:
        on_stills = config.method == "cropmae" and data_format in (None, "images")
        changes["global_scale"] = (0.1, 1.0) if on_stills else (0.5, 1.0)
    if config.warmup_epochs is None:
        changes["warmup_epochs"] = 0.05 * config.epochs
    out = dataclasses.replace(config, **changes)
    for name in ("epochs", "batch_size", "accum_iter", "repeated_sampling", "log_every",
                 "eval_every", "save_every"):
        if getattr(out, name) < 1:
            raise VpropError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0.0 <= out.mask_ratio < 1.0:
        raise VpropError(f"--mask-ratio must be in [0, 1), got {out.mask_ratio}")
    if out.frame_gap[0] < 1 or out.frame_gap[1] <= out.frame_gap[0]:
        raise VpropError(f"--frame-gap must be 1 <= low < high, got {out.frame_gap}")
    for name in ("global_scale", "local_scale", "aspect_ratio"):
        low, high = getattr(out, name)
        if not 0 < low <= high:
            raise VpropError(f"--{name.replace('_', '-')} must be 0 < min <= max")
    if out.decoder_heads < 1 or out.decoder_dim % out.decoder_heads:
        raise VpropError(f"--decoder-dim {out.decoder_dim} must be a multiple of "
                         f"--decoder-heads {out.decoder_heads}")
    if out.workers is not None and out.workers < 0:
        raise VpropError(f"--workers must be >= 0, got {out.workers}")
    if out.logger not in LOGGERS:
        raise VpropError(f"unknown --logger {out.logger!r}; use one of {', '.join(LOGGERS)}")
    if out.log_images_every < 0:
        raise VpropError(f"--log-images-every must be >= 0, got {out.log_images_every}")
    if out.recon_count < 1:
        raise VpropError(f"--recon-count must be at least 1, got {out.recon_count}")
    if out.gpu_decode and (out.method != "cropmae" or out.color_jitter or out.gaussian_blur):
        raise VpropError("--gpu-decode renders CropMAE views of JPEG images without colour "
                         "jitter or blur; drop it for this run")
    if out.crop_strategy not in CROP_STRATEGIES:
        raise VpropError(f"unknown crop strategy {out.crop_strategy!r}; use {CROP_STRATEGIES}")
    return out
