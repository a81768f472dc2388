"""``vprop eval --task vip``: human-part propagation on VIP, scored by mIoU (PROTOCOLS.md 4).

Per video: the first annotation's class ids are propagated by the shared engine
(:func:`~vprop.benchmarks.pipeline.propagate_video`), every frame's soft labels are upsampled,
argmaxed, nearest-resized (PIL-style, like the reference scorer) to the annotation size and
written as class-id PNGs to ``<out>/results/videosN/<frame>.png`` (the layout of
``Annotations/Category_ids``). A finished video leaves ``<out>/.vprop-done/videosN.json``; a
re-run with an identical configuration (preset, input size, backbone) skips it unless
``request.overwrite``. Scoring reads the PNGs
back and accumulates one 20x20 confusion matrix over every annotated frame, the first included.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vprop.benchmarks.background import OutputPool
from vprop.benchmarks.io import read_indexed_png, write_indexed_png
from vprop.benchmarks.papers import protocol
from vprop.benchmarks.parallel import auto_workers, ordered_map
from vprop.benchmarks.pipeline import EngineSettings, propagate_video, read_frames
from vprop.benchmarks.protocols import TASK_DEFAULTS
from vprop.benchmarks.sizes import check_patch_multiple, feature_grid, feature_stride, pads_input
from vprop.benchmarks.tables import write_csv
from vprop.benchmarks.tasks import EvalRequest, WorkUnit, run_task, write_per_frame
from vprop.benchmarks.vip.dataset import VipVideo, load_videos
from vprop.benchmarks.vip.labels import channels_to_ids, check_class_ids, first_frame_channels
from vprop.benchmarks.vip.metrics import NUM_CLASSES, class_iou, confusion_matrix, mean_iou
from vprop.benchmarks.vip.synthetic import make_vip_sample
from vprop.errors import VpropError
from vprop.propagation import Preset, decode_labels, resize_ids
from vprop.safety import check_inside
from vprop.utils import finite_or_none

CLASSES = (
    "background", "hat", "hair", "sun-glasses", "upper-clothes", "dress", "coat", "socks",
    "pants", "gloves", "scarf", "skirt", "torso-skin", "face", "right-arm", "left-arm",
    "right-leg", "left-leg", "right-shoe", "left-shoe",
)
PREDICTIONS_DIR = "results"
# The scorer resizes predictions like CropMAE/CRW eval_vip.py (PIL NEAREST), whatever the preset.
OUTPUT_NEAREST = TASK_DEFAULTS["vip"].output_nearest


def input_size_for(video: VipVideo, size: tuple[int, int] | None, patch: int,
                   preset_name: str | None = None) -> tuple[int, int]:
    """Backbone input: ``size`` if given, else the preset's rule (long side 880, x64).

    ``preset_name`` ``None`` uses the task's default protocol.
    """
    rule = protocol("vip", preset_name or "").input_size
    chosen = tuple(size) if size else rule.resolve(video.size, patch, pads=False)
    return check_patch_multiple(chosen, patch)


def predict_video(
    extractor: Any,
    video: VipVideo,
    preset: Preset,
    input_size: tuple[int, int],
    settings: EngineSettings,
    out_dir: Path,
) -> None:
    """Propagate a video's first annotation and write one class-id PNG per frame."""
    first_ids, palette = read_indexed_png(video.annotations[0])
    channels, classes = first_frame_channels(first_ids)
    frames = read_frames(video.frames, video.size)
    grid = feature_grid(input_size, feature_stride(extractor), pads_input(extractor))
    soft_maps = propagate_video(extractor, frames, channels, len(classes), preset, input_size,
                                grid, settings, video.frames, video.name)
    nearest = protocol("vip", preset.name).output_nearest or preset.nearest


    def output(path: Path, soft: torch.Tensor) -> None:  # runs on an output thread
        argmax = decode_labels(soft, input_size, video.label_size, minmax=preset.minmax_output,
                               nearest=nearest)  # (H, W) channels
        write_indexed_png(path, channels_to_ids(argmax, classes), palette)

    with OutputPool() as pool:
        for frame, soft in tqdm(zip(video.frames, soft_maps), total=len(video.frames),
                                desc=video.name, unit="frame", leave=False,
                                disable=not settings.progress):
            pool.submit(partial(output, out_dir / PREDICTIONS_DIR / video.name /
                                f"{frame.stem}.png", soft))


def score_video(predictions: Path, video: VipVideo,
                frame_miou: list[float | None] | None = None) -> np.ndarray:
    """Confusion matrix of one video over its annotated frames (first included).

    Args:
        predictions: Folder of per-video prediction folders.
        video: The video.
        frame_miou: When given, receives each annotated frame's own mIoU (percent, None when
            nothing is scored), for the report.

    Raises:
        VpropError: A ground-truth id outside 0..19 and 255, or a prediction that is missing
            or holds a non-class id, naming the file.
    """
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for label in video.annotations:
        gt, _ = read_indexed_png(label)
        check_class_ids(gt, label)
        pred_path = predictions / video.name / label.name
        pred = read_indexed_png(pred_path)[0]
        pred = resize_ids(torch.from_numpy(pred.copy()), gt.shape, OUTPUT_NEAREST).numpy()
        if pred.max(initial=0) >= NUM_CLASSES:
            raise VpropError(f"prediction holds class id {int(pred.max())}", pred_path)
        frame_confusion = confusion_matrix(gt, pred)
        confusion += frame_confusion
        if frame_miou is not None:
            frame_miou.append(_percent(mean_iou(frame_confusion)))
    return confusion


def score_video_job(job: tuple[Path, VipVideo]) -> tuple[np.ndarray, list[float | None]]:
    """One scoring-pool unit: (predictions folder, video) -> (confusion, per-frame mIoU)."""
    frame_miou: list[float | None] = []
    return score_video(job[0], job[1], frame_miou), frame_miou


