"""Pure adapters for published checkpoints outside the ViT-MAE family.

Each takes what the file held and returns an :class:`AdaptedCheckpoint` under timm key names:

* ``dinov2``: DINOv2's released ``.pth`` (a bare state dict; ``mask_token``; with registers,
  ``register_tokens`` and a position embedding that includes the class token). As timm's own
  DINOv2 conversion: ``register_tokens`` -> ``reg_token``; for register models (timm builds
  them with ``no_embed_class=True``) the class token's position embedding is folded into
  ``cls_token``; SwiGLU ``w12``/``w3`` -> ``fc1``/``fc2``; ``mask_token`` dropped.
* ``lightning``: a PyTorch Lightning ``.ckpt`` (``state_dict`` with a module prefix, pickled
  hyper-parameters): the encoder is the sub-tree holding the backbone's anchor tensor
  (``patch_embed.proj.weight`` or ResNet ``layer1.0.conv1.weight``); with several, the
  teacher's, else the shortest prefix (the online encoder, not a momentum copy).
* ``crw``: videowalk's ``pretrained.pth`` (``{'model': {'encoder.model.*': ResNet-18}}``);
  records ``padding_mode='reflect'`` (CRW trained its encoder with reflect padding).
* ``moco`` / ``simsiam`` / ``vfs``: ``state_dict`` with ``module.encoder_q.`` (MoCo),
  ``module.encoder.`` (SimSiam) or ``backbone.`` (VFS, mmaction) prefixes; ``fc`` dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from vprop.checkpoints.formats_base import (
    AdaptedCheckpoint,
    is_classifier,
    split,
    strip_prefixes,
    tensor_dict,
)
from vprop.errors import VpropError

ANCHORS = ("patch_embed.proj.weight", "layer1.0.conv1.weight")


def adapt_dinov2(raw: Mapping) -> AdaptedCheckpoint:
    """DINOv2 release: registers renamed, class pos-embed folded for register models."""
    state = dict(strip_prefixes(tensor_dict(raw, "checkpoint")))
    dropped = [k for k in ("mask_token",) if state.pop(k, None) is not None]
    if "register_tokens" in state:
        if "pos_embed" not in state or "cls_token" not in state:
            raise VpropError("register_tokens without cls_token / pos_embed")
        state["reg_token"] = state.pop("register_tokens")
        pos = state.pop("pos_embed")
        state["cls_token"] = state["cls_token"] + pos[:, :1]
        state["pos_embed"] = pos[:, 1:]
    renamed = {}
    for key, value in state.items():
        key = re.sub(r"^(blocks\.\d+\.mlp\.)w12\.", r"\1fc1.", key)
        renamed[re.sub(r"^(blocks\.\d+\.mlp\.)w3\.", r"\1fc2.", key)] = value
    kept, heads = split(renamed, is_classifier)
    return AdaptedCheckpoint(kept, "dinov2", sorted(dropped + heads))


def encoder_prefixes(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Prefixes under which a backbone's anchor tensor appears, sorted."""
    found = set()
    for key in state:
        for anchor in ANCHORS:
            if key == anchor or key.endswith("." + anchor):
                found.add(key[: len(key) - len(anchor)])
    return sorted(found)


def encoder_subtree(state: dict[str, torch.Tensor], prefix: str | None = None
                    ) -> AdaptedCheckpoint:
    """Keep the tensors under one backbone prefix (given, or found by anchor); drop the rest.

    Raises:
        VpropError: No backbone anchor under the prefix.
    """
    prefixes = encoder_prefixes(state)
    if prefix is None:
        teacher = [p for p in prefixes if "teacher" in p]
        prefix = (teacher or sorted(prefixes, key=len) or [None])[0]
    if prefix is None or prefix not in prefixes:
        raise VpropError(f"no backbone under {prefix!r} (found backbones under: "
                         f"{', '.join(repr(p) for p in prefixes) or 'none'})")
    inside = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    outside = sorted(k for k in state if not k.startswith(prefix))
    kept, heads = split(inside, is_classifier)
    meta = {"encoder_prefix": prefix, "other_encoders": [p for p in prefixes if p != prefix]}
    return AdaptedCheckpoint(kept, "", sorted(outside + [prefix + k for k in heads]), meta)


def _named(adapted: AdaptedCheckpoint, name: str, **meta: object) -> AdaptedCheckpoint:
    adapted.format = name
    adapted.meta.update(meta)
    return adapted


def adapt_lightning(raw: Mapping) -> AdaptedCheckpoint:
    """PyTorch Lightning ``.ckpt``: the backbone sub-tree of ``state_dict``."""
    if "state_dict" not in raw:
        raise VpropError("no 'state_dict' entry")
    state = tensor_dict(raw["state_dict"], "checkpoint['state_dict']")
    adapted = encoder_subtree(dict(strip_prefixes(state, ("module.", "_orig_mod."))))
    version = raw.get("pytorch-lightning_version")
    return _named(adapted, "lightning", lightning_version=str(version) if version else None)


def adapt_crw(raw: Mapping) -> AdaptedCheckpoint:
    """Videowalk (CRW) ``pretrained.pth``: ResNet under ``encoder.model.``; reflect padding."""
    if "model" not in raw:
        raise VpropError("no 'model' entry")
    state = dict(strip_prefixes(tensor_dict(raw["model"], "checkpoint['model']"),
                                ("module.",)))
    prefix = "encoder.model." if "encoder.model." in encoder_prefixes(state) else None
    return _named(encoder_subtree(state, prefix), "crw", padding_mode="reflect")


def _adapt_prefixed(raw: Mapping, name: str, prefix: str) -> AdaptedCheckpoint:
    inner = raw.get("state_dict", raw)
    state = dict(strip_prefixes(tensor_dict(inner, f"{name} state dict"), ("module.",)))
    return _named(encoder_subtree(state, prefix), name)


def adapt_moco(raw: Mapping) -> AdaptedCheckpoint:
    """MoCo v1/v2 ``state_dict``: the query encoder ``module.encoder_q.``; fc dropped."""
    return _adapt_prefixed(raw, "moco", "encoder_q.")


def adapt_simsiam(raw: Mapping) -> AdaptedCheckpoint:
    """SimSiam ``state_dict``: ``module.encoder.``; projector (fc) and predictor dropped."""
    return _adapt_prefixed(raw, "simsiam", "encoder.")


def adapt_vfs(raw: Mapping) -> AdaptedCheckpoint:
    """VFS (mmaction) ``state_dict``: ``backbone.``; heads dropped."""
    return _adapt_prefixed(raw, "vfs", "backbone.")
