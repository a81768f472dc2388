"""Helpers for the checkpoint tests: a tiny source ViT and its features computed by timm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vprop.checkpoints.registry import create_vit


def _make_source(name: str = "vit_test_patch16", seed: int = 0, **kwargs) -> torch.nn.Module:
    """A random tiny ViT whose weights survive fp16 storage exactly.

    pos_embed / cls_token get std-1 values (timm initialises them near zero), so a wrong
    position embedding changes the features visibly.
    """
    torch.manual_seed(seed)
    model = create_vit(name, **kwargs).eval()
    with torch.no_grad():
        model.pos_embed.normal_()
        model.cls_token.normal_()
        model.norm.weight.uniform_(0.5, 1.5)
        for param in model.parameters():
            param.copy_(param.half().float())
    return model


def _timm_features(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Features via timm's own forward_features: drop prefix tokens, L2-normalise, to a grid."""
    p = model.patch_embed.patch_size[0]
    h, w = images.shape[-2] // p, images.shape[-1] // p
    with torch.no_grad():
        tokens = model.forward_features(images)[:, model.num_prefix_tokens:]  # [B, hw, D]
    tokens = F.normalize(tokens, dim=-1)
    return tokens.transpose(1, 2).reshape(images.shape[0], -1, h, w)


def _encoder_state(model: torch.nn.Module, dtype=torch.float16) -> dict[str, torch.Tensor]:
    """The model's state dict, stored as ``dtype`` (fp16 by default, like real releases)."""
    return {k: v.detach().clone().to(dtype) for k, v in model.state_dict().items()}


@pytest.fixture
def make_source():
    return _make_source


@pytest.fixture
def timm_features():
    return _timm_features


@pytest.fixture
def encoder_state():
    return _encoder_state


@pytest.fixture
def source():
    return _make_source()


@pytest.fixture
def images():
    torch.manual_seed(1)
    return torch.randn(2, 3, 224, 224)


# --- synthetic checkpoints in each published layout (the inverse of vprop's adapters) ---

def _head(dim: int) -> dict[str, torch.Tensor]:
    return {"head.mlp.0.weight": torch.randn(8, dim), "head.last_layer.weight_g": torch.ones(1)}


def _write_dino(state):
    dim = state["cls_token"].shape[-1]
    teacher = {f"backbone.{k}": v for k, v in state.items()} | _head(dim)
    student = {f"module.backbone.{k}": v + 1 for k, v in state.items()} | _head(dim)
    return {"teacher": teacher, "student": student, "epoch": 100}


def _write_dinov2(state):
    """DINOv2's release layout from a timm state dict (registers: class pos-embed unfolded)."""
    out = dict(state)
    dim = state["cls_token"].shape[-1]
    out["mask_token"] = torch.zeros(1, dim, dtype=state["cls_token"].dtype)
    if "reg_token" in out:
        out["register_tokens"] = out.pop("reg_token")
        pos_cls = torch.randn(1, 1, dim).to(state["cls_token"].dtype)
        out["cls_token"] = (state["cls_token"].double() - pos_cls.double()).to(pos_cls.dtype)
        out["pos_embed"] = torch.cat([pos_cls, state["pos_embed"]], dim=1)
    return out


def _write_mae(state):
    dim = state["cls_token"].shape[-1]
    extra = {"mask_token": torch.zeros(1, 1, dim), "decoder_embed.weight": torch.randn(16, dim),
             "decoder_blocks.0.norm1.weight": torch.ones(16)}
    return {"model": {**state, **extra}, "epoch": 399}


def _write_cropmae(state):
    dim = state["cls_token"].shape[-1]
    extra = {"mask_token": torch.zeros(1, 1, dim),
             "decoder_blocks.0.multihead_attn.in_proj_weight": torch.randn(48, 16)}
    return {"model": {**state, **extra}}


def _write_crw(state):
    model = {f"module.encoder.model.{k}": v for k, v in state.items()}
    model["module.selfsim_fc.0.weight"] = torch.randn(8, 8)
    return {"model": model, "optimizer": {"state": {}}, "epoch": 24}


def _write_moco(state):
    sd = {f"module.encoder_q.{k}": v for k, v in state.items()}
    sd |= {f"module.encoder_k.{k}": v + 1 for k, v in state.items()}
    sd |= {"module.encoder_q.fc.0.weight": torch.randn(8, 8), "module.queue": torch.randn(8, 4)}
    return {"epoch": 800, "arch": "resnet50", "state_dict": sd}


def _write_simsiam(state):
    sd = {f"module.encoder.{k}": v for k, v in state.items()}
    sd |= {"module.encoder.fc.0.weight": torch.randn(8, 8),
           "module.predictor.0.weight": torch.randn(8, 8)}
    return {"epoch": 100, "state_dict": sd}


def _write_vfs(state):
    sd = {f"backbone.{k}": v for k, v in state.items()}
    sd |= {"cls_head.fc.weight": torch.randn(4, 8)}
    return {"meta": {"epoch": 500}, "state_dict": sd}


def _write_plain(state):
    dim = next(iter(state.values())).shape[0]
    return {**state, "fc.weight": torch.randn(10, dim), "head.weight": torch.randn(10, dim)}


WRITERS = {"dino": _write_dino, "dinov2": _write_dinov2, "mae": _write_mae,
           "cropmae": _write_cropmae, "crw": _write_crw, "moco": _write_moco,
           "simsiam": _write_simsiam, "vfs": _write_vfs, "plain": _write_plain}


@pytest.fixture
def writers():
    return WRITERS
