"""JHMDB keypoints <-> label maps on the feature grid (PROTOCOLS.md sections 3 and 7).

Encoding follows the CRW/CropMAE reference exactly: each joint becomes an unnormalised Gaussian
(peak 1) drawn on a small patch whose peak sits on the integer cell ``int(p - 3 sigma) +
(6 sigma + 1) // 2`` (``int(p - 1.5) + 2`` for sigma 0.5; ``int`` truncates toward zero),
and channel 0 is the background (1 where every joint map is 0). Decoding takes the top-k cells
of every joint channel and their value-weighted mean position; a channel summing to 0 is
invisible. Grid units map to pixels as ``x / grid_w * W`` (no half-cell offset).

Nothing here depends on the grid being 20x20: the grid is ``input_size // patch_size``
(20x20 for 320x320 at patch 16, 40x40 at patch 8) and sigma stays 0.5 grid cells.
"""

from __future__ import annotations

import numpy as np
import torch

SIGMA = 0.5  # Gaussian width in grid cells (CRW/CropMAE)


def pixels_to_grid(
    joints: np.ndarray,
    frame_size: tuple[int, int],
    input_size: tuple[int, int],
    patch_size: int,
) -> np.ndarray:
    """Scale 0-based pixel coordinates into feature-grid units.

    Same arithmetic and order as the reference: ``x * in_w / W / patch``.

    Args:
        joints: (J, 2) float (x, y) pixel coordinates in the original frame.
        frame_size: Original (height, width).
        input_size: Backbone input (height, width) the frame is resized to.
        patch_size: Backbone patch size.

    Returns:
        (J, 2) float64 (x, y) in grid cells.
    """
    grid = np.array(joints, dtype=np.float64, copy=True)
    grid[:, 0] = grid[:, 0] * float(input_size[1]) / float(frame_size[1]) / patch_size
    grid[:, 1] = grid[:, 1] * float(input_size[0]) / float(frame_size[0]) / patch_size
    return grid


def grid_to_pixels(
    grid_xy: np.ndarray, grid: tuple[int, int], frame_size: tuple[int, int]
) -> np.ndarray:
    """Map grid coordinates to pixels of the original frame: ``x / grid_w * W``.

    Args:
        grid_xy: (..., 2) (x, y) in grid cells.
        grid: Feature grid (rows, columns).
        frame_size: Original (height, width).

    Returns:
        (..., 2) float64 pixel coordinates.
    """
    pixels = np.array(grid_xy, dtype=np.float64, copy=True)
    pixels[..., 0] = pixels[..., 0] / float(grid[1]) * frame_size[1]
    pixels[..., 1] = pixels[..., 1] / float(grid[0]) * frame_size[0]
    return pixels


def draw_gaussian(heatmap: np.ndarray, point: np.ndarray, sigma: float = SIGMA) -> None:
    """Write an unnormalised Gaussian (peak 1) around ``point`` into ``heatmap`` in place.

    The kernel is ``ceil(6 sigma + 1)`` cells wide with its peak at index
    ``(6 sigma + 1) // 2``; its top-left cell is ``int(p - 3 sigma)`` (truncation toward
    zero, as the reference does), and it is clipped at the map border. Nothing is drawn when
    the kernel lies entirely outside the map.

    Args:
        heatmap: (h, w) float map, modified in place.
        point: (x, y) in grid cells.
        sigma: Gaussian standard deviation in cells.
    """
    height, width = heatmap.shape
    left, top = int(point[0] - 3 * sigma), int(point[1] - 3 * sigma)
    right, bottom = int(point[0] + 3 * sigma + 1), int(point[1] + 3 * sigma + 1)
    if left >= width or top >= height or right < 0 or bottom < 0:
        return
    size = 6 * sigma + 1
    offsets = np.arange(0, size, 1, dtype=np.float64)
    centre = size // 2
    kernel = np.exp(
        -((offsets[None, :] - centre) ** 2 + (offsets[:, None] - centre) ** 2) / (2 * sigma**2)
    )  # (k, k)
    k_x = max(0, -left), min(right, width) - left
    k_y = max(0, -top), min(bottom, height) - top
    m_x = max(0, left), min(right, width)
    m_y = max(0, top), min(bottom, height)
    heatmap[m_y[0] : m_y[1], m_x[0] : m_x[1]] = kernel[k_y[0] : k_y[1], k_x[0] : k_x[1]]


def joint_label_maps(
    grid_xy: np.ndarray, grid: tuple[int, int], sigma: float = SIGMA
) -> torch.Tensor:
    """Build the first-frame label maps: background + one Gaussian channel per joint.

    Args:
        grid_xy: (J, 2) joint (x, y) positions in grid cells.
        grid: Feature grid (rows, columns).
        sigma: Gaussian standard deviation in cells.

    Returns:
        (J + 1, h, w) float32 tensor; channel 0 is 1 where every joint channel is 0.
    """
    maps = np.zeros((len(grid_xy), *grid), dtype=np.float64)  # (J, h, w)
    for joint, point in enumerate(grid_xy):
        draw_gaussian(maps[joint], point, sigma)
    background = (maps.sum(axis=0) == 0).astype(np.float64)[None]  # (1, h, w)
    return torch.from_numpy(np.concatenate([background, maps])).float()


def decode_keypoints(soft: torch.Tensor, topk: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Read joint positions off propagated soft label maps.

    Args:
        soft: (J + 1, h, w) soft labels, channel 0 = background (dropped).
        topk: Cells averaged per joint (5 in CropMAE's code, 3 in CRW's).

    Returns:
        (xy, visible): (J, 2) float64 (x = column, y = row) in grid cells, -1 where
        invisible; (J,) bool, False where a joint's map sums to 0.
    """
    joints = soft[1:].float()  # (J, h, w)
    width = joints.shape[2]
    flat = joints.flatten(1)  # (J, h*w)
    k = min(topk, flat.shape[1])
    values, index = flat.topk(k, dim=1)  # (J, k)
    weights = values / values.sum(dim=1, keepdim=True)  # (J, k); NaN rows are invisible
    x = ((index % width).float() * weights).sum(dim=1)  # (J,)
    y = ((index // width).float() * weights).sum(dim=1)  # (J,)
    visible = (flat.sum(dim=1) != 0).cpu().numpy()
    xy = torch.stack([x, y], dim=1).cpu().numpy().astype(np.float64)  # (J, 2)
    xy[~visible] = -1.0
    return xy, visible
