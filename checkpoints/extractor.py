"""Frozen dense feature extractors: images -> L2-normalised feature grids (B, D, H/s, W/s).

``load_backbone(...)`` is the entry point. Two kinds, one interface (``stride``, ``embed_dim``,
``describe()``):

* :class:`ViTFeatures`: any timm ViT-like model (ViT, DeiT, DINO, DINOv2 with registers, MAE,
  EVA/EVA02, BEiT, CLIP/SigLIP towers). Features come from timm's public
  ``forward_intermediates`` (every prefix token, class and registers, dropped by timm);
  ``stride`` is the patch size. The position embedding follows the protocol: ``'dino'``
  installs DINO's ``+0.1`` bicubic resampling as a hook on timm's ``_pos_embed`` (the reference
  protocols need it bit for bit); ``'exact'`` is timm's own resampling.
* :class:`vprop.checkpoints.cnn.CNNFeatures`: timm ResNets at stride 8 (CRW's encoder).

Feature layer: ``layer=None`` is the last block followed by the final norm. An intermediate
block ``layer=i`` (negative counts from the end) is also passed through the final norm.
"""

from __future__ import annotations

import types
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
    """Base of the frozen extractors: float32 weights, always in eval mode.

    Attributes:
        stride: Pixels per feature cell (the ViT patch size; 8 for CRW's ResNet).
        embed_dim: Feature width D.
        report: What the load did.
    """

    stride: int
    embed_dim: int

    def __init__(self, model: nn.Module, report: LoadReport) -> None:
        """Freeze ``model`` (float32, eval, no gradients) and keep the load report."""
        super().__init__()
        self.model = model.float().eval().requires_grad_(False)
        self.report = report

    @property
    def patch_size(self) -> int:
        """Alias of :attr:`stride` (the feature grid step in pixels)."""
        return self.stride

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Keep the backbone in eval mode whatever is asked (no dropout, frozen)."""
        return super().train(False)

    def _crop(self, images: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Check [B, 3, H, W] float input; crop to whole cells; return (x, h, w)."""
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise VpropError(f"expected float images [B, 3, H, W], got {images.dtype} "
                             f"{tuple(images.shape)}")
        s = self.stride
        h, w = images.shape[2] // s, images.shape[3] // s
        if h == 0 or w == 0:
            raise VpropError(f"image {images.shape[2]}x{images.shape[3]} is smaller than one "
                             f"{s}x{s} feature cell")
        return images[:, :, : h * s, : w * s].float(), h, w

    def describe(self) -> dict[str, Any]:
        """What this extractor is: arch, checkpoint path + sha256, format, keys, modes."""
        info = self.report.as_dict()
        info.update(stride=self.stride, embed_dim=self.embed_dim)
        return info


