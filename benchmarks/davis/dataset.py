"""DAVIS-2017 reader (official layout), validating everything a run will touch up front."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vprop.benchmarks.io import image_size, read_indexed_png
from vprop.errors import VpropError


@dataclass(frozen=True)
class DavisSequence:
    """One sequence: its frames and first-frame annotation.

    Attributes:
        name: Sequence name.
        frames: JPEG paths in frame order.
        first_annotation: Path of frame 0's indexed PNG.
        size: (height, width) of the frames.
    """

    name: str
    frames: tuple[Path, ...]
    first_annotation: Path
    size: tuple[int, int]

    def frame_names(self) -> list[str]:
        """Return frame stems (``00000`` ...) used for the output PNG names."""
        return [frame.stem for frame in self.frames]


def read_imageset(root: Path, imageset: str) -> list[str]:
    """Read sequence names from ``ImageSets/<imageset>`` (e.g. ``2017/val.txt``)."""
    path = root / "ImageSets" / imageset
    if not path.is_file():
        raise VpropError("DAVIS image-set list not found", path)
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_sequence(root: Path, name: str, resolution: str = "480p") -> DavisSequence:
    """Locate and check one sequence.

    Args:
        root: The ``DAVIS`` folder.
        name: Sequence name.
        resolution: ``480p`` or ``Full-Resolution``.

    Returns:
        The sequence.

    Raises:
        VpropError: Missing folder, no frames, missing or non-indexed or empty first-frame
            annotation, or annotation size different from the frames'.
    """
    frame_dir = root / "JPEGImages" / resolution / name
    if not frame_dir.is_dir():
        raise VpropError(f"sequence {name!r} not found", frame_dir)
    frames = tuple(sorted(frame_dir.glob("*.jpg")))
    if not frames:
        raise VpropError("no .jpg frames in the sequence folder", frame_dir)
    annotation = root / "Annotations" / resolution / name / f"{frames[0].stem}.png"
    if not annotation.is_file():
        raise VpropError("first-frame annotation not found", annotation)
    labels, _ = read_indexed_png(annotation)
    if not np.any((labels > 0) & (labels < 255)):
        raise VpropError("first-frame annotation has no object (all background)", annotation)
    size = image_size(frames[0])
    if labels.shape != size:
        raise VpropError(
            f"annotation is {labels.shape[1]}x{labels.shape[0]} but frame {frames[0].name} is "
            f"{size[1]}x{size[0]}",
            annotation,
        )
    return DavisSequence(name=name, frames=frames, first_annotation=annotation, size=size)


def load_sequences(
    root: Path, sequences: list[str] | None = None, imageset: str = "2017/val.txt",
    resolution: str = "480p",
) -> list[DavisSequence]:
    """Load and check every requested sequence (all of the image set by default)."""
    if not root.is_dir():
        raise VpropError("DAVIS root folder not found", root)
    names = sequences if sequences else read_imageset(root, imageset)
    return [load_sequence(root, name, resolution) for name in names]
