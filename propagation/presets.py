"""Propagation presets: the label-propagation parameters each paper's evaluation used.

A preset is frozen; use :meth:`Preset.override` to change fields (the CLI's ``--topk``,
``--temperature``, ...). The papers' values live in :data:`vprop.benchmarks.papers.PAPERS`
(with each task's protocol), so the engine knows no paper and no dataset.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from vprop.errors import VpropError

# Torch-free constants of the protocols (frames.py and labels.py import them from here).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_RESIZES = ("float", "uint8")  # resize the float image, or the uint8 image (DINO)
NEAREST_METHODS = ("opencv", "pil")  # nearest resize of label maps to the frame
# Screened affinities re-score this many times top-k candidates per query exactly (engine and
# resume signature read it from here).
SCREEN_FACTOR = 3

FIRST_FRAME_OUTPUTS = ("decoded", "ground-truth")


@dataclass(frozen=True)
class Preset:
    """Parameters of the propagation engine.

    Attributes:
        name: Preset name (``cropmae``, ``crw``, ``dino``).
        temperature: Softmax temperature applied to the top-k cosine affinities.
        topk: Number of context patches kept per query patch, jointly over all context frames.
        radius: Spatial neighbourhood radius in feature-grid cells; ``<= 0`` disables it.
        shape: ``circle`` (Euclidean distance ``< radius``) or ``square`` (Chebyshev ``<= radius``).
        context: Number of previous frames (soft predictions) kept in the queue.
        restrict_first: Whether the radius also restricts the first (ground-truth) frame.
        pad_start: Start with the queue full of copies of frame 0 (CRW/CropMAE), not
            empty (DINO).
        label_downsample: ``bilinear`` (soft one-hot, CRW/CropMAE) or ``nearest`` (DINO)
            from labels to the feature grid.
        minmax_output: Min-max normalise each upsampled channel before the argmax (DINO).
        pos_embed: Position-embedding resampling mode of the backbone (``dino`` or ``exact``).
        mean: Per-channel mean of the input normalisation ([0, 1] scale).
        std: Per-channel standard deviation of the input normalisation.
        input_resize: ``float`` (resize the [0, 1] float frame, CRW/CropMAE) or ``uint8``
            (``cv2.resize`` the uint8 frame, then scale, DINO).
        nearest: Library of every nearest resize of label maps (first-frame labels, output
            to the frame size): ``opencv`` (CRW/CropMAE) or ``pil`` (DINO).
        first_frame_output: What is written for frame 0: ``decoded`` (its grid labels
            decoded like any frame, CropMAE/CRW) or ``ground-truth`` (the annotation, DINO).
    """

    name: str
    temperature: float
    topk: int
    radius: float
    shape: Literal["circle", "square"]
    context: int
    restrict_first: bool
    pad_start: bool
    label_downsample: Literal["bilinear", "nearest"]
    minmax_output: bool
    pos_embed: Literal["dino", "exact"] = "dino"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_resize: Literal["float", "uint8"] = "float"
    nearest: Literal["opencv", "pil"] = "opencv"
    first_frame_output: Literal["decoded", "ground-truth"] = "decoded"

    def __post_init__(self) -> None:
        numbers = {"temperature": self.temperature, "radius": self.radius,
                   "mean": self.mean, "std": self.std}
        for field, value in numbers.items():
            values = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise VpropError(f"{field} must be finite, got {value}")
        if self.temperature <= 0:
            raise VpropError(f"temperature must be > 0, got {self.temperature}")
        if self.topk < 1:
            raise VpropError(f"topk must be >= 1, got {self.topk}")
        if self.context < 0:
            raise VpropError(f"context must be >= 0, got {self.context}")
        if self.shape not in ("circle", "square"):
            raise VpropError(f"neighbourhood shape must be circle or square, got {self.shape!r}")
        if self.label_downsample not in ("bilinear", "nearest"):
            raise VpropError(
                f"label_downsample must be bilinear or nearest: {self.label_downsample!r}"
            )

        choices = {"input_resize": INPUT_RESIZES, "nearest": NEAREST_METHODS,
                   "first_frame_output": FIRST_FRAME_OUTPUTS}
        for field, allowed in choices.items():
            if getattr(self, field) not in allowed:
                raise VpropError(f"{field} must be one of {allowed}, got {getattr(self, field)!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise VpropError(f"mean/std need 3 channels and std > 0: {self.mean}, {self.std}")

    def override(self, **changes: object) -> Preset:
        """Return a copy with the given fields replaced; ``None`` values are ignored."""
        changes = {key: value for key, value in changes.items() if value is not None}
        unknown = set(changes) - {field.name for field in dataclasses.fields(self)}
        if unknown:
            raise VpropError(f"unknown preset fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def override_text(self, assignments: tuple[str, ...] | list[str]) -> Preset:
        """Return a copy with ``FIELD=VALUE`` assignments applied (``vprop eval --preset-set``).

        Values are parsed after the field's current type: ``true``/``false`` for flags,
        comma-separated numbers for ``mean``/``std``, numbers and words otherwise.

        Raises:
            VpropError: Unknown field, the ``name`` field, or a value of the wrong form.
        """
        changes: dict[str, object] = {}
        names = {field.name for field in dataclasses.fields(self)} - {"name"}
        for text in assignments:
            key, sep, raw = (part.strip() for part in text.partition("="))
            if not sep or key not in names:
                raise VpropError(f"--preset-set {text!r}: expected FIELD=VALUE with FIELD one "
                                 f"of {sorted(names)}")
            changes[key] = _parse_value(getattr(self, key), raw, text)
        try:
            return self.override(**changes)
        except VpropError as error:
            raise VpropError(f"--preset-set: {error}") from None

    def to_dict(self) -> dict[str, object]:
        """Return the preset as a plain dict (for results.json)."""
        return dataclasses.asdict(self)


def _parse_value(current: object, raw: str, text: str) -> object:
    """Parse ``raw`` as a value of ``current``'s type."""
    try:
        if isinstance(current, bool):
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return raw.lower() == "true"
        if isinstance(current, tuple):
            return tuple(float(part) for part in raw.split(","))
        if isinstance(current, (int, float)):
            return type(current)(float(raw)) if isinstance(current, float) else int(raw)
    except ValueError:
        raise VpropError(f"--preset-set {text!r}: cannot read {raw!r} as "
                         f"{type(current).__name__}") from None
    return raw
