"""The propagation engine: tensors and a Preset in, soft label maps out; no dataset knowledge."""

from vprop.propagation.frames import stream_features, to_model_input
from vprop.propagation.labels import decode_labels, first_frame_labels, one_hot, resize_ids
from vprop.propagation.presets import PRESETS, Preset, get_preset
from vprop.propagation.propagator import LabelPropagator

__all__ = [
    "PRESETS",
    "LabelPropagator",
    "Preset",
    "decode_labels",
    "first_frame_labels",
    "get_preset",
    "one_hot",
    "resize_ids",
    "stream_features",
    "to_model_input",
]
