"""Label maps between image resolution and the feature grid (down, up, argmax)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def one_hot(ids: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Return a float one-hot stack (C, H, W) from an (H, W) map of channel indices."""
    return F.one_hot(ids.long(), num_labels).permute(2, 0, 1).float()


def resize_ids(ids: torch.Tensor, size: tuple[int, int], exact: bool = False) -> torch.Tensor:
    """Nearest-neighbour resize of an (H, W) id map.

    Args:
        ids: (H, W) integer map.
        size: Output (height, width).
        exact: ``False`` maps output pixel x to ``floor(x * scale)`` (OpenCV INTER_NEAREST);
            ``True`` to ``floor((x + 0.5) * scale)`` (PIL NEAREST).

    Returns:
        (height, width) map of the same dtype.
    """
    if tuple(ids.shape) == tuple(size):
        return ids
    mode = "nearest-exact" if exact else "nearest"
    resized = F.interpolate(ids[None, None].float(), size=size, mode=mode)
    return resized[0, 0].to(ids.dtype)


def first_frame_labels(
    channels: torch.Tensor,
    num_labels: int,
    input_size: tuple[int, int],
    grid: tuple[int, int],
    mode: str,
) -> torch.Tensor:
    """Turn frame 0's label map into soft labels on the feature grid.

    Args:
        channels: (H, W) channel index per pixel at the original resolution.
        num_labels: Number of channels C.
        input_size: (height, width) the frames are resized to for the backbone.
        grid: (h, w) feature grid.
        mode: ``bilinear`` (CRW/CropMAE): nearest-resize to the input size, one-hot, then
            bilinear (no antialiasing) to the grid. ``nearest`` (DINO): PIL-style
            nearest-resize straight to the grid, then one-hot.

    Returns:
        (C, h, w) float soft labels.
    """
    if mode == "nearest":
        return one_hot(resize_ids(channels, grid, exact=True), num_labels)
    onehot = one_hot(resize_ids(channels, input_size), num_labels)  # (C, H_in, W_in)
    return F.interpolate(onehot[None], size=grid, mode="bilinear", align_corners=False)[0]


def decode_labels(
    soft: torch.Tensor,
    input_size: tuple[int, int],
    output_size: tuple[int, int],
    minmax: bool = False,
    exact_nearest: bool = False,
) -> torch.Tensor:
    """Upsample soft grid labels and take the argmax at the original resolution.

    Args:
        soft: (C, h, w) soft labels on the feature grid.
        input_size: (height, width) of the backbone input; the bilinear upsampling target.
        output_size: (height, width) of the original frame; the argmax is nearest-resized to it.
        minmax: Min-max normalise every upsampled channel before the argmax (DINO).
        exact_nearest: PIL-style (``True``) or OpenCV-style nearest for the final resize.

    Returns:
        (height, width) long tensor of channel indices.
    """
    up = F.interpolate(soft[None].float(), size=input_size, mode="bilinear", align_corners=False)[0]
    if minmax:
        flat = up.flatten(1)
        low, high = flat.min(dim=1).values, flat.max(dim=1).values
        up = (up - low[:, None, None]) / (high - low).clamp(min=1e-12)[:, None, None]
    return resize_ids(channel_argmax(up), output_size, exact=exact_nearest)


def channel_argmax(maps: torch.Tensor) -> torch.Tensor:
    """Argmax over the channel axis of (C, H, W) maps, first channel winning ties.

    Equal to ``maps.argmax(0)``, but a running comparison over the few channels is an order
    of magnitude faster on CPU than a strided reduction over the leading axis.
    """
    best = maps[0].clone()
    index = torch.zeros(maps.shape[1:], dtype=torch.long, device=maps.device)
    for channel in range(1, maps.shape[0]):
        better = maps[channel] > best
        index[better] = channel
        best = torch.where(better, maps[channel], best)
    return index
