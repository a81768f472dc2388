"""Frames of a run with its ground truth and its predictions drawn over them, per task.

DAVIS: objects in the ground truth's palette; JHMDB: skeletons, predicted joints green when
within PCK@0.1 of the truth, red when not, grey when not scored; VIP: part maps. Frames,
annotations and predictions are read from the dataset root recorded in ``results.json`` and the
run folder; nothing is rescored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from vprop.benchmarks.io import read_indexed_png, read_rgb
from vprop.benchmarks.report.draw import (
    GT_COLOUR,
    blend_labels,
    draw_skeleton,
    hit_colours,
)
from vprop.benchmarks.report.runs import Run, Unit
from vprop.errors import VpropError

# (frame name, ground truth drawn, prediction drawn)
FramePair = tuple[str, np.ndarray, np.ndarray]


def _resize_to(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] == tuple(size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR))


def _label_pairs(frame_paths: list[Path], gt_paths: dict[str, Path], pred_dir: Path,
                 names: list[str] | None) -> Iterator[FramePair]:
    """Label-map tasks (DAVIS, VIP): blend GT (when annotated) and prediction."""
    wanted = None if names is None else set(names)
    for frame in frame_paths:
        if wanted is not None and frame.stem not in wanted:
            continue
        pred, palette = read_indexed_png(pred_dir / f"{frame.stem}.png")
        rgb = _resize_to(read_rgb(frame), pred.shape)
        gt_path = gt_paths.get(frame.stem)
        if gt_path is not None:
            gt, gt_palette = read_indexed_png(gt_path)
            gt_drawn = blend_labels(rgb, gt, gt_palette or palette)
        else:
            gt_drawn = rgb
        yield frame.stem, gt_drawn, blend_labels(rgb, pred, palette)


def _davis(run: Run, sequence: str, names: list[str] | None) -> Iterator[FramePair]:
    from vprop.benchmarks.davis.dataset import load_sequence

    seq = load_sequence(run.data_root, sequence)
    annotations = run.data_root / "Annotations" / "480p" / sequence
    gts = {path.stem: path for path in annotations.glob("*.png")}
    yield from _label_pairs(list(seq.frames), gts, run.path / "results" / sequence, names)


def _vip(run: Run, sequence: str, names: list[str] | None) -> Iterator[FramePair]:
    from vprop.benchmarks.vip.dataset import load_video

    video = load_video(run.data_root, sequence)
    gts = {path.stem: path for path in video.annotations}
    yield from _label_pairs(list(video.frames), gts, run.path / "results" / sequence, names)


def _jhmdb(run: Run, sequence: str, names: list[str] | None) -> Iterator[FramePair]:
    from vprop.benchmarks.jhmdb.dataset import SKELETON, load_clip

    clip = load_clip(run.data_root, sequence)
    path = run.path / "results" / f"{sequence}.json"
    try:
        saved = json.loads(path.read_text())
        predicted = {f["frame"]: np.asarray(f["keypoints"], float) for f in saved["frames"]}
    except (OSError, ValueError, KeyError) as error:
        raise VpropError(f"cannot read keypoint predictions ({error})", path) from None
    unit = next((u for u in run.units if u.name == sequence), None)
    hits = _hits_by_frame(unit)
    joints = clip.joints.shape[1]
    for index, frame in enumerate(clip.frames):
        if names is not None and frame.stem not in names:
            continue
        rgb = read_rgb(frame)
        truth = draw_skeleton(rgb, clip.joints[index], np.ones(joints, bool), SKELETON,
                              [GT_COLOUR] * joints)
        pred = predicted.get(frame.stem)
        if pred is None:
            raise VpropError(f"no prediction for frame {frame.stem}", path)
        colours = hit_colours(hits.get(frame.stem, [None] * joints))
        yield frame.stem, truth, draw_skeleton(rgb, pred[:, :2], pred[:, 2] > 0, SKELETON,
                                               colours)


def _hits_by_frame(unit: Unit | None) -> dict[str, list[int | None]]:
    if unit is None or "hit@0.1" not in unit.detail:
        return {}
    return dict(zip(unit.frames, unit.detail["hit@0.1"]))


_SOURCES: dict[str, Callable[[Run, str, list[str] | None], Iterator[FramePair]]] = {
    "davis": _davis, "jhmdb": _jhmdb, "vip": _vip,
}


def frame_pairs(run: Run, sequence: str, names: list[str] | None = None) -> Iterator[FramePair]:
    """Yield (frame name, ground truth drawn, prediction drawn) for frames of a sequence.

    Args:
        run: The run.
        sequence: DAVIS sequence, JHMDB clip or VIP video.
        names: Only these frames (default: every frame, in order).

    Raises:
        VpropError: The dataset root or a prediction is missing (naming the file).
    """
    if not run.data_root.is_dir():
        raise VpropError("dataset root recorded in results.json not found", run.data_root)
    yield from _SOURCES[run.task](run, sequence, names)


def sequences_of(run: Run) -> list[str]:
    """The sequences / clips / videos of a run, in table order (worst first)."""
    seen: list[str] = []
    for unit in run.units:
        if unit.sequence not in seen:
            seen.append(unit.sequence)
    return seen
