"""Backbone input sizes per benchmark and preset (PROTOCOLS.md section 1)."""

from __future__ import annotations

import weakref
from typing import Any

from vprop.errors import VpropError


def floor_to(value: float, multiple: int) -> int:
    """Round ``value`` down to a multiple of ``multiple`` (at least one multiple)."""
    return max(multiple, int(value // multiple) * multiple)


def parse_size(text: str | None, option: str = "--size") -> tuple[int, int] | None:
    """Parse a ``HxW`` size option (named ``option`` in errors); ``None`` passes through.

    A single number is refused: it could mean a square, a short side or a long side, and
    each protocol means something else by it.

    Raises:
        VpropError: Not two positive integers separated by ``x``.
    """
    if text is None:
        return None
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) == 1 and parts[0].isdigit():
        raise VpropError(f"{option}: {text!r} is one number; give height x width, e.g. "
                         f"{parts[0]}x{parts[0]} for a square or 480x880")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        raise VpropError(f"{option}: must look like 480x880 (height x width), "
                         f"got {text!r}") from None
    if len(values) != 2 or min(values) <= 0:
        raise VpropError(f"{option}: must look like 480x880 (height x width), got {text!r}")
    return values[0], values[1]


def short_side_size(
    frame_hw: tuple[int, int], short: int, multiple: int
) -> tuple[int, int]:
    """DINO's rule: short side set to ``short``, long side scaled and floored to ``multiple``."""
    height, width = frame_hw
    if width >= height:
        return short, floor_to(short * width / height, multiple)
    return floor_to(short * height / width, multiple), short


def long_side_size(
    frame_hw: tuple[int, int], long: int, multiple: int
) -> tuple[int, int]:
    """VIP's rule: long side set to ``long``, short side scaled and floored to ``multiple``."""
    height, width = frame_hw
    if width >= height:
        return floor_to(long * height / width, multiple), long
    return long, floor_to(long * width / height, multiple)


def check_patch_multiple(size: tuple[int, int], patch: int) -> tuple[int, int]:
    """Raise unless both sides of ``size`` are multiples of the backbone's stride."""
    if size[0] % patch or size[1] % patch:
        raise VpropError(f"input size {size[0]}x{size[1]} is not a multiple of the patch/stride "
                         f"{patch} of the backbone", "--size")
    return size


def fit_to_stride(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """A protocol's default size floored to whole feature cells of ``stride``.

    The published protocols fix sizes for /8 and /16 backbones (480x880, 320x320); a /14
    backbone (DINOv2) gets the largest size inside it made of whole 14-pixel cells
    (476x868), as a stride-p convolution would crop. Sizes the user gives are never changed
    (:func:`check_patch_multiple` refuses them instead).
    """
    return floor_to(size[0], stride), floor_to(size[1], stride)


def feature_stride(extractor: Any) -> int:
    """Pixels per feature cell: the extractor's ``stride`` (``patch_size`` for older ones)."""
    stride = getattr(extractor, "stride", None) or getattr(extractor, "patch_size", None)
    if not stride:
        raise VpropError("the feature extractor has neither a stride nor a patch_size")
    return int(stride)


_PADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pads_input(extractor: Any) -> bool:
    """Whether the backbone keeps a partial cell at the border (grid = ceil(size / stride)).

    Padded convolutions (ResNets) do: a 854-wide frame gives 107 cells at stride 8, and CRW
    feeds the native frame. A patch embedding drops the partial patch (grid = floor), so a
    ViT's input is floored to the stride instead. An extractor may say so itself
    (``pads_input`` attribute); otherwise one tiny ``(stride + 1)``-pixel image is probed once.
    """
    declared = getattr(extractor, "pads_input", None)
    if declared is not None:
        return bool(declared)
    try:
        return _PADS[extractor]
    except (KeyError, TypeError):
        pass
    import torch

    side = feature_stride(extractor) + 1
    parameters = extractor.parameters() if hasattr(extractor, "parameters") else iter(())
    parameter = next(iter(parameters), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    with torch.inference_mode():
        cells = extractor(torch.zeros(1, 3, side, side, device=device)).shape[-1]
    pads = bool(cells > 1)
    try:
        _PADS[extractor] = pads
    except TypeError:
        pass
    return pads


def feature_grid(size: tuple[int, int], stride: int, pads: bool) -> tuple[int, int]:
    """Feature grid (h, w) of a backbone input: ceil(size / stride) if it pads, else floor."""
    if pads:
        return -(-size[0] // stride), -(-size[1] // stride)
    return size[0] // stride, size[1] // stride
