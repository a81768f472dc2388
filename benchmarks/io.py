"""Image reading and writing shared by every benchmark, with one-line errors naming the file."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
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


def read_list_file(path: Path, what: str, name_of_line: Callable[[list[str]], str | None]
                   ) -> list[str]:
    """Names listed one per line in a dataset list file (JHMDB clips, VIP videos).

    Blank lines and lines starting with ``#`` are skipped; every other line is split on
    whitespace and handed to ``name_of_line``.

    Args:
        path: The list file.
        what: Dataset and unit, e.g. ``"JHMDB clip"``: the messages read "JHMDB clip list not
            found", "line 3 names no JHMDB clip: ..." and "the clip list is empty".
        name_of_line: A line's tokens -> the name it lists, ``""`` to skip the line on purpose
            (e.g. a training clip of an official split file), ``None`` when it names nothing.

    Returns:
        The names in file order, duplicates dropped.

    Raises:
        VpropError: Missing or unreadable file, a line naming nothing, or no name at all.
    """
    path = Path(path)
    if not path.is_file():
        raise VpropError(f"{what} list not found", path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise VpropError(f"cannot read the {what} list ({error})", path) from None
    names: list[str] = []
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        name = name_of_line(tokens)
        if name is None:
            raise VpropError(f"line {number} names no {what}: {line.strip()!r}", path)
        if name:
            names.append(name)
    if not names:
        raise VpropError(f"the {what.split()[-1]} list is empty", path)
    return list(dict.fromkeys(names))


def name_after_marker(token: str, markers: Sequence[str], depth: int) -> str | None:
    """The ``depth`` path parts after the last ``marker`` folder of a list-file token.

    ``name_after_marker("data/jhmdb/Rename_Images/pour/clip_a", ["Rename_Images"], 2)`` is
    ``"pour/clip_a"``: any prefix is ignored, so lists written for another machine's layout
    resolve against the local root. Markers are tried in order; ``None`` when none fits.
    """
    parts = [part for part in token.replace("\\", "/").split("/") if part]
    for marker in markers:
        if marker in parts:
            at = len(parts) - 1 - parts[::-1].index(marker)
            if len(parts) >= at + 1 + depth:
                return "/".join(parts[at + 1: at + 1 + depth])
    return None
