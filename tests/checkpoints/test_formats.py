"""Every checkpoint layout loads to the source model's features; auto-detection is right."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from vprop.checkpoints import load_backbone
from vprop.checkpoints.formats import adapt, detect_format
from vprop.errors import VpropError

D = 64


def cross_attn_decoder() -> dict[str, torch.Tensor]:
    """CropMAE / SiamMAE decoder keys (cross-attention DecoderBlock) and mask token."""
    return {
        "mask_token": torch.zeros(1, 1, 32),
        "decoder_embed.weight": torch.zeros(32, D),
        "decoder_pos_embed": torch.zeros(1, 197, 32),
        "decoder_blocks.0.self_attn.in_proj_weight": torch.zeros(96, 32),
        "decoder_blocks.0.multihead_attn.in_proj_weight": torch.zeros(96, 32),
        "decoder_blocks.0.linear1.weight": torch.zeros(64, 32),
        "decoder_norm.weight": torch.ones(32),
        "decoder_pred.weight": torch.zeros(768, 32),
    }


def mae_decoder() -> dict[str, torch.Tensor]:
    return {
        "mask_token": torch.zeros(1, 1, 32),
        "decoder_embed.weight": torch.zeros(32, D),
        "decoder_blocks.0.attn.qkv.weight": torch.zeros(96, 32),
        "decoder_pred.weight": torch.zeros(768, 32),
    }


def classifier() -> dict[str, torch.Tensor]:
    return {"head.weight": torch.zeros(1000, D), "head.bias": torch.zeros(1000)}


def prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


def dino_head(prefix):
    return {f"{prefix}head.mlp.0.weight": torch.zeros(128, D),
            f"{prefix}head.last_layer.weight_g": torch.ones(256, 1)}


def build(kind: str, state: dict, perturbed: dict):
    """(checkpoint object, expected auto-detected format) for a layout name."""
    if kind == "vprop":
        meta = {"format": "vprop-pretrain", "version": 1, "arch": "vit_test_patch16",
                "method": "cropmae", "img_size": 224, "patch_size": 16}
        return {"model": {**state, **cross_attn_decoder()}, "vprop": meta,
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "epoch": 3}, "vprop"
    if kind == "cropmae":
        return {"model": {**state, **cross_attn_decoder()}}, "cropmae"
    if kind == "mae":
        return {"model": {**state, **mae_decoder()}, "epoch": 399}, "mae"
    if kind == "mae-encoder-only":
        return {"model": dict(state)}, "mae"
    if kind == "dino":  # teacher must win over a different student
        return {"teacher": {**prefixed(state, "backbone."), **dino_head("")},
                "student": {**prefixed(perturbed, "module.backbone."),
                            **dino_head("module.")},
                "epoch": 100}, "dino"
    if kind == "dino-student-only":
        return {"student": {**prefixed(state, "module.backbone."), **dino_head("module.")}}, "dino"
    if kind == "dino-backbone":
        return prefixed(state, "backbone."), "dino"
    if kind == "deit":
        return {"model": {**state, **classifier()}, "epoch": 300}, "deit"
    if kind == "timm":
        return {"state_dict": {**prefixed(state, "module."), **classifier()}}, "timm"
    if kind == "plain":
        return dict(state), "plain"
    raise AssertionError(kind)


KINDS = ["vprop", "cropmae", "mae", "mae-encoder-only", "dino", "dino-student-only",
         "dino-backbone", "deit", "timm", "plain"]


@pytest.fixture
def perturbed_state(make_source, encoder_state):
    return encoder_state(make_source(seed=7))


@pytest.mark.parametrize("kind", KINDS)
def test_layout_loads_to_source_features(kind, tmp_path, source, images, timm_features,
                                         encoder_state, perturbed_state):
    raw, expected_format = build(kind, encoder_state(source), perturbed_state)
    path = tmp_path / f"{kind}.pth"
    torch.save(raw, path)
    assert detect_format(torch.load(path, weights_only=True)) == expected_format
    extractor = load_backbone("vit_test_patch16", path)
    info = extractor.describe()
    assert info["format"] == expected_format
    assert "missing_keys" not in info and info["unexpected_keys"] == []
    assert info["stored_dtypes"] == ["float16"]
    torch.testing.assert_close(extractor(images), timm_features(source, images),
                               atol=1e-5, rtol=1e-5)


def test_dropped_keys_are_reported(encoder_state, source, perturbed_state, tmp_path):
    raw, _ = build("dino", encoder_state(source), perturbed_state)
    adapted = adapt(raw)
    assert adapted.dropped_keys == ["head.last_layer.weight_g", "head.mlp.0.weight"]
    assert set(adapted.state_dict) == set(source.state_dict())
    raw, _ = build("cropmae", encoder_state(source), perturbed_state)
    assert set(adapt(raw).dropped_keys) == set(cross_attn_decoder())


def test_siammae_override(tmp_path, source, encoder_state, perturbed_state):
    raw, _ = build("cropmae", encoder_state(source), perturbed_state)
    path = tmp_path / "siam.pth"
    torch.save(raw, path)
    extractor = load_backbone("vit_test_patch16", path, ckpt_format="siammae")
    assert extractor.describe()["format"] == "siammae"


def test_safetensors_file(tmp_path, source, images, timm_features, encoder_state):
    path = tmp_path / "model.safetensors"
    save_file({**encoder_state(source), **classifier()}, str(path))
    extractor = load_backbone("vit_test_patch16", path)
    assert extractor.describe()["format"] == "safetensors"
    torch.testing.assert_close(extractor(images), timm_features(source, images),
                               atol=1e-5, rtol=1e-5)
    renamed = tmp_path / "model.bin"  # detected from the header, not only the suffix
    renamed.write_bytes(path.read_bytes())
    assert load_backbone("vit_test_patch16", renamed).describe()["format"] == "safetensors"


def test_vprop_metadata_gives_the_arch(tmp_path, make_source, encoder_state, images,
                                       timm_features, perturbed_state):
    source8 = make_source("vit_test_patch8")
    raw, _ = build("vprop", encoder_state(source8), perturbed_state)
    raw["vprop"]["arch"] = "vit_test_patch8"
    path = tmp_path / "p8.pth"
    torch.save(raw, path)
    extractor = load_backbone(None, path)
    assert extractor.describe()["arch"] == "vit_test_patch8"
    assert extractor.describe()["meta"]["method"] == "cropmae"
    torch.testing.assert_close(extractor(images), timm_features(source8, images),
                               atol=1e-5, rtol=1e-5)
    # The metadata is really used: a wrong arch in it is caught by the patch-size check.
    raw["vprop"]["arch"] = "vit_test_patch16"
    torch.save(raw, path)
    with pytest.raises(VpropError, match="patch size 8 does not match arch vit_test_patch16"):
        load_backbone(None, path)


def test_arch_inferred_from_weights_when_not_given(tmp_path, make_source, encoder_state):
    path = tmp_path / "p8.pth"
    torch.save({"model": encoder_state(make_source("vit_test_patch8"))}, path)
    assert load_backbone(None, path).describe()["arch"] == "vit_test_patch8"


def test_unknown_layout_names_file_and_formats(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"weights": [1, 2, 3], "step": 4}, path)
    with pytest.raises(VpropError) as info:
        load_backbone("vit_test_patch16", path)
    message = str(info.value)
    assert str(path) in message
    assert all(name in message for name in ("vprop", "cropmae", "mae", "dino", "timm", "deit"))


def test_wrong_or_unknown_format_override(tmp_path, source, encoder_state, perturbed_state):
    raw, _ = build("cropmae", encoder_state(source), perturbed_state)
    path = tmp_path / "c.pth"
    torch.save(raw, path)
    with pytest.raises(VpropError, match="not a 'vprop' checkpoint"):
        load_backbone("vit_test_patch16", path, ckpt_format="vprop")
    with pytest.raises(VpropError, match="unknown checkpoint format 'onnx'"):
        load_backbone("vit_test_patch16", path, ckpt_format="onnx")


def test_unsupported_vprop_version(tmp_path, source, encoder_state, perturbed_state):
    raw, _ = build("vprop", encoder_state(source), perturbed_state)
    raw["vprop"]["version"] = 2
    with pytest.raises(VpropError, match="version 2"):
        adapt(raw)


def test_explicit_arch_wins_over_metadata_with_a_warning(tmp_path, source, encoder_state,
                                                         perturbed_state, caplog):
    raw, _ = build("vprop", encoder_state(source), perturbed_state)
    raw["vprop"]["arch"] = "vitb16"
    path = tmp_path / "v.pth"
    torch.save(raw, path)
    assert load_backbone("vit_test_patch16", path).describe()["arch"] == "vit_test_patch16"
    assert "trained as vitb16" in caplog.text


def test_default_arch_without_checkpoint():
    extractor = load_backbone()
    assert extractor.describe()["arch"] == "vit_small_patch16_224"
    assert (extractor.patch_size, extractor.embed_dim) == (16, 384)
