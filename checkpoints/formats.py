"""Pure adapters: a checkpoint's raw content -> a timm ``VisionTransformer`` encoder state dict.

Every adapter takes what ``torch.load`` / ``safetensors`` returned and gives back an
:class:`AdaptedCheckpoint`: the encoder weights under timm key names (``cls_token``,
``pos_embed``, ``patch_embed.proj.*``, ``blocks.N.*``, ``norm.*``), the keys it dropped on
purpose (decoders, mask tokens, classifier / DINO heads) and any metadata. Adapters never touch
files or models, never change dtypes, and raise :class:`VpropError` (without a path; the loader
adds it) when the content does not have their layout.

Formats:
    vprop: vprop's own pretraining checkpoint, ``{'model': ..., 'vprop': {'format':
        'vprop-pretrain', 'version': 1, 'arch': ..., ...}, 'optimizer': ..., ...}``.
    cropmae, siammae, mae: ``{'model': state_dict}`` with MAE key names; ``decoder*`` and
        ``mask_token`` dropped (cropmae/siammae decoders use cross-attention blocks).
    dino: ``{'teacher': ..., 'student': ...}`` (teacher preferred), or a bare state dict with
        ``module.`` / ``backbone.`` prefixes; DINO head keys dropped.
    timm, deit: a state dict, bare or under ``'model'`` / ``'state_dict'``; classifier keys
        dropped.
    safetensors, plain: a bare state dict (read from a ``.safetensors`` file / a pickle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from vprop.errors import VpropError

VPROP_FORMAT_TAG = "vprop-pretrain"
VPROP_FORMAT_VERSION = 1

_PREFIXES = ("module.", "_orig_mod.", "backbone.")
_CLASSIFIER_PREFIXES = ("head.", "head_dist.", "fc_norm.", "pre_logits.")


@dataclass
class AdaptedCheckpoint:
    """An encoder state dict under timm names plus what the adapter did.

    Attributes:
        state_dict: Encoder tensors keyed by timm ``VisionTransformer`` names.
        format: The adapter that produced it.
        dropped_keys: Original keys deliberately discarded (decoder, heads, mask token).
        meta: Metadata stored in the checkpoint (vprop format), else empty.
    """

    state_dict: dict[str, torch.Tensor]
    format: str
    dropped_keys: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _tensor_dict(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """Return ``obj`` as a str -> Tensor dict; non-tensor entries are an error."""
    if not isinstance(obj, Mapping) or not obj:
        raise VpropError(f"{where} is not a non-empty dict of tensors")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise VpropError(f"{where} holds non-tensor entries: {', '.join(bad[:5])}")
    return {str(k): v for k, v in obj.items()}


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (DDP ``module.``, compile ``_orig_mod.``, DINO ``backbone.``)."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def _split(
    state: dict[str, torch.Tensor], is_dropped: Callable[[str], bool]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Split a state dict into (kept, dropped key names)."""
    kept = {k: v for k, v in state.items() if not is_dropped(k)}
    return kept, sorted(k for k in state if is_dropped(k))


def _is_mae_extra(key: str) -> bool:
    return key.startswith("decoder") or key == "mask_token"


def _is_classifier(key: str) -> bool:
    return key.startswith(_CLASSIFIER_PREFIXES)


def _model_dict(raw: Mapping, where: str = "checkpoint['model']") -> dict[str, torch.Tensor]:
    if "model" not in raw:
        raise VpropError("no 'model' entry")
    return _strip_prefixes(_tensor_dict(raw["model"], where))


def adapt_vprop(raw: Mapping) -> AdaptedCheckpoint:
    """Read a vprop pretraining checkpoint: encoder keys in ``model``, metadata in ``vprop``."""
    meta = raw.get("vprop")
    if not isinstance(meta, Mapping) or meta.get("format") != VPROP_FORMAT_TAG:
        raise VpropError(f"no 'vprop' metadata with format {VPROP_FORMAT_TAG!r}")
    if meta.get("version") != VPROP_FORMAT_VERSION:
        raise VpropError(
            f"vprop checkpoint version {meta.get('version')!r} is not supported "
            f"(this vprop reads version {VPROP_FORMAT_VERSION})"
        )
    kept, dropped = _split(_model_dict(raw), _is_mae_extra)
    return AdaptedCheckpoint(kept, "vprop", dropped, dict(meta))


def _adapt_mae_family(raw: Mapping, name: str) -> AdaptedCheckpoint:
    kept, dropped = _split(_model_dict(raw), lambda k: _is_mae_extra(k) or _is_classifier(k))
    return AdaptedCheckpoint(kept, name, dropped)


def adapt_cropmae(raw: Mapping) -> AdaptedCheckpoint:
    """CropMAE checkpoint ``{'model': ...}``: decoder and mask token dropped."""
    return _adapt_mae_family(raw, "cropmae")


def adapt_siammae(raw: Mapping) -> AdaptedCheckpoint:
    """SiamMAE checkpoint ``{'model': ...}`` (same layout as CropMAE)."""
    return _adapt_mae_family(raw, "siammae")


def adapt_mae(raw: Mapping) -> AdaptedCheckpoint:
    """MAE checkpoint ``{'model': ...}``: decoder, mask token and classifier dropped."""
    return _adapt_mae_family(raw, "mae")


