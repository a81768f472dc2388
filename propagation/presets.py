"""Propagation presets: the label-propagation parameters each paper's evaluation used.

The numbers come from ``PROTOCOLS.md`` section 1. A preset is frozen; use
:meth:`Preset.override` to change fields (the CLI's ``--topk``, ``--temperature``, ...).
Input sizes are a property of a benchmark, not of the engine, so they live with the tasks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from vprop.errors import VpropError


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

    def __post_init__(self) -> None:
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

    def override(self, **changes: object) -> Preset:
        """Return a copy with the given fields replaced; ``None`` values are ignored."""
        changes = {key: value for key, value in changes.items() if value is not None}
        unknown = set(changes) - {field.name for field in dataclasses.fields(self)}
        if unknown:
            raise VpropError(f"unknown preset fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        """Return the preset as a plain dict (for results.json)."""
        return dataclasses.asdict(self)


PRESETS: dict[str, Preset] = {
    # SiamMAE / CropMAE evaluation code (built on CRW's): T=0.7, top-7, radius 20, 20 frames.
    "cropmae": Preset(
        name="cropmae", temperature=0.7, topk=7, radius=20, shape="circle", context=20,
        restrict_first=False, pad_start=True, label_downsample="bilinear", minmax_output=False,
    ),
    # Contrastive Random Walk (Jabri et al. 2020), test.py defaults.
    "crw": Preset(
        name="crw", temperature=0.07, topk=10, radius=12, shape="circle", context=20,
        restrict_first=False, pad_start=True, label_downsample="bilinear", minmax_output=False,
    ),
    # DINO eval_video_segmentation.py defaults.
    "dino": Preset(
        name="dino", temperature=0.1, topk=5, radius=12, shape="square", context=7,
        restrict_first=True, pad_start=False, label_downsample="nearest", minmax_output=True,
    ),
}


def get_preset(name: str) -> Preset:
    """Return the named preset.

    Raises:
        VpropError: The name is unknown.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise VpropError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
