"""FeatureExtractor: features equal timm's, position-embedding modes, layers, real file."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
import torch.nn.functional as F

from vprop.checkpoints import load_backbone
from vprop.errors import VpropError

REAL_FILE = "reference-propagation/vits16-random-fp16.pth"


@pytest.fixture
def ckpt(tmp_path, source, encoder_state):
    path = tmp_path / "src.pth"
    torch.save({"model": encoder_state(source)}, path)
    return path


def test_native_size_equals_timm_forward_features(ckpt, source, images, timm_features):
    extractor = load_backbone("vit_test_patch16", ckpt)
    out = extractor(images)
    assert out.shape == (2, 64, 14, 14) and out.dtype == torch.float32
    torch.testing.assert_close(out, timm_features(source, images), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2, 14, 14))
    assert not extractor.training
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in extractor.parameters())


def test_exact_mode_non_square_equals_timm_dynamic_size(ckpt, make_source, timm_features):
    torch.manual_seed(2)
    x = torch.randn(1, 3, 96, 176)  # 6 x 11 grid
    # timm's own dynamic_img_size path resamples with resample_abs_pos_embed
    reference = make_source(dynamic_img_size=True)
    out = load_backbone("vit_test_patch16", ckpt, pos_embed="exact")(x)
    assert out.shape == (1, 64, 6, 11)
    torch.testing.assert_close(out, timm_features(reference, x), atol=1e-5, rtol=1e-5)


def _protocol_features(model, x, p):
    """CropMAE/DINO evaluation forward written from PROTOCOLS.md sections 1 and 6."""
    b, _, height, width = x.shape
    h, w = height // p, width // p
    tokens = F.conv2d(x, model.patch_embed.proj.weight, model.patch_embed.proj.bias, stride=p)
    tokens = tokens.flatten(2).transpose(1, 2)
    tokens = torch.cat([model.cls_token.expand(b, -1, -1), tokens], dim=1)
    pos = model.pos_embed
    g = int(math.sqrt(pos.shape[1] - 1))
    grid = pos[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((h + 0.1) / g, (w + 0.1) / g), mode="bicubic",
                         align_corners=False)
    pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)
    tokens = tokens + pos
    for block in model.blocks:
        tokens = block(tokens)
    tokens = F.normalize(model.norm(tokens)[:, 1:], dim=-1)
    return tokens.transpose(1, 2).reshape(b, -1, h, w)


def test_dino_mode_follows_the_protocol_and_differs_from_exact(ckpt, source):
    torch.manual_seed(3)
    x = torch.randn(1, 3, 96, 176)
    dino = load_backbone("vit_test_patch16", ckpt)(x)
    exact = load_backbone("vit_test_patch16", ckpt, pos_embed="exact")(x)
    with torch.no_grad():
        reference = _protocol_features(source, x, 16)
    assert dino.shape == (1, 64, 6, 11)
    torch.testing.assert_close(dino, reference, atol=1e-5, rtol=1e-5)
    assert (dino - exact).abs().max() > 1e-2


def test_input_not_a_multiple_of_patch_is_cropped(ckpt):
    torch.manual_seed(4)
    x = torch.randn(1, 3, 100, 180)
    extractor = load_backbone("vit_test_patch16", ckpt)
    out = extractor(x)
    assert out.shape == (1, 64, 6, 11)
    torch.testing.assert_close(out, extractor(x[:, :, :96, :176]))


def test_pos_embed_cache_gives_same_result(ckpt):
    torch.manual_seed(5)
    x = torch.randn(1, 3, 64, 128)
    extractor = load_backbone("vit_test_patch16", ckpt)
    first = extractor(x)
    assert len(extractor._pos_cache) == 1
    torch.testing.assert_close(extractor(x), first)
    assert len(extractor._pos_cache) == 1


def test_layer_selection_matches_timm_intermediates(ckpt, source, images):
    with torch.no_grad():
        inter = source.forward_intermediates(images, indices=[0], norm=True,
                                             intermediates_only=True)[0]  # [B, D, 14, 14]
    out = load_backbone("vit_test_patch16", ckpt, layer=0)(images)
    torch.testing.assert_close(out, F.normalize(inter, dim=1), atol=1e-5, rtol=1e-5)
    last = load_backbone("vit_test_patch16", ckpt)(images)
    torch.testing.assert_close(load_backbone("vit_test_patch16", ckpt, layer=-1)(images), last)
    assert (out - last).abs().max() > 1e-2
    with pytest.raises(VpropError, match="layer 2"):
        load_backbone("vit_test_patch16", ckpt, layer=2)


def test_bad_inputs_are_vprop_errors(ckpt):
    extractor = load_backbone("vit_test_patch16", ckpt)
    with pytest.raises(VpropError):
        extractor(torch.zeros(1, 1, 64, 64))
    with pytest.raises(VpropError):
        extractor(torch.zeros(1, 3, 8, 64))
    with pytest.raises(VpropError, match="pos_embed"):
        load_backbone("vit_test_patch16", ckpt, pos_embed="nearest")


def test_random_init_without_checkpoint():
    extractor = load_backbone("vit_test_patch8", None)
    assert extractor.patch_size == 8 and extractor.embed_dim == 64
    assert extractor(torch.randn(1, 3, 40, 72)).shape == (1, 64, 5, 9)
    assert extractor.describe()["ckpt"] is None


def test_real_fp16_reference_checkpoint(shared_data):
    path = shared_data / REAL_FILE
    extractor = load_backbone("vit_small_patch16_224", path)
    torch.manual_seed(6)
    x = torch.randn(1, 3, 480, 880)
    with torch.inference_mode():
        out = extractor(x)
    assert out.shape == (1, 384, 30, 55) and out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=1), torch.ones(1, 30, 55))
    info = extractor.describe()
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "missing_keys" not in info and info["unexpected_keys"] == []
    assert info["stored_dtypes"] == ["float16"] and info["format"] == "mae"
    assert info["pos_embed"] == "dino" and info["layer"] is None
    assert all(p.dtype == torch.float32 for p in extractor.parameters())
    # The weights equal the file's fp16 values, cast to float32.
    stored = torch.load(path, weights_only=True)["model"]
    assert len(stored) == 150
    for key, value in extractor.model.state_dict().items():
        torch.testing.assert_close(value, stored[key].float(), atol=0, rtol=0)
    # And the features equal the protocol forward run on those weights (smaller input).
    small = x[:, :, :160, :288]
    with torch.inference_mode():
        torch.testing.assert_close(extractor(small),
                                   _protocol_features(extractor.model, small, 16),
                                   atol=1e-5, rtol=1e-5)
