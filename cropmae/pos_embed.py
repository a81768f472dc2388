"""Fixed 2-D sine-cosine position embeddings (MAE convention)."""

from __future__ import annotations

import torch


def _sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(M,) positions -> (M, dim): sin of the first dim/2 frequencies, then cos."""
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega  # (dim/2,)
    angles = positions.reshape(-1, 1).double() * omega.reshape(1, -1)  # (M, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d(dim: int, grid_h: int, grid_w: int, cls_token: bool = True) -> torch.Tensor:
    """2-D sin-cos embedding of a grid, row-major, with an optional all-zero CLS entry first.

    As in MAE, the first dim/2 channels embed the column index (x) and the last dim/2 the
    row index (y); each half is [sin(p * w_k), cos(p * w_k)] with w_k = 10000^(-k/(dim/4)).

    Args:
        dim: Embedding size, a multiple of 4.
        grid_h: Rows of patches.
        grid_w: Columns of patches.
        cls_token: Prepend a zero vector for the CLS token.

    Returns:
        (1 + grid_h * grid_w, dim) if ``cls_token`` else (grid_h * grid_w, dim), float32.
    """
    if dim % 4:
        raise ValueError(f"sin-cos embedding needs a dimension divisible by 4, got {dim}")
    rows, cols = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float64), torch.arange(grid_w, dtype=torch.float64),
        indexing="ij",
    )
    emb = torch.cat([_sincos_1d(dim // 2, cols), _sincos_1d(dim // 2, rows)], dim=1)
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim, dtype=emb.dtype), emb], dim=0)
    return emb.float()
