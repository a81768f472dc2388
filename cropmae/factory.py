"""Build the pieces of a run from a :class:`TrainConfig`: data, model, optimiser, precision."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from timm.optim import param_groups_weight_decay
from torch.utils.data import DataLoader
from torchvision.transforms.v2 import InterpolationMode

from vprop.checkpoints.registry import arch_info, create_vit
from vprop.cropmae.config import TrainConfig
from vprop.cropmae.crops import CropPairSampler, FramePairSampler, PhotometricAugment
from vprop.cropmae.data import EpochSampler, PairDataset, collate_pairs
from vprop.cropmae.model import SiameseMAE
from vprop.cropmae.sources import DataSource
from vprop.errors import VpropError


def pair_sampler(config: TrainConfig) -> CropPairSampler | FramePairSampler:
    """The view-pair sampler the config asks for."""
    augment = PhotometricAugment(config.color_jitter, config.gaussian_blur)
    interpolation = InterpolationMode(config.interpolation)
    if config.method == "siammae":
        return FramePairSampler(config.img_size, tuple(config.global_scale),
                                tuple(config.aspect_ratio), config.flip_p, interpolation, augment)
    return CropPairSampler(config.crop_strategy, config.img_size, tuple(config.global_scale),
                           tuple(config.local_scale), tuple(config.aspect_ratio), config.flip_p,
                           interpolation, augment)


def subset_source(source: DataSource, size: int | None, seed: int) -> DataSource:
    """A seeded random subset of ``size`` items (the paper's "IN subset"), kept in order."""
    if size is None or size >= len(source.clips):
        return source
    chosen = np.sort(np.random.default_rng(seed).choice(len(source.clips), size, replace=False))
    return DataSource(source.format, source.root, tuple(source.clips[i] for i in chosen))


def build_dataset(config: TrainConfig, source: DataSource) -> PairDataset:
    """The pair dataset for a resolved config."""
    info = arch_info(config.arch)
    if info.family != "vit":
        raise VpropError(f"--arch {config.arch}: CropMAE/SiamMAE pretrain ViTs; it is a "
                         f"{info.family.upper()}")
    patch = info.patch_size
    if config.img_size % patch:
        raise VpropError(f"--img-size {config.img_size} is not a multiple of the patch {patch}")
    return PairDataset(
        source=source, method=config.method, pair_sampler=pair_sampler(config),
        num_patches=(config.img_size // patch) ** 2, seed=config.seed,
        repeats=config.repeated_sampling, video_backend=config.video_backend,
        gap_range=tuple(config.frame_gap), reduced_decode=config.reduced_decode,
        gpu_decode=config.gpu_decode,
    )


def build_loader(dataset: PairDataset, sampler: EpochSampler, batch_size: int, workers: int,
                 pin_memory: bool) -> DataLoader:
    """A DataLoader of uint8 view pairs; worker RNG is irrelevant (samples are seeded).

    With ``dataset.gpu_decode`` the workers ship JPEG bytes and the views are decoded and
    cropped on the current CUDA device (:mod:`vprop.cropmae.device_decode`).
    """
    collate = collate_pairs
    if dataset.gpu_decode:
        from vprop.cropmae.device_decode import DeviceViewsLoader, collate_encoded

        if dataset.source.format != "images" or not torch.cuda.is_available():
            raise VpropError("--gpu-decode needs a CUDA device and an image folder")
        collate = collate_encoded
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
        collate_fn=collate, pin_memory=pin_memory, drop_last=True,
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
    )
    if dataset.gpu_decode:
        device = torch.device("cuda", torch.cuda.current_device())
        return DeviceViewsLoader(loader, dataset.pair_sampler, device)
    return loader


def build_model(config: TrainConfig) -> SiameseMAE:
    """Siamese MAE around a registry ViT built for ``img_size``."""
    encoder = create_vit(config.arch, img_size=config.img_size)
    model = SiameseMAE(
        encoder, mask_ratio=config.mask_ratio, decoder_dim=config.decoder_dim,
        decoder_depth=config.decoder_depth, decoder_heads=config.decoder_heads,
        decoder_ffn_dim=config.decoder_ffn_dim, decoder_dropout=config.decoder_dropout,
        norm_pix_loss=config.norm_pix_loss,
    )
    model.set_fast_paths(config.fused_attention, config.channels_last)
    return model


def build_optimizer(model: torch.nn.Module, config: TrainConfig,
                    device: torch.device) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and 1-D parameters; frozen tensors excluded."""
    groups = param_groups_weight_decay(model, config.weight_decay)
    fused = config.fused_adamw and device.type == "cuda"
    return torch.optim.AdamW(groups, lr=0.0, betas=tuple(config.betas), fused=fused)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 on a GPU that supports it, else fp16 on GPU, fp32 on CPU."""
    if precision != "auto":
        if precision == "fp16" and device.type != "cuda":
            raise VpropError("fp16 autocast needs a GPU; use --precision fp32 or bf16 on CPU")
        return precision
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def configure_backends(device: torch.device) -> None:
    """On GPUs: TF32 matmuls for the fp32 parts and cuDNN autotuning (fixed input shapes)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def autocast_context(precision: str, device: torch.device):
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
