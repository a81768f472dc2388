"""Registry of the ViT backbones vprop knows, built on timm's ``VisionTransformer``.

Every name maps to an :class:`ArchSpec` (patch size, width, depth, heads, MLP ratio). Names are
timm-style (``vit_small_patch16_224``), short aliases (``vits16``) or tiny test sizes
(``vit_test_patch16``). :func:`create_vit` builds a randomly initialised timm
``VisionTransformer`` for a name: no classifier head (``num_classes=0``), a class token, nothing
downloaded. Pretrained weights are loaded separately by :mod:`vprop.checkpoints.loading`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from timm.models.vision_transformer import VisionTransformer

from vprop.errors import VpropError


@dataclass(frozen=True)
class ArchSpec:
    """Shape of a plain ViT encoder (class token, learned/fixed absolute position embedding).

    Attributes:
        name: Canonical registry name (an alias resolves to its canonical name).
        patch_size: Side of a square patch in pixels.
        embed_dim: Token width D.
        depth: Number of transformer blocks.
        num_heads: Attention heads per block.
        mlp_ratio: MLP hidden width / D.
        img_size: Pretraining image side (the position-embedding grid is img_size // patch_size).
    """

    name: str
    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    img_size: int = 224

    @property
    def grid_size(self) -> int:
        """Side of the pretraining patch grid (14 for a /16 model at 224)."""
        return self.img_size // self.patch_size


_SPECS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("vit_small_patch16_224", patch_size=16, embed_dim=384, depth=12, num_heads=6),
        ArchSpec("vit_small_patch8_224", patch_size=8, embed_dim=384, depth=12, num_heads=6),
        ArchSpec("vit_base_patch16_224", patch_size=16, embed_dim=768, depth=12, num_heads=12),
        ArchSpec("vit_base_patch8_224", patch_size=8, embed_dim=768, depth=12, num_heads=12),
        ArchSpec("vit_large_patch16_224", patch_size=16, embed_dim=1024, depth=24, num_heads=16),
        ArchSpec("vit_test_patch16", patch_size=16, embed_dim=64, depth=2, num_heads=2),
        ArchSpec("vit_test_patch8", patch_size=8, embed_dim=64, depth=2, num_heads=2),
    )
}

_ALIASES: dict[str, str] = {
    "vits16": "vit_small_patch16_224",
    "vits8": "vit_small_patch8_224",
    "vitb16": "vit_base_patch16_224",
    "vitb8": "vit_base_patch8_224",
    "vitl16": "vit_large_patch16_224",
}


def list_archs(include_aliases: bool = True) -> list[str]:
    """Return the known backbone names.

    Args:
        include_aliases: Also list the short aliases (``vits16``, ...).

    Returns:
        Canonical names in registry order, then aliases.
    """
    names = list(_SPECS)
    if include_aliases:
        names += list(_ALIASES)
    return names


def canonical_name(name: str) -> str:
    """Resolve an alias to its canonical name.

    Args:
        name: A registry name or alias.

    Returns:
        The canonical registry name.

    Raises:
        VpropError: The name is unknown; the message lists the known names.
    """
    key = _ALIASES.get(name, name)
    if key not in _SPECS:
        raise VpropError(
            f"unknown backbone {name!r}; known backbones: {', '.join(list_archs())}"
        )
    return key


def arch_spec(name: str) -> ArchSpec:
    """Return the :class:`ArchSpec` of a backbone name or alias.

    Raises:
        VpropError: The name is unknown; the message lists the known names.
    """
    return _SPECS[canonical_name(name)]


def create_vit(name: str, img_size: int | tuple[int, int] = 224, **timm_kwargs: Any
               ) -> VisionTransformer:
    """Build a randomly initialised timm ``VisionTransformer`` for a registry name.

    The model has a class token, ``global_pool='token'``, no classifier head
    (``num_classes=0``), QKV biases and LayerNorm eps 1e-6 (timm's default, as in MAE / DINO /
    CropMAE). No weights are downloaded.

    Args:
        name: Registry name or alias, e.g. ``'vit_small_patch16_224'`` or ``'vits16'``.
        img_size: Image size the position embedding grid is built for.
        **timm_kwargs: Extra ``VisionTransformer`` arguments (e.g. ``drop_path_rate``,
            ``dynamic_img_size``); they override the registry's values.

    Returns:
        The model, in train mode, float32.

    Raises:
        VpropError: The name is unknown.
    """
    spec = arch_spec(name)
    kwargs: dict[str, Any] = dict(
        img_size=img_size,
        patch_size=spec.patch_size,
        embed_dim=spec.embed_dim,
        depth=spec.depth,
        num_heads=spec.num_heads,
        mlp_ratio=spec.mlp_ratio,
        qkv_bias=True,
        class_token=True,
        global_pool="token",
        num_classes=0,
    )
    kwargs.update(timm_kwargs)
    return VisionTransformer(**kwargs)
