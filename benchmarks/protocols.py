"""The shape of a task protocol: input-size rules and :class:`TaskProtocol`, with task defaults.

The papers' values (which preset changes which default) live in one table,
:data:`vprop.benchmarks.papers.PAPERS`; tasks read their resolved protocol from there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

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
        """A short human-readable form (start summary, results.json, ``vprop presets``)."""
        if self.kind == "fixed":
            landscape = f"{self.size[0]}x{self.size[1]}"
            if self.size[0] == self.size[1]:
                return landscape
            return f"{landscape} ({self.size[1]}x{self.size[0]} for portrait frames)"
        if self.kind == "native":
            return "native resolution (floored to the stride unless the backbone pads, as CRW's " \
                   "ResNet)"
        short, other = ("short", "long") if self.kind == "short-side" else ("long", "short")
        return f"{short} side {self.side}, {other} side floored to a multiple of {self.multiple}"


OUTPUT_NEARESTS = (None, "opencv", "pil")


@dataclass(frozen=True)
class TaskProtocol:
    """One task's protocol for one preset (resolved from :data:`TASK_DEFAULTS` + a paper).

    Attributes:
        input_size: Backbone input rule.
        preset_overrides: Engine-preset changes this task makes for the paper (e.g. VIP's
            top-10 for cropmae), as ``(field, value)`` pairs; the user's overrides win.
        score_size: DAVIS: (height, width) predictions are written at and scored against, or
            ``None`` for each sequence's native size (the official protocol).
        decode_topk: JHMDB: cells averaged per joint when decoding keypoints.
        output_nearest: Nearest resize of predictions to the annotation size (``pil``,
            ``opencv``), or ``None`` for the preset's ``nearest``.
        source: The reference code this default follows.
    """

    input_size: SizeRule
    preset_overrides: tuple[tuple[str, object], ...] = ()
    score_size: tuple[int, int] | None = None
    decode_topk: int | None = None
    output_nearest: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.output_nearest not in OUTPUT_NEARESTS:
            raise VpropError(f"output_nearest must be one of {OUTPUT_NEARESTS}, got "
                             f"{self.output_nearest!r}")

    def replace(self, **changes: Any) -> TaskProtocol:
        """A copy with fields replaced (a paper's changes to the task default)."""
        if "preset_overrides" in changes:
            changes["preset_overrides"] = tuple(dict(changes["preset_overrides"]).items())
        return dataclasses.replace(self, **changes)

    def overrides(self) -> dict[str, object]:
        """The preset overrides as a dict."""
        return dict(self.preset_overrides)

    def size_rule_text(self, user_size: tuple[int, int] | None) -> str:
        """How the backbone input size is chosen, in words (start summary, results.json)."""
        if user_size is not None:
            return f"{user_size[0]}x{user_size[1]} (--size)"
        text = self.input_size.describe()
        return text if self.input_size.kind == "native" else \
            f"{text}, floored to whole cells of the stride"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``results.json`` and ``vprop presets``."""
        return {"input_size": self.input_size.describe(),
                "preset_overrides": self.overrides(),
                "score_size": None if self.score_size is None else list(self.score_size),
                "decode_topk": self.decode_topk, "output_nearest": self.output_nearest,
                "source": self.source}


TASK_DEFAULTS: dict[str, TaskProtocol] = {
    # The official DAVIS protocol: native frames, predictions scored at the native size.
    "davis": TaskProtocol(SizeRule("native"), source="davis2017-evaluation (native 480p)"),
    # Frames resized to 320x320 for every preset; 5 cells averaged per joint.
    "jhmdb": TaskProtocol(SizeRule("fixed", size=(320, 320)), decode_topk=5,
                          source="CRW/CropMAE jhmdb.py (320x320); CropMAE "
                                 "src/utils/test_utils.py (decode top-5)"),
    # Long side 880, short side floored to x64; predictions PIL-nearest-resized to the labels.
    "vip": TaskProtocol(SizeRule("long-side", side=880, multiple=64), output_nearest="pil",
                        source="CropMAE start.py vip crop_size=[880], src/data/vos.py; "
                               "eval_vip.py (PIL NEAREST)"),
}
