"""Frames to backbone inputs, and a batched, streaming feature extractor."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vprop.propagation.presets import IMAGENET_MEAN, IMAGENET_STD, INPUT_RESIZES  # noqa: F401
from vprop.timing import stage


def to_model_input(
    rgb: np.ndarray,
    size: tuple[int, int],
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    resize: str = "float",
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Convert an RGB frame to a normalised backbone input.

    Args:
        rgb: uint8 array (H, W, 3).
        size: Target (height, width).
        mean: Per-channel mean subtracted from the [0, 1] image.
        std: Per-channel standard deviation it is divided by.
        resize: ``float`` (CRW/CropMAE): scale to [0, 1] first, then resize bilinearly
            without antialiasing (as OpenCV's INTER_LINEAR on a float image). ``uint8``
            (DINO): ``cv2.resize`` (INTER_LINEAR, fixed-point, rounded) of the uint8 frame,
            then scale to [0, 1].
        device: Where the float conversion, resize and normalisation run (the uint8 frame
            is copied there first, from pinned memory on CUDA); ``cpu`` is the reference path.

    Returns:
        float32 tensor (3, height, width) on ``device``.
    """
    if resize not in INPUT_RESIZES:
        raise ValueError(f"unknown input resize {resize!r}; choose one of {INPUT_RESIZES}")
    pixels = np.array(rgb, dtype=np.uint8, copy=True)  # (H, W, 3)
    resized = tuple(pixels.shape[:2]) != tuple(size)
    if resize == "uint8" and resized:
        pixels = cv2.resize(pixels, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
    image = _to_device(torch.from_numpy(pixels), torch.device(device))
    image = image.permute(2, 0, 1).float() / 255.0
    if resize == "float" and resized:
        image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    mean_t = torch.tensor(mean, dtype=torch.float32, device=image.device).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=image.device).view(3, 1, 1)
    return (image - mean_t) / std_t


def _to_device(pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a host tensor to ``device`` (asynchronously from pinned memory on CUDA)."""
    if device.type == "cpu":
        return pixels
    if device.type == "cuda":
        return pixels.pin_memory().to(device, non_blocking=True)
    return pixels.to(device)


def stream_features(
    extractor: Callable[[torch.Tensor], torch.Tensor],
    frames: Iterable[torch.Tensor],
    batch_size: int = 4,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    autocast_dtype: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    """Compute features of a frame stream in small batches, yielding one map per frame.

    Only ``batch_size`` frames and their features are held at once, whatever the video length.

    Args:
        extractor: Maps (B, 3, H, W) normalised images to (B, D, h, w) L2-normalised features.
        frames: Iterable of (3, H, W) backbone inputs.
        batch_size: Frames per forward pass.
        device: Where the backbone runs.
        dtype: Dtype of the yielded features (float32, or float16/bfloat16 to halve memory).
        autocast_dtype: Run the backbone under autocast with this dtype (e.g. bfloat16 on GPU).

    Yields:
        (D, h, w) feature maps in frame order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    batch: list[torch.Tensor] = []

    def flush() -> Iterator[torch.Tensor]:
        images = torch.stack(batch).to(device, non_blocking=True)
        with torch.inference_mode(), torch.autocast(
            device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
        ):
            with stage("backbone", device):
                feats = extractor(images)
        feats = F.normalize(feats.float(), dim=1).to(dtype)  # re-normalise after autocast
        batch.clear()
        yield from feats

    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield from flush()
    if batch:
        yield from flush()
