"""MAE-style random masking of a token sequence, and patchify helpers for the pixel loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def num_visible_patches(num_patches: int, mask_ratio: float) -> int:
    """Number of patches kept visible, as in MAE: ``int(num_patches * (1 - mask_ratio))``.

    Args:
        num_patches: Patches per view (196 for 224 px and patch 16).
        mask_ratio: Fraction masked, in [0, 1).

    Returns:
        The visible count (0.985 -> 2 of 196; 0.95 -> 9 of 196).
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1), got {mask_ratio}")
    return int(num_patches * (1.0 - mask_ratio))


@dataclass
class MaskedTokens:
    """The visible part of a token sequence and how to put it back in order.

    Attributes:
        visible: (N, K, D) the kept tokens, in shuffled order.
        mask: (N, L) 1.0 where a patch is masked (to be reconstructed), 0.0 where visible.
        ids_restore: (N, L) the permutation that restores the original order after the
            visible tokens are followed by L - K mask tokens.
        ids_keep: (N, K) original indices of the visible tokens.
    """

    visible: torch.Tensor
    mask: torch.Tensor
    ids_restore: torch.Tensor
    ids_keep: torch.Tensor


def random_masking(
    tokens: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None
) -> MaskedTokens:
    """Keep a per-sample random subset of tokens (MAE: argsort of uniform noise).

    Args:
        tokens: (N, L, D) patch tokens, without the CLS token.
        mask_ratio: Fraction of the L tokens to drop.
        noise: Optional (N, L) noise; the K tokens with the smallest noise are kept. Passing
            it makes the mask reproducible (the data pipeline draws it per sample).

    Returns:
        The visible tokens, the binary mask and the restore permutation.
    """
    n, length, dim = tokens.shape
    keep = num_visible_patches(length, mask_ratio)
    if noise is None:
        noise = torch.rand(n, length, device=tokens.device)
    elif noise.shape != (n, length):
        raise ValueError(f"noise must have shape {(n, length)}, got {tuple(noise.shape)}")
    noise = noise.to(tokens.device)
    ids_shuffle = torch.argsort(noise, dim=1)  # (N, L) ascending: first K are kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # (N, L)
    ids_keep = ids_shuffle[:, :keep]  # (N, K)
    visible = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, dim))  # (N, K, D)
    mask = torch.ones(n, length, device=tokens.device, dtype=tokens.dtype)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)  # (N, L) back in patch order
    return MaskedTokens(visible=visible, mask=mask, ids_restore=ids_restore, ids_keep=ids_keep)


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into flattened non-overlapping patches (MAE order: row, col, then p, q, c).

    Args:
        images: (N, C, H, W) with H and W multiples of ``patch_size``.
        patch_size: Patch side p.

    Returns:
        (N, (H/p) * (W/p), p * p * C).
    """
    n, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"image size {h}x{w} is not a multiple of patch size {patch_size}")
    gh, gw = h // patch_size, w // patch_size
    x = images.reshape(n, c, gh, patch_size, gw, patch_size)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, gh * gw, patch_size * patch_size * c)


def unpatchify(patches: torch.Tensor, patch_size: int, grid: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`patchify`.

    Args:
        patches: (N, gh * gw, p * p * C).
        patch_size: Patch side p.
        grid: (gh, gw).

    Returns:
        (N, C, gh * p, gw * p).
    """
    n, length, size = patches.shape
    gh, gw = grid
    c = size // (patch_size * patch_size)
    x = patches.reshape(n, gh, gw, patch_size, patch_size, c)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(n, c, gh * patch_size, gw * patch_size)


def normalize_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-patch normalised targets ``(t - mean) / sqrt(var + eps)`` (MAE norm_pix_loss).

    Args:
        patches: (..., P) flattened patches.
        eps: Added to the unbiased variance.

    Returns:
        Same shape, each patch with zero mean and (about) unit variance.
    """
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()
