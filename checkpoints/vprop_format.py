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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vprop.errors import VpropError
from vprop.utils import atomic_write

FORMAT_TAG = "vprop-pretrain"
FORMAT_VERSION = 1
_TENSORS_ONLY = ("vprop pretraining checkpoints hold tensors only, and unpickling other objects "
                 "can run code from the file")


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
    """Load a ``vprop-pretrain`` checkpoint (the whole training state) safely onto the CPU.

    The file is read by :func:`vprop.checkpoints.reading.read_checkpoint` (``weights_only``:
    no code of the file runs), like any checkpoint ``vprop eval`` reads.

    Raises:
        VpropError: Missing or unreadable file, a refused pickle, or not a vprop checkpoint of
            a known version; the message names the file.
    """
    from vprop.checkpoints.reading import read_checkpoint

    payload, _ = read_checkpoint(path, advice=_TENSORS_ONLY)
    try:
        check_metadata(payload)
    except VpropError as error:
        raise VpropError(str(error), path) from None
    return payload
