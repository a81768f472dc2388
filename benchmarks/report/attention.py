"""``vprop viz attention`` (paper Fig. 5): CLS self-attention of a ViT's last block, per head.

The attention is computed from the last block's own ``qkv`` projection: a forward pre-hook on
``blocks[-1].attn`` captures the block's normalised input during an ordinary forward pass of
the feature extractor, and ``softmax(q k^T * scale)`` is formed from it (timm's fused kernels
never materialise the matrix). This works for any timm ViT the checkpoint loader builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vprop.benchmarks.io import read_rgb
from vprop.benchmarks.report.draw import save_image, side_by_side, stacked
from vprop.benchmarks.sizes import check_patch_multiple, long_side_size
from vprop.errors import VpropError
from vprop.propagation import to_model_input

PANELS_PER_ROW = 4  # panels (the image, then the heads) per row


@dataclass
class ClsAttention:
    """The last block's attention of the class token.

    Attributes:
        weights: (heads, N) softmax weights of the CLS query over all N tokens (prefix tokens
            first); each row sums to 1.
        prefix: Number of prefix tokens (class, registers).
        grid: (h, w) patch grid.
        patch: Patch size in pixels.
    """

    weights: torch.Tensor
    prefix: int
    grid: tuple[int, int]
    patch: int

    def maps(self) -> torch.Tensor:
        """(heads, h, w) attention of the CLS query on the patches (not renormalised)."""
        heads = self.weights.shape[0]
        return self.weights[:, self.prefix:].reshape(heads, *self.grid)


def _last_attention(model: torch.nn.Module) -> torch.nn.Module:
    """The last block's attention module (timm's plain ``Attention`` only).

    ViT, DeiT, DINO, DINOv2, MAE, CropMAE use it; its weights are exactly
    ``softmax(q k^T * scale)``, which :func:`attention_weights` recomputes.
    """
    from timm.models.vision_transformer import Attention

    blocks = getattr(model, "blocks", None)
    attn = getattr(blocks[-1], "attn", None) if blocks is not None and len(blocks) else None
    if not isinstance(attn, Attention):
        kind = type(model).__name__ if attn is None else type(attn).__module__
        raise VpropError(f"attention maps need a ViT with timm's plain attention in its last "
                         f"block (got {kind}; relative-position or CNN backbones are not "
                         f"supported)", "--arch")
    return attn


def attention_weights(attn: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T * scale)`` of a timm ``Attention`` module for its input ``x``.

    Args:
        attn: The module (``qkv``, ``num_heads``, ``scale``; ``q_norm``/``k_norm`` if any).
        x: (B, N, C) input of the module.

    Returns:
        (B, heads, N, N) attention weights.
    """
    batch, tokens, _ = x.shape
    heads = int(attn.num_heads)
    qkv = attn.qkv(x)
    head_dim = qkv.shape[-1] // (3 * heads)
    qkv = qkv.reshape(batch, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    q = attn.q_norm(q) if hasattr(attn, "q_norm") else q
    k = attn.k_norm(k) if hasattr(attn, "k_norm") else k
    scale = float(getattr(attn, "scale", head_dim ** -0.5))
    return ((q * scale) @ k.transpose(-2, -1)).float().softmax(dim=-1)


@torch.no_grad()
def cls_attention(extractor: torch.nn.Module, rgb: np.ndarray,
                  size: tuple[int, int]) -> ClsAttention:
    """CLS attention of the last block for one image.

    Args:
        extractor: A :class:`~vprop.checkpoints.extractor.FeatureExtractor` (``.model`` is
            the timm ViT) running every block.
        rgb: (H, W, 3) uint8 image.
        size: Backbone input (height, width), multiples of the patch.

    Raises:
        VpropError: Not a ViT with a qkv attention.
    """
    model = extractor.model
    attn = _last_attention(model)
    captured: dict[str, torch.Tensor] = {}
    handle = attn.register_forward_pre_hook(lambda module, args: captured.update(x=args[0]))
    try:
        device = next(extractor.parameters()).device
        extractor(to_model_input(rgb, size)[None].to(device))
    finally:
        handle.remove()
    if "x" not in captured:
        raise VpropError("the extractor did not run the last block (--layer set?)")
    patch = int(model.patch_embed.patch_size[0])
    grid = (size[0] // patch, size[1] // patch)  # prefix = class token (+ registers)
    weights = attention_weights(attn, captured["x"])[0, :, 0, :]  # (heads, N)
    prefix = weights.shape[1] - grid[0] * grid[1]
    return ClsAttention(weights.cpu(), prefix, grid, patch)


def heat(values: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """Min-max normalise a 2-D map and colour it: (h, w) float -> (h, w, 3) uint8."""
    from matplotlib import colormaps

    low, high = float(values.min()), float(values.max())
    unit = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return (colormaps[colormap](unit)[..., :3] * 255).round().astype(np.uint8)


def attention_panel(rgb: np.ndarray, result: ClsAttention) -> np.ndarray:
    """The input, then one coloured map per head at the input's resolution, 4 panels a row."""
    maps = result.maps().numpy()
    p = result.patch
    panels = [rgb[: result.grid[0] * p, : result.grid[1] * p]]
    for head in maps:
        panels.append(heat(np.kron(head, np.ones((p, p)))))  # nearest-upsampled to pixels
    rows = [side_by_side(panels[i : i + PANELS_PER_ROW])
            for i in range(0, len(panels), PANELS_PER_ROW)]
    return stacked(rows)


def write_attention(extractor: torch.nn.Module, image: str | Path, out: str | Path,
                    size: tuple[int, int] | None = None, long_side: int = 480) -> ClsAttention:
    """Draw the CLS attention panel of ``image`` to ``out`` (PNG).

    Args:
        extractor: Feature extractor of a ViT (every block run).
        image: Image file.
        out: PNG to write.
        size: Backbone input (height, width); default: the long side ``long_side``, the
            short side scaled and floored to the patch size.
        long_side: See ``size``.

    Returns:
        The attention drawn.
    """
    from PIL import Image

    _last_attention(extractor.model)  # a ViT, before any other work
    rgb = read_rgb(image)
    patch = int(extractor.model.patch_embed.patch_size[0])
    if size is None:
        size = long_side_size(rgb.shape[:2], long_side, patch)
    size = check_patch_multiple(size, patch)
    resized = np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR))
    result = cls_attention(extractor, resized, size)
    save_image(out, attention_panel(resized, result))
    return result
