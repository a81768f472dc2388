"""Building blocks of the checkpoint adapters: the result type and pure dict helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from vprop.errors import VpropError

WRAPPER_PREFIXES = ("module.", "_orig_mod.", "backbone.")
CLASSIFIER_PREFIXES = ("head.", "head_dist.", "fc_norm.", "pre_logits.", "fc.")


@dataclass
class AdaptedCheckpoint:
    """An encoder state dict under timm names plus what the adapter did.

    Attributes:
        state_dict: Encoder tensors keyed by timm model names.
        format: The adapter that produced it.
        dropped_keys: Original keys deliberately discarded (decoder, heads, mask token).
        meta: Metadata stored in or implied by the checkpoint (vprop arch, CRW padding...).
    """

    state_dict: dict[str, torch.Tensor]
    format: str
    dropped_keys: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def tensor_dict(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """Return ``obj`` as a str -> Tensor dict; non-tensor entries are an error."""
    if not isinstance(obj, Mapping) or not obj:
        raise VpropError(f"{where} is not a non-empty dict of tensors")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise VpropError(f"{where} holds non-tensor entries: {', '.join(bad[:5])}")
    return {str(k): v for k, v in obj.items()}


def is_tensor_dict(obj: Any) -> bool:
    """True for a non-empty mapping whose values are all tensors."""
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(v, torch.Tensor) for v in obj.values())


def strip_prefixes(state: Mapping[str, torch.Tensor],
                   prefixes: tuple[str, ...] = WRAPPER_PREFIXES) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (DDP ``module.``, compile ``_orig_mod.``, DINO ``backbone.``)."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def split(state: dict[str, torch.Tensor], is_dropped: Callable[[str], bool]
          ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Split a state dict into (kept, dropped key names)."""
    kept = {k: v for k, v in state.items() if not is_dropped(k)}
    return kept, sorted(k for k in state if is_dropped(k))


def is_classifier(key: str) -> bool:
    """Classifier / projection-head keys of ViTs (``head.``...) and CNNs (``fc.``)."""
    return key.startswith(CLASSIFIER_PREFIXES)
