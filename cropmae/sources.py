"""Find pretraining data on disk: an image folder, videos (folder or list file), frame folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vprop.cropmae.config import DATA_FORMATS
from vprop.cropmae.video import VIDEO_EXTENSIONS
from vprop.errors import VpropError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LIST_EXTENSIONS = (".txt", ".csv", ".lst")


@dataclass(frozen=True)
class Clip:
    """One dataset item: an image, a video file, or a folder of extracted frames.

    Attributes:
        path: The image, the video file or the frame folder.
        frames: For a frame folder, its frame files in temporal (name) order; else empty.
    """

    path: Path
    frames: tuple[Path, ...] = ()


@dataclass(frozen=True)
class DataSource:
    """What was found: the format and the items, sorted for a reproducible order."""

    format: str
    root: Path
    clips: tuple[Clip, ...]


def _walk_files(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        found.extend(Path(folder) / f for f in files if f.lower().endswith(extensions))
    return sorted(found)


def scan_images(root: Path) -> list[Clip]:
    """Every image under ``root``, recursively (ImageNet ``class/xxx.JPEG`` or flat)."""
    return [Clip(path) for path in _walk_files(root, IMAGE_EXTENSIONS)]


def scan_frame_folders(root: Path) -> list[Clip]:
    """Every folder under ``root`` that directly holds image files, as one clip of frames."""
    by_folder: dict[Path, list[Path]] = {}
    for path in _walk_files(root, IMAGE_EXTENSIONS):
        by_folder.setdefault(path.parent, []).append(path)
    return [Clip(folder, tuple(sorted(files))) for folder, files in sorted(by_folder.items())]


def read_video_list(list_file: Path) -> list[Clip]:
    """Videos named one per line in a text file.

    The first comma/space-separated field of a line is the path (K400-style lists carry a
    label after it); relative paths are resolved against the list file's folder; blank lines
    and ``#`` comments are skipped.
    """
    clips = []
    try:
        lines = list_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise VpropError(f"cannot read video list ({error})", list_file) from error
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split(",")[0].split()[0]
        path = Path(name) if Path(name).is_absolute() else list_file.parent / name
        clips.append(Clip(path))
    return clips


def discover(path: str | Path, data_format: str = "auto", method: str = "cropmae") -> DataSource:
    """Resolve ``path`` into a list of clips.

    ``auto``: a list file -> videos; a folder holding video files -> videos; otherwise
    images for CropMAE and frame folders for SiamMAE (which needs temporal pairs).

    Args:
        path: Folder or video list file.
        data_format: auto, images, videos or frames.
        method: cropmae or siammae.

    Returns:
        The data source; raises VpropError if it is empty or unsuitable for the method.
    """
    root = Path(path)
    if data_format not in DATA_FORMATS:
        raise VpropError(f"unknown data format {data_format!r}; use one of {DATA_FORMATS}")
    if not root.exists():
        raise VpropError("data path does not exist", root)
    if root.is_file():
        if data_format not in ("auto", "videos") or not root.name.lower().endswith(LIST_EXTENSIONS):
            raise VpropError("a data file must be a video list (.txt/.csv/.lst)", root)
        return _checked(DataSource("videos", root, tuple(read_video_list(root))), method)
    if data_format == "auto":
        videos = _walk_files(root, VIDEO_EXTENSIONS)
        if videos:
            return _checked(DataSource("videos", root, tuple(Clip(p) for p in videos)), method)
        data_format = "images" if method == "cropmae" else "frames"
    if data_format == "videos":
        clips = tuple(Clip(p) for p in _walk_files(root, VIDEO_EXTENSIONS))
    elif data_format == "frames":
        clips = tuple(scan_frame_folders(root))
    else:
        clips = tuple(scan_images(root))
    return _checked(DataSource(data_format, root, clips), method)


def _checked(source: DataSource, method: str) -> DataSource:
    if not source.clips:
        raise VpropError(f"no {source.format} found", source.root)
    if method == "siammae" and source.format == "images":
        raise VpropError("siammae needs videos or frame folders, not still images", source.root)
    return source
