"""Backbones by name: every timm model, plus vprop's short aliases as a thin map onto timm.

timm builds every backbone (``timm.create_model(name, pretrained=False, num_classes=0)``;
nothing is ever downloaded here). vprop keeps no list of architectures of its own, only:

* :data:`ALIASES`: short names (``vits16``, ``dinov2_vits14_reg``, ``r18``...) mapped onto a
  timm name, and two tiny test sizes (``vit_test_patch16``/``8``) that are timm's ViT-Ti with
  a narrower width and two blocks (for tests and quick demos);
* :func:`arch_info`: the geometry of a backbone (family, stride, width, depth, prefix tokens)
  read from the model timm builds, on PyTorch's ``meta`` device (no memory, milliseconds).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from typing import Any

import timm
import torch
from timm.models.vision_transformer import VisionTransformer

from vprop.errors import VpropError

#: Short names -> (timm name, constructor overrides). Not a list of what vprop supports: any
#: timm model name works; these are spellings researchers use for published backbones.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "vits16": ("vit_small_patch16_224", {}),
    "vits8": ("vit_small_patch8_224", {}),
    "vitb16": ("vit_base_patch16_224", {}),
    "vitb8": ("vit_base_patch8_224", {}),
    "vitl16": ("vit_large_patch16_224", {}),
    "dinov2_vits14": ("vit_small_patch14_dinov2", {}),
    "dinov2_vitb14": ("vit_base_patch14_dinov2", {}),
    "dinov2_vitl14": ("vit_large_patch14_dinov2", {}),
    "dinov2_vitg14": ("vit_giant_patch14_dinov2", {}),
    "dinov2_vits14_reg": ("vit_small_patch14_reg4_dinov2", {}),
    "dinov2_vitb14_reg": ("vit_base_patch14_reg4_dinov2", {}),
    "dinov2_vitl14_reg": ("vit_large_patch14_reg4_dinov2", {}),
    "dinov2_vitg14_reg": ("vit_giant_patch14_reg4_dinov2", {}),
    "r18": ("resnet18", {}),
    "r50": ("resnet50", {}),
    "vit_test_patch16": ("vit_tiny_patch16_224", {"embed_dim": 64, "depth": 2, "num_heads": 2}),
    "vit_test_patch8": ("vit_tiny_patch16_224", {"patch_size": 8, "embed_dim": 64, "depth": 2,
                                                 "num_heads": 2}),
}


@dataclass(frozen=True)
class ArchInfo:
    """What a backbone is, read from the model timm builds.

    Attributes:
        name: The name as given (an alias stays an alias; it is what results record).
        timm_name: The timm model name it builds.
        family: ``'vit'`` (patch tokens, timm ``VisionTransformer``-like) or ``'cnn'``.
        patch_size: ViT patch side in pixels; ``None`` for CNNs.
        embed_dim: Token width D (ViTs); ``num_features`` for CNNs.
        depth: Transformer blocks (ViTs) or feature stages (CNNs).
        num_heads: Attention heads per block (ViTs), else 0.
        mlp_ratio: MLP hidden width / D of the first block (ViTs), else 0.
        num_prefix_tokens: Class + register (+ distillation) tokens (ViTs), else 0.
        img_size: Default input side the position embedding is built for (ViTs).
    """

    name: str
    timm_name: str
    family: str
    patch_size: int | None
    embed_dim: int
    depth: int
    num_heads: int = 0
    mlp_ratio: float = 0.0
    num_prefix_tokens: int = 0
    img_size: int | None = None

    @property
    def grid_size(self) -> int | None:
        """Side of the default patch grid (14 for a /16 model at 224); ``None`` for CNNs."""
        return None if self.patch_size is None else self.img_size // self.patch_size


def list_archs(include_aliases: bool = True, pattern: str | None = None) -> list[str]:
    """Names vprop accepts: vprop's aliases, then timm's models (optionally filtered).

    Args:
        include_aliases: Put vprop's aliases first.
        pattern: A timm wildcard (``'*dinov2*'``); ``None`` lists no timm names (there are
            over a thousand; ``vprop models --timm PATTERN`` lists them).

    Returns:
        Names, aliases first.
    """
    names = list(ALIASES) if include_aliases else []
    if pattern is not None:
        names += timm.list_models(pattern)
    return names


def resolve(name: str) -> tuple[str, dict[str, Any]]:
    """Map an alias or timm name to (timm name, constructor overrides).

    Raises:
        VpropError: Neither an alias nor a timm model; the message suggests close names.
    """
    if name in ALIASES:
        timm_name, overrides = ALIASES[name]
        return timm_name, dict(overrides)
    if timm.is_model(name):
        return name, {}
    close = difflib.get_close_matches(name, [*ALIASES, *timm.list_models()], n=5, cutoff=0.6)
    hint = f"; did you mean: {', '.join(close)}" if close else ""
    raise VpropError(f"unknown backbone {name!r}: not a vprop alias ({', '.join(ALIASES)}) "
                     f"nor a timm model (`vprop models --timm '*vit*'` lists them){hint}")


def create_backbone(name: str, **kwargs: Any) -> torch.nn.Module:
    """Build a randomly initialised timm backbone without a classifier (nothing downloaded).

    ViTs are built with ``dynamic_img_size=True`` where timm supports it. Caller kwargs
    override the alias's overrides.

    Args:
        name: Alias or timm model name.
        **kwargs: Extra ``timm.create_model`` arguments (``img_size``, ``drop_path_rate``...).

    Returns:
        The model in train mode, float32.

    Raises:
        VpropError: Unknown name, or arguments the model does not take.
    """
    timm_name, args = resolve(name)
    args.update(kwargs)
    args.setdefault("num_classes", 0)
    try:
        return timm.create_model(timm_name, pretrained=False, **args)
    except TypeError as err:
        if not args.pop("dynamic_img_size", False) or "dynamic_img_size" not in str(err):
            raise VpropError(f"cannot build {name!r} ({timm_name}) with {args}: {err}") from None
    return timm.create_model(timm_name, pretrained=False, **args)  # no variable-size support


def create_vit(name: str, img_size: int | tuple[int, int] = 224, **kwargs: Any
               ) -> VisionTransformer:
    """Build a randomly initialised timm ``VisionTransformer`` (pretraining encoders).

    Args:
        name: Alias or timm name of a ViT with a class token.
        img_size: Image size the position-embedding grid is built for.
        **kwargs: Extra ``timm.create_model`` arguments; they override the alias's.

    Returns:
        The model (class token, no classifier head), in train mode.

    Raises:
        VpropError: Unknown name, or not a ``VisionTransformer``.
    """
    with torch.device("meta"):
        kind = type(create_backbone(name))
    if not issubclass(kind, VisionTransformer):
        raise VpropError(f"{name!r} is a {kind.__name__}, not a timm VisionTransformer")
    return create_backbone(name, img_size=img_size, **kwargs)


def info_from_model(name: str, model: torch.nn.Module) -> ArchInfo:
    """Read an :class:`ArchInfo` from a built model (any device, meta included)."""
    timm_name = resolve(name)[0]
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is not None and hasattr(model, "blocks"):
        blocks = list(model.blocks)
        attn = getattr(blocks[0], "attn", None)
        fc1 = getattr(getattr(blocks[0], "mlp", None), "fc1", None)
        dim = int(model.embed_dim)
        img = getattr(patch_embed, "img_size", None)
        return ArchInfo(
            name, timm_name, "vit", int(patch_embed.patch_size[0]), dim, len(blocks),
            num_heads=int(getattr(attn, "num_heads", 0)),
            mlp_ratio=(fc1.out_features / dim) if fc1 is not None else 0.0,
            num_prefix_tokens=int(getattr(model, "num_prefix_tokens", 0)),
            img_size=int(img[0]) if img is not None else None,
        )
    stages = len(getattr(model, "feature_info", []) or [])
    return ArchInfo(name, timm_name, "cnn", None, int(getattr(model, "num_features", 0)), stages)


@functools.lru_cache(maxsize=256)
def arch_info(name: str) -> ArchInfo:
    """Geometry of a backbone, read from timm's model built on the ``meta`` device.

    Raises:
        VpropError: Unknown name.
    """
    with torch.device("meta"):
        model = create_backbone(name)
    return info_from_model(name, model)


def meta_state_shapes(name: str, **kwargs: Any) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the backbone's state dict, built on the ``meta`` device."""
    with torch.device("meta"):
        model = create_backbone(name, **kwargs)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}
