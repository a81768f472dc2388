import math

import pytest
import torch

from vprop.checkpoints.registry import create_vit
from vprop.cropmae.masking import normalize_patches, patchify
from vprop.cropmae.model import DecoderBlock, SiameseMAE


def tiny_model(img_size: int = 224, mask_ratio: float = 0.985, **kwargs) -> SiameseMAE:
    torch.manual_seed(0)
    encoder = create_vit("vit_test_patch16", img_size=img_size)
    return SiameseMAE(encoder, mask_ratio=mask_ratio, decoder_dim=64, decoder_ffn_dim=128,
                      decoder_heads=8, **kwargs)


def test_shapes_and_two_visible_patches_at_224():
    model = tiny_model().eval()
    views = torch.randn(2, 2, 3, 224, 224)
    memory, none = model.encode(views[:, 0])
    latent, masked = model.encode(views[:, 1], mask=True)
    assert none is None
    assert memory.shape == (2, 1 + 196, 64)
    assert latent.shape == (2, 1 + 2, 64)  # CLS + the 2 visible patches
    out = model(views[:, 0], views[:, 1])
    assert out["pred"].shape == (2, 196, 16 * 16 * 3)
    assert torch.equal(out["mask"].sum(dim=1), torch.tensor([194.0, 194.0]))


def test_fixed_sincos_position_embedding_with_zero_cls():
    model = tiny_model()
    pos = model.encoder.pos_embed
    assert not pos.requires_grad
    assert pos.shape == (1, 197, 64)
    assert torch.count_nonzero(pos[0, 0]) == 0
    # first half of the channels encodes the column, second half the row; frequency 0 is 1
    col1_row0, col0_row1 = pos[0, 1 + 1], pos[0, 1 + 14]
    assert col1_row0[0].item() == pytest.approx(math.sin(1.0))
    assert col1_row0[16].item() == pytest.approx(math.cos(1.0))
    assert col1_row0[32].item() == pytest.approx(0.0)
    assert col0_row1[32].item() == pytest.approx(math.sin(1.0))
    assert model.decoder_pos_embed.shape == (1, 197, 64)


def test_masked_pixels_of_view2_cannot_leak_into_the_prediction():
    model = tiny_model(mask_ratio=0.95).eval()
    view1, view2 = torch.randn(1, 3, 224, 224), torch.randn(1, 3, 224, 224)
    noise = torch.rand(1, 196)
    base = model(view1, view2, noise)
    mask = base["mask"][0].reshape(14, 14)
    masked_rc = torch.nonzero(mask == 1)[0].tolist()
    visible_rc = torch.nonzero(mask == 0)[0].tolist()

    def changed(r: int, c: int) -> torch.Tensor:
        v = view2.clone()
        v[..., r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] += 3.0
        return model(view1, v, noise)["pred"]

    assert torch.allclose(changed(*masked_rc), base["pred"], atol=1e-6)
    assert not torch.allclose(changed(*visible_rc), base["pred"], atol=1e-3)
    # the prediction depends on view 1 through cross-attention
    other = model(torch.randn(1, 3, 224, 224), view2, noise)["pred"]
    assert not torch.allclose(other, base["pred"], atol=1e-3)


def test_loss_is_the_mse_over_masked_normalised_patches_only():
    model = tiny_model(img_size=64, mask_ratio=0.5)
    view2 = torch.randn(2, 3, 64, 64)
    target = normalize_patches(patchify(view2, 16))  # (2, 16, 768)
    mask = torch.zeros(2, 16)
    mask[:, :8] = 1
    pred = target + 1.0 * mask.unsqueeze(-1)  # off by exactly 1 on masked patches
    pred = pred + 100.0 * (1 - mask).unsqueeze(-1)  # visible patches are ignored
    assert model.loss(view2, pred, mask).item() == pytest.approx(1.0, rel=1e-5)
    raw = tiny_model(img_size=64, mask_ratio=0.5, norm_pix_loss=False)
    assert raw.loss(view2, patchify(view2, 16), mask).item() == pytest.approx(0.0, abs=1e-10)


def test_decoder_block_is_post_norm_and_uses_the_memory():
    torch.manual_seed(0)
    block = DecoderBlock(32, 8, 64, dropout=0.0).eval()
    x, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    out = block(x, memory)
    # the last operation is a LayerNorm (unit weight, zero bias at init)
    assert torch.allclose(out.mean(-1), torch.zeros(2, 5), atol=1e-5)
    assert torch.allclose(out.var(-1, unbiased=False), torch.ones(2, 5), atol=1e-3)
    assert not torch.allclose(block(x, torch.randn(2, 7, 32)), out)


def test_paper_decoder_defaults():
    encoder = create_vit("vit_test_patch16", img_size=224)
    model = SiameseMAE(encoder)
    assert len(model.decoder_blocks) == 4
    block = model.decoder_blocks[0]
    assert block.self_attn.num_heads == 8 and block.cross_attn.embed_dim == 256
    assert block.ffn[0].out_features == 2048 and block.dropout.p == 0.1
    assert model.decoder_pred.out_features == 768
    assert model.mask_ratio == 0.985 and model.norm_pix_loss


def test_fused_attention_is_really_used_in_encoder_and_decoder(monkeypatch):
    import dataclasses

    from vprop.cropmae.config import TrainConfig, resolve
    from vprop.cropmae.factory import build_model

    calls = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting)
    config = resolve(TrainConfig(arch="vit_test_patch16", img_size=32, decoder_dim=32,
                                 decoder_ffn_dim=64, decoder_dropout=0.0), "images")
    torch.manual_seed(0)
    fused = build_model(config).train()  # (eval would take MHA's own fast path)
    torch.manual_seed(0)
    plain = build_model(dataclasses.replace(config, fused_attention=False,
                                            channels_last=True)).train()
    views, noise = torch.randn(2, 2, 3, 32, 32), torch.rand(2, 4)
    depth, decoder = len(fused.encoder.blocks), len(fused.decoder_blocks)
    with torch.no_grad():
        out = fused(views[:, 0], views[:, 1], noise)
        assert len(calls) == 2 * depth + 2 * decoder  # every attention went through SDPA
        calls.clear()
        ref = plain(views[:, 0], views[:, 1], noise)
        assert len(calls) == 2 * decoder  # timm's explicit attention in the encoder
    assert torch.allclose(out["pred"], ref["pred"], atol=1e-5)
