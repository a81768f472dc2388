"""DAVIS region (J) and boundary (F) measures with the official davis2017-evaluation semantics.

Pure numpy (plus OpenCV for the binary dilation and scikit-image for the disk footprint, as
the official evaluator does). Every empty-mask rule, the 1-pixel boundary extraction and the
per-object statistics (mean, recall, decay) follow the official code so that the figures are
identical to what it prints.
"""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np
from skimage.morphology import disk

__all__ = [
    "db_statistics",
    "f_measure",
    "jaccard",
    "jaccard_batch",
    "seg2bmap",
]


def jaccard_batch(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> np.ndarray:
    """Region similarity J = |S n G| / |S u G| over the last two axes.

    Args:
        gt: Ground-truth masks, shape (..., H, W), any dtype (non-zero = foreground).
        pred: Predicted masks, same shape as ``gt``.
        void: Optional pixels to ignore, same shape (not used in the semi-supervised task).

    Returns:
        float64 array of shape (...): J per mask, 1.0 where the union is empty.
    """
    gt = np.asarray(gt).astype(bool)
    pred = np.asarray(pred).astype(bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} shapes differ")
    keep = np.ones_like(gt) if void is None else ~np.asarray(void).astype(bool)
    inter = np.sum(gt & pred & keep, axis=(-2, -1))  # (...)
    union = np.sum((gt | pred) & keep, axis=(-2, -1))  # (...)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = inter / union
    return np.where(union == 0, 1.0, values).astype(np.float64)


def jaccard(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J of one frame.

    Args:
        gt: Ground-truth mask (H, W), non-zero = object.
        pred: Predicted mask (H, W).
        void: Optional (H, W) mask of pixels to ignore.

    Returns:
        |S n G| / |S u G|, or 1.0 when both masks are empty.
    """
    if np.ndim(gt) != 2:
        raise ValueError(f"jaccard expects (H, W) masks, got {np.shape(gt)}")
    return float(jaccard_batch(gt, pred, void))


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a binary segmentation (official ``_seg2bmap``).

    A pixel is a boundary pixel when it differs from its east, south or south-east
    neighbour (pixels outside the image count as background). On the last row only the
    east neighbour is compared, on the last column only the south neighbour, and the
    bottom-right pixel is never a boundary, exactly as in the official code. (The official
    function can also shift the map into a smaller output; the F measure never asks for one.)

    Args:
        seg: Segmentation (H, W); non-zero = foreground.

    Returns:
        Boolean boundary map of shape (H, W).
    """
    seg = np.asarray(seg).astype(bool)
    if seg.ndim != 2:
        raise ValueError(f"seg2bmap expects an (H, W) mask, got {seg.shape}")
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]

    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)  # (H, W)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


def _tolerance(shape: tuple[int, int], bound_th: float) -> float:
    """Tolerance in pixels: ``bound_th`` itself if >= 1, else a fraction of the diagonal."""
    if bound_th >= 1:
        return bound_th
    return float(np.ceil(bound_th * np.linalg.norm(shape)))


def f_measure(
    gt: np.ndarray,
    pred: np.ndarray,
    bound_th: float = 0.008,
    void: np.ndarray | None = None,
) -> float:
    """Boundary F measure of one frame (official ``f_measure``).

    Boundaries of both masks are matched within a disk of radius
    ``ceil(bound_th * sqrt(H^2 + W^2))`` pixels (8 px at 480x854).

    Args:
        gt: Ground-truth mask (H, W), non-zero = object.
        pred: Predicted mask (H, W).
        bound_th: Tolerance as a fraction of the image diagonal (< 1) or in pixels (>= 1).
        void: Optional (H, W) mask of pixels removed from both masks first.

    Returns:
        2PR / (P + R). Empty prediction and empty ground truth -> 1; empty prediction
        only -> P=1, R=0 (F=0); empty ground truth only -> P=0, R=1 (F=0).
    """
    gt = np.asarray(gt).astype(bool)
    pred = np.asarray(pred).astype(bool)
    if gt.ndim != 2 or gt.shape != pred.shape:
        raise ValueError(f"f_measure expects two (H, W) masks, got {gt.shape} and {pred.shape}")
    if void is not None:
        keep = ~np.asarray(void).astype(bool)
        gt, pred = gt & keep, pred & keep

    radius = _tolerance(pred.shape, bound_th)
    fg_boundary = seg2bmap(pred)  # (H, W) bool
    gt_boundary = seg2bmap(gt)  # (H, W) bool
    footprint = disk(radius).astype(np.uint8)
    fg_dilated = cv2.dilate(fg_boundary.astype(np.uint8), footprint).astype(bool)
    gt_dilated = cv2.dilate(gt_boundary.astype(np.uint8), footprint).astype(bool)

    n_fg = int(fg_boundary.sum())
    n_gt = int(gt_boundary.sum())
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = int((fg_boundary & gt_dilated).sum()) / float(n_fg)
        recall = int((gt_boundary & fg_dilated).sum()) / float(n_gt)

    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def db_statistics(per_frame: np.ndarray | list[float]) -> tuple[float, float, float]:
    """Mean, recall and decay of one object's per-frame J or F (official ``db_statistics``).

    Args:
        per_frame: Per-frame values (T,), NaNs allowed.

    Returns:
        (mean, recall, decay): NaN-mean; fraction of frames > 0.5; mean of the first of
        four temporal bins minus the mean of the last. Bin edges are
        ``round(linspace(1, T, 5) + 1e-10) - 1`` cast to uint8 like the official code
        (so they wrap modulo 256 for sequences longer than 256 frames), each bin
        inclusive of its right edge. An empty list gives NaNs.
    """
    values = np.asarray(per_frame, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(values))
        recall = float(np.nanmean(values > 0.5))

    edges = np.round(np.linspace(1, values.size, 5) + 1e-10) - 1
    edges = edges.astype(np.int64) % 256  # the official ``astype(np.uint8)``
    bins = [values[edges[i] : edges[i + 1] + 1] for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return mean, recall, decay
