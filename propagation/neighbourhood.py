"""Spatial neighbourhood masks on the feature grid."""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=8)
def _cached_mask(height: int, width: int, radius: float, shape: str) -> torch.Tensor:
    rows = torch.arange(height).repeat_interleave(width).float()  # (M,) row of each cell
    cols = torch.arange(width).repeat(height).float()  # (M,)
    d_row = rows[:, None] - rows[None, :]  # (M, M)
    d_col = cols[:, None] - cols[None, :]
    if shape == "circle":
        return (d_row**2 + d_col**2).sqrt() < radius
    return torch.maximum(d_row.abs(), d_col.abs()) <= radius


def neighbourhood_mask(
    height: int, width: int, radius: float, shape: str, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Return which context cells each query cell may attend to.

    Args:
        height: Feature-grid rows.
        width: Feature-grid columns.
        radius: Radius in cells; ``<= 0`` means no restriction (all True).
        shape: ``circle`` keeps cells at Euclidean distance ``< radius`` (CRW/CropMAE);
            ``square`` keeps Chebyshev distance ``<= radius`` (DINO).
        device: Where the mask is returned.

    Returns:
        Bool tensor (M, M), M = height * width, row = query cell, column = context cell,
        both in row-major order.
    """
    if radius <= 0:
        return torch.ones(height * width, height * width, dtype=torch.bool, device=device)
    return _cached_mask(height, width, float(radius), shape).to(device)
