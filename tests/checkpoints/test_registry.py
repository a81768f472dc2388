"""Registry: names, specs and the timm models they build."""

from __future__ import annotations

import pytest
import timm

from vprop.checkpoints import arch_spec, create_vit, list_archs
from vprop.errors import VpropError

# Published ViT shapes (ViT / DeiT papers): width, depth, heads.
OFFICIAL = {
    "vit_small_patch16_224": (16, 384, 12, 6),
    "vit_small_patch8_224": (8, 384, 12, 6),
    "vit_base_patch16_224": (16, 768, 12, 12),
    "vit_base_patch8_224": (8, 768, 12, 12),
    "vit_large_patch16_224": (16, 1024, 24, 16),
    "vit_test_patch16": (16, 64, 2, 2),
    "vit_test_patch8": (8, 64, 2, 2),
}
ALIASES = {"vits16": "vit_small_patch16_224", "vits8": "vit_small_patch8_224",
           "vitb16": "vit_base_patch16_224", "vitb8": "vit_base_patch8_224",
           "vitl16": "vit_large_patch16_224"}


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_specs_match_published_shapes(name):
    spec = arch_spec(name)
    assert (spec.patch_size, spec.embed_dim, spec.depth, spec.num_heads) == OFFICIAL[name]
    assert spec.mlp_ratio == 4


@pytest.mark.parametrize("alias, name", list(ALIASES.items()))
def test_aliases_resolve(alias, name):
    assert arch_spec(alias) == arch_spec(name)
    assert alias in list_archs() and name in list_archs()


def test_unknown_name_lists_known_names():
    with pytest.raises(VpropError) as info:
        arch_spec("vit_huge_patch99")
    message = str(info.value)
    assert "vit_huge_patch99" in message
    assert all(name in message for name in [*OFFICIAL, *ALIASES])


def test_vits16_has_the_same_tensors_as_timms_own_model():
    ours = create_vit("vits16").state_dict()
    theirs = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0)
    theirs = theirs.state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {
        k: tuple(v.shape) for k, v in theirs.items()}


def test_test_size_model_and_kwargs():
    model = create_vit("vit_test_patch8", img_size=64, drop_path_rate=0.1)
    assert model.num_classes == 0 and model.cls_token is not None
    assert model.pos_embed.shape == (1, 1 + 8 * 8, 64)
    assert model.blocks[0].mlp.fc1.out_features == 256  # mlp_ratio 4
    assert model.blocks[0].attn.num_heads == 2 and len(model.blocks) == 2
    assert model.blocks[1].drop_path1.drop_prob == pytest.approx(0.1)
