"""Pretraining state <-> the ``vprop-pretrain`` checkpoint layout.

The format itself (tag, version, layout, atomic fsync'ed :func:`save_checkpoint`, safe
:func:`load_checkpoint`) is defined once, in :mod:`vprop.checkpoints.vprop_format`; this module
turns a training run's model, optimiser and RNG states into that layout and back.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from vprop.checkpoints.vprop_format import load as load_checkpoint
from vprop.checkpoints.vprop_format import metadata
from vprop.checkpoints.vprop_format import save as save_checkpoint
from vprop.errors import VpropError

__all__ = ["build_payload", "capture_rng", "encoder_state", "export_model_state",
           "import_model_state", "load_checkpoint", "restore_rng", "save_checkpoint"]
_ENCODER_PREFIX = "encoder."


def export_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State dict with the encoder's timm keys at the top level (``encoder.`` stripped).

    Args:
        model: A :class:`~vprop.cropmae.model.SiameseMAE` (not wrapped in DDP/compile).

    Returns:
        Detached CPU tensors: encoder keys, ``decoder*`` keys and ``mask_token``.
    """
    state = {}
    for key, value in model.state_dict().items():
        name = key[len(_ENCODER_PREFIX):] if key.startswith(_ENCODER_PREFIX) else key
        state[name] = value.detach().cpu().clone()
    return state


def import_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load an :func:`export_model_state` dict back into a model (strict)."""
    encoder_keys = set(model.encoder.state_dict())
    remapped = {
        (_ENCODER_PREFIX + key if key in encoder_keys else key): value
        for key, value in state.items()
    }
    missing, unexpected = model.load_state_dict(remapped, strict=False)
    if missing or unexpected:
        raise VpropError(
            f"checkpoint does not match the model: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )


def encoder_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The encoder alone, timm keys (what ``vprop eval`` consumes)."""
    return {k: v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()}


def capture_rng() -> dict[str, Any]:
    """RNG states of torch (CPU, CUDA), Python and NumPy as tensors / lists / ints."""
    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": [version, list(mt_state), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng` (CUDA states restored when the device count matches)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def build_payload(*, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler, arch: str, method: str, img_size: int,
                  patch_size: int, epoch: int, step: int, args: dict[str, Any],
                  progress: dict[str, int]) -> dict[str, Any]:
    """Assemble a checkpoint dictionary in the ``vprop-pretrain`` layout."""
    return {
        "model": export_model_state(model),
        "vprop": metadata(arch, method=method, img_size=img_size, patch_size=patch_size),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": int(epoch),
        "step": int(step),
        "rng": capture_rng(),
        "args": args,
        "progress": {k: int(v) for k, v in progress.items()},
    }
