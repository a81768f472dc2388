"""View-pair sampling: the CropMAE crop strategies and the SiamMAE shared crop.

Every sampler takes a numpy ``Generator`` (so a sample is a pure function of its seed) and
returns the views *and* the boxes it used, in source-image pixel coordinates, so that the
geometric relations between the views can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as tvf

from vprop.cropmae.config import CROP_STRATEGIES
from vprop.cropmae.decode import ImageFile, TensorImage, crop_resize_tensor

ImageSource = TensorImage | ImageFile

CropStrategy = Literal["global-to-local", "local-to-global", "random", "same"]
ASPECT_RATIO = (3.0 / 4.0, 4.0 / 3.0)


@dataclass(frozen=True)
class Box:
    """An axis-aligned crop box in pixels: rows [top, top + height), cols [left, left + width)."""

    top: float
    left: float
    height: float
    width: float

    def within_view(self, inner: Box, view_size: int) -> Box:
        """Map ``inner`` from this box's resized square view back to this box's frame.

        Args:
            inner: A box in the pixel coordinates of this box resized to ``view_size``.
            view_size: Side of the square view.

        Returns:
            ``inner`` in the coordinates this box is expressed in.
        """
        sy, sx = self.height / view_size, self.width / view_size
        return Box(
            self.top + inner.top * sy, self.left + inner.left * sx,
            inner.height * sy, inner.width * sx,
        )


@dataclass
class ViewPair:
    """Two uint8 views (3, S, S) and how they were made.

    ``view1`` is the unmasked (reference) view, ``view2`` the one to mask and reconstruct.
    Boxes are in the pixel coordinates of the source image (for SiamMAE: of each frame),
    before any flip; ``flip1``/``flip2`` say whether each view was mirrored afterwards.
    """

    view1: torch.Tensor
    view2: torch.Tensor
    box1: Box
    box2: Box
    flip1: bool
    flip2: bool


def sample_box(
    height: int,
    width: int,
    scale: tuple[float, float],
    rng: np.random.Generator,
    ratio: tuple[float, float] = ASPECT_RATIO,
) -> Box:
    """Sample a random-resized-crop box with torchvision's own sampler.

    This is ``torchvision.transforms.RandomResizedCrop.get_params`` (up to 10 tries of area
    fraction ~ U(scale) and log aspect ratio ~ U(log ratio), then a centre-crop fallback),
    the sampler the CropMAE/SiamMAE authors' runs used. It draws from torch's global RNG, so
    it runs inside :func:`torch.random.fork_rng` seeded from ``rng``: the box is a pure
    function of ``rng`` and the caller's torch RNG state is left untouched.

    Args:
        height: Source height in pixels.
        width: Source width in pixels.
        scale: (min, max) fraction of the source area.
        rng: Random generator (one 63-bit draw is consumed).
        ratio: (min, max) width / height.

    Returns:
        An integer-valued box inside the source.
    """
    seed = int(rng.integers(2**63 - 1))
    shape_only = torch.empty(1, 1, 1).expand(1, height, width)  # get_params reads the size
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # CPU only: the cheap part of manual_seed
        top, left, h, w = RandomResizedCrop.get_params(shape_only, list(scale), list(ratio))
    return Box(float(top), float(left), float(h), float(w))


def as_source(image: torch.Tensor | ImageSource) -> ImageSource:
    """A decoded tensor or a lazily decoded :class:`~vprop.cropmae.decode.ImageFile`."""
    return TensorImage(image) if isinstance(image, torch.Tensor) else image


@dataclass(frozen=True)
class PairPlan:
    """The random choices of one CropMAE pair, drawn before the image is decoded.

    ``box_g`` is the global crop and ``box_b`` the second global crop (``random``), both in
    source pixels; ``box_in_view`` is the local crop in the pixels of the resized global view
    (nested strategies); ``flip1``/``flip2`` mirror view 1 / view 2.
    """

    box_g: Box
    box_b: Box | None
    box_in_view: Box | None
    flip1: bool
    flip2: bool

    @property
    def source_boxes(self) -> list[Box]:
        """The boxes cut from the source image itself."""
        return [self.box_g] if self.box_b is None else [self.box_g, self.box_b]


@dataclass(frozen=True)
class PhotometricAugment:
    """Optional colour jitter / Gaussian blur applied to the unmasked view (ablation, Tab. 3e).

    Colour jitter: brightness, contrast, saturation 0.4 and hue 0.1 in random order; blur:
    sigma ~ U(0.1, 2.0) with a 23 px kernel. Both always applied when enabled.
    """

    color_jitter: bool = False
    gaussian_blur: bool = False

    def __call__(self, view: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Apply the enabled augmentations to a (3, S, S) uint8 view."""
        if self.color_jitter:
            for op in rng.permutation(4):
                if op == 0:
                    view = tvf.adjust_brightness(view, rng.uniform(0.6, 1.4))
                elif op == 1:
                    view = tvf.adjust_contrast(view, rng.uniform(0.6, 1.4))
                elif op == 2:
                    view = tvf.adjust_saturation(view, rng.uniform(0.6, 1.4))
                else:
                    view = tvf.adjust_hue(view, rng.uniform(-0.1, 0.1))
        if self.gaussian_blur:
            sigma = float(rng.uniform(0.1, 2.0))
            view = tvf.gaussian_blur(view, kernel_size=[23, 23], sigma=[sigma, sigma])
        return view


