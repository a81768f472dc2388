"""Torch-free constants of the engine's choices, read by presets and the CLI's option checks.

:mod:`vprop.propagation.frames` and :mod:`vprop.propagation.labels` import torch, OpenCV and
PIL; the preset definitions only need these names, so they live here.
"""

from __future__ import annotations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_RESIZES = ("float", "uint8")  # resize the [0, 1] float frame, or the uint8 frame first
NEAREST_METHODS = ("opencv", "pil")  # library of every nearest resize of label maps
