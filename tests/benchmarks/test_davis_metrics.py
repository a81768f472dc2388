"""Hand-computed cases for the DAVIS J / F measures and per-object statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vprop.benchmarks.davis.metrics import (
    db_statistics,
    f_measure,
    jaccard,
    jaccard_batch,
    seg2bmap,
)

# --- Jaccard ---------------------------------------------------------------------------

GT = np.array([[1, 1, 0], [0, 1, 0]], dtype=bool)
PRED = np.array([[1, 0, 0], [1, 1, 0]], dtype=bool)


def test_jaccard_hand_case():
    # intersection {(0,0), (1,1)} = 2; union {(0,0), (0,1), (1,0), (1,1)} = 4
    assert jaccard(GT, PRED) == pytest.approx(0.5)


def test_jaccard_empty_union_is_one_and_empty_prediction_is_zero():
    empty = np.zeros((2, 3), dtype=bool)
    assert jaccard(empty, empty) == 1.0
    assert jaccard(GT, empty) == 0.0
    assert jaccard(empty, PRED) == 0.0


def test_jaccard_void_pixels_are_ignored():
    void = np.zeros((2, 3), dtype=bool)
    void[0, 1] = True  # removes one union pixel: 2 / 3
    assert jaccard(GT, PRED, void) == pytest.approx(2 / 3)


def test_jaccard_batch_matches_frames():
    empty = np.zeros((2, 3), dtype=bool)
    values = jaccard_batch(np.stack([GT, empty, GT]), np.stack([PRED, empty, empty]))
    np.testing.assert_allclose(values, [0.5, 1.0, 0.0])


# --- seg2bmap --------------------------------------------------------------------------


def test_seg2bmap_square_boundary_is_offset_towards_origin():
    seg = np.array([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    expected = np.array([[1, 1, 1, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(seg2bmap(seg), expected)


def test_seg2bmap_last_row_and_column_rules():
    seg = np.zeros((3, 3), dtype=np.uint8)
    seg[2, 2] = 1
    # (1,1): south-east differs; (1,2): last column compares south; (2,1): last row
    # compares east; (2,2): the corner is always 0.
    expected = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(seg2bmap(seg), expected)


def test_seg2bmap_full_frame_object_has_no_boundary():
    # outside the image counts as background only for interior pixels' east/south/se
    # neighbours; the last row/column rules make a full mask boundary-free.
    assert not seg2bmap(np.ones((3, 4), dtype=bool)).any()


# --- F measure -------------------------------------------------------------------------


def _dot_mask(points, shape=(10, 10)):
    mask = np.zeros(shape, dtype=bool)
    for y, x in points:
        mask[y, x] = True
    return mask


def test_f_measure_empty_cases():
    empty = np.zeros((6, 6), dtype=bool)
    blob = _dot_mask([(2, 2)], (6, 6))
    assert f_measure(empty, empty) == 1.0  # both empty: P = R = 1
    assert f_measure(blob, empty) == 0.0  # empty prediction: P = 1, R = 0
    assert f_measure(empty, blob) == 0.0  # empty ground truth: P = 0, R = 1
    assert f_measure(blob, blob) == 1.0


def test_f_measure_partial_precision_hand_case():
    # a single pixel has a 4-pixel boundary; the prediction adds a far blob, so 4 of
    # its 8 boundary pixels match (P = 0.5) and all gt pixels are matched (R = 1).
    gt = _dot_mask([(2, 2)])
    pred = _dot_mask([(2, 2), (6, 6)])
    assert f_measure(gt, pred, bound_th=1) == pytest.approx(2 / 3)
    # roles swapped: P = 1, R = 0.5
    assert f_measure(pred, gt, bound_th=1) == pytest.approx(2 / 3)


@pytest.mark.parametrize(("shift", "expected"), [(8, 1.0), (9, 0.0)])
def test_f_measure_tolerance_is_8_pixels_at_480p(shift, expected):
    # ceil(0.008 * sqrt(480^2 + 854^2)) = ceil(7.84) = 8: vertical edges 8 px apart
    # match completely, 9 px apart not at all.
    gt = np.zeros((480, 854), dtype=bool)
    gt[:, 400:] = True
    pred = np.zeros_like(gt)
    pred[:, 400 + shift :] = True
    assert f_measure(gt, pred) == pytest.approx(expected)


def f_measure_batch(gt, pred, bound_th):
    """F of every frame of two (T, H, W) stacks."""
    return np.array([f_measure(g, p, bound_th) for g, p in zip(gt, pred)], dtype=np.float64)


def test_f_measure_batch_per_frame():
    gt = np.stack([_dot_mask([(2, 2)]), np.zeros((10, 10), bool)])
    pred = np.stack([_dot_mask([(2, 2), (6, 6)]), np.zeros((10, 10), bool)])
    np.testing.assert_allclose(f_measure_batch(gt, pred, bound_th=1), [2 / 3, 1.0])


# --- db_statistics ---------------------------------------------------------------------


def test_db_statistics_hand_case():
    values = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    mean, recall, decay = db_statistics(values)
    assert mean == pytest.approx(0.65)
    assert recall == pytest.approx(5 / 8)  # 0.5 is not > 0.5
    # edges round(linspace(1, 8, 5) + 1e-10) - 1 = [0, 2, 4, 5, 7]: first bin x[0:3],
    # last bin x[5:8] -> 0.9 - 0.4
    assert decay == pytest.approx(0.5)


def test_db_statistics_ignores_nan_and_uses_overlapping_bins():
    mean, recall, decay = db_statistics([math.nan, 1.0, 0.0, 1.0])
    assert mean == pytest.approx(2 / 3)
    assert recall == pytest.approx(0.5)  # NaN > 0.5 is False and still counts
    # edges [0, 1, 2, 2, 3]: first bin [nan, 1] -> 1, last bin [0, 1] -> 0.5
    assert decay == pytest.approx(0.5)


def test_db_statistics_bin_edges_wrap_like_uint8():
    # 300 frames: last edge 299 wraps to 43 (official uint8 cast), the last bin is empty.
    _, _, decay = db_statistics(np.ones(300))
    assert math.isnan(decay)


def test_db_statistics_empty_is_nan():
    assert all(math.isnan(v) for v in db_statistics([]))
