import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vprop.checkpoints.extractor import load_backbone
from vprop.checkpoints.registry import create_vit
from vprop.cropmae import checkpointing as ckpt
from vprop.cropmae.model import SiameseMAE
from vprop.errors import VpropError


def model_and_optimizer():
    torch.manual_seed(0)
    model = SiameseMAE(create_vit("vit_test_patch16", img_size=224), decoder_dim=32,
                       decoder_ffn_dim=64, decoder_depth=1)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    out = model(torch.randn(2, 3, 224, 224), torch.randn(2, 3, 224, 224))
    out["loss"].backward()
    optimizer.step()
    return model, optimizer


def payload(model, optimizer):
    return ckpt.build_payload(
        model=model, optimizer=optimizer, scaler=torch.amp.GradScaler("cpu", enabled=False),
        arch="vit_test_patch16", method="cropmae", img_size=224, patch_size=16, epoch=3,
        step=30, args={"blr": 1e-4, "betas": [0.9, 0.95]}, progress={"steps_per_epoch": 10},
    )


def test_layout_loads_with_weights_only(tmp_path):
    model, optimizer = model_and_optimizer()
    path = ckpt.save_checkpoint(tmp_path / "c.pth", payload(model, optimizer))
    raw = torch.load(path, weights_only=True)
    keys = set(raw["model"])
    assert {"patch_embed.proj.weight", "cls_token", "pos_embed", "blocks.0.attn.qkv.weight",
            "norm.weight", "norm.bias", "mask_token", "decoder_embed.weight",
            "decoder_pos_embed", "decoder_pred.weight", "decoder_norm.weight"} <= keys
    assert all(k.startswith("decoder") for k in keys
               if not k.startswith(("patch_embed", "cls_token", "pos_embed", "blocks", "norm",
                                    "mask_token")))
    assert not any(k.startswith("encoder.") for k in keys)
    assert raw["vprop"] == {"format": "vprop-pretrain", "version": 1, "arch": "vit_test_patch16",
                            "method": "cropmae", "img_size": 224, "patch_size": 16}
    assert raw["epoch"] == 3 and raw["step"] == 30 and raw["args"]["blr"] == 1e-4
    assert raw["optimizer"]["state"]  # moments were saved


def test_import_restores_the_exact_weights(tmp_path):
    model, optimizer = model_and_optimizer()
    path = ckpt.save_checkpoint(tmp_path / "c.pth", payload(model, optimizer))
    fresh = SiameseMAE(create_vit("vit_test_patch16", img_size=224), decoder_dim=32,
                       decoder_ffn_dim=64, decoder_depth=1)
    ckpt.import_model_state(fresh, ckpt.load_checkpoint(path)["model"])
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name


def test_vprop_checkpoint_loader_gives_the_same_features(tmp_path):
    model, optimizer = model_and_optimizer()
    model.eval()
    path = ckpt.save_checkpoint(tmp_path / "c.pth", payload(model, optimizer))
    extractor = load_backbone("vit_test_patch16", path)
    assert extractor.describe()["unexpected_keys"] == []
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        tokens, _ = model.encode(images)
    ours = F.normalize(tokens[:, 1:], dim=-1).transpose(1, 2).reshape(2, 64, 14, 14)
    theirs = extractor(images)
    assert torch.allclose(theirs, ours, atol=1e-5)


def test_rng_state_round_trip():
    torch.manual_seed(1)
    random.seed(2)
    np.random.seed(3)
    state = ckpt.capture_rng()
    first = (torch.rand(3), random.random(), np.random.rand())
    torch.rand(5), random.random(), np.random.rand()
    ckpt.restore_rng(state)
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(first[0], again[0]) and first[1:] == again[1:]


def test_failed_write_leaves_the_previous_checkpoint_intact(tmp_path):
    target = tmp_path / "c.pth"
    ckpt.save_checkpoint(target, {"vprop": {"format": "vprop-pretrain", "version": 1}, "x": 1})
    with pytest.raises(Exception):  # noqa: B017 - whatever pickling raises
        ckpt.save_checkpoint(target, {"bad": lambda: None})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pth"]
    assert ckpt.load_checkpoint(target)["x"] == 1


def test_foreign_or_missing_files_are_vprop_errors(tmp_path):
    with pytest.raises(VpropError, match="not found"):
        ckpt.load_checkpoint(tmp_path / "missing.pth")
    torch.save({"model": {}}, tmp_path / "other.pth")
    with pytest.raises(VpropError, match="format tag"):
        ckpt.load_checkpoint(tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(VpropError, match="cannot read"):
        ckpt.load_checkpoint(tmp_path / "junk.pth")
