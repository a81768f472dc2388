"""JHMDB keypoint encoding/decoding against hand-derived values of the reference drawing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vprop.benchmarks.jhmdb.labels import (
    decode_keypoints,
    draw_gaussian,
    grid_to_pixels,
    joint_label_maps,
    pixels_to_grid,
)


@pytest.mark.parametrize(
    ("p", "peak"),
    [
        (5.3, 5),  # int(3.8) + 2
        (5.6, 6),  # int(4.1) + 2
        (1.5, 2),  # int(0.0) + 2
        (1.0, 2),  # int(-0.5) = 0 (truncation toward zero), not round(1.0) = 1
        (0.2, 1),  # int(-1.3) = -1
    ],
)
def test_peak_sits_on_int_p_minus_1_5_plus_2(p, peak):
    heat = np.zeros((20, 20))
    draw_gaussian(heat, np.array([p, 9.0]))
    row, col = np.unravel_index(heat.argmax(), heat.shape)
    assert (col, row) == (peak, int(9.0 - 1.5) + 2)
    assert heat[row, col] == 1.0


def test_kernel_values_and_4x4_support():
    heat = np.zeros((20, 20))
    draw_gaussian(heat, np.array([8.2, 6.4]))  # peak at column 8, row 6
    # sigma 0.5: value exp(-d^2 / 0.5); the 4x4 patch spans peak-2 .. peak+1.
    assert heat[6, 8] == 1.0
    assert heat[6, 7] == pytest.approx(math.exp(-2))
    assert heat[5, 9] == pytest.approx(math.exp(-4))
    assert heat[4, 6] == pytest.approx(math.exp(-16))
    assert heat[6, 6] == pytest.approx(math.exp(-8))
    assert np.count_nonzero(heat) == 16
    assert heat[6, 10] == 0 and heat[8, 8] == 0  # peak + 2 is outside the patch


def test_border_clipping_follows_the_truncated_patch():
    heat = np.zeros((20, 20))
    draw_gaussian(heat, np.array([0.2, 0.2]))  # left = int(-1.3) = -1, right = int(2.7) = 2
    # Only columns/rows 0..1 are drawn: the patch's last column (cell 2) is cut by the
    # truncated right edge, exactly like the reference.
    assert np.count_nonzero(heat) == 4
    assert heat[1, 1] == 1.0 and heat[0, 1] == pytest.approx(math.exp(-2))
    assert heat[1, 2] == 0


def test_joint_outside_the_grid_draws_nothing():
    heat = np.zeros((20, 20))
    draw_gaussian(heat, np.array([-5.0, 3.0]))
    draw_gaussian(heat, np.array([24.0, 3.0]))
    assert not heat.any()


def test_label_maps_have_background_first():
    points = np.array([[5.2, 5.2], [14.7, 3.1], [-9.0, -9.0]])  # third joint off the grid
    maps = joint_label_maps(points, (20, 20))
    assert maps.shape == (4, 20, 20) and maps.dtype == torch.float32
    joints_zero = maps[1:].sum(0) == 0
    assert torch.equal(maps[0] == 1, joints_zero)
    assert torch.all((maps[0] == 0) | (maps[0] == 1))
    assert maps[3].sum() == 0
    assert maps[0].sum() == 400 - 32  # two 4x4 patches, disjoint


def test_pixels_to_grid_scales_into_cells():
    joints = np.array([[160.0, 120.0], [0.0, 239.0]])
    grid16 = pixels_to_grid(joints, (240, 320), (320, 320), 16)
    assert grid16[0] == pytest.approx([10.0, 10.0])  # 160*320/320/16, 120*320/240/16
    assert grid16[1] == pytest.approx([0.0, 239 * 320 / 240 / 16])
    assert pixels_to_grid(joints, (240, 320), (320, 320), 8)[0] == pytest.approx([20.0, 20.0])


def test_decode_of_an_encoded_joint_is_its_peak_cell():
    maps = joint_label_maps(np.array([[7.3, 12.6], [3.0, 15.4]]), (20, 20))
    xy, visible = decode_keypoints(maps, topk=5)
    # Top-5 = the peak and its 4 direct neighbours (equal values): the mean is the peak.
    assert xy[0] == pytest.approx([7.0, 13.0])  # int(5.8)+2, int(11.1)+2
    assert xy[1] == pytest.approx([3.0, 15.0])
    assert visible.all()


def test_decode_is_value_weighted_and_marks_empty_maps_invisible():
    soft = torch.zeros(3, 4, 6)
    soft[1, 1, 2] = 3.0  # (x=2, y=1)
    soft[1, 3, 4] = 1.0  # (x=4, y=3)
    xy, visible = decode_keypoints(soft, topk=5)
    assert xy[0] == pytest.approx([2.0 * 0.75 + 4.0 * 0.25, 1.0 * 0.75 + 3.0 * 0.25])
    assert xy[1].tolist() == [-1.0, -1.0] and visible.tolist() == [True, False]


def test_decode_keeps_only_topk_cells():
    soft = torch.zeros(2, 1, 5)
    soft[1, 0] = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.5])
    xy, _ = decode_keypoints(soft, topk=3)
    assert xy[0, 0] == pytest.approx((0 * 4 + 1 * 3 + 2 * 2) / 9)


def test_grid_to_pixels_has_no_half_cell_offset():
    pixels = grid_to_pixels(np.array([[10.0, 5.0], [0.0, 0.0]]), (20, 20), (240, 320))
    assert pixels.tolist() == [[160.0, 60.0], [0.0, 0.0]]
    assert grid_to_pixels(np.array([[10.0, 5.0]]), (40, 40), (240, 320)).tolist() == [
        [80.0, 30.0]
    ]