@dataclass(frozen=True)
class CropPairSampler:
    """CropMAE: two views of one image following a crop strategy (paper Sec. 3.1, Fig. 2).

    - ``global-to-local``: view1 = random resized crop of the image (``global_scale``);
      view2 = random resized crop of the *resized* view1 (``local_scale``).
    - ``local-to-global``: the same two crops with the roles swapped (view1 is the local one).
    - ``random``: two independent global crops.
    - ``same``: one global crop used for both views (same flip too).
    Each view is flipped horizontally with probability ``flip_p``, independently.
    """

    strategy: CropStrategy = "global-to-local"
    size: int = 224
    global_scale: tuple[float, float] = (0.1, 1.0)
    local_scale: tuple[float, float] = (0.3, 0.6)
    ratio: tuple[float, float] = ASPECT_RATIO
    flip_p: float = 0.5
    interpolation: InterpolationMode = InterpolationMode.BILINEAR
    augment: PhotometricAugment = PhotometricAugment()

    def __post_init__(self) -> None:
        if self.strategy not in CROP_STRATEGIES:
            raise ValueError(f"unknown crop strategy {self.strategy!r}; use {CROP_STRATEGIES}")

    def plan(self, height: int, width: int, rng: np.random.Generator) -> PairPlan:
        """Every random choice of a pair (boxes, flips), made before any pixel is decoded."""
        box_g = sample_box(height, width, self.global_scale, rng, self.ratio)
        if self.strategy == "same":
            flip = bool(rng.random() < self.flip_p)
            return PairPlan(box_g, None, None, flip, flip)
        if self.strategy == "random":
            box_b = sample_box(height, width, self.global_scale, rng, self.ratio)
            box_in_view = None
        else:
            box_b = None
            box_in_view = sample_box(self.size, self.size, self.local_scale, rng, self.ratio)
        flip1 = bool(rng.random() < self.flip_p)
        flip2 = bool(rng.random() < self.flip_p)
        return PairPlan(box_g, box_b, box_in_view, flip1, flip2)

    def render(self, source: ImageSource, plan: PairPlan) -> ViewPair:
        """The two (unaugmented) views a plan describes, from any image source or device."""
        size, mode = self.size, self.interpolation
        source.prepare(plan.source_boxes, size)
        box_g = plan.box_g
        view_g = source.crop_resize(box_g, size, mode)
        if self.strategy == "same":
            view = view_g.flip(-1) if plan.flip1 else view_g
            return ViewPair(view, view, box_g, box_g, plan.flip1, plan.flip1)
        if self.strategy == "random":
            pair = (view_g, source.crop_resize(plan.box_b, size, mode), box_g, plan.box_b)
        else:
            view_l = crop_resize_tensor(view_g, plan.box_in_view, size, mode)
            box_l = box_g.within_view(plan.box_in_view, size)
            if self.strategy == "global-to-local":
                pair = (view_g, view_l, box_g, box_l)
            else:
                pair = (view_l, view_g, box_l, box_g)
        view1, view2, box1, box2 = pair
        view1 = view1.flip(-1) if plan.flip1 else view1
        view2 = view2.flip(-1) if plan.flip2 else view2
        return ViewPair(view1, view2, box1, box2, plan.flip1, plan.flip2)

    def __call__(self, image: torch.Tensor | ImageSource,
                 rng: np.random.Generator) -> ViewPair:
        """Make the two views of a (3, H, W) uint8 image or a lazily decoded image file.

        Every box is drawn (in source pixel coordinates) before the image is decoded, so an
        :class:`~vprop.cropmae.decode.ImageFile` can decode at the scale the boxes need.
        """
        source = as_source(image)
        pair = self.render(source, self.plan(source.height, source.width, rng))
        pair.view1 = self.augment(pair.view1, rng)
        return pair


@dataclass(frozen=True)
class FramePairSampler:
    """SiamMAE: the same random resized crop and the same flip on two frames of a video."""

    size: int = 224
    scale: tuple[float, float] = (0.5, 1.0)
    ratio: tuple[float, float] = ASPECT_RATIO
    flip_p: float = 0.5
    interpolation: InterpolationMode = InterpolationMode.BILINEAR
    augment: PhotometricAugment = PhotometricAugment()

    def __call__(
        self, frame1: torch.Tensor | ImageSource, frame2: torch.Tensor | ImageSource,
        rng: np.random.Generator,
    ) -> ViewPair:
        """Make the two views of two (3, H, W) uint8 frames (or frame files) of the same size."""
        first, second = as_source(frame1), as_source(frame2)
        if (first.height, first.width) != (second.height, second.width):
            raise ValueError(f"frames differ in size: {(first.height, first.width)} vs "
                             f"{(second.height, second.width)}")
        box = sample_box(first.height, first.width, self.scale, rng, self.ratio)
        first.prepare([box], self.size)
        second.prepare([box], self.size)
        view1 = first.crop_resize(box, self.size, self.interpolation)
        view2 = second.crop_resize(box, self.size, self.interpolation)
        flip = bool(rng.random() < self.flip_p)
        if flip:
            view1, view2 = view1.flip(-1), view2.flip(-1)
        return ViewPair(self.augment(view1, rng), view2, box, box, flip, flip)
