"""`--eval-davis` hook: in-memory encoder -> J&F, with no checkpoint written or read."""

from __future__ import annotations

import pytest
import torch

from vprop.benchmarks.papers import get_preset
from vprop.checkpoints import loading, vprop_format
from vprop.checkpoints.extractor import load_backbone
from vprop.checkpoints.registry import create_vit
from vprop.cropmae.davis_hook import davis_jf, evaluate_encoder_on_davis


def test_hook_scores_in_memory_weights_like_the_saved_checkpoint(davis_train_only, tmp_path,
                                                                  monkeypatch):
    torch.manual_seed(3)
    encoder = create_vit("vit_test_patch16").state_dict()
    path = tmp_path / "encoder.pth"
    vprop_format.save(path, {"model": encoder, "vprop": vprop_format.metadata("vit_test_patch16")})
    cpu = torch.device("cpu")
    from_file = davis_jf(load_backbone(None, path, pos_embed=get_preset("cropmae").pos_embed),
                         davis_train_only, tmp_path / "file", cpu)

    def refuse(*args, **kwargs):
        raise AssertionError("the hook must not write or read a checkpoint file")

    monkeypatch.setattr(torch, "save", refuse)
    monkeypatch.setattr(loading, "read_checkpoint", refuse)
    in_memory = evaluate_encoder_on_davis(encoder, "vit_test_patch16", davis_train_only,
                                          tmp_path / "memory", cpu)
    assert 0.0 < in_memory < 1.0
    assert in_memory == pytest.approx(from_file, abs=1e-12)
    assert not list((tmp_path / "memory").rglob("*.pth"))
