"""Pure adapters: a checkpoint's raw content -> a timm backbone's state dict; format detection.

Every adapter takes what ``torch.load`` / ``safetensors`` returned and gives back an
:class:`AdaptedCheckpoint`: the encoder weights under timm key names (``cls_token``,
``pos_embed``, ``patch_embed.proj.*``, ``blocks.N.*``, ``norm.*``), the keys it dropped on
purpose (decoders, mask tokens, classifier / DINO heads) and any metadata. Adapters never touch
files or models, never change dtypes, and raise :class:`VpropError` (without a path; the loader
adds it) when the content does not have their layout.

Formats:
    vprop: vprop's own pretraining checkpoint, defined in :mod:`vprop.checkpoints.vprop_format`
        (``{'model': ..., 'vprop': {'format': 'vprop-pretrain', 'version': 1, 'arch': ...}}``).
    cropmae, siammae, mae: ``{'model': state_dict}`` with MAE key names; ``decoder*`` and
        ``mask_token`` dropped (cropmae/siammae decoders use cross-attention blocks).
    dino: ``{'teacher': ..., 'student': ...}`` (teacher preferred), or a bare state dict with
        ``module.`` / ``backbone.`` prefixes; DINO head keys dropped.
    timm, deit: a state dict, bare or under ``'model'`` / ``'state_dict'``; classifier keys
        dropped.
    safetensors, plain: a bare state dict (read from a ``.safetensors`` file / a pickle).
    dinov2, lightning, crw, moco, simsiam, vfs: see :mod:`vprop.checkpoints.foreign`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vprop.checkpoints import foreign, vprop_format
from vprop.checkpoints.formats_base import (
    AdaptedCheckpoint,
    is_classifier,
    is_tensor_dict,
    split,
    strip_prefixes,
    tensor_dict,
)
from vprop.errors import VpropError


def _is_mae_extra(key: str) -> bool:
    return key.startswith("decoder") or key == "mask_token"


def _model_dict(raw: Mapping, where: str = "checkpoint['model']") -> dict[str, Any]:
    if "model" not in raw:
        raise VpropError("no 'model' entry")
    return strip_prefixes(tensor_dict(raw["model"], where))


def adapt_vprop(raw: Mapping) -> AdaptedCheckpoint:
    """Read a vprop pretraining checkpoint: encoder keys in ``model``, metadata in ``vprop``."""
    meta = vprop_format.check_metadata(raw)
    kept, dropped = split(_model_dict(raw), _is_mae_extra)
    return AdaptedCheckpoint(kept, "vprop", dropped, meta)


def _adapt_mae_family(raw: Mapping, name: str) -> AdaptedCheckpoint:
    kept, dropped = split(_model_dict(raw), lambda k: _is_mae_extra(k) or is_classifier(k))
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
        state = tensor_dict(raw["teacher"], "checkpoint['teacher']")
    elif "student" in raw:
        state = tensor_dict(raw["student"], "checkpoint['student']")
    else:
        state = tensor_dict(raw, "checkpoint")
    kept, dropped = split(strip_prefixes(state), is_classifier)
    return AdaptedCheckpoint(kept, "dino", dropped)


def _adapt_timm_like(raw: Mapping, name: str) -> AdaptedCheckpoint:
    for inner in ("model", "state_dict"):
        if inner in raw and isinstance(raw[inner], Mapping):
            state = tensor_dict(raw[inner], f"checkpoint[{inner!r}]")
            break
    else:
        state = tensor_dict(raw, "checkpoint")
    kept, dropped = split(strip_prefixes(state), is_classifier)
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
    "dinov2": foreign.adapt_dinov2,
    "timm": adapt_timm,
    "deit": adapt_deit,
    "safetensors": adapt_safetensors,
    "plain": adapt_plain,
    "lightning": foreign.adapt_lightning,
    "crw": foreign.adapt_crw,
    "moco": foreign.adapt_moco,
    "simsiam": foreign.adapt_simsiam,
    "vfs": foreign.adapt_vfs,
}
FORMATS = tuple(ADAPTERS)


def _detect_model_entry(model: Mapping) -> str:
    """Format of a ``{'model': state_dict}`` checkpoint (CRW, CropMAE, MAE or DeiT)."""
    names = list(strip_prefixes(dict(model), ("module.",)))
    if any(k.startswith("encoder.model.") for k in names):
        return "crw"
    names = list(strip_prefixes(dict(model)))
    if any(k.startswith("decoder_blocks.") and ".multihead_attn." in k for k in names):
        return "cropmae"
    if any(_is_mae_extra(k) for k in names):
        return "mae"
    return "deit" if any(is_classifier(k) for k in names) else "mae"


def _detect_state_dict_entry(raw: Mapping) -> str:
    """Format of a ``{'state_dict': ...}`` checkpoint (Lightning, MoCo, SimSiam, VFS, timm)."""
    if "pytorch-lightning_version" in raw or "hyper_parameters" in raw:
        return "lightning"
    names = list(strip_prefixes(raw["state_dict"], ("module.",)))
    if any(k.startswith("encoder_q.") for k in names):
        return "moco"
    if any(k.startswith("predictor.") for k in names) and any(
            k.startswith("encoder.") for k in names):
        return "simsiam"
    if any(k.startswith("backbone.layer1.") for k in names):
        return "vfs"
    return "timm"


def _detect_bare(raw: Mapping) -> str:
    """Format of a bare tensor dict (DINOv2 release, DINO backbone, plain timm)."""
    if "mask_token" in raw and ("register_tokens" in raw or any(
            ".ls1.gamma" in str(k) for k in raw)):
        return "dinov2"
    if any(str(k).startswith(("backbone.", "module.backbone.")) for k in raw):
        return "dino"
    return "plain"


def detect_format(raw: Any, from_safetensors: bool = False) -> str:
    """Guess a checkpoint's format from its keys.

    Order: ``vprop`` metadata; DINO ``teacher``/``student``; ``model`` (CRW's
    ``encoder.model.`` ResNet; a cross-attention decoder: ``cropmae``, pick ``siammae`` with an
    override; another decoder / mask token: ``mae``; classifier keys: ``deit``; else ``mae``);
    ``state_dict`` (Lightning metadata: ``lightning``; ``encoder_q.``: ``moco``; ``encoder.``
    + ``predictor.``: ``simsiam``; ``backbone.layer1.``: ``vfs``; else ``timm``); a bare tensor
    dict (``safetensors`` when read from such a file; ``mask_token`` with registers or layer
    scale: ``dinov2``; ``backbone.`` prefixes: ``dino``; else ``plain``).

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
        if vprop_format.is_vprop(raw):
            return "vprop"
        if is_tensor_dict(raw.get("teacher")) or is_tensor_dict(raw.get("student")):
            return "dino"
        if is_tensor_dict(raw.get("model")):
            return _detect_model_entry(raw["model"])
        if is_tensor_dict(raw.get("state_dict")):
            return _detect_state_dict_entry(raw)
        if is_tensor_dict(raw):
            return _detect_bare(raw)
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
