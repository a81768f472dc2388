"""VIP part-propagation scoring (PROTOCOLS.md section 4), pure numpy.

A 20x20 confusion matrix (rows = ground truth, columns = prediction) is accumulated over every
annotated frame, the first included; ground-truth pixels outside 0..19 (255 = ignored) are not
counted. IoU per class = TP / (GT + Pred - TP); a class absent from both the ground truth and
the prediction has IoU NaN and is left out of mIoU = nanmean over classes (a class predicted
but absent from the ground truth has IoU 0 and counts), like the CRW/CropMAE ``eval_vip.py``.
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 20
IGNORE_LABEL = 255


def confusion_matrix(
    gt: np.ndarray, pred: np.ndarray, num_classes: int = NUM_CLASSES
) -> np.ndarray:
    """Count (ground truth, prediction) pixel pairs.

    Args:
        gt: (H, W) ground-truth class ids; values outside ``0..num_classes-1`` are ignored.
        pred: (H, W) predicted class ids.
        num_classes: Number of classes n.

    Returns:
        (n, n) int64 matrix, ``[g, p]`` = pixels of class g predicted as p.

    Raises:
        ValueError: Shapes differ, or a counted pixel's prediction is not a class id.
    """
    gt = np.asarray(gt).astype(np.int64)
    pred = np.asarray(pred).astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
    counted = (gt >= 0) & (gt < num_classes)
    gt_ids, pred_ids = gt[counted], pred[counted]
    if pred_ids.size and (pred_ids.min() < 0 or pred_ids.max() >= num_classes):
        raise ValueError(f"prediction holds ids outside 0..{num_classes - 1}")
    counts = np.bincount(num_classes * gt_ids + pred_ids, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """IoU per class from a confusion matrix.

    Args:
        confusion: (n, n) matrix, rows = ground truth.

    Returns:
        (n,) float64 TP / (GT + Pred - TP); NaN for a class absent from both.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    union = confusion.sum(axis=1) + confusion.sum(axis=0) - true_positive
    return np.where(union > 0, true_positive / np.where(union > 0, union, 1.0), np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """mIoU: the mean IoU over classes present in the ground truth or the prediction.

    Returns:
        A fraction in [0, 1]; NaN when no pixel was counted.
    """
    iou = class_iou(confusion)
    present = iou[~np.isnan(iou)]
    return float(present.mean()) if present.size else float("nan")
