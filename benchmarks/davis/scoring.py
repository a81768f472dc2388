"""DAVIS-2017 semi-supervised scoring, equal to the official davis2017-evaluation.

Semantics (official ``DAVISEvaluation`` with ``task='semi-supervised'``):

- frames = the sorted ``Annotations/480p/<seq>/*.png``; the first and the last frame are
  not scored (and their predictions are not even read);
- void pixels (255) of the ground truth count as background;
- number of objects = the largest id of the first ground-truth frame; ids are one-hot per
  object (1..N); a prediction holding a larger id is an error, objects it lacks are empty;
- per object ``<seq>_<id>``: J and F mean / recall / decay over the scored frames;
- global figures: the mean over all objects pooled across sequences, and
  J&F-Mean = (J-Mean + F-Mean) / 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from vprop.benchmarks.davis.dataset import read_imageset
from vprop.benchmarks.davis.metrics import (
    db_statistics,
    f_measure,
    jaccard,
)
from vprop.benchmarks.davis.sources import IdMaps, PredictionSource, open_predictions
from vprop.benchmarks.io import read_indexed_png
from vprop.benchmarks.parallel import auto_workers, ordered_map
from vprop.errors import VpropError
from vprop.safety import check_names, ordered_frames

VOID_LABEL = 255
# Fewer annotated frames leave nothing between the unscored first and last frame. The official
# evaluator then gives the sequence's objects NaN statistics, and its global mean becomes NaN;
# vprop leaves such a sequence out of the global figures, with a warning.
MIN_FRAMES = 3
# The automatic worker count gives each scoring process at least this many frames (about a
# second of work at 480p, more than a worker's start-up), so small jobs run in one process.
FRAMES_PER_WORKER = 150
GLOBAL_KEYS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
OBJECT_KEYS = ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def _score_frames(frame_pairs, n_objects: int, count: int) -> dict[int, dict[str, Any]]:
    """Per-object J/F statistics from scored (ground truth, prediction) frame pairs.

    Args:
        frame_pairs: Iterable of (gt (H, W) with void already 0, pred (H, W)) id maps, consumed
            one at a time so memory holds one frame.
        n_objects: Number of objects of the sequence.
        count: Number of pairs.

    Returns:
        {object_id: {"J-Mean", ..., "F-Decay", "J": [count floats], "F": [count floats]}}.
    """
    j_frames = np.zeros((n_objects, count))
    f_frames = np.zeros((n_objects, count))
    for index, (gt, pred) in enumerate(frame_pairs):
        for object_id in range(1, n_objects + 1):
            gt_mask, pred_mask = gt == object_id, pred == object_id
            j_frames[object_id - 1, index] = jaccard(gt_mask, pred_mask)
            f_frames[object_id - 1, index] = f_measure(gt_mask, pred_mask)
    scores = {}
    for object_id in range(1, n_objects + 1):
        j_mean, j_recall, j_decay = db_statistics(j_frames[object_id - 1])
        f_mean, f_recall, f_decay = db_statistics(f_frames[object_id - 1])
        scores[object_id] = {
            "J-Mean": j_mean, "J-Recall": j_recall, "J-Decay": j_decay,
            "F-Mean": f_mean, "F-Recall": f_recall, "F-Decay": f_decay,
            "J": [float(v) for v in j_frames[object_id - 1]],
            "F": [float(v) for v in f_frames[object_id - 1]],
        }
    return scores


def _count_objects(first_gt: np.ndarray) -> int:
    first = np.where(first_gt == VOID_LABEL, 0, first_gt)
    return int(first.max()) if first.size else 0


def score_sequence(gt_masks: np.ndarray, pred_masks: np.ndarray) -> dict[int, dict[str, Any]]:
    """Score one sequence held in memory, with the official semi-supervised rules.

    Args:
        gt_masks: Ground-truth id maps of every frame (T, H, W), 255 = void.
        pred_masks: Predicted id maps of every frame (T, H, W); frames 0 and T-1 are
            ignored (not scored), like the official evaluator.

    Returns:
        {object_id: {"J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay",
        "J": per-frame J list, "F": per-frame F list}} for object ids 1..N, N = the
        largest id of the first ground-truth frame. Per-frame lists cover frames 1..T-2.

    Raises:
        VpropError: The prediction holds an id larger than N.
        ValueError: The two stacks differ in shape.
    """
    gt_masks = np.asarray(gt_masks)
    pred_masks = np.asarray(pred_masks)
    if gt_masks.ndim != 3 or gt_masks.shape != pred_masks.shape:
        raise ValueError(
            f"expected ground truth and prediction of equal shape (T, H, W), "
            f"got {gt_masks.shape} and {pred_masks.shape}"
        )
    n_objects = _count_objects(gt_masks[0])
    gt_scored = np.where(gt_masks[1:-1] == VOID_LABEL, 0, gt_masks[1:-1])  # (T-2, H, W)
    pred_scored = pred_masks[1:-1]  # (T-2, H, W)
    largest = int(pred_scored.max()) if pred_scored.size else 0
    if largest > n_objects:
        raise VpropError(
            f"prediction holds object id {largest} but the ground truth has {n_objects} objects"
        )
    return _score_frames(zip(gt_scored, pred_scored), n_objects, len(gt_scored))


def ground_truth_files(davis_root: str | Path, sequence: str) -> list[Path]:
    """The annotation files of a sequence (``Annotations/480p/<seq>/*.png``), natural order.

    Zero-padded names (the DAVIS layout) sort as the official evaluator sorts them; numbered
    names without padding (``0.png ... 11.png``) are put in numeric order, and a gap in the
    numbering is an error naming the missing file.
    """
    folder = Path(davis_root) / "Annotations" / "480p" / sequence
    files = list(ordered_frames(folder.glob("*.png"), folder, ".png"))
    if not files:
        raise VpropError("no ground-truth annotations (*.png) found", folder)
    return files


def read_ground_truth(davis_root: str | Path, sequence: str) -> tuple[list[str], np.ndarray]:
    """Read every annotation of a sequence.

    Args:
        davis_root: The DAVIS folder (holding ``Annotations/480p``).
        sequence: Sequence name.

    Returns:
        (frame names without extension, id maps (T, H, W) uint8 with 255 = void).
    """
    files = ground_truth_files(davis_root, sequence)
    maps = [read_indexed_png(path)[0] for path in files]
    for path, ids in zip(files, maps):
        if ids.shape != maps[0].shape:
            raise VpropError(f"annotation size {ids.shape} differs from {maps[0].shape}", path)
    return [path.stem for path in files], np.stack(maps)


def _read_prediction(source, sequence: str, frame: str, size: tuple[int, int], n_objects: int):
    """Read one predicted id map, checking its size and object ids."""
    ids = source.read(sequence, frame)
    if ids.shape != size:
        raise VpropError(
            f"prediction size {ids.shape[1]}x{ids.shape[0]} differs from the "
            f"ground truth {size[1]}x{size[0]}",
            source.where(sequence, frame),
        )
    largest = int(ids.max()) if ids.size else 0
    if largest > n_objects:
        raise VpropError(
            f"object id {largest} but the ground truth of {sequence} has {n_objects} objects",
            source.where(sequence, frame),
        )
    return ids


def resize_ground_truth(ids: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Nearest-resize an annotation to the score size; ``None`` or an equal size keeps it.

    ``cv2.INTER_NEAREST``, as the CropMAE loader resizes DAVIS annotations to 880x480.
    """
    if size is None or tuple(ids.shape) == tuple(size):
        return ids
    return cv2.resize(ids, (int(size[1]), int(size[0])), interpolation=cv2.INTER_NEAREST)


def _score_sequence_streamed(
    source, davis_root: str | Path, sequence: str, score_size: tuple[int, int] | None = None
) -> tuple[list, dict]:
    """Score one sequence frame by frame: memory holds one frame, whatever the length.

    Returns:
        (scored frame names, {object_id: {OBJECT_KEYS..., "J": [...], "F": [...]}}).
    """
    files = ground_truth_files(davis_root, sequence)
    first = read_indexed_png(files[0])[0]
    n_objects, native = _count_objects(first), first.shape
    size = tuple(score_size) if score_size is not None else native
    source.check_sequence(sequence)
    scored = files[1:-1]

    def pairs():
        for path in scored:
            gt = read_indexed_png(path)[0]
            if gt.shape != native:
                raise VpropError(f"annotation size {gt.shape} differs from {native}", path)
            gt = resize_ground_truth(gt, score_size)
            pred = _read_prediction(source, sequence, path.stem, size, n_objects)
            yield np.where(gt == VOID_LABEL, 0, gt), pred

    scores = _score_frames(pairs(), n_objects, len(scored))
    return [path.stem for path in scored], scores


def score_davis(
    davis_root: str | Path,
    results_dir: str | Path | IdMaps,
    sequences: Sequence[str] | None = None,
    imageset: str = "2017/val.txt",
    progress: bool = True,
    score_size: tuple[int, int] | None = None,
    workers: int | None = 1,
) -> dict[str, Any]:
    """Score DAVIS-2017 semi-supervised results like the official evaluator.

    Args:
        davis_root: The DAVIS folder (``ImageSets/``, ``Annotations/480p/``).
        results_dir: A results folder ``<seq>/<frame>.png`` (indexed PNGs), a COCO RLE
            JSON file written by :mod:`vprop.benchmarks.davis.rle`, or in-memory id maps
            ``{seq: {frame: (H, W) ids}}``.
        sequences: Sequences to score; default: those listed in ``imageset``.
        imageset: Sequence list under ``<davis_root>/ImageSets``.
        progress: Show a per-sequence progress bar (only on a terminal).
        score_size: Score at this (height, width): every annotation is nearest-resized to it
            (OpenCV, like the CropMAE/SiamMAE ``DAVIS_480_880`` copy) and predictions must
            have it; the F tolerance follows from its diagonal (9 px at 480x880). ``None``:
            the native size (the official protocol).
        workers: Processes scoring sequences in parallel (``None``: every available CPU
            with ``FRAMES_PER_WORKER`` frames to score); the result is identical for any number.

    Returns:
        {"global": {GLOBAL_KEYS...}, "per_object": {"<seq>_<id>": {OBJECT_KEYS...}},
        "per_frame": {"<seq>_<id>": {"frames": names, "J": [...], "F": [...]}},
        "excluded": {seq: reason}, "warnings": [lines]}; a sequence with fewer than
        ``MIN_FRAMES`` annotated frames has nothing to score and is listed in ``excluded``.

    Raises:
        VpropError: Missing or unreadable file, missing sequence, size mismatch, or a
            prediction with more objects than the ground truth; the message names the file.
    """
    names = _sequence_names(davis_root, sequences, imageset)
    source = open_predictions(results_dir)
    counts = {name: len(ground_truth_files(davis_root, name)) for name in names}
    excluded = {name: (f"{count} annotated frame(s): the first and the last frame are never "
                       "scored, so no frame is left")
                for name, count in counts.items() if count < MIN_FRAMES}
    jobs = [_SequenceJob(Path(davis_root), source.only(name), name, score_size)
            for name in names if name not in excluded]
    workers = auto_workers(workers, sum(counts[job.sequence] for job in jobs), FRAMES_PER_WORKER)
    with tqdm(total=len(jobs), desc="DAVIS", unit="seq",
              disable=None if progress else True) as bar:
        outcomes = ordered_map(_score_job, jobs, workers, cost=lambda job: counts[job.sequence],
                               on_done=bar.update)
    per_object, per_frame = _per_object([job.sequence for job in jobs], outcomes)
    if not per_object:
        raise VpropError(f"no sequence has a frame to score (each needs at least {MIN_FRAMES} "
                         f"annotated frames): {', '.join(excluded)}", Path(davis_root))
    return {"global": global_scores(per_object), "per_object": per_object, "per_frame": per_frame,
            "excluded": excluded, "warnings": excluded_warnings(excluded)}


def _sequence_names(davis_root: str | Path, sequences: Sequence[str] | None,
                    imageset: str) -> list[str]:
    """``sequences`` checked, or the imageset's list; never empty."""
    if sequences is not None:
        names = check_names(sequences, "sequence", "--sequences")
    else:
        names = read_imageset(Path(davis_root), imageset)
    if not names:
        raise VpropError("no sequences to score")
    return list(names)


def _per_object(sequences: list[str], outcomes: list[tuple[list, dict]]) -> tuple[dict, dict]:
    """Per-object statistics and per-frame J/F, keyed ``<seq>_<id>``, in sequence order."""
    per_object: dict[str, dict[str, float]] = {}
    per_frame: dict[str, dict[str, list]] = {}
    for sequence, (scored_frames, objects) in zip(sequences, outcomes):
        for object_id, scores in objects.items():
            name = f"{sequence}_{object_id}"
            per_object[name] = {key: scores[key] for key in OBJECT_KEYS}
            per_frame[name] = {"frames": scored_frames, "J": scores["J"], "F": scores["F"]}
    return per_object, per_frame


@dataclass(frozen=True)
class _SequenceJob:
    """One sequence to score, sent to a scoring process (picklable)."""

    davis_root: Path
    source: PredictionSource
    sequence: str
    score_size: tuple[int, int] | None


def _score_job(job: _SequenceJob) -> tuple[list, dict]:
    """Score one sequence (runs in a pool worker or inline)."""
    return _score_sequence_streamed(job.source, job.davis_root, job.sequence, job.score_size)


def excluded_warnings(excluded: Mapping[str, str]) -> list[str]:
    """One warning line per sequence left out of the global figures."""
    return [f"sequence {name} excluded from the global figures: {why}"
            for name, why in excluded.items()]


def global_scores(per_object: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Pool per-object statistics into the official global figures.

    Args:
        per_object: {"<seq>_<id>": {OBJECT_KEYS...}}.

    Returns:
        {GLOBAL_KEYS...}: mean over objects of each statistic, and
        J&F-Mean = (J-Mean + F-Mean) / 2.
    """
    if not per_object:
        raise VpropError("no objects were scored")
    pooled = {key: float(np.mean([obj[key] for obj in per_object.values()])) for key in OBJECT_KEYS}
    return {"J&F-Mean": (pooled["J-Mean"] + pooled["F-Mean"]) / 2.0, **pooled}
