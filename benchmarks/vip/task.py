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
from vprop.benchmarks.pipeline import EngineSettings, propagate_video, read_frames
from vprop.benchmarks.sizes import check_patch_multiple, fit_to_stride, long_side_size
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

CLASSES = (
    "background", "hat", "hair", "sun-glasses", "upper-clothes", "dress", "coat", "socks",
    "pants", "gloves", "scarf", "skirt", "torso-skin", "face", "right-arm", "left-arm",
    "right-leg", "left-leg", "right-shoe", "left-shoe",
)
LONG_SIDE = 880
SIZE_MULTIPLE = 64
PREDICTIONS_DIR = "results"


def preset_overrides(preset_name: str) -> dict[str, Any]:
    """VIP changes the cropmae preset's top-k from 7 to 10 (SiamMAE/CropMAE's VIP runs)."""
    return {"topk": 10} if preset_name == "cropmae" else {}


def make_sample(dest: Path) -> Path:
    """Write the embedded synthetic VIP sample under ``dest``; return its root."""
    return make_vip_sample(Path(dest))


def input_size_rule(preset_name: str, user_size: tuple[int, int] | None) -> str:
    """How the backbone input size is chosen, in words."""
    if user_size is not None:
        return f"{user_size[0]}x{user_size[1]} (--size)"
    return (f"long side {LONG_SIDE}, short side floored to a multiple of {SIZE_MULTIPLE}, "
            "then to whole cells of the stride")


def input_size_for(video: VipVideo, size: tuple[int, int] | None, patch: int) -> tuple[int, int]:
    """Backbone input: ``size`` if given, else long side 880 and short side floored to x64."""
    if size:
        return check_patch_multiple(tuple(size), patch)
    return fit_to_stride(long_side_size(video.size, LONG_SIDE, SIZE_MULTIPLE), patch)


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
    soft_maps = propagate_video(extractor, frames, channels, len(classes), preset, input_size,
                                int(extractor.stride), settings)
    for frame, soft in tqdm(zip(video.frames, soft_maps), total=len(video.frames),
                            desc=video.name, unit="frame", leave=False,
                            disable=not settings.progress):
        argmax = decode_labels(soft, input_size, video.label_size, minmax=preset.minmax_output,
                               exact_nearest=True)  # (H, W) channels
        ids = channels_to_ids(argmax, classes)
        write_indexed_png(out_dir / PREDICTIONS_DIR / video.name / f"{frame.stem}.png", ids,
                          palette)


def score_video(out_dir: Path, video: VipVideo,
                frame_miou: list[float | None] | None = None) -> np.ndarray:
    """Confusion matrix of one video over its annotated frames (first included).

    Args:
        out_dir: Run folder.
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
        pred_path = out_dir / PREDICTIONS_DIR / video.name / label.name
        pred = read_indexed_png(pred_path)[0]
        pred = resize_ids(torch.from_numpy(pred.copy()), gt.shape, exact=True).numpy()  # PIL
        if pred.max(initial=0) >= NUM_CLASSES:
            raise VpropError(f"prediction holds class id {int(pred.max())}", pred_path)
        frame_confusion = confusion_matrix(gt, pred)
        confusion += frame_confusion
        if frame_miou is not None:
            frame_miou.append(_percent(mean_iou(frame_confusion)))
    return confusion


def _percent(value: float) -> float | None:
    return None if math.isnan(value) else 100.0 * float(value)


def run(extractor: Any, request: EvalRequest) -> dict[str, Any]:
    """Propagate, write class-id PNGs, and score mIoU over the requested videos.

    Args:
        extractor: (B, 3, H, W) -> (B, D, H/p, W/p) feature extractor with ``stride``.
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
    patch = int(extractor.stride)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    per_video: dict[str, Any] = {}
    per_frame: dict[str, Any] = {}
    resume = ResumeLog(request.overwrite)
    for video in tqdm(videos, desc="VIP", unit="video", disable=not request.settings.progress):
        input_size = input_size_for(video, request.size, patch)
        signature = run_signature(extractor, request.preset, input_size, request.settings)
        marker = done_marker(out_dir, video.name)
        outputs = [out_dir / PREDICTIONS_DIR / video.name / f"{frame.stem}.png"
                   for frame in video.frames]
        resumed = resume.check_marker(video.name, marker, signature, outputs)
        if not resumed:
            start = time.perf_counter()
            predict_video(extractor, video, request.preset, input_size, request.settings,
                          out_dir)
            record = resume.finished(video.name, len(video.frames), time.perf_counter() - start)
            mark_finished(marker, signature, outputs, **record)
        frame_miou: list[float | None] = []
        video_confusion = score_video(out_dir, video, frame_miou)
        per_frame[video.name] = {"frames": [label.stem for label in video.annotations],
                                 "mIoU": frame_miou}
        confusion += video_confusion
        per_video[video.name] = {
            "frames": len(video.frames),
            "scored_frames": len(video.annotations),
            "mIoU": _percent(mean_iou(video_confusion)),
            "input_size": list(input_size),
            "resumed": resumed,
        }
    write_per_frame(out_dir, "vip", per_frame)
    miou = _percent(mean_iou(confusion))
    per_class = {name: _percent(v) for name, v in zip(CLASSES, class_iou(confusion))}
    csv_paths = [
        write_csv(out_dir / "per-class_results.csv", ("class", "IoU"), list(per_class.items())),
        write_csv(out_dir / "per-video_results.csv",
                  ("video", "frames", "scored_frames", "mIoU", "input_size"),
                  [[name, v["frames"], v["scored_frames"], v["mIoU"],
                    f"{v['input_size'][0]}x{v['input_size'][1]}"]
                   for name, v in per_video.items()]),
    ]
    return {
        "global": {"mIoU": miou},
        "per_class": per_class,
        "per_video": per_video,
        "confusion": confusion.tolist(),
        "sequences": list(per_video),
        "input_sizes": {name: v["input_size"] for name, v in per_video.items()},
        **resume.summary(),
        "outputs": {"predictions": str(out_dir / PREDICTIONS_DIR),
                    "csv": [str(path) for path in csv_paths]},
    }