def _percent(value: float) -> float | None:
    fraction = finite_or_none(value)
    return None if fraction is None else 100.0 * fraction


def score(
    data_root: Path, predictions: Path, sequences: list[str] | None = None,
    split: Path | None = None, out_dir: Path | None = None, workers: int | None = 1,
) -> dict[str, Any]:
    """Score a folder of class-id PNGs (``<predictions>/videosN/<frame>.png``) by mIoU.

    The one scoring path of ``vprop eval --task vip`` and ``vprop score --task vip``: one 20x20
    confusion matrix over every annotated frame (first included), 255 ignored, predictions
    PIL-nearest-resized to the annotation size like the reference scorer.

    Args:
        data_root: VIP root (ground truth).
        predictions: Folder of per-video prediction folders.
        sequences: Videos to score (default: the list's).
        split: List file.
        out_dir: Where ``per-class_results.csv``, ``per-video_results.csv`` and the report's
            ``per_frame.json`` go (None: nowhere).
        workers: Processes scoring videos in parallel (``None``: one per 150 annotated
            frames, up to every CPU); the result is identical for any number.

    Returns:
        {"global": {"mIoU": %}, "per_class": {class: IoU % or None}, "per_video": {video:
        {"scored_frames", "mIoU"}}, "confusion": 20x20 counts (rows = ground truth), "csv"}.

    Raises:
        VpropError: Bad layout or annotations, or a missing or invalid prediction.
    """
    videos = load_videos(Path(data_root), sequences, split)
    if not Path(predictions).is_dir():
        raise VpropError("predictions folder not found", predictions)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    per_video: dict[str, Any] = {}
    per_frame: dict[str, Any] = {}
    workers = auto_workers(workers, sum(len(video.annotations) for video in videos), 150)
    scored = ordered_map(score_video_job, [(Path(predictions), video) for video in videos],
                         workers, cost=lambda job: len(job[1].annotations))
    for video, (video_confusion, frame_miou) in zip(videos, scored):
        per_frame[video.name] = {"frames": [label.stem for label in video.annotations],
                                 "mIoU": frame_miou}
        confusion += video_confusion
        per_video[video.name] = {"scored_frames": len(video.annotations),
                                 "mIoU": _percent(mean_iou(video_confusion))}
    per_class = {name: _percent(v) for name, v in zip(CLASSES, class_iou(confusion))}
    if out_dir is not None:
        write_per_frame(Path(out_dir), "vip", per_frame)
    csv_paths = [] if out_dir is None else [
        write_csv(Path(out_dir) / "per-class_results.csv", ("class", "IoU"),
                  list(per_class.items())),
        write_csv(Path(out_dir) / "per-video_results.csv", ("video", "scored_frames", "mIoU"),
                  [[name, v["scored_frames"], v["mIoU"]] for name, v in per_video.items()]),
    ]
    return {"global": {"mIoU": _percent(mean_iou(confusion))}, "per_class": per_class,
            "per_video": per_video, "confusion": confusion.tolist(),
            "csv": [str(path) for path in csv_paths]}


class VipTask:
    """VIP human-part propagation (:class:`~vprop.benchmarks.tasks.Task`)."""

    name = "vip"
    unit = "video"
    score = staticmethod(score)  # ``vprop score`` (the scorer eval uses too)

    def make_sample(self, dest: Path) -> Path:
        """Write the embedded synthetic VIP sample under ``dest``; return its root."""
        return make_vip_sample(Path(dest))

    def plan(self, extractor: Any, request: EvalRequest) -> list[WorkUnit]:
        """One unit per video, with its input size and its class-id PNGs."""
        out_dir, stride = Path(request.out_dir), feature_stride(extractor)
        units = []
        for video in load_videos(Path(request.data_root), request.sequences, request.split):
            check_inside(out_dir / PREDICTIONS_DIR / video.name, out_dir)
            units.append(WorkUnit(
                name=video.name, frames=len(video.frames),
                input_size=input_size_for(video, request.size, stride, request.preset.name),
                outputs=[out_dir / PREDICTIONS_DIR / video.name / f"{frame.stem}.png"
                         for frame in video.frames],
                item=video,
                signature_extra={"data_root": str(Path(request.data_root).resolve())}))
        return units

    def predict(self, extractor: Any, unit: WorkUnit, request: EvalRequest) -> None:
        """Propagate one video and write its class-id PNGs."""
        predict_video(extractor, unit.item, request.preset, unit.input_size, request.settings,
                      Path(request.out_dir))

    def finish(self, request: EvalRequest, units: list[WorkUnit]) -> dict[str, Any]:
        """Score mIoU over every video (:func:`score`)."""
        out_dir = Path(request.out_dir)
        scores = score(Path(request.data_root), out_dir / PREDICTIONS_DIR,
                       [unit.name for unit in units], request.split, out_dir,
                       workers=request.workers)
        per_video = {unit.name: {"frames": unit.frames, "input_size": list(unit.input_size),
                                 **scores["per_video"][unit.name]} for unit in units}
        csv_paths = scores.pop("csv")
        return {
            **scores,
            "per_video": per_video,
            "sequences": list(per_video),
            "input_sizes": {name: v["input_size"] for name, v in per_video.items()},
            "outputs": {"predictions": str(out_dir / PREDICTIONS_DIR), "csv": csv_paths},
        }


TASK = VipTask()


def run(extractor: Any, request: EvalRequest) -> dict[str, Any]:
    """Evaluate on VIP in this process (:func:`~vprop.benchmarks.tasks.run_task`)."""
    return run_task(TASK, extractor, request)
