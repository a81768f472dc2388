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

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vprop.benchmarks.io import read_indexed_png, write_indexed_png
from vprop.benchmarks.parallel import auto_workers, ordered_map
from vprop.benchmarks.pipeline import EngineSettings, propagate_video, read_frames
from vprop.benchmarks.protocols import VIP_INPUT, VIP_PRESET_OVERRIDES
from vprop.benchmarks.sizes import check_patch_multiple, feature_grid, feature_stride, pads_input
from vprop.benchmarks.tables import write_csv
from vprop.benchmarks.tasks import (
    EvalRequest,
    ResumeLog,
    done_marker,
    mark_finished,
    run_signature,
    write_per_frame,
)
from vprop.benchmarks.vip.dataset import VipVideo, load_videos
from vprop.benchmarks.vip.labels import channels_to_ids, check_class_ids, first_frame_channels
from vprop.benchmarks.vip.metrics import NUM_CLASSES, class_iou, confusion_matrix, mean_iou
from vprop.benchmarks.vip.synthetic import make_vip_sample
from vprop.errors import VpropError
from vprop.propagation import Preset, decode_labels, resize_ids
from vprop.safety import check_inside

CLASSES = (
    "background", "hat", "hair", "sun-glasses", "upper-clothes", "dress", "coat", "socks",
    "pants", "gloves", "scarf", "skirt", "torso-skin", "face", "right-arm", "left-arm",
    "right-leg", "left-leg", "right-shoe", "left-shoe",
)
PREDICTIONS_DIR = "results"
OUTPUT_NEAREST = "pil"  # CropMAE/CRW eval_vip.py resizes predictions with PIL NEAREST


def preset_overrides(preset_name: str) -> dict[str, Any]:
    """VIP's preset changes (cropmae: top-10, SiamMAE/CropMAE's VIP runs), from the protocols."""
    return dict(VIP_PRESET_OVERRIDES.get(preset_name, {}))


def make_sample(dest: Path) -> Path:
    """Write the embedded synthetic VIP sample under ``dest``; return its root."""
    return make_vip_sample(Path(dest))


def input_size_rule(preset_name: str, user_size: tuple[int, int] | None) -> str:
    """How the backbone input size is chosen, in words."""
    if user_size is not None:
        return f"{user_size[0]}x{user_size[1]} (--size)"
    return (f"long side {VIP_INPUT.side}, short side floored to a multiple of "
            f"{VIP_INPUT.multiple}, "
            "then to whole cells of the stride")


def input_size_for(video: VipVideo, size: tuple[int, int] | None, patch: int) -> tuple[int, int]:
    """Backbone input: ``size`` if given, else long side 880 and short side floored to x64."""
    chosen = tuple(size) if size else VIP_INPUT.resolve(video.size, patch, pads=False)
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
    for frame, soft in tqdm(zip(video.frames, soft_maps), total=len(video.frames),
                            desc=video.name, unit="frame", leave=False,
                            disable=not settings.progress):
        argmax = decode_labels(soft, input_size, video.label_size, minmax=preset.minmax_output,
                               nearest=OUTPUT_NEAREST)  # (H, W) channels
        ids = channels_to_ids(argmax, classes)
        write_indexed_png(out_dir / PREDICTIONS_DIR / video.name / f"{frame.stem}.png", ids,
                          palette)


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
    return None if math.isnan(value) else 100.0 * float(value)


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


def run(extractor: Any, request: EvalRequest) -> dict[str, Any]:
    """Propagate, write class-id PNGs, and score mIoU over the requested videos (:func:`score`).

    Args:
        extractor: (B, 3, H, W) -> (B, D, h, w) feature extractor with a stride.
        request: Resolved evaluation request.

    Returns:
        {"global": {"mIoU": %}, "per_class": {class: IoU % or None (absent)},
        "per_video": {video: {"frames", "scored_frames", "mIoU", "input_size", "resumed"}},
        "confusion": 20x20 pixel counts (rows = ground truth), "sequences", "input_sizes",
        "outputs", "skipped_finished", "recomputed", "timing"}. Figures are percentages.

    Raises:
        VpropError: Bad layout, list, frames or annotations (naming the file).
    """
    out_dir = Path(request.out_dir)
    videos = load_videos(Path(request.data_root), request.sequences, request.split)
    stride = feature_stride(extractor)
    per_video: dict[str, Any] = {}
    resume = ResumeLog(request.overwrite)
    for video in tqdm(videos, desc="VIP", unit="video", disable=not request.settings.progress):
        input_size = input_size_for(video, request.size, stride)
        signature = run_signature(extractor, request.preset, input_size, request.settings,
                                  data_root=str(Path(request.data_root).resolve()))
        marker = done_marker(out_dir, video.name)
        check_inside(out_dir / PREDICTIONS_DIR / video.name, out_dir)
        outputs = [out_dir / PREDICTIONS_DIR / video.name / f"{frame.stem}.png"
                   for frame in video.frames]
        resumed = resume.check_marker(video.name, marker, signature, outputs)
        if not resumed:
            start = time.perf_counter()
            predict_video(extractor, video, request.preset, input_size, request.settings,
                          out_dir)
            record = resume.finished(video.name, len(video.frames), time.perf_counter() - start)
            mark_finished(marker, signature, outputs, **record)
        per_video[video.name] = {"frames": len(video.frames), "input_size": list(input_size),
                                 "resumed": resumed}
    scores = score(Path(request.data_root), out_dir / PREDICTIONS_DIR,
                   [video.name for video in videos], request.split, out_dir)
    for name, figures in scores["per_video"].items():
        per_video[name] = {**per_video[name], **figures}
    csv_paths = scores.pop("csv")
    return {
        **scores,
        "per_video": per_video,
        "sequences": list(per_video),
        "input_sizes": {name: v["input_size"] for name, v in per_video.items()},
        **resume.summary(),
        "outputs": {"predictions": str(out_dir / PREDICTIONS_DIR), "csv": csv_paths},
    }
