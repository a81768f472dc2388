"""vprop's own checkpoint format (``vprop-pretrain``): the one place that defines it.

Layout (every entry loadable with ``torch.load(weights_only=True)``)::

    {'model': {timm encoder keys at top level, decoder* keys, 'mask_token'},
     'vprop': {'format': 'vprop-pretrain', 'version': 1, 'arch', 'method', 'img_size',
               'patch_size'},
     'optimizer': ..., 'scaler': ..., 'epoch': int, 'step': int, 'rng': {...},
     'args': {resolved config}, 'progress': {'steps_per_epoch', 'total_steps'}}

Only ``model`` and ``vprop`` (with ``format``, ``version`` and ``arch``) are needed to read the
encoder (``vprop eval``, :func:`vprop.checkpoints.formats.adapt_vprop`); the rest is the
training state that ``vprop pretrain --resume`` restores. Writers use :func:`save` (temporary
file, fsync, rename: a crash never leaves half a checkpoint); readers use :func:`load` (whole
training state) or the adapter (encoder only), both through :func:`check_metadata`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vprop.errors import VpropError
from vprop.utils import atomic_write

FORMAT_TAG = "vprop-pretrain"
FORMAT_VERSION = 1


def metadata(arch: str, **fields: Any) -> dict[str, Any]:
    """The ``vprop`` entry of a checkpoint: format tag, version, arch, then ``fields``."""
    return {"format": FORMAT_TAG, "version": FORMAT_VERSION, "arch": arch, **fields}


def is_vprop(raw: Any) -> bool:
    """Whether ``raw`` (what a checkpoint file held) carries the ``vprop-pretrain`` tag."""
    meta = raw.get("vprop") if isinstance(raw, Mapping) else None
    return isinstance(meta, Mapping) and meta.get("format") == FORMAT_TAG


def check_metadata(raw: Any) -> dict[str, Any]:
    """Return the ``vprop`` metadata of a checkpoint's content after checking tag and version.

    Raises:
        VpropError: No ``vprop-pretrain`` tag, or a version this vprop does not read (the
            message names no file; callers add it).
    """
    if not is_vprop(raw):
        raise VpropError(f"not a vprop pretraining checkpoint (no 'vprop' metadata with format "
                         f"tag {FORMAT_TAG!r})")
    meta = dict(raw["vprop"])
    if meta.get("version") != FORMAT_VERSION:
        raise VpropError(f"vprop checkpoint version {meta.get('version')!r} is not supported "
                         f"(this vprop reads version {FORMAT_VERSION})")
    return meta


def save(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with ``torch.save`` atomically and durably (fsync before the rename).

    Raises:
        OSError: The write failed (no space, ...); the error names ``path``, and the previous
            file at ``path`` (if any) is left intact.
    """
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def load(path: str | Path) -> dict[str, Any]:
    """Load a ``vprop-pretrain`` checkpoint safely (``weights_only``) onto the CPU.

    Raises:
        VpropError: Missing or unreadable file, or not a vprop checkpoint of a known version.
    """
    path = Path(path)
    if not path.is_file():
        raise VpropError("checkpoint not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds on bad files
        raise VpropError(_load_failure(str(error) or type(error).__name__), path) from None
    try:
        check_metadata(payload)
    except VpropError as error:
        raise VpropError(str(error), path) from None
    return payload


def _load_failure(text: str) -> str:
    """The one-line reason for a checkpoint that torch.load refused or could not read."""
    found = re.search(r"GLOBAL (\S+)", text)
    if found and "weights only load failed" in text.lower():
        return (f"refusing to unpickle a non-tensor object ({found.group(1)}): vprop "
                "pretraining checkpoints hold tensors only, and unpickling other objects can run "
                "code from the file")
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)\n", text)
    first = detail.group(1) if detail else (text.strip().splitlines() or ["unknown error"])[0]
    return f"cannot read checkpoint (corrupt or not a checkpoint: {first.strip()[:200]})"
