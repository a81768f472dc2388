"""Frames to backbone inputs, and a batched, streaming feature extractor."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_model_input(rgb: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Convert an RGB frame to a normalised backbone input.

    The frame is scaled to [0, 1], resized bilinearly without antialiasing (like OpenCV's
    INTER_LINEAR on float images, which the reference code uses) and ImageNet-normalised.

    Args:
        rgb: uint8 array (H, W, 3).
        size: Target (height, width).

    Returns:
        float32 tensor (3, height, width).
    """
    pixels = torch.from_numpy(np.array(rgb, dtype=np.uint8, copy=True))  # (H, W, 3)
    image = pixels.permute(2, 0, 1).float() / 255.0
    if tuple(image.shape[1:]) != tuple(size):
        image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (image - mean) / std


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
