"""Small helpers shared by every room: hashing, atomic writes, environment description."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO

from vprop.safety import honour_umask

_REPORTED_PACKAGES = (
    "vprop", "torch", "torchvision", "timm", "numpy", "scipy", "scikit-image", "pillow",
    "opencv-python-headless", "av",
)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file atomically and durably: the one writer behind every vprop output.

    ``write`` fills a temporary file in the destination folder; the data is flushed and
    fsync'ed, then the temporary file is renamed over ``path``. A reader (or a crash) sees the
    old file or the new one, never a half-written one, and the permissions follow the umask.

    Args:
        path: Destination; parent folders are created.
        write: Called with a binary file object (``write``/``flush``); e.g. ``torch.save``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: The write failed (no space, read-only, ...); the error names ``path`` and the
            temporary file is removed. Anything ``write`` raises passes through.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            honour_umask(raw.fileno())  # mkstemp creates 0600; outputs are shared like others
            handle = _NamingWriter(raw, path)
            try:
                write(handle)
            except Exception:
                if handle.error is not None:  # e.g. torch wraps the OSError in a RuntimeError
                    raise handle.error from None
                raise
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.filename is None:  # a failed write names no file: name the one being written
            raise _naming(error, path) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _naming(error: OSError, path: Path) -> OSError:
    return OSError(error.errno, error.strerror or str(error), str(path))


class _NamingWriter:
    """A binary file wrapper that keeps the OSError of a failed write, naming the target."""

    def __init__(self, raw: BinaryIO, path: Path) -> None:
        self.raw, self.path, self.error = raw, path, None

    def write(self, data: bytes) -> int:
        """Write through; on failure remember an OSError that names the target."""
        try:
            return self.raw.write(data)
        except OSError as error:
            self.error = _naming(error, self.path)
            raise

    def flush(self) -> None:
        """Flush the underlying file (same error handling as :meth:`write`)."""
        try:
            self.raw.flush()
        except OSError as error:
            self.error = _naming(error, self.path)
            raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_write` (temporary file, fsync, rename)."""
    atomic_write(path, lambda handle: handle.write(data))


def finite_or_none(value: Any) -> float | None:
    """``float(value)``, or None for None, NaN and infinities (figures of nothing scored)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (NaN from degenerate sequences) by None, recursively."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return finite_or_none(value) if isinstance(value, float) else value


def atomic_write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as standard JSON (NaN -> null) to ``path`` (:func:`atomic_write`)."""
    text = json.dumps(json_safe(payload), indent=2, sort_keys=False, default=str,
                      allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def package_versions() -> dict[str, str]:
    """Return the versions of Python and the packages that change vprop's numbers."""
    versions = {"python": platform.python_version()}
    for name in _REPORTED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def resolve_device(name: str, local_rank: int = 0):
    """Turn a ``--device`` value into a usable ``torch.device``.

    Args:
        name: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        local_rank: GPU used for a bare ``cuda``/``auto`` (one process per GPU under torchrun).

    Raises:
        VpropError: Unknown device name, or CUDA requested but not available.
    """
    import torch

    from vprop.errors import VpropError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise VpropError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type not in ("cpu", "cuda"):
        raise VpropError(f"unsupported device {name!r}; use cpu, cuda, cuda:N or auto")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise VpropError(f"device {name!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device
