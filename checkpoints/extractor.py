"""Frozen ViT feature extractor: images -> L2-normalised patch-feature grids.

``load_backbone(...)`` is the entry point. The extractor runs a timm ``VisionTransformer``
itself (patch embedding, class token, resampled position embedding, blocks, final norm) so that
the position embedding follows the protocol exactly (see :mod:`vprop.checkpoints.pos_embed`).

Feature layer: ``layer=None`` is the last block followed by the final LayerNorm (what the
propagation papers use). An intermediate block ``layer=i`` (negative counts from the end, so
-1 is the last block) is also passed through the final LayerNorm, so every layer gives features
on the same normalised scale; the block index is what changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from vprop.checkpoints.loading import LoadReport, build_encoder
from vprop.checkpoints.pos_embed import check_pos_embed_mode, resample_pos_embed
from vprop.errors import VpropError


class FeatureExtractor(nn.Module):
    """Frozen ViT returning L2-normalised patch features of one block.

    Attributes:
        patch_size: Pixel side of a patch p.
        embed_dim: Feature width D.
        pos_embed_mode: ``'dino'`` or ``'exact'``.
        layer: Requested block (``None`` = last).
    """

    def __init__(self, model: VisionTransformer, report: LoadReport, pos_embed: str = "dino",
                 layer: int | None = None) -> None:
        """Wrap a timm ViT built with ``dynamic_img_size=True``.

        Args:
            model: The encoder (class token, absolute position embedding).
            report: What the load did (shown by :meth:`describe`).
            pos_embed: ``'dino'`` or ``'exact'`` position-embedding resampling.
            layer: Block index (negative from the end); ``None`` = last block.

        Raises:
            VpropError: Unknown pos_embed mode or a layer outside the model.
        """
        super().__init__()
        if model.pos_embed is None or model.cls_token is None or model.no_embed_class:
            raise VpropError("only ViTs with a class token and a class position embedding")
        self.model = model.float().eval().requires_grad_(False)
        self.report = report
        self.pos_embed_mode = check_pos_embed_mode(pos_embed)
        self.layer = layer
        depth = len(model.blocks)
        index = depth - 1 if layer is None else layer
        if not -depth <= index < depth:
            raise VpropError(f"layer {layer} is outside the {depth} blocks of {report.arch}")
        self._block_index = index % depth
        self.patch_size = int(model.patch_embed.patch_size[0])
        self.embed_dim = int(model.embed_dim)
        self._num_prefix = int(model.num_prefix_tokens)
        self._grid = tuple(int(g) for g in model.patch_embed.grid_size)
        self._pos_cache: dict[tuple, torch.Tensor] = {}
        self.eval()

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Keep the backbone in eval mode whatever is asked (no dropout, frozen)."""
        return super().train(False)

    def _pos_embed_for(self, grid: tuple[int, int], square_input: bool) -> torch.Tensor:
        """Resampled [1, P + h*w, D] position embedding, cached per grid, device and dtype."""
        pos = self.model.pos_embed
        key = (grid, square_input, pos.device, self.pos_embed_mode)
        cached = self._pos_cache.get(key)
        if cached is None:
            with torch.no_grad():
                cached = resample_pos_embed(self.pos_embed_mode, pos, self._grid, grid,
                                            self._num_prefix, square_input)
            self._pos_cache[key] = cached
        return cached

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Extract patch features.

        Args:
            images: [B, 3, H, W] float, already ImageNet-normalised. Pixels beyond
                (H // p) * p rows or (W // p) * p columns are ignored (as a stride-p conv does).

        Returns:
            [B, D, H // p, W // p] float32, unit L2 norm over D at each patch.

        Raises:
            VpropError: Wrong rank/channels or an image smaller than one patch.
        """
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise VpropError(f"expected float images [B, 3, H, W], got {images.dtype} "
                             f"{tuple(images.shape)}")
        batch, _, height, width = images.shape
        p = self.patch_size
        h, w = height // p, width // p
        if h == 0 or w == 0:
            raise VpropError(f"image {height}x{width} is smaller than one {p}x{p} patch")
        x = images[:, :, : h * p, : w * p].float()
        m = self.model
        tokens = m.patch_embed(x)  # [B, h, w, D] (NHWC, dynamic_img_size)
        tokens = tokens.reshape(batch, h * w, self.embed_dim)  # [B, h*w, D]
        tokens = torch.cat([m.cls_token.expand(batch, -1, -1), tokens], dim=1)  # [B, 1+hw, D]
        tokens = tokens + self._pos_embed_for((h, w), height == width)
        tokens = m.norm_pre(m.patch_drop(m.pos_drop(tokens)))
        for block in m.blocks[: self._block_index + 1]:
            tokens = block(tokens)
        tokens = m.norm(tokens)  # [B, 1+hw, D]
        patches = tokens[:, self._num_prefix:]  # [B, h*w, D]
        patches = F.normalize(patches.float(), dim=-1)  # float32 even under autocast
        return patches.transpose(1, 2).reshape(batch, self.embed_dim, h, w).contiguous()

    def describe(self) -> dict[str, Any]:
        """What this extractor is: arch, checkpoint path + sha256, format, keys, modes."""
        info = self.report.as_dict()
        info.update(pos_embed=self.pos_embed_mode, layer=self.layer,
                    block_index=self._block_index, patch_size=self.patch_size,
                    embed_dim=self.embed_dim)
        return info


def load_backbone(
    arch: str | None = None,
    ckpt: str | Path | None = None,
    ckpt_format: str = "auto",
    pos_embed: str = "dino",
    layer: int | None = None,
    unsafe_load: bool = False,
) -> FeatureExtractor:
    """Build a frozen feature extractor from a registry arch and an optional checkpoint.

    Args:
        arch: Registry name or alias. ``None`` (default) = take it from the checkpoint (vprop
            metadata, else the registry arch matching the weights' patch size, width and
            depth), falling back to ``vit_small_patch16_224`` (also used without ``ckpt``).
            Pass ``None`` when the user gave no ``--arch``.
        ckpt: Checkpoint file (torch or safetensors); ``None`` = random initialisation.
        ckpt_format: ``'auto'`` or one of ``vprop, cropmae, siammae, mae, dino, timm, deit,
            safetensors, plain``.
        pos_embed: ``'dino'`` (reference behaviour, default) or ``'exact'``.
        layer: Feature block (negative from the end); ``None`` = last block + final norm.
        unsafe_load: Allow arbitrary pickles in the checkpoint (warns).

    Returns:
        A :class:`FeatureExtractor` in eval mode with frozen float32 weights.

    Raises:
        VpropError: Any problem with the arch name, the file or its weights.
    """
    check_pos_embed_mode(pos_embed)
    model, report = build_encoder(arch, ckpt, ckpt_format, unsafe_load)
    return FeatureExtractor(model, report, pos_embed=pos_embed, layer=layer)