def adapt_dino(raw: Mapping) -> AdaptedCheckpoint:
    """DINO training checkpoint (teacher preferred over student) or prefixed backbone dict."""
    if "teacher" in raw:
        state = _tensor_dict(raw["teacher"], "checkpoint['teacher']")
    elif "student" in raw:
        state = _tensor_dict(raw["student"], "checkpoint['student']")
    else:
        state = _tensor_dict(raw, "checkpoint")
    kept, dropped = _split(_strip_prefixes(state), _is_classifier)
    return AdaptedCheckpoint(kept, "dino", dropped)


def _adapt_timm_like(raw: Mapping, name: str) -> AdaptedCheckpoint:
    for inner in ("model", "state_dict"):
        if inner in raw and isinstance(raw[inner], Mapping):
            state = _tensor_dict(raw[inner], f"checkpoint[{inner!r}]")
            break
    else:
        state = _tensor_dict(raw, "checkpoint")
    kept, dropped = _split(_strip_prefixes(state), _is_classifier)
    return AdaptedCheckpoint(kept, name, dropped)


def adapt_timm(raw: Mapping) -> AdaptedCheckpoint:
    """Read a timm state dict, bare or under ``model`` / ``state_dict``; classifier dropped."""
    return _adapt_timm_like(raw, "timm")


def adapt_deit(raw: Mapping) -> AdaptedCheckpoint:
    """DeiT release ``{'model': ...}``; classifier dropped."""
    return _adapt_timm_like(raw, "deit")


def adapt_safetensors(raw: Mapping) -> AdaptedCheckpoint:
    """Bare state dict read from a safetensors file."""
    return _adapt_timm_like(raw, "safetensors")


def adapt_plain(raw: Mapping) -> AdaptedCheckpoint:
    """Bare state dict under timm names."""
    return _adapt_timm_like(raw, "plain")


ADAPTERS: dict[str, Callable[[Mapping], AdaptedCheckpoint]] = {
    "vprop": adapt_vprop,
    "cropmae": adapt_cropmae,
    "siammae": adapt_siammae,
    "mae": adapt_mae,
    "dino": adapt_dino,
    "timm": adapt_timm,
    "deit": adapt_deit,
    "safetensors": adapt_safetensors,
    "plain": adapt_plain,
}
FORMATS = tuple(ADAPTERS)


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(v, torch.Tensor) for v in obj.values()
    )


def detect_format(raw: Any, from_safetensors: bool = False) -> str:
    """Guess a checkpoint's format from its keys.

    Order: ``vprop`` metadata; DINO ``teacher``/``student``; ``model`` with a cross-attention
    decoder (``cropmae``; SiamMAE has the same layout, pick it with an override) or another
    decoder / mask token (``mae``); ``model`` without decoder: ``deit`` with classifier keys,
    else ``mae`` (an encoder-only MAE/CropMAE export); ``state_dict``
    (``timm``); a bare tensor dict: ``safetensors`` when read from such a file, ``dino`` when
    its keys carry ``backbone.`` prefixes, else ``plain``.

    Args:
        raw: What the checkpoint file held.
        from_safetensors: The content was read from a safetensors file.

    Returns:
        A key of :data:`ADAPTERS`.

    Raises:
        VpropError: No known layout matches; the message lists the formats tried.
    """
    if from_safetensors:
        return "safetensors"
    if isinstance(raw, Mapping):
        meta = raw.get("vprop")
        if isinstance(meta, Mapping) and meta.get("format") == VPROP_FORMAT_TAG:
            return "vprop"
        if _is_tensor_dict(raw.get("teacher")) or _is_tensor_dict(raw.get("student")):
            return "dino"
        model = raw.get("model")
        if _is_tensor_dict(model):
            names = list(_strip_prefixes(dict(model)))
            if any(k.startswith("decoder_blocks.") and ".multihead_attn." in k for k in names):
                return "cropmae"
            if any(_is_mae_extra(k) for k in names):
                return "mae"
            return "deit" if any(_is_classifier(k) for k in names) else "mae"
        if _is_tensor_dict(raw.get("state_dict")):
            return "timm"
        if _is_tensor_dict(raw):
            if any(str(k).startswith(("backbone.", "module.backbone.")) for k in raw):
                return "dino"
            return "plain"
    top = list(raw)[:8] if isinstance(raw, Mapping) else type(raw).__name__
    raise VpropError(
        f"unrecognised checkpoint layout (top level: {top}); tried formats: "
        f"{', '.join(FORMATS)}; pass an explicit ckpt_format if it is one of them"
    )


def adapt(raw: Any, ckpt_format: str = "auto", from_safetensors: bool = False
          ) -> AdaptedCheckpoint:
    """Convert raw checkpoint content to a timm encoder state dict.

    Args:
        raw: What the checkpoint file held.
        ckpt_format: ``'auto'`` or a key of :data:`ADAPTERS`.
        from_safetensors: The content was read from a safetensors file (used by ``'auto'``).

    Returns:
        The adapted checkpoint.

    Raises:
        VpropError: Unknown format name, undetectable layout, or content not in that format.
    """
    if ckpt_format == "auto":
        ckpt_format = detect_format(raw, from_safetensors)
    if ckpt_format not in ADAPTERS:
        raise VpropError(
            f"unknown checkpoint format {ckpt_format!r}; known: auto, {', '.join(FORMATS)}"
        )
    if not isinstance(raw, Mapping):
        raise VpropError(f"checkpoint holds a {type(raw).__name__}, not a dict")
    try:
        return ADAPTERS[ckpt_format](raw)
    except VpropError as err:
        raise VpropError(f"not a {ckpt_format!r} checkpoint: {err}") from None
