"""VIP reader: the official layout and list files.

Layout (``root`` = the VIP folder)::

    Images/videosN/<frame>.jpg
    Annotations/Category_ids/videosN/<frame>.png   # class id per pixel, 0..19, 255 ignored

List files (any subset, one video per line) may be the CRW/CropMAE ``vip_vallist.txt``
(``<...>/Images/videosN <...>/Annotations/Category_ids/videosN``; only the part after
``Images/`` or ``Category_ids/`` is used, resolved against ``root``) or bare ``videosN`` lines.

Every frame is propagated; the frames that have an annotation (same file stem) are scored.
Frame 0 must be annotated, and every annotation must belong to a frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vprop.benchmarks.io import (
    find_list_file,
    frame_order,
    image_size,
    name_after_marker,
    read_indexed_png,
    read_list_file,
)
from vprop.benchmarks.vip.labels import check_class_ids
from vprop.errors import VpropError
from vprop.safety import check_names, ordered_frames

IMAGES_DIR = "Images"
ANNOTATIONS_DIR = ("Annotations", "Category_ids")
DEFAULT_LISTS = ("val_list.txt", "vip_vallist.txt", "val_videos.txt", "lists/val_videos.txt")


@dataclass(frozen=True)
class VipVideo:
    """One video: frames, its annotations, and their sizes.

    Attributes:
        name: ``videosN``.
        frames: JPEG frame paths in order.
        annotations: Annotation paths in frame order (a subset of the frames, frame 0 first).
        size: (height, width) of the frames.
        label_size: (height, width) of the first annotation (predictions are written at it).
    """

    name: str
    frames: tuple[Path, ...]
    annotations: tuple[Path, ...]
    size: tuple[int, int]
    label_size: tuple[int, int]


def read_video_list(path: Path) -> list[str]:
    """Read video names (``videosN``) from a list file.

    Raises:
        VpropError: Missing file, a line naming no video, or an empty list.
    """
    def video_of(tokens: list[str]) -> str | None:
        found = [name for name in (name_after_marker(token, (IMAGES_DIR, ANNOTATIONS_DIR[1]), 1)
                                   for token in tokens) if name is not None]
        if found:
            return found[0]
        return tokens[0] if len(tokens) == 1 and "/" not in tokens[0] else None

    return check_names(read_list_file(path, "VIP video", video_of), "video", path)


def find_video_list(root: Path) -> Path:
    """Return the default video list file in ``root`` (the first of ``DEFAULT_LISTS`` present)."""
    return find_list_file(root, DEFAULT_LISTS, "video list")


def load_video(root: Path, name: str) -> VipVideo:
    """Locate and check one video.

    Raises:
        VpropError: Missing folders, no frames, frame 0 not annotated, an annotation
            without a frame, or a first annotation holding ids other than 0..19 and 255.
    """
    frame_dir = root / IMAGES_DIR / name
    label_dir = root.joinpath(*ANNOTATIONS_DIR, name)
    if not frame_dir.is_dir():
        raise VpropError(f"video {name!r} not found", frame_dir)
    if not label_dir.is_dir():
        raise VpropError(f"annotations of video {name!r} not found", label_dir)
    # numbered frames in numeric order; gaps are allowed (an annotation must have its frame)
    frames = ordered_frames(frame_dir.glob("*.jpg"), frame_dir, ".jpg", contiguous=False)
    if not frames:
        raise VpropError("no .jpg frames in the video folder", frame_dir)
    stems = {frame.stem for frame in frames}
    labels = sorted(label_dir.glob("*.png"), key=frame_order)
    for label in labels:
        if label.stem not in stems:
            raise VpropError(f"annotation has no frame {label.stem}.jpg in {frame_dir}", label)
    first = label_dir / f"{frames[0].stem}.png"
    if not first.is_file():
        raise VpropError("first-frame annotation not found", first)
    ids, _ = read_indexed_png(first)
    check_class_ids(ids, first)
    order = {frame.stem: index for index, frame in enumerate(frames)}
    annotations = tuple(sorted(labels, key=lambda label: order[label.stem]))
    return VipVideo(name, frames, annotations, image_size(frames[0]), ids.shape)


def load_videos(
    root: Path, sequences: list[str] | None = None, split: Path | None = None
) -> list[VipVideo]:
    """Load and check the requested videos: ``sequences`` if given, else the list file's.

    Raises:
        VpropError: Missing root or list, or any bad video (see :func:`load_video`).
    """
    root = Path(root)
    if not root.is_dir():
        raise VpropError("VIP root folder not found", root)
    names = check_names(sequences, "video", "--sequences") if sequences else read_video_list(
        split if split is not None else find_video_list(root)
    )
    return [load_video(root, name) for name in names]
