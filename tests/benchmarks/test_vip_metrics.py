"""VIP mIoU (PROTOCOLS.md section 4) on hand-made confusion cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vprop.benchmarks.vip.metrics import class_iou, confusion_matrix, mean_iou


def test_hand_made_confusion():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 2]])
    confusion = confusion_matrix(gt, pred)
    assert confusion.shape == (20, 20) and confusion.sum() == 8
    assert confusion[0, 0] == 3 and confusion[0, 1] == 1
    assert confusion[1, 1] == 3 and confusion[1, 2] == 1
    iou = class_iou(confusion)
    # class 0: 3 / (4 + 3 - 3); class 1: 3 / (4 + 4 - 3); class 2 predicted, absent from GT:
    # 0 / (0 + 1 - 0) = 0 and it counts; classes 3..19 absent from both: NaN, excluded.
    assert iou[0] == pytest.approx(0.75)
    assert iou[1] == pytest.approx(0.6)
    assert iou[2] == 0.0
    assert np.isnan(iou[3:]).all()
    assert mean_iou(confusion) == pytest.approx((0.75 + 0.6 + 0.0) / 3)


def test_perfect_prediction_is_one_over_present_classes():
    gt = np.array([[0, 4, 4], [13, 13, 19]])
    assert mean_iou(confusion_matrix(gt, gt)) == 1.0


def test_ignored_pixels_do_not_count_whatever_is_predicted():
    gt = np.array([[255, 255, 1], [1, 0, 0]])
    pred = np.array([[7, 0, 1], [1, 0, 0]])
    confusion = confusion_matrix(gt, pred)
    assert confusion.sum() == 4
    assert confusion[:, 7].sum() == 0  # the 7 sits on an ignored pixel
    assert mean_iou(confusion) == 1.0


def test_matrices_add_up_over_frames():
    a = (np.array([[0, 1]]), np.array([[0, 0]]))
    b = (np.array([[1, 1]]), np.array([[1, 1]]))
    total = confusion_matrix(*a) + confusion_matrix(*b)
    # class 0: TP 1, GT 1, pred 2 -> 1/2; class 1: TP 2, GT 3, pred 2 -> 2/3.
    assert mean_iou(total) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_prediction_outside_the_classes_is_rejected():
    with pytest.raises(ValueError, match="outside 0..19"):
        confusion_matrix(np.array([[1, 2]]), np.array([[1, 20]]))


def test_nothing_counted_gives_nan_without_warnings():
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        value = mean_iou(confusion_matrix(np.full((2, 2), 255), np.zeros((2, 2), int)))
    assert np.isnan(value)


def test_size_mismatch_is_rejected():
    with pytest.raises(ValueError, match="differ"):
        confusion_matrix(np.zeros((2, 3)), np.zeros((3, 2)))
