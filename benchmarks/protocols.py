"""Protocol knowledge per task and preset, as data: input-size rules, score sizes, decode top-k.

Each entry names the reference code it comes from. Tasks look their protocol up here by preset
name (a table lookup with a default, never a branch), so a new preset is one line per task.
The engine's own parameters (temperature, top-k, normalisation, nearest-resize library, ...)
live in :mod:`vprop.propagation.presets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vprop.benchmarks.sizes import fit_to_stride, long_side_size, short_side_size
from vprop.errors import VpropError


@dataclass(frozen=True)
class SizeRule:
    """How the backbone input size follows from a frame's size.

    Attributes:
        kind: ``fixed`` (``size`` for landscape frames, transposed for portrait ones),
            ``native`` (the frame's size; floored to the feature stride unless the backbone
            pads partial cells, like CRW's ResNet), ``short-side`` (short side = ``side``,
            long side scaled and floored to ``multiple``) or ``long-side`` (the converse).
        size: (height, width) of a ``fixed`` rule.
        side: The side length of a ``short-side`` / ``long-side`` rule.
        multiple: What the other side is floored to.
    """

    kind: Literal["fixed", "native", "short-side", "long-side"]
    size: tuple[int, int] | None = None
    side: int | None = None
    multiple: int | None = None

    def resolve(self, frame_hw: tuple[int, int], stride: int, pads: bool) -> tuple[int, int]:
        """The (height, width) input for a frame of ``frame_hw`` and a backbone's stride.

        The published sizes are for /8 and /16 backbones; for another stride (DINOv2's 14)
        they are floored to whole cells (:func:`~vprop.benchmarks.sizes.fit_to_stride`).
        """
        height, width = frame_hw
        if self.kind == "native":
            return (height, width) if pads else fit_to_stride(frame_hw, stride)
        if self.kind == "fixed":
            size = self.size if width >= height else (self.size[1], self.size[0])
        elif self.kind == "short-side":
            size = short_side_size(frame_hw, self.side, self.multiple)
        elif self.kind == "long-side":
            size = long_side_size(frame_hw, self.side, self.multiple)
        else:
            raise VpropError(f"unknown size rule {self.kind!r}")
        return fit_to_stride(size, stride)

    def describe(self) -> str:
        """A short human-readable form (README, results.json)."""
        if self.kind == "fixed":
            return f"{self.size[0]}x{self.size[1]}"
        if self.kind == "native":
            return "native (floored to the stride unless the backbone pads)"
        return f"{self.kind} {self.side}, other side floored to x{self.multiple}"


@dataclass(frozen=True)
class DavisProtocol:
    """DAVIS-2017 settings of one preset.

    Attributes:
        input_size: Backbone input rule.
        score_size: (height, width) predictions are written at and scored against (ground
            truth nearest-resized with OpenCV, as the CropMAE loader), or ``None`` for each
            sequence's native size (the official protocol).
    """

    input_size: SizeRule
    score_size: tuple[int, int] | None = None


DAVIS: dict[str, DavisProtocol] = {
    # CropMAE start.py davis_prop_args crop_size=[480, 880]; src/data/vos.py resizes to it.
    # Scored natively by default (official DAVIS); `--score-size 480x880` is the paper's
    # DAVIS_480_880 protocol (Table 1).
    "cropmae": DavisProtocol(SizeRule("fixed", size=(480, 880))),
    # videowalk README: --cropSize -1 (native frames; ResNet stride 8 gives ceil(size / 8)).
    "crw": DavisProtocol(SizeRule("native")),
    # DINO eval_video_segmentation.py read_frame: short side 480, long side floored to x64.
    "dino": DavisProtocol(SizeRule("short-side", side=480, multiple=64)),
}
DAVIS_DEFAULT = DavisProtocol(SizeRule("native"))

# JHMDB: frames resized to 320x320 for every preset (CRW/CropMAE jhmdb.py).
JHMDB_INPUT = SizeRule("fixed", size=(320, 320))
# JHMDB decode: cells averaged per joint. CRW test_utils.process_pose(topk=3); CropMAE's
# src/utils/test_utils.py uses 5 (the default for every other preset).
JHMDB_DECODE_TOPK: dict[str, int] = {"crw": 3}
JHMDB_DECODE_TOPK_DEFAULT = 5

# VIP: long side 880, short side floored to x64 (CropMAE start.py vip crop_size=[880],
# src/data/vos.py); top-10 instead of top-7 for the cropmae preset (vip_prop_args topk=10).
VIP_INPUT = SizeRule("long-side", side=880, multiple=64)
VIP_PRESET_OVERRIDES: dict[str, dict[str, object]] = {"cropmae": {"topk": 10}}


def davis_protocol(preset_name: str) -> DavisProtocol:
    """The DAVIS protocol of a preset (native input and scoring for unknown presets)."""
    return DAVIS.get(preset_name, DAVIS_DEFAULT)


def jhmdb_decode_topk(preset_name: str) -> int:
    """Cells averaged per joint when decoding JHMDB keypoints for a preset."""
    return JHMDB_DECODE_TOPK.get(preset_name, JHMDB_DECODE_TOPK_DEFAULT)
