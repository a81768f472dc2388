"""Pretraining checkpoints: the ``vprop-pretrain`` layout, written atomically, loaded safely.

Layout (loadable with ``torch.load(weights_only=True)``)::

    {'model': {timm encoder keys at top level, decoder* keys, 'mask_token'},
     'vprop': {'format': 'vprop-pretrain', 'version': 1, 'arch', 'method', 'img_size',
               'patch_size'},
     'optimizer': ..., 'scaler': ..., 'epoch': int, 'step': int, 'rng': {...},
     'args': {resolved config}, 'progress': {'steps_per_epoch', 'total_steps'}}
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vprop.errors import VpropError
from vprop.safety import honour_umask

FORMAT_TAG = "vprop-pretrain"
FORMAT_VERSION = 1
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


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with torch.save to a temporary file, fsync, then rename over ``path``.

    A reader (or a crash) never sees a half-written checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        honour_umask(fd)  # mkstemp creates 0600; checkpoints are shared like any other file
        _write_payload(fd, payload, path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_payload(fd: int, payload: dict[str, Any], path: Path) -> None:
    """torch.save into ``fd`` and fsync; any OSError (no space, ...) names ``path``."""
    try:
        with os.fdopen(fd, "wb") as raw:
            handle = _RecordingWriter(raw, path)
            try:
                torch.save(payload, handle)
            except RuntimeError:
                if handle.error is not None:  # torch may wrap the OSError in a RuntimeError
                    raise handle.error from None
                raise
            raw.flush()
            os.fsync(raw.fileno())
    except OSError as error:
        if error.filename is None:
            raise OSError(error.errno, error.strerror or str(error), str(path)) from None
        raise


class _RecordingWriter:
    """A binary file wrapper that remembers the OSError of a failed write, naming ``path``."""

    def __init__(self, raw, path: Path) -> None:
        self.raw, self.path, self.error = raw, path, None

    def write(self, data) -> int:
        """Write through; on failure keep an OSError that names the checkpoint."""
        try:
            return self.raw.write(data)
        except OSError as error:
            self.error = OSError(error.errno, error.strerror or str(error), str(self.path))
            raise

    def flush(self) -> None:
        """Flush the underlying file."""
        try:
            self.raw.flush()
        except OSError as error:
            self.error = OSError(error.errno, error.strerror or str(error), str(self.path))
            raise


def build_payload(*, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler, arch: str, method: str, img_size: int,
                  patch_size: int, epoch: int, step: int, args: dict[str, Any],
                  progress: dict[str, int]) -> dict[str, Any]:
    """Assemble a checkpoint dictionary in the ``vprop-pretrain`` layout."""
    return {
        "model": export_model_state(model),
        "vprop": {"format": FORMAT_TAG, "version": FORMAT_VERSION, "arch": arch,
                  "method": method, "img_size": img_size, "patch_size": patch_size},
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": int(epoch),
        "step": int(step),
        "rng": capture_rng(),
        "args": args,
        "progress": {k: int(v) for k, v in progress.items()},
    }


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a ``vprop-pretrain`` checkpoint safely (weights_only) onto the CPU.

    Raises:
        VpropError: Missing, unreadable, or not a vprop pretraining checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise VpropError("checkpoint not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds on bad files
        raise VpropError(_load_failure(str(error) or type(error).__name__), path) from None
    meta = payload.get("vprop") if isinstance(payload, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_TAG:
        raise VpropError("not a vprop pretraining checkpoint (no 'vprop' format tag)", path)
    if meta.get("version") != FORMAT_VERSION:
        raise VpropError(f"unsupported checkpoint version {meta.get('version')}", path)
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
