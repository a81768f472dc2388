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
