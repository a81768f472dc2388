"""Per-clip keypoint prediction files (JSON): written atomically, read back for resuming.

One file per clip, ``<out>/results/<class>/<clip>.json``::

    {"clip": "<class>/<clip>", "frame_size": [H, W], "input_size": [h_in, w_in],
     "grid": [h, w], "num_joints": 15, "signature": {...},
     "frames": [{"frame": "00001", "keypoints": [[x, y, v], ... 15 triplets]}, ...]}

``x, y`` are pixel coordinates in the original frame and ``v`` is 1 (visible) or 0 (the
propagated map of that joint is empty; then ``x = y = -1``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vprop.utils import atomic_write_json

RESULTS_DIR = "results"


@dataclass
class ClipKeypoints:
    """Predicted keypoints of one clip.

    Attributes:
        xy: (T, J, 2) float64 pixel (x, y); -1 where invisible.
        visible: (T, J) bool.
    """

    xy: np.ndarray
    visible: np.ndarray


def prediction_path(out_dir: Path, clip: str) -> Path:
    """Where a clip's keypoint file lives under the run folder."""
    return Path(out_dir) / RESULTS_DIR / f"{clip}.json"


def write_keypoints(
    path: Path,
    clip: str,
    frame_names: list[str],
    keypoints: ClipKeypoints,
    meta: dict[str, Any],
) -> None:
    """Write a clip's predictions atomically (a present file is always complete).

    Args:
        path: Output JSON file.
        clip: Clip name.
        frame_names: Frame stems, one per row of ``keypoints``.
        keypoints: The predictions.
        meta: Extra fields (frame_size, input_size, grid, signature, ...).
    """
    frames = []
    for name, xy, visible in zip(frame_names, keypoints.xy, keypoints.visible):
        triplets = [
            [float(x), float(y), 1] if v else [-1.0, -1.0, 0] for (x, y), v in zip(xy, visible)
        ]
        frames.append({"frame": name, "keypoints": triplets})
    payload = {"clip": clip, **meta, "num_joints": int(keypoints.xy.shape[1]), "frames": frames}
    atomic_write_json(path, payload)


def read_keypoints(
    path: Path, frame_names: list[str], num_joints: int, signature: dict[str, Any] | None
) -> ClipKeypoints | None:
    """Read a finished clip's predictions back, if they match the current run.

    Args:
        path: The clip's JSON file.
        frame_names: Expected frame stems.
        num_joints: Expected J.
        signature: What produced them (preset, input size, backbone); must be equal.
            ``None`` accepts any (scoring an existing folder).

    Returns:
        The predictions, or ``None`` when the file is absent, unreadable, stale (other
        signature) or does not cover exactly these frames - the clip is then recomputed.
    """
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        expected = None if signature is None else json.loads(json.dumps(signature, default=str))
        if expected is not None and payload.get("signature") != expected:
            return None
        frames = payload["frames"]
        if [frame["frame"] for frame in frames] != list(frame_names):
            return None
        table = np.array([frame["keypoints"] for frame in frames], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if table.shape != (len(frame_names), num_joints, 3):
        return None
    return ClipKeypoints(xy=table[..., :2].copy(), visible=table[..., 2] > 0)
