"""PCK (PROTOCOLS.md section 3) against hand calculations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vprop.benchmarks.jhmdb.metrics import (
    box_normalisers,
    normalised_distances,
    pck_per_joint,
    pck_summary,
)


def _pose() -> np.ndarray:
    """15 joints inside a box x 10..70, y 20..100: diagonal hypot(60, 80) = 100."""
    xs = np.linspace(10, 70, 15)
    ys = np.linspace(20, 100, 15)[::-1]
    return np.stack([xs, ys], axis=1)  # (15, 2)


def _clip(frames: int = 3) -> np.ndarray:
    return np.stack([_pose() + [2.0 * t, 1.0 * t] for t in range(frames)])  # (T, 15, 2)


def test_box_normaliser_is_0_6_times_the_diagonal():
    gt = _clip(2)
    norms = box_normalisers(gt, np.ones((2, 15), bool))
    assert norms == pytest.approx([60.0, 60.0])


def test_ground_truth_as_prediction_scores_100():
    gt = _clip()
    summary = pck_summary(normalised_distances(gt, np.ones((3, 15), bool), gt))
    assert summary == {f"PCK@{a}": 100.0 for a in ("0.1", "0.2", "0.3", "0.4", "0.5")}


def test_known_shift_gives_the_hand_computed_fraction():
    gt = _clip()
    pred = gt.copy()
    # Normaliser 60 px. Joints 0-4 off by 3 px (0.05), 5-9 by 9 px (0.15), 10-14 by 15 px
    # (0.25), in x, in frames 1 and 2; frame 0 is far off but never scored.
    pred[1:, 0:5, 0] += 3.0
    pred[1:, 5:10, 0] += 9.0
    pred[1:, 10:15, 1] -= 15.0
    pred[0] += 500.0
    summary = pck_summary(normalised_distances(pred, np.ones((3, 15), bool), gt))
    assert summary["PCK@0.1"] == pytest.approx(100 * 5 / 15)
    assert summary["PCK@0.2"] == pytest.approx(100 * 10 / 15)
    assert summary["PCK@0.3"] == pytest.approx(100.0)


def test_frame_zero_is_skipped():
    gt = _clip()
    pred = gt.copy()
    pred[0] += 100.0
    distances = normalised_distances(pred, np.ones((3, 15), bool), gt)
    assert np.isnan(distances[0]).all()
    assert pck_summary(distances)["PCK@0.1"] == 100.0


def test_invisible_joints_are_excluded_from_scores_and_from_the_box():
    gt = _clip(2)
    pred = gt.copy()
    visible = np.ones((2, 15), bool)
    # Joint 0 (the box's left/bottom corner) is marked invisible in frame 1 with a wild
    # prediction: it is not scored, and the box shrinks to joints 1..14:
    # x 10+60/14 .. 70 and y 20 .. 100-80/14 -> diagonal (60*13/14, 80*13/14) -> 100*13/14.
    visible[1, 0] = False
    pred[1, 0] = (1000.0, 1000.0)
    pred[1, 1, 0] += 8.0  # 8 / (0.6 * 100 * 13 / 14) = 0.1436: misses 0.1, hits 0.2
    distances = normalised_distances(pred, visible, gt)
    assert np.isnan(distances[1, 0])
    assert distances[1, 1] == pytest.approx(8.0 / (60.0 * 13 / 14))
    per_joint = pck_per_joint(distances, 0.1)
    assert np.isnan(per_joint[0])  # never scored
    assert per_joint[1] == 0.0 and np.all(per_joint[2:] == 100.0)
    # Mean over the 14 scored joints only.
    assert pck_summary(distances)["PCK@0.1"] == pytest.approx(100 * 13 / 14)
    assert pck_summary(distances)["PCK@0.2"] == pytest.approx(100.0)


def test_reported_value_is_the_mean_over_joints_not_over_all_entries():
    # Two joints: joint 0 scored in 1 frame (hit), joint 1 in 3 frames (1 hit).
    distances = np.array(
        [[np.nan, np.nan], [0.05, 0.05], [np.nan, 0.5], [np.nan, 0.7]]
    )
    assert pck_per_joint(distances, 0.1).tolist() == pytest.approx([100.0, 100 / 3])
    assert pck_summary(distances, (0.1,))["PCK@0.1"] == pytest.approx((100 + 100 / 3) / 2)


def test_threshold_is_inclusive():
    distances = np.array([[0.25], [0.5]])  # exact binary fractions
    assert pck_per_joint(distances, 0.25).tolist() == [50.0]
    assert pck_per_joint(distances, 0.5).tolist() == [100.0]


def test_degenerate_boxes_give_misses_not_nan_or_warnings():
    gt = _clip(4)
    pred = gt.copy()
    visible = np.ones((4, 15), bool)
    visible[1, 1:] = False  # frame 1: one visible joint -> zero-size box
    gt[2, :] = (30.0, 40.0)  # frame 2: every joint on one point -> zero-size box
    pred[2, :] = (30.0, 40.0)  # even an exact prediction cannot be judged: a miss
    visible[3, :] = False  # frame 3: nothing visible -> nothing scored
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        distances = normalised_distances(pred, visible, gt)
        summary = pck_summary(distances)
    assert distances[1, 0] == np.inf and np.isnan(distances[1, 1:]).all()
    assert np.all(distances[2] == np.inf)
    assert np.isnan(distances[3]).all()
    # Joint 0 scored twice (frames 1, 2), both misses; joints 1-14 once (frame 2), a miss.
    assert summary["PCK@0.5"] == 0.0


def test_nothing_scored_gives_nan_without_warnings():
    gt = _clip(3)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        summary = pck_summary(normalised_distances(gt, np.zeros((3, 15), bool), gt))
    assert all(np.isnan(value) for value in summary.values())


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="must be"):
        normalised_distances(np.zeros((3, 15, 2)), np.ones((3, 15), bool), np.zeros((4, 15, 2)))
