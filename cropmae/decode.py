"""Decode still images only as finely as the crops need (JPEG DCT-domain downscaling).

A random resized crop of a large photo throws most of its pixels away: a 1000x750 box
resized to 224x224 is a 4x downscale. libjpeg can decode a JPEG at 1/2, 1/4 or 1/8 of its
size almost for free (it drops DCT coefficients instead of computing pixels it would then
average away), which PIL exposes as :meth:`PIL.Image.Image.draft`. :class:`ImageFile`
reads the size from the header, lets the sampler draw its boxes in *original* pixel
coordinates (so the boxes, and every later random draw, are the same as with a full
decode), then decodes at the largest scale 1/s for which every box still covers at least
``size x size`` decoded pixels, and resizes the box mapped by 1/s (a float box: PIL resamples
it exactly, with the same antialiasing as the full-resolution path).

At s = 1 (the box is less than twice the output size) the image is decoded fully and cropped
with torchvision exactly as before, so small images give bit-identical views.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as tvf

from vprop.errors import VpropError

DRAFT_SCALES = (8, 4, 2)
_PIL_FILTERS = {
    InterpolationMode.NEAREST: Image.Resampling.NEAREST,
    InterpolationMode.BILINEAR: Image.Resampling.BILINEAR,
    InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
}
_DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError,
                  Image.DecompressionBombError)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image -> (3, H, W) uint8 tensor (a channels-last view of one copy)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def draft_scale(boxes: list[Any], size: int) -> int:
    """The largest DCT scale (8, 4, 2, else 1) at which every box keeps >= size pixels a side."""
    smallest = min(min(box.height, box.width) for box in boxes)
    for scale in DRAFT_SCALES:
        if smallest >= scale * size:
            return scale
    return 1


def crop_resize_tensor(image: torch.Tensor, box: Any, size: int,
                       interpolation: InterpolationMode) -> torch.Tensor:
    """Crop an integer box out of a (3, H, W) uint8 tensor and resize it to (3, size, size)."""
    return tvf.resized_crop(
        image, int(box.top), int(box.left), int(box.height), int(box.width), [size, size],
        interpolation=interpolation, antialias=True,
    )


class TensorImage:
    """An already decoded (3, H, W) uint8 image behind the same interface as :class:`ImageFile`."""

    def __init__(self, image: torch.Tensor) -> None:
        """Wrap ``image``."""
        self.image = image
        self.height, self.width = int(image.shape[-2]), int(image.shape[-1])
        self.scale = 1

    def prepare(self, boxes: list[Any], size: int) -> None:
        """Nothing to decode."""

    def crop_resize(self, box: Any, size: int, interpolation: InterpolationMode) -> torch.Tensor:
        """The box resized to (3, size, size)."""
        return crop_resize_tensor(self.image, box, size, interpolation)


class ImageFile:
    """An image file opened lazily: size from the header, decoded once at the scale needed.

    Args:
        path: The image file.
        reduce: Allow JPEG DCT-domain downscaling (``False``: always the full decode).
    """

    def __init__(self, path: str | Path, reduce: bool = True) -> None:
        """Open ``path`` and read its header (raises VpropError if it is not an image)."""
        self.path, self.reduce = path, reduce
        try:
            self._pil = Image.open(path)
        except _DECODE_ERRORS as error:
            raise VpropError(f"cannot decode image ({error})", path) from error
        self.width, self.height = self._pil.size
        self.format, self.mode = self._pil.format, self._pil.mode
        self.scale = 1
        self._decoded: Image.Image | torch.Tensor | None = None

    def prepare(self, boxes: list[Any], size: int) -> None:
        """Decode once, at the coarsest scale that still gives every box ``size`` pixels a side."""
        scale = draft_scale(boxes, size) if self.reduce else 1
        if self._decoded is not None:
            if scale >= self.scale:
                return  # decoded at least as finely as these boxes need
            self._pil, self.scale = Image.open(self.path), 1
        pil = self._pil
        try:
            if scale > 1 and pil.format == "JPEG":
                pil.draft("RGB", (self.width // scale, self.height // scale))
            pil.load()  # reads and closes the file
            self.scale = round(self.width / pil.size[0])
            if self.scale > 1:
                self._decoded = pil if pil.mode == "RGB" else pil.convert("RGB")
            else:
                self._decoded = pil_to_tensor(pil)
                pil.close()
        except _DECODE_ERRORS as error:
            pil.close()
            raise VpropError(f"cannot decode image ({error})", self.path) from error

    def close(self) -> None:
        """Release the file without decoding."""
        self._pil.close()

    def crop_resize(self, box: Any, size: int, interpolation: InterpolationMode) -> torch.Tensor:
        """The box (original pixel coordinates) resized to a (3, size, size) uint8 view."""
        if self._decoded is None:
            self.prepare([box], size)
        if isinstance(self._decoded, torch.Tensor):
            return crop_resize_tensor(self._decoded, box, size, interpolation)
        s = self.scale
        region = (box.left / s, box.top / s, (box.left + box.width) / s,
                  (box.top + box.height) / s)
        view = self._decoded.resize((size, size), _PIL_FILTERS[interpolation], box=region)
        return pil_to_tensor(view)

    def tensor(self) -> torch.Tensor:
        """The whole image at full resolution, (3, H, W) uint8."""
        if not isinstance(self._decoded, torch.Tensor):
            self.reduce = False
            if self._decoded is not None:
                self._pil, self._decoded, self.scale = Image.open(self.path), None, 1
            self.prepare([], 0)
        return self._decoded