class ViTFeatures(FeatureExtractor):
    """Frozen timm ViT returning L2-normalised patch features of one block.

    Attributes:
        pos_embed_mode: ``'dino'``, ``'exact'``, or ``'native'`` (models whose position
            encoding is not an absolute embedding timm resamples, e.g. EVA's RoPE, BEiT).
        layer: Requested block (``None`` = last).
        num_prefix_tokens: Class + register tokens the model carries (dropped from features).
    """

    def __init__(self, model: nn.Module, report: LoadReport, pos_embed: str = "dino",
                 layer: int | None = None) -> None:
        """Wrap a timm ViT-like model.

        Raises:
            VpropError: Unknown pos_embed mode or a layer outside the model.
        """
        super().__init__(model, report)
        check_pos_embed_mode(pos_embed)
        self.layer = layer
        depth = len(model.blocks)
        index = depth - 1 if layer is None else layer
        if not -depth <= index < depth:
            raise VpropError(f"layer {layer} is outside the {depth} blocks of {report.arch}")
        self._block_index = index % depth
        self.stride = int(model.patch_embed.patch_size[0])
        self.embed_dim = int(model.embed_dim)
        self.num_prefix_tokens = int(getattr(model, "num_prefix_tokens", 0))
        self._dynamic = bool(getattr(model, "dynamic_img_size", False))
        self._fixed_size: tuple[int, int] | None = None
        hookable = isinstance(model, VisionTransformer) and model.pos_embed is not None
        self.pos_embed_mode = pos_embed if hookable else "native"
        self._square_input = False
        self._pos_cache: dict[tuple, torch.Tensor] = {}
        if hookable and pos_embed == "dino":
            self.model._pos_embed = types.MethodType(self._make_dino_hook(), self.model)
        self.eval()

    def _make_dino_hook(self):
        """Timm's ``_pos_embed`` with DINO's +0.1 resampling (cls/register tokens as timm)."""
        extractor = self

        def dino_pos_embed(model: VisionTransformer, x: torch.Tensor) -> torch.Tensor:
            batch, h, w, dim = x.shape  # NHWC from the dynamic-size patch embedding
            pos = extractor._dino_pos_embed((h, w))
            x = x.reshape(batch, h * w, dim)
            prefix = [t.expand(batch, -1, -1) for t in (model.cls_token, model.reg_token)
                      if t is not None]
            if model.no_embed_class:
                x = torch.cat([*prefix, x + pos], dim=1)
            else:
                x = torch.cat([*prefix, x], dim=1) + pos
            return model.pos_drop(x)

        return dino_pos_embed

    def _dino_pos_embed(self, grid: tuple[int, int]) -> torch.Tensor:
        """Resampled position embedding, cached per grid, squareness and device."""
        pos = self.model.pos_embed
        key = (grid, self._square_input, pos.device)
        cached = self._pos_cache.get(key)
        if cached is None:
            prefix = 0 if self.model.no_embed_class else self.num_prefix_tokens
            old_grid = tuple(int(g) for g in self.model.patch_embed.grid_size)
            with torch.no_grad():
                cached = resample_pos_embed("dino", pos, old_grid, grid, prefix,
                                            self._square_input)
            self._pos_cache[key] = cached
        return cached

    def _fit_input_size(self, height: int, width: int) -> None:
        """Models without dynamic sizes (BEiT) are resized with timm's ``set_input_size``."""
        if self._dynamic or self._fixed_size == (height, width):
            return
        self.model.set_input_size(img_size=(height, width))
        self._fixed_size = (height, width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Extract patch features.

        Args:
            images: [B, 3, H, W] float, already normalised. Pixels beyond whole patches are
                ignored (as a stride-p convolution does).

        Returns:
            [B, D, H // p, W // p] float32, unit L2 norm over D at each patch.

        Raises:
            VpropError: Wrong rank/channels or an image smaller than one patch.
        """
        x, h, w = self._crop(images)
        self._square_input = images.shape[2] == images.shape[3]
        self._fit_input_size(x.shape[2], x.shape[3])
        tokens = self.model.forward_intermediates(
            x, indices=[self._block_index], norm=True, stop_early=True, output_fmt="NLC",
            intermediates_only=True,
        )[0]  # [B, h*w, D], prefix tokens dropped by timm
        patches = F.normalize(tokens.float(), dim=-1)  # float32 even under autocast
        return patches.transpose(1, 2).reshape(x.shape[0], self.embed_dim, h, w).contiguous()

    def describe(self) -> dict[str, Any]:
        """The load report plus pos-embed mode, layer, stride, width and prefix tokens."""
        info = super().describe()
        info.update(pos_embed=self.pos_embed_mode, layer=self.layer,
                    block_index=self._block_index, patch_size=self.stride,
                    num_prefix_tokens=self.num_prefix_tokens)
        return info


def load_backbone(
    arch: str | None = None,
    ckpt: str | Path | None = None,
    ckpt_format: str = "auto",
    pos_embed: str = "dino",
    layer: int | None = None,
    unsafe_load: bool = False,
    **arch_kwargs: Any,
) -> FeatureExtractor:
    """Build a frozen feature extractor from a backbone name and an optional checkpoint.

    Args:
        arch: vprop alias or any timm model name. ``None`` (default) = from the checkpoint
            (vprop metadata, else the alias whose tensors match), falling back to
            ``vit_small_patch16_224`` (also used without ``ckpt``).
        ckpt: Checkpoint file (torch, Lightning or safetensors), or ``zoo:NAME``;
            ``None`` = random initialisation (seeded).
        ckpt_format: ``'auto'`` or a format of :mod:`vprop.checkpoints.formats`.
        pos_embed: ``'dino'`` (reference behaviour, default) or ``'exact'``; ViTs only.
        layer: Feature block (ViT) or feature stage (CNN); ``None`` = the protocol default.
        unsafe_load: Allow arbitrary pickles in the checkpoint (warns).
        **arch_kwargs: Extra ``timm.create_model`` arguments (tests: ``depth=1``).

    Returns:
        A :class:`FeatureExtractor` in eval mode with frozen float32 weights.

    Raises:
        VpropError: Any problem with the arch name, the file or its weights.
    """
    check_pos_embed_mode(pos_embed)
    model, report = build_encoder(arch, ckpt, ckpt_format, unsafe_load, **arch_kwargs)
    return wrap_encoder(model, report, pos_embed=pos_embed, layer=layer)


def wrap_encoder(model: nn.Module, report: LoadReport, pos_embed: str = "dino",
                 layer: int | None = None) -> FeatureExtractor:
    """The frozen feature extractor of a built backbone (``build_encoder*``'s output).

    Args:
        model: A timm backbone from :func:`~vprop.checkpoints.loading.build_encoder` or
            :func:`~vprop.checkpoints.loading.build_encoder_from_state`.
        report: Its load report (``report.family`` picks the ViT or CNN extractor).
        pos_embed: ``'dino'`` or ``'exact'`` (ViTs only).
        layer: Feature block (ViT) or stage (CNN); ``None`` = the protocol default.

    Returns:
        A :class:`FeatureExtractor` in eval mode with frozen float32 weights.
    """
    from vprop.checkpoints.cnn import CNNFeatures

    if report.family == "cnn":
        return CNNFeatures(model, report, layer=layer)
    return ViTFeatures(model, report, pos_embed=pos_embed, layer=layer)
