"""PCK for JHMDB pose propagation (PROTOCOLS.md sections 3 and 7), pure numpy.

Semantics of the CRW/CropMAE ``eval_pck.py``:

- frame 0 is never scored (its labels are the ground truth);
- a joint is scored only where the *prediction* marks it visible;
- per frame, the normaliser is 0.6 x the diagonal of the tight box around the ground-truth
  joints the prediction marks visible;
- ``d = |pred - gt| / normaliser``; PCK@a of a joint = % of its scored frames with
  ``d <= a``, pooled over all clips; the reported value is the mean over the joints.

Degenerate cases (the reference divides by zero there): a zero normaliser (one visible joint,
or all visible joints on one point) makes every joint of that frame a miss (``d = inf``,
like the reference's ``d / 0 = inf`` and ``0 / 0 = nan``, which both fail ``<= a``); a joint
never scored has PCK NaN and is left out of the mean over joints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
BOX_SCALE = 0.6


def pck_key(threshold: float) -> str:
    """Name of a PCK figure, e.g. ``PCK@0.1``."""
    return f"PCK@{threshold:g}"


def box_normalisers(gt: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Per-frame PCK normaliser: 0.6 x diagonal of the box over the counted GT joints.

    Args:
        gt: (T, J, 2) ground-truth (x, y) pixel coordinates.
        visible: (T, J) bool, joints the prediction marks visible.

    Returns:
        (T,) float64; NaN for a frame without any visible joint.
    """
    gt = np.asarray(gt, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    low = np.where(visible[..., None], gt, np.inf).min(axis=1)  # (T, 2)
    high = np.where(visible[..., None], gt, -np.inf).max(axis=1)  # (T, 2)
    any_visible = visible.any(axis=1)
    span = np.where(any_visible[:, None], high - low, np.nan)  # (T, 2)
    return BOX_SCALE * np.hypot(span[:, 0], span[:, 1])


def normalised_distances(
    pred: np.ndarray, visible: np.ndarray, gt: np.ndarray, skip_first: bool = True
) -> np.ndarray:
    """Distances between predicted and true joints, divided by the frame's normaliser.

    Args:
        pred: (T, J, 2) predicted (x, y) pixel coordinates.
        visible: (T, J) bool, whether the prediction marks each joint visible.
        gt: (T, J, 2) ground-truth (x, y) pixel coordinates.
        skip_first: Leave frame 0 unscored (the protocol).

    Returns:
        (T, J) float64: the normalised distance of every scored joint, ``inf`` where the
        normaliser is 0, NaN where the joint is not scored (invisible, or frame 0).

    Raises:
        ValueError: Shapes disagree.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must be (T, J, 2)")
    if visible.shape != pred.shape[:2]:
        raise ValueError(f"visibility {visible.shape} must be (T, J) = {pred.shape[:2]}")
    scored = visible.copy()
    if skip_first and len(scored):
        scored[0] = False
    norm = box_normalisers(gt, scored)[:, None]  # (T, 1)
    error = np.hypot(*np.moveaxis(pred - gt, -1, 0))  # (T, J)
    safe_norm = np.where(norm > 0, norm, 1.0)
    dist = np.where(norm > 0, error / safe_norm, np.inf)
    return np.where(scored, dist, np.nan)


def pck_per_joint(distances: np.ndarray, threshold: float) -> np.ndarray:
    """PCK of every joint in percent over its scored entries.

    Args:
        distances: (N, J) normalised distances, NaN = not scored (frames of any number of
            clips stacked along N).
        threshold: Fraction of the normaliser.

    Returns:
        (J,) float64 percent; NaN for a joint that is never scored.
    """
    distances = np.asarray(distances, dtype=np.float64)
    scored = ~np.isnan(distances)
    hits = (np.where(scored, distances, np.inf) <= threshold).sum(axis=0)
    counts = scored.sum(axis=0)
    return np.where(counts > 0, 100.0 * hits / np.maximum(counts, 1), np.nan)


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def pck_summary(
    distances: np.ndarray, thresholds: Sequence[float] = THRESHOLDS
) -> dict[str, float]:
    """Headline PCK figures: mean over joints of the per-joint PCK, per threshold.

    Args:
        distances: (N, J) normalised distances (see :func:`normalised_distances`).
        thresholds: Fractions of the normaliser.

    Returns:
        {"PCK@0.1": percent, ...}; NaN when no joint is ever scored.
    """
    return {pck_key(a): _nanmean(pck_per_joint(distances, a)) for a in thresholds}
