"""Registry: aliases onto timm, geometry read from timm's models, unknown names."""

from __future__ import annotations

import pytest
import timm

from vprop.checkpoints import ALIASES, arch_info, create_backbone, create_vit, list_archs
from vprop.errors import VpropError

# Published ViT shapes (ViT / DeiT / DINOv2 papers): patch, width, depth, heads.
OFFICIAL = {
    "vit_small_patch16_224": (16, 384, 12, 6),
    "vit_small_patch8_224": (8, 384, 12, 6),
    "vit_base_patch16_224": (16, 768, 12, 12),
    "vit_base_patch8_224": (8, 768, 12, 12),
    "vit_large_patch16_224": (16, 1024, 24, 16),
    "vit_small_patch14_reg4_dinov2": (14, 384, 12, 6),
    "vit_giant_patch14_dinov2": (14, 1536, 40, 24),
    "deit_tiny_patch16_224": (16, 192, 12, 3),
    "vit_test_patch16": (16, 64, 2, 2),
    "vit_test_patch8": (8, 64, 2, 2),
}


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_geometry_matches_published_shapes(name):
    info = arch_info(name)
    assert (info.patch_size, info.embed_dim, info.depth, info.num_heads) == OFFICIAL[name]
    assert info.family == "vit"


def test_prefix_tokens_are_read_from_the_model():
    assert arch_info("vit_small_patch14_reg4_dinov2").num_prefix_tokens == 5  # cls + 4 regs
    assert arch_info("vit_small_patch16_224").num_prefix_tokens == 1
    assert arch_info("vit_base_patch16_siglip_224").num_prefix_tokens == 0
    assert arch_info("resnet18").family == "cnn" and arch_info("resnet18").patch_size is None


@pytest.mark.parametrize("alias", list(ALIASES))
def test_every_alias_builds_its_timm_model(alias):
    timm_name, overrides = ALIASES[alias]
    assert timm.is_model(timm_name)
    assert arch_info(alias).timm_name == timm_name
    assert alias in list_archs()


def test_unknown_name_suggests_close_timm_names():
    with pytest.raises(VpropError) as info:
        arch_info("vit_small_patch16_244")
    message = str(info.value)
    assert "vit_small_patch16_244" in message and "vit_small_patch16_224" in message


def test_any_timm_model_by_name_not_only_aliases():
    model = create_backbone("vit_tiny_patch16_224", depth=1)
    assert type(model).__name__ == "VisionTransformer" and len(model.blocks) == 1
    assert "vit_tiny_patch16_224" not in ALIASES
    assert "vit_tiny_patch16_224" in list_archs(pattern="vit_tiny_patch16_*")


def test_vits16_has_the_same_tensors_as_timms_own_model():
    ours = create_vit("vits16").state_dict()
    theirs = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}


def test_test_size_model_and_kwargs():
    model = create_vit("vit_test_patch8", img_size=64, drop_path_rate=0.1)
    assert model.num_classes == 0 and model.cls_token is not None
    assert model.pos_embed.shape == (1, 1 + 8 * 8, 64)
    assert model.blocks[0].mlp.fc1.out_features == 256  # mlp_ratio 4
    assert model.blocks[0].attn.num_heads == 2 and len(model.blocks) == 2
    assert model.blocks[1].drop_path1.drop_prob == pytest.approx(0.1)


def test_create_vit_refuses_a_cnn():
    with pytest.raises(VpropError, match="not a timm VisionTransformer"):
        create_vit("resnet18")
