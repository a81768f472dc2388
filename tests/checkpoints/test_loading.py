"""Safe loading and strict key/shape checks."""

from __future__ import annotations

import argparse
import datetime

import pytest
import torch

from vprop.checkpoints import load_backbone
from vprop.checkpoints.registry import create_vit
from vprop.errors import VpropError


class CreatesMarkerWhenUnpickled:
    """Unpickling this calls open(marker, 'w'), i.e. runs code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, source, encoder_state):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"model": encoder_state(source), "x": CreatesMarkerWhenUnpickled(marker)}, path)
    assert not marker.exists()
    with pytest.raises(VpropError) as info:
        load_backbone("vit_test_patch16", path)
    assert "--unsafe-load" in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


def test_unsafe_load_accepts_non_tensor_objects_with_a_warning(tmp_path, source, images,
                                                               encoder_state, timm_features):
    path = tmp_path / "args.pth"
    torch.save({"model": encoder_state(source), "when": datetime.date(2020, 1, 1)}, path)
    with pytest.raises(VpropError, match="unsafe-load"):
        load_backbone("vit_test_patch16", path)
    with pytest.warns(UserWarning, match="unsafe_load"):
        extractor = load_backbone("vit_test_patch16", path, unsafe_load=True)
    torch.testing.assert_close(extractor(images), timm_features(source, images),
                               atol=1e-5, rtol=1e-5)


def test_missing_encoder_weight_is_named(tmp_path, source, encoder_state):
    state = encoder_state(source)
    del state["blocks.1.mlp.fc2.weight"]
    path = tmp_path / "partial.pth"
    torch.save({"model": state}, path)
    with pytest.raises(VpropError) as info:
        load_backbone("vit_test_patch16", path)
    assert "blocks.1.mlp.fc2.weight" in str(info.value) and str(path) in str(info.value)


def test_patch_size_mismatch(tmp_path, make_source, encoder_state):
    path = tmp_path / "p8.pth"
    torch.save({"model": encoder_state(make_source("vit_test_patch8"))}, path)
    with pytest.raises(VpropError, match="patch size 8 does not match arch vit_test_patch16"):
        load_backbone("vit_test_patch16", path)


def test_embed_dim_mismatch(tmp_path, encoder_state):
    narrow = create_vit("vit_test_patch16", embed_dim=32)
    path = tmp_path / "d32.pth"
    torch.save({"model": encoder_state(narrow)}, path)
    with pytest.raises(VpropError, match="embed dim 32"):
        load_backbone("vit_test_patch16", path)


def test_deeper_checkpoint_and_other_shapes_are_errors(tmp_path, encoder_state):
    path = tmp_path / "deep.pth"
    torch.save({"model": encoder_state(create_vit("vit_test_patch16", depth=3))}, path)
    with pytest.raises(VpropError, match="blocks.2"):
        load_backbone("vit_test_patch16", path)
    torch.save({"model": encoder_state(create_vit("vit_test_patch16", mlp_ratio=2))}, path)
    with pytest.raises(VpropError, match="mlp.fc1.weight"):
        load_backbone("vit_test_patch16", path)


def test_unexpected_keys_are_reported(tmp_path, source, encoder_state, caplog):
    path = tmp_path / "extra.pth"
    torch.save({"model": {**encoder_state(source), "lambda_scale": torch.ones(3)}}, path)
    extractor = load_backbone("vit_test_patch16", path)
    assert extractor.describe()["unexpected_keys"] == ["lambda_scale"]
    assert "lambda_scale" in caplog.text


def test_checkpoint_trained_at_another_size(tmp_path, make_source, encoder_state, timm_features):
    source384 = make_source(img_size=384)  # 24x24 position grid
    path = tmp_path / "384.pth"
    torch.save({"model": encoder_state(source384)}, path)
    extractor = load_backbone("vit_test_patch16", path)
    assert extractor.describe()["pos_embed_grid"] == [24, 24]
    torch.manual_seed(8)
    x = torch.randn(1, 3, 384, 384)
    torch.testing.assert_close(extractor(x), timm_features(source384, x), atol=1e-5, rtol=1e-5)
    y = torch.randn(1, 3, 112, 160)
    dynamic = make_source(img_size=384, dynamic_img_size=True)
    exact = load_backbone("vit_test_patch16", path, pos_embed="exact")
    torch.testing.assert_close(exact(y), timm_features(dynamic, y), atol=1e-5, rtol=1e-5)


def test_bad_files(tmp_path):
    with pytest.raises(VpropError, match="not found"):
        load_backbone("vit_test_patch16", tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a checkpoint" * 10)
    with pytest.raises(VpropError, match="corrupt"):
        load_backbone("vit_test_patch16", junk)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(VpropError, match="safetensors"):
        load_backbone("vit_test_patch16", broken)
    with pytest.raises(VpropError, match="unknown backbone 'vit_giantt'.*vit_giant"):
        load_backbone("vit_giantt", None)


def test_namespace_training_checkpoint_loads_safely(tmp_path, source, images, encoder_state,
                                                    timm_features):
    """MAE / DINO / CropMAE training checkpoints pickle argparse.Namespace: no --unsafe-load."""
    path = tmp_path / "mae_train.pth"
    args = argparse.Namespace(lr=1.5e-4, model="mae_vit_test", input_size=224)
    torch.save({"model": encoder_state(source), "optimizer": {"state": {}}, "epoch": 399,
                "args": args}, path)
    extractor = load_backbone("vit_test_patch16", path)
    torch.testing.assert_close(extractor(images), timm_features(source, images),
                               atol=1e-5, rtol=1e-5)


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    from vprop.checkpoints import load_backbone

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = load_backbone("vit_test_patch16")
    after = torch.rand(1)
    second = load_backbone("vit_test_patch16")
    assert torch.equal(after, expected_next)  # global RNG stream not consumed
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    assert first.describe()["random_init_seed"] == 0
