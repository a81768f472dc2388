"""Resampling of absolute position embeddings to an input's patch grid.

Two modes:

* ``'dino'`` (default): what DINO's ``interpolate_pos_encoding`` and the CropMAE/SiamMAE
  propagation code do. The ``gh x gw`` patch grid is resized bicubically with
  ``F.interpolate(grid, scale_factor=((h + 0.1) / gh, (w + 0.1) / gw), mode='bicubic',
  align_corners=False)`` (a scale factor, not a size, so the sampling positions differ slightly
  from an exact resize), and the class-token embedding is kept. When the input image is square
  and its grid equals the pretraining grid, the embedding is used unchanged (as the reference
  code does).
* ``'exact'``: timm's ``resample_abs_pos_embed`` to exactly ``(h, w)`` (bicubic, antialiased).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed

from vprop.errors import VpropError

POS_EMBED_MODES = ("dino", "exact")


def check_pos_embed_mode(mode: str) -> str:
    """Return ``mode`` if it is a known position-embedding mode, else raise VpropError."""
    if mode not in POS_EMBED_MODES:
        raise VpropError(
            f"unknown pos_embed mode {mode!r}; choose one of: {', '.join(POS_EMBED_MODES)}"
        )
    return mode


def dino_resample(
    pos_embed: torch.Tensor,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
    num_prefix_tokens: int = 1,
    square_input: bool = False,
) -> torch.Tensor:
    """Resize a position embedding the way DINO / CropMAE evaluation code does.

    Args:
        pos_embed: [1, P + gh*gw, D] embedding (P prefix tokens first).
        old_grid: (gh, gw) grid the embedding was trained on.
        new_grid: (h, w) input patch grid, h = H // patch, w = W // patch.
        num_prefix_tokens: P, the leading tokens (class token) kept as they are.
        square_input: The input image has H == W; with ``new_grid == old_grid`` the embedding
            is then returned unchanged (the reference skips interpolation in that case only).

    Returns:
        [1, P + h*w, D] float32 embedding.
    """
    gh, gw = old_grid
    h, w = new_grid
    pos_embed = pos_embed.float()
    if square_input and (h, w) == (gh, gw):
        return pos_embed
    prefix, patches = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = patches.shape[-1]
    grid = patches.reshape(1, gh, gw, dim).permute(0, 3, 1, 2)  # [1, D, gh, gw]
    grid = F.interpolate(
        grid,
        scale_factor=((h + 0.1) / gh, (w + 0.1) / gw),
        mode="bicubic",
        align_corners=False,
    )  # [1, D, h, w]
    if tuple(grid.shape[-2:]) != (h, w):  # cannot happen for grids below ~1e6 cells
        raise VpropError(f"position embedding resized to {tuple(grid.shape[-2:])}, not {(h, w)}")
    patches = grid.permute(0, 2, 3, 1).reshape(1, h * w, dim)
    return torch.cat([prefix, patches], dim=1)


def exact_resample(
    pos_embed: torch.Tensor,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
    num_prefix_tokens: int = 1,
) -> torch.Tensor:
    """Resize a position embedding to exactly ``new_grid`` with timm's resampler.

    Args:
        pos_embed: [1, P + gh*gw, D] embedding.
        old_grid: (gh, gw) training grid.
        new_grid: (h, w) target grid.
        num_prefix_tokens: P, leading tokens kept unchanged.

    Returns:
        [1, P + h*w, D] float32 embedding.
    """
    return resample_abs_pos_embed(
        pos_embed.float(),
        new_size=list(new_grid),
        old_size=list(old_grid),
        num_prefix_tokens=num_prefix_tokens,
    )


def resample_pos_embed(
    mode: str,
    pos_embed: torch.Tensor,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
    num_prefix_tokens: int = 1,
    square_input: bool = False,
) -> torch.Tensor:
    """Dispatch to :func:`dino_resample` or :func:`exact_resample` by ``mode``."""
    if check_pos_embed_mode(mode) == "dino":
        return dino_resample(pos_embed, old_grid, new_grid, num_prefix_tokens, square_input)
    return exact_resample(pos_embed, old_grid, new_grid, num_prefix_tokens)
