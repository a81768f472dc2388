"""Reading checkpoint files without running code from them.

* Files are read with ``torch.load(weights_only=True)``: tensors and plain containers only.
  Training checkpoints that pickle an ``argparse.Namespace`` (MAE, DINO, CropMAE) load as
  they are: ``Namespace`` is allow-listed with ``torch.serialization.safe_globals``.
* PyTorch Lightning ``.ckpt`` files pickle their hyper-parameters in Lightning's
  ``AttributeDict`` (and sometimes OmegaConf containers). vprop does not import Lightning: the
  names in :data:`INERT_CONTAINERS` are mapped to :class:`InertContainer`, which becomes a
  plain ``OrderedDict`` and runs no code of the file's: the tensors load and the
  hyper-parameters become inert data. Any other object is refused (``--unsafe-load``
  reads it, after a warning).
* ``.safetensors`` files (or any file with a safetensors header) go through
  ``safetensors.torch.load_file``.
"""

from __future__ import annotations

import argparse
import logging
import re
import struct
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from vprop.errors import VpropError

logger = logging.getLogger(__name__)


class InertContainer:
    """Stands in for a pickled container class vprop does not import.

    Unpickling "creates" one by calling ``__new__``, which returns a plain ``OrderedDict``
    (no code of the file's runs): the container's items land in it, and attributes the
    pickle restores land in the ``OrderedDict``'s ``__dict__``.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> OrderedDict:  # noqa: D102
        return OrderedDict()


#: Fully qualified names of harmless container classes read as :class:`InertContainer`.
INERT_CONTAINERS = (
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "lightning.pytorch.utilities.parsing.AttributeDict",
    "omegaconf.dictconfig.DictConfig",
    "omegaconf.listconfig.ListConfig",
    "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata",
    "omegaconf.nodes.AnyNode",
)


def _safe_globals() -> list[Any]:
    inert = [(type(name.rsplit(".", 1)[1], (InertContainer,), {}), name)
             for name in INERT_CONTAINERS]
    return [argparse.Namespace, *inert]


def is_safetensors(path: Path) -> bool:
    """True for a ``.safetensors`` name or a file starting with a safetensors header."""
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 0 < header_len < path.stat().st_size


#: What a refusal of ``weights_only`` suggests by default (``vprop eval``'s ``--unsafe-load``).
UNSAFE_LOAD_ADVICE = "if you trust this file, pass --unsafe-load (unsafe_load=True)"


def read_checkpoint(path: str | Path, unsafe_load: bool = False,
                    advice: str = UNSAFE_LOAD_ADVICE) -> tuple[Any, bool]:
    """Read a checkpoint file without executing code from it (unless ``unsafe_load``).

    Args:
        path: A ``torch.save`` / Lightning file or a ``.safetensors`` file.
        unsafe_load: Allow arbitrary pickled objects (can run code from the file); warns.
        advice: What the message of a refused pickle suggests (callers without an
            ``--unsafe-load`` flag say why the file should not need it).

    Returns:
        (content, read_from_safetensors).

    Raises:
        VpropError: Missing, unreadable or corrupt file, or a pickle that ``weights_only``
            refuses (the message suggests ``--unsafe-load``).
    """
    path = Path(path)
    if not path.is_file():
        raise VpropError("checkpoint file not found", path)
    if is_safetensors(path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu"), True
        except (SafetensorError, OSError, ValueError) as err:
            raise VpropError(f"cannot read safetensors file: {first_line(err)}", path) from None
    if unsafe_load:
        message = f"unsafe_load: unpickling {path} may run arbitrary code from the file"
        warnings.warn(message, UserWarning, stacklevel=2)
        logger.warning(message)
        return _torch_load(path, weights_only=False, advice=advice), False
    with torch.serialization.safe_globals(_safe_globals()):
        return _torch_load(path, weights_only=True, advice=advice), False


def _torch_load(path: Path, weights_only: bool, advice: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as err:  # torch raises many types for bad files
        if weights_only and "weights only load failed" in str(err).lower():
            raise VpropError(weights_only_message(str(err), advice), path) from None
        raise VpropError(f"cannot read checkpoint (corrupt or not a checkpoint): "
                         f"{first_line(err)}", path) from None


def weights_only_message(text: str, advice: str = UNSAFE_LOAD_ADVICE) -> str:
    """Explain a ``weights_only`` refusal: a non-tensor object, or not a pickle at all."""
    found = re.search(r"GLOBAL (\S+)", text)
    if found:
        return f"refusing to unpickle a non-tensor object ({found.group(1)}); {advice}"
    found = re.search(r"WeightsUnpickler error:\s*(.+?)\n", text)
    detail = found.group(1).strip() if found else "unknown pickle content"
    return (f"cannot read checkpoint safely (corrupt, or not a tensor-only pickle: {detail}); "
            f"{advice}")


def first_line(err: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
