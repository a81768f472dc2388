"""Image reading and writing shared by every benchmark, with one-line errors naming the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vprop.errors import VpropError
from vprop.timing import stage
from vprop.utils import atomic_write_bytes


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise VpropError("file not found", path)
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise VpropError(f"cannot read image ({error.__class__.__name__}: {error})", path) from None
    return image


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB.

    Args:
        path: A JPEG or PNG file.

    Returns:
        uint8 array of shape (H, W, 3).

    Raises:
        VpropError: The file is missing, truncated or not an image.
    """
    return np.asarray(_open(Path(path)).convert("RGB"))


def read_indexed_png(path: str | Path) -> tuple[np.ndarray, list[int] | None]:
    """Read an indexed (palette, mode P) or greyscale label PNG.

    Args:
        path: The annotation file.

    Returns:
        (labels, palette): uint8 array (H, W) of label ids and the flat RGB palette
        (768 ints) or ``None`` for a greyscale file.

    Raises:
        VpropError: Missing or unreadable file, or an RGB image (colours are not ids).
    """
    path = Path(path)
    image = _open(path)
    if image.mode == "P":
        palette = image.getpalette()
        return np.asarray(image, dtype=np.uint8), palette
    if image.mode in ("L", "I;8"):
        return np.asarray(image, dtype=np.uint8), None
    raise VpropError(
        f"annotation is mode {image.mode}, not an indexed (palette) PNG; labels must be ids",
        path,
    )


def write_indexed_png(path: str | Path, labels: np.ndarray, palette: list[int] | None) -> None:
    """Write a label map as an indexed PNG (mode P) with the given palette.

    Args:
        path: Output file; parent folders are created.
        labels: uint8-compatible array (H, W) of ids.
        palette: Flat RGB palette to embed (e.g. copied from the ground truth); the
            DAVIS palette is used when ``None``.
    """
    with stage("png"):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
        image.putpalette(palette if palette is not None else davis_palette())
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        atomic_write_bytes(path, buffer.getvalue())


def davis_palette() -> list[int]:
    """Return the standard DAVIS/PASCAL VOC colour palette as a flat list of 768 ints."""
    palette = []
    for index in range(256):
        red = green = blue = 0
        value = index
        for shift in range(7, -1, -1):
            red |= ((value >> 0) & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette.extend((red, green, blue))
    return palette


def image_size(path: str | Path) -> tuple[int, int]:
    """Return (height, width) of an image file without decoding its pixels.

    Raises:
        VpropError: The file is missing or not an image.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError as error:
        raise VpropError(f"cannot read image ({error})", path) from None
    return height, width


def frame_order(path: Path) -> tuple[int, str]:
    """Sort key for frame files: numeric stems in numeric order, others after, by name."""
    return (int(path.stem), path.stem) if path.stem.isdigit() else (1 << 62, path.stem)


def find_list_file(root: Path, candidates: tuple[str, ...], what: str) -> Path:
    """Return the first existing default list file among ``candidates`` in ``root``.

    Raises:
        VpropError: None exists; the message names ``what`` (e.g. "clip list") and the root.
    """
    for name in candidates:
        if (root / name).is_file():
            return root / name
    raise VpropError(f"no {what} ({', '.join(candidates)}) in the dataset root; pass one", root)
