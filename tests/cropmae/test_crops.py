import math

import numpy as np
import pytest
import torch

from vprop.cropmae.crops import (
    Box,
    CropPairSampler,
    FramePairSampler,
    PhotometricAugment,
    sample_box,
)

SIZE = 64


def contains(outer: Box, inner: Box, tol: float = 1e-6) -> bool:
    """Whether ``inner`` lies inside ``outer`` (up to ``tol`` pixels)."""
    return (inner.top >= outer.top - tol and inner.left >= outer.left - tol
            and inner.top + inner.height <= outer.top + outer.height + tol
            and inner.left + inner.width <= outer.left + outer.width + tol)


def coordinate_image(height: int = 240, width: int = 250) -> torch.Tensor:
    """Channel 0 = column index, channel 1 = row index (exact in uint8 below 256)."""
    cols = torch.arange(width).view(1, -1).expand(height, -1)
    rows = torch.arange(height).view(-1, 1).expand(-1, width)
    return torch.stack([cols, rows, torch.zeros_like(cols)]).to(torch.uint8)


def image_box() -> Box:
    return Box(0.0, 0.0, 240.0, 250.0)


def area(box: Box) -> float:
    return box.height * box.width


def check_view_shows_box(view: torch.Tensor, box: Box, flipped: bool) -> None:
    """The centre column/row of the view must show the centre of the box (in source pixels)."""
    if flipped:
        view = view.flip(-1)
    s = view.shape[-1]
    cols = view[0].float().mean(dim=0)  # (S,) mean source column per view column
    rows = view[1].float().mean(dim=1)
    for j in (0, s // 2, s - 1):
        expected_col = box.left + (j + 0.5) * box.width / s - 0.5
        expected_row = box.top + (j + 0.5) * box.height / s - 0.5
        # antialiased resizes average over about one source-pixel per output step
        tol = 1.0 + max(box.width, box.height) / s
        assert abs(cols[j].item() - expected_col) <= tol
        assert abs(rows[j].item() - expected_row) <= tol


def test_sample_box_respects_bounds_scale_and_ratio():
    rng = np.random.default_rng(0)
    for _ in range(500):
        box = sample_box(300, 400, (0.1, 1.0), rng)
        assert contains(Box(0, 0, 300, 400), box)
        fraction = area(box) / (300 * 400)
        assert 0.09 <= fraction <= 1.0
        if box.width < 400 and box.height < 300:  # not clipped: the ratio is kept
            assert 0.74 <= box.width / box.height <= 1.35


def test_global_to_local_local_view_inside_global_view():
    sampler = CropPairSampler("global-to-local", size=SIZE, flip_p=0.0)
    image = coordinate_image()
    for seed in range(40):
        pair = sampler(image, np.random.default_rng(seed))
        assert contains(image_box(), pair.box1)
        assert contains(pair.box1, pair.box2)
        # the local crop covers 30-60 % of the global view (rounding tolerance)
        assert 0.27 <= area(pair.box2) / area(pair.box1) <= 0.63
        check_view_shows_box(pair.view1, pair.box1, pair.flip1)
        check_view_shows_box(pair.view2, pair.box2, pair.flip2)


def test_local_to_global_swaps_the_roles():
    sampler = CropPairSampler("local-to-global", size=SIZE)
    image = coordinate_image()
    for seed in range(40):
        pair = sampler(image, np.random.default_rng(seed))
        assert contains(pair.box2, pair.box1)
        assert 0.27 <= area(pair.box1) / area(pair.box2) <= 0.63
        check_view_shows_box(pair.view1, pair.box1, pair.flip1)
        check_view_shows_box(pair.view2, pair.box2, pair.flip2)


def test_random_views_are_two_independent_global_crops():
    sampler = CropPairSampler("random", size=SIZE, global_scale=(0.1, 1.0))
    image = coordinate_image()
    nested = 0
    for seed in range(60):
        pair = sampler(image, np.random.default_rng(seed))
        assert contains(image_box(), pair.box1) and contains(image_box(), pair.box2)
        assert pair.box1 != pair.box2
        nested += contains(pair.box1, pair.box2) or contains(pair.box2, pair.box1)
        check_view_shows_box(pair.view2, pair.box2, pair.flip2)
    assert nested < 30  # unlike the nested strategies, most pairs are not nested


def test_same_views_are_identical():
    sampler = CropPairSampler("same", size=SIZE)
    for seed in range(10):
        pair = sampler(coordinate_image(), np.random.default_rng(seed))
        assert pair.box1 == pair.box2 and pair.flip1 == pair.flip2
        assert torch.equal(pair.view1, pair.view2)


def test_flips_are_independent_per_view_with_probability_one_half():
    sampler = CropPairSampler("global-to-local", size=16)
    image = coordinate_image()
    flips = [sampler(image, np.random.default_rng(s)) for s in range(400)]
    first = np.array([p.flip1 for p in flips])
    second = np.array([p.flip2 for p in flips])
    assert 0.4 < first.mean() < 0.6 and 0.4 < second.mean() < 0.6
    assert 0.15 < (first & ~second).mean() < 0.35 and 0.15 < (~first & second).mean() < 0.35


def test_paper_default_scales():
    sampler = CropPairSampler()
    assert sampler.strategy == "global-to-local"
    assert sampler.global_scale == (0.1, 1.0) and sampler.local_scale == (0.3, 0.6)
    assert sampler.ratio == pytest.approx((3 / 4, 4 / 3)) and sampler.size == 224
    assert FramePairSampler().scale == (0.5, 1.0)


def test_siammae_pair_shares_crop_and_flip():
    frame1 = coordinate_image()
    frame2 = frame1.clone()
    frame2[2] = 200  # same geometry, different third channel
    sampler = FramePairSampler(size=SIZE)
    for seed in range(20):
        pair = sampler(frame1, frame2, np.random.default_rng(seed))
        assert pair.box1 == pair.box2 and pair.flip1 == pair.flip2
        assert torch.equal(pair.view1[:2], pair.view2[:2])
        assert pair.view1[2].max() == 0 and pair.view2[2].min() == 200
        assert 0.49 <= area(pair.box1) / (240 * 250) <= 1.0


def test_colour_jitter_and_blur_touch_only_the_unmasked_view():
    image = torch.randint(0, 256, (3, 120, 130), dtype=torch.uint8)
    plain = CropPairSampler(size=SIZE)
    augmented = CropPairSampler(size=SIZE, augment=PhotometricAugment(True, True))
    a = plain(image, np.random.default_rng(3))
    b = augmented(image, np.random.default_rng(3))
    assert torch.equal(a.view2, b.view2) and a.box2 == b.box2
    assert not torch.equal(a.view1, b.view1)


def test_box_within_view_maps_back_to_source_coordinates():
    outer = Box(10, 20, 100, 50)
    inner = Box(0, 112, 112, 112)  # right half, top half of a 224 view
    mapped = outer.within_view(inner, 224)
    assert mapped == Box(10, 45, 50, 25)
    assert math.isclose(area(mapped), area(outer) / 4)
