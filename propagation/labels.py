"""Label maps between image resolution and the feature grid (down, up, argmax)."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vprop.propagation.presets import NEAREST_METHODS  # noqa: F401
from vprop.timing import stage

NearestMethod = Literal["opencv", "pil"]


def one_hot(ids: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Return a float one-hot stack (C, H, W) from an (H, W) map of channel indices."""
    return F.one_hot(ids.long(), num_labels).permute(2, 0, 1).float()


def resize_ids(
    ids: torch.Tensor, size: tuple[int, int], method: NearestMethod = "opencv"
) -> torch.Tensor:
    """Nearest-neighbour resize of an (H, W) id map, with the library the reference code used.

    The two libraries disagree where a source position falls exactly on a pixel boundary, so
    neither is emulated: each is called.

    Args:
        ids: (H, W) integer map (values below 2**31).
        size: Output (height, width).
        method: ``opencv`` is ``cv2.resize(..., INTER_NEAREST)`` (output x reads source
            ``floor(x * W_in / W_out)``; CRW/CropMAE). ``pil`` is ``PIL.Image.resize(...,
            NEAREST)`` (DINO, the VIP scorer): it samples the pixel centre
            ``(x + 0.5) * W_in / W_out``, but at an exact-integer position it reads the *lower*
            pixel (854 wide from 832: output column 640 reads source 623), where torch's
            ``nearest-exact`` (``floor((x + 0.5) * scale)``) reads 624.

    Returns:
        (height, width) map of the same dtype and device.
    """
    if tuple(ids.shape) == tuple(size):
        return ids
    if method not in NEAREST_METHODS:
        raise ValueError(f"unknown nearest method {method!r}; choose one of {NEAREST_METHODS}")
    source = ids.detach().cpu().numpy()
    narrow = source.astype(np.uint8 if source.max(initial=0) < 256 and source.min(initial=0) >= 0
                           else np.int32)
    height, width = int(size[0]), int(size[1])
    if method == "opencv":
        resized = cv2.resize(narrow, (width, height), interpolation=cv2.INTER_NEAREST)
    else:
        resized = np.asarray(Image.fromarray(narrow).resize((width, height), Image.NEAREST))
    return torch.from_numpy(resized.astype(source.dtype)).to(ids.device)


def first_frame_labels(
    channels: torch.Tensor,
    num_labels: int,
    input_size: tuple[int, int],
    grid: tuple[int, int],
    mode: str,
    nearest: NearestMethod = "opencv",
) -> torch.Tensor:
    """Turn frame 0's label map into soft labels on the feature grid.

    Args:
        channels: (H, W) channel index per pixel at the original resolution.
        num_labels: Number of channels C.
        input_size: (height, width) the frames are resized to for the backbone.
        grid: (h, w) feature grid.
        mode: ``bilinear`` (CRW/CropMAE): nearest-resize to the input size, one-hot, then
            bilinear (no antialiasing) to the grid. ``nearest`` (DINO): nearest-resize
            straight to the grid, then one-hot.
        nearest: Library of the nearest resizes (:func:`resize_ids`).

    Returns:
        (C, h, w) float soft labels.
    """
    if mode == "nearest":
        return one_hot(resize_ids(channels, grid, nearest), num_labels)
    onehot = one_hot(resize_ids(channels, input_size, nearest), num_labels)  # (C, H_in, W_in)
    return F.interpolate(onehot[None], size=grid, mode="bilinear", align_corners=False)[0]


def decode_labels(
    soft: torch.Tensor,
    input_size: tuple[int, int],
    output_size: tuple[int, int],
    minmax: bool = False,
    nearest: NearestMethod = "opencv",
) -> torch.Tensor:
    """Upsample soft grid labels and take the argmax at the original resolution.

    Args:
        soft: (C, h, w) soft labels on the feature grid.
        input_size: (height, width) of the backbone input; the bilinear upsampling target.
        output_size: (height, width) of the original frame; the argmax is nearest-resized to it.
        minmax: Min-max normalise every upsampled channel before the argmax (DINO).
        nearest: Library of the final nearest resize (:func:`resize_ids`).

    Returns:
        (height, width) long tensor of channel indices, on the host: the upsampling and the
        argmax run where ``soft`` lives (e.g. the GPU); only the label map is copied back.
    """
    with stage("upsample", soft.device):
        up = F.interpolate(soft[None].float(), size=input_size, mode="bilinear",
                           align_corners=False)[0]
        if minmax:
            flat = up.flatten(1)
            low, high = flat.min(dim=1).values, flat.max(dim=1).values
            up = (up - low[:, None, None]) / (high - low).clamp(min=1e-12)[:, None, None]
        return resize_ids(channel_argmax(up).cpu(), output_size, nearest)


def channel_argmax(maps: torch.Tensor) -> torch.Tensor:
    """Argmax over the channel axis of (C, H, W) maps, first channel winning ties.

    Equal to ``maps.argmax(0)``, but a running comparison over the few channels is an order
    of magnitude faster on CPU than a strided reduction over the leading axis (and, without
    boolean indexing, never waits for a GPU).
    """
    best = maps[0].clone()
    index = torch.zeros(maps.shape[1:], dtype=torch.long, device=maps.device)
    for channel in range(1, maps.shape[0]):
        better = maps[channel] > best
        index.masked_fill_(better, channel)
        best = torch.where(better, maps[channel], best)
    return index
