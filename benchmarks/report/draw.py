"""Pixels of the figures: label maps and skeletons drawn over frames (numpy + PIL, no metric).

Every function takes and returns uint8 RGB arrays (H, W, 3); they are shared by the HTML
report (worst frames) and ``vprop viz overlay`` (strips and videos).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vprop.benchmarks.io import davis_palette

ALPHA = 0.5  # weight of the label colour in a blended pixel
GAP = 6  # white pixels between panels
HIT, MISS, UNSCORED, GT_COLOUR = (40, 200, 60), (230, 40, 40), (160, 160, 160), (255, 210, 0)


def palette_array(palette: Sequence[int] | None) -> np.ndarray:
    """A flat 768-int palette (``None``: the DAVIS palette) as a (256, 3) uint8 table."""
    flat = list(palette) if palette is not None else davis_palette()
    flat = (flat + [0] * 768)[:768]
    return np.asarray(flat, dtype=np.uint8).reshape(256, 3)


def blend_labels(rgb: np.ndarray, ids: np.ndarray, palette: Sequence[int] | None = None,
                 alpha: float = ALPHA, ignore: Sequence[int] = (0, 255)) -> np.ndarray:
    """Blend each labelled pixel with its palette colour: ``(1 - alpha) * rgb + alpha * colour``.

    Args:
        rgb: (H, W, 3) uint8 frame.
        ids: (H, W) label ids of the same size (objects, parts).
        palette: Flat RGB palette (768 ints); ``None`` = the DAVIS palette.
        alpha: Weight of the label colour.
        ignore: Ids left untouched (background, void).

    Returns:
        (H, W, 3) uint8; pixels with an ignored id are the frame's own.
    """
    if ids.shape != rgb.shape[:2]:
        raise ValueError(f"label map {ids.shape} and frame {rgb.shape[:2]} differ in size")
    colours = palette_array(palette)[ids]
    blended = (1.0 - alpha) * rgb.astype(np.float64) + alpha * colours.astype(np.float64)
    keep = np.isin(ids, list(ignore))
    out = np.where(keep[..., None], rgb.astype(np.float64), blended)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_skeleton(rgb: np.ndarray, xy: np.ndarray, visible: np.ndarray,
                  edges: Sequence[tuple[int, int]], colours: Sequence[tuple[int, int, int]],
                  radius: int = 3) -> np.ndarray:
    """Draw joints (filled discs, one colour each) and the bones between visible joints.

    Args:
        rgb: (H, W, 3) uint8 frame.
        xy: (J, 2) pixel coordinates (x, y).
        visible: (J,) bool; invisible joints and their bones are not drawn.
        edges: Bones as joint index pairs.
        colours: One RGB colour per joint.
        radius: Disc radius in pixels.

    Returns:
        A new (H, W, 3) uint8 image.
    """
    image = Image.fromarray(np.ascontiguousarray(rgb))
    pen = ImageDraw.Draw(image)
    for a, b in edges:
        if visible[a] and visible[b]:
            pen.line([tuple(map(float, xy[a])), tuple(map(float, xy[b]))], fill=(255, 255, 255),
                     width=2)
    for (x, y), seen, colour in zip(xy, visible, colours):
        if seen:
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=tuple(colour),
                        outline=(0, 0, 0))
    return np.asarray(image)


def hit_colours(hits: Sequence[int | None]) -> list[tuple[int, int, int]]:
    """Joint colours from PCK hits: green hit (1), red miss (0), grey not scored (None)."""
    return [UNSCORED if h is None else (HIT if h else MISS) for h in hits]


def side_by_side(panels: Sequence[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Panels left to right on a white canvas (top-aligned), ``gap`` pixels apart."""
    height = max(panel.shape[0] for panel in panels)
    width = sum(panel.shape[1] for panel in panels) + gap * (len(panels) - 1)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    x = 0
    for panel in panels:
        canvas[: panel.shape[0], x : x + panel.shape[1]] = panel
        x += panel.shape[1] + gap
    return canvas


def stacked(rows: Sequence[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Rows top to bottom on a white canvas (left-aligned), ``gap`` pixels apart."""
    width = max(row.shape[1] for row in rows)
    height = sum(row.shape[0] for row in rows) + gap * (len(rows) - 1)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    y = 0
    for row in rows:
        canvas[y : y + row.shape[0], : row.shape[1]] = row
        y += row.shape[0] + gap
    return canvas


def fit_width(image: np.ndarray, width: int) -> np.ndarray:
    """Downscale (never upscale) an RGB image to at most ``width`` pixels wide."""
    if image.shape[1] <= width:
        return image
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB array as PNG (optimised) or JPEG (quality 88), by the file suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(image).save(path, quality=88)
    else:
        Image.fromarray(image).save(path, optimize=True)
    return path
