"""The propagation engine: tensors and a Preset in, soft label maps out; no dataset knowledge.

Names are imported on first use (PEP 562), so that ``vprop.propagation.presets`` (pure
Python) can be read by the CLI without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Preset": "presets",
    "LabelPropagator": "propagator",
    "decode_labels": "labels",
    "first_frame_labels": "labels",
    "one_hot": "labels",
    "resize_ids": "labels",
    "stream_features": "frames",
    "to_model_input": "frames",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
