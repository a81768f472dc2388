"""DAVIS-2017 reader (official layout), validating everything a run will touch up front."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vprop.benchmarks.io import image_size, read_indexed_png
from vprop.errors import VpropError
from vprop.safety import check_inside, check_names, ordered_frames


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
    """Read sequence names from ``ImageSets/<imageset>`` (e.g. ``2017/val.txt``).

    Raises:
        VpropError: Missing or unreadable list, or a line that is not a single folder name.
    """
    path = check_inside(root / "ImageSets" / imageset, root / "ImageSets", "--imageset")
    if not path.is_file():
        raise VpropError("DAVIS image-set list not found", path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise VpropError(f"cannot read the image-set list ({error})", path) from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    return check_names(names, "sequence", path)


def sequence_frames(root: Path, name: str, resolution: str = "480p") -> tuple[Path, ...]:
    """The JPEG frames of a sequence in natural order, checked against its annotations.

    Raises:
        VpropError: No frames, frames that cannot be ordered, a gap in the numbering, or an
            annotation whose JPEG is missing (naming the missing JPEG).
    """
    frame_dir = root / "JPEGImages" / resolution / name
    frames = ordered_frames(frame_dir.glob("*.jpg"), frame_dir, ".jpg")
    if not frames:
        raise VpropError("no .jpg frames in the sequence folder", frame_dir)
    stems = {frame.stem for frame in frames}
    label_dir = root / "Annotations" / resolution / name
    for label in sorted(label_dir.glob("*.png")):
        if label.stem not in stems:
            raise VpropError(f"frame missing: the annotation {label.name} has no JPEG",
                             frame_dir / f"{label.stem}.jpg")
    return frames


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
    frames = sequence_frames(root, name, resolution)
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
    names = check_names(sequences, "sequence", "--sequences") if sequences else read_imageset(
        root, imageset)
    return [load_sequence(root, name, resolution) for name in names]
