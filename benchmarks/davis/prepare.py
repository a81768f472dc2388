"""``vprop prepare davis --resize HxW SRC DST``: a resized DAVIS copy in the official layout.

The CropMAE / SiamMAE papers score DAVIS on a ``DAVIS_480_880`` copy (their file lists point at
it): frames and annotations resized to 880x480. This writes such a copy so that the official
``davis2017-evaluation`` scores predictions written with ``--score-size 480x880`` unchanged:

- frames: the authors' loader's resize (``cv2.imread``, scaled to [0, 1], ``cv2.resize``
  INTER_LINEAR on the float image), rounded back to uint8 and written as JPEG quality 100,
  4:4:4 (re-encoding is lossy: evaluate on the native copy with ``--score-size``, which resizes
  in memory exactly as the loader does, and use this copy for the official evaluator);
- annotations: ``cv2.resize`` INTER_NEAREST (the loader's), palette kept;
- ``ImageSets/`` copied unchanged.

``SRC`` is only read; ``DST`` must be a new or empty folder outside ``SRC``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from vprop.benchmarks.io import read_indexed_png, write_indexed_png
from vprop.errors import VpropError
from vprop.utils import atomic_write_bytes

RESOLUTION = "480p"


def resize_frame(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A frame resized like the CropMAE loader, as BGR uint8 (H, W, 3) ready for ``cv2``.

    Raises:
        VpropError: The file cannot be decoded.
    """
    image = cv2.imread(str(path))
    if image is None:
        raise VpropError("cannot read image", path)
    scaled = image.astype(np.float32) / 255.0
    resized = cv2.resize(scaled, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)


def resize_annotation(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An id map resized with ``cv2.INTER_NEAREST`` (the CropMAE loader's annotation resize)."""
    return cv2.resize(ids, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def _check_folders(src: Path, dst: Path) -> None:
    for needed in ("ImageSets", f"JPEGImages/{RESOLUTION}", f"Annotations/{RESOLUTION}"):
        if not (src / needed).is_dir():
            raise VpropError(f"not a DAVIS root: {needed}/ is missing", src)
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r or src_r in dst_r.parents:
        raise VpropError("destination must be outside the source dataset (never written to)",
                         dst)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise VpropError("destination exists and is not an empty folder", dst)


def _write_jpeg(path: Path, bgr: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 100]
    if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, encoded = cv2.imencode(".jpg", bgr, params)
    if not ok:
        raise VpropError("cannot encode JPEG", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, encoded.tobytes())


def prepare_resized(src: Path, dst: Path, size: tuple[int, int]) -> dict[str, int]:
    """Write ``src`` resized to ``size`` (height, width) under ``dst`` in the official layout.

    Every sequence folder of ``JPEGImages/480p`` and ``Annotations/480p`` is converted.

    Returns:
        {"sequences", "frames", "annotations"} counts.

    Raises:
        VpropError: ``src`` is not a DAVIS root, ``dst`` is inside it or not empty, or a file
            cannot be read (naming it).
    """
    src, dst = Path(src), Path(dst)
    _check_folders(src, dst)
    shutil.copytree(src / "ImageSets", dst / "ImageSets")
    counts = {"sequences": 0, "frames": 0, "annotations": 0}
    frames_root = src / "JPEGImages" / RESOLUTION
    for sequence in sorted(p for p in frames_root.iterdir() if p.is_dir()):
        counts["sequences"] += 1
        for frame in sorted(sequence.glob("*.jpg")):
            target = dst / "JPEGImages" / RESOLUTION / sequence.name / frame.name
            _write_jpeg(target, resize_frame(frame, size))
            counts["frames"] += 1
        labels = src / "Annotations" / RESOLUTION / sequence.name
        for annotation in sorted(labels.glob("*.png")) if labels.is_dir() else []:
            ids, palette = read_indexed_png(annotation)
            target = dst / "Annotations" / RESOLUTION / sequence.name / annotation.name
            write_indexed_png(target, resize_annotation(ids, size), palette)
            counts["annotations"] += 1
    return counts
