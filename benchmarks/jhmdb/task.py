"""``vprop eval --task jhmdb``: pose propagation on JHMDB, scored by PCK (PROTOCOLS.md 3, 7).

Per clip: frame 0's joints become Gaussian maps on the feature grid (+ background channel),
the engine propagates them, every frame's maps are decoded into keypoints (top-k value-weighted
mean), written to ``<out>/results/<class>/<clip>.json`` in pixel coordinates, and scored.
A re-run reuses every clip file written by an identical configuration (same preset, input size,
decode top-k and backbone) unless ``request.overwrite``; scoring always reads them again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vprop.benchmarks.jhmdb.dataset import JOINT_NAMES, JhmdbClip, load_clips
from vprop.benchmarks.jhmdb.labels import (
    decode_keypoints,
    grid_to_pixels,
    joint_label_maps,
    pixels_to_grid,
)
from vprop.benchmarks.jhmdb.metrics import (
    THRESHOLDS,
    normalised_distances,
    pck_key,
    pck_per_joint,
    pck_summary,
)
from vprop.benchmarks.jhmdb.predictions import (
    RESULTS_DIR,
    ClipKeypoints,
    prediction_path,
    read_keypoints,
    write_keypoints,
)
from vprop.benchmarks.jhmdb.synthetic import make_jhmdb_sample
from vprop.benchmarks.papers import protocol
from vprop.benchmarks.parallel import auto_workers, ordered_map
from vprop.benchmarks.pipeline import EngineSettings, propagate_grid_labels, read_frames
from vprop.benchmarks.protocols import TASK_DEFAULTS
from vprop.benchmarks.resume import run_signature
from vprop.benchmarks.sizes import check_patch_multiple, feature_grid, feature_stride, pads_input
from vprop.benchmarks.tables import write_csv
from vprop.benchmarks.tasks import EvalRequest, WorkUnit, run_task, write_per_frame
from vprop.errors import VpropError
from vprop.propagation import Preset
from vprop.safety import check_inside
from vprop.utils import finite_or_none

# The default protocol's fixed size (aspect not kept); the size rule resolves from it.
INPUT_SIZE = TASK_DEFAULTS["jhmdb"].input_size.size
HEADLINE = (0.1, 0.2)


def decode_topk(preset: Preset, override: int | None = None) -> int:
    """Cells averaged per joint when decoding.

    ``override`` (``--decode-topk``) if given, else the preset's protocol (3 for CRW, 5
    otherwise, CropMAE).

    Raises:
        VpropError: ``override`` is below 1.
    """
    if override is not None and override < 1:
        raise VpropError(f"--decode-topk must be >= 1, got {override}")
    return override if override is not None else protocol("jhmdb", preset.name).decode_topk


def predict_clip(
    extractor: Any,
    clip: JhmdbClip,
    preset: Preset,
    input_size: tuple[int, int],
    settings: EngineSettings,
    topk: int,
) -> ClipKeypoints:
    """Propagate frame 0's joints through a clip and decode keypoints of every frame.

    Args:
        extractor: Feature extractor with a ``stride`` (or ``patch_size``).
        clip: The clip.
        preset: Propagation preset.
        input_size: Backbone input (height, width).
        settings: Engine settings.
        topk: Cells averaged per joint when decoding.

    Returns:
        (T, J, 2) pixel keypoints and (T, J) visibility; frame 0 is the decode of its
        ground-truth maps.
    """
    patch = feature_stride(extractor)
    grid = feature_grid(input_size, patch, pads_input(extractor))
    first = joint_label_maps(pixels_to_grid(clip.joints[0], clip.size, input_size, patch), grid)
    frames = read_frames(clip.frames, clip.size)
    xys, visibles = [], []
    soft_maps = propagate_grid_labels(extractor, frames, first, preset, input_size, settings,
                                      clip.frames, clip.name)
    for soft in tqdm(soft_maps, total=len(clip.frames), desc=clip.name, unit="frame", leave=False,
                     disable=not settings.progress):
        grid_xy, visible = decode_keypoints(soft, topk)  # (J, 2), (J,)
        pixels = grid_to_pixels(grid_xy, grid, clip.size)
        pixels[~visible] = -1.0
        xys.append(pixels)
        visibles.append(visible)
    return ClipKeypoints(xy=np.stack(xys), visible=np.stack(visibles))


def _clean(figures: dict[str, float]) -> dict[str, float | None]:
    return {key: finite_or_none(value) for key, value in figures.items()}


def _per_joint(pooled: np.ndarray) -> dict[str, dict[str, float | None]]:
    num_joints = pooled.shape[1]
    names = JOINT_NAMES if num_joints == len(JOINT_NAMES) else tuple(map(str, range(num_joints)))
    table = {pck_key(a): pck_per_joint(pooled, a) for a in HEADLINE}
    return {
        name: {key: finite_or_none(values[j]) for key, values in table.items()}
        for j, name in enumerate(names)
    }


def frame_scores(names: list[str], distances: np.ndarray) -> dict[str, Any]:
    """Per-frame detail of one clip for the report: headline PCK and per-joint hits.

    Args:
        names: Frame stems.
        distances: (T, J) normalised distances (NaN = not scored, see
            :func:`~vprop.benchmarks.jhmdb.metrics.normalised_distances`).

    Returns:
        ``{"frames": names, "PCK@0.1": [% of the frame's scored joints within 0.1, None when
        none is scored], "hit@0.1": [[1 hit, 0 miss, None not scored] per joint], ...}`` for
        the headline thresholds.
    """
    scored = ~np.isnan(distances)
    out: dict[str, Any] = {"frames": list(names)}
    for threshold in HEADLINE:
        hits = np.where(scored, distances, np.inf) <= threshold
        counts = scored.sum(axis=1)
        out[pck_key(threshold)] = [
            100.0 * float(h.sum()) / c if c else None for h, c in zip(hits, counts)
        ]
        out[f"hit@{threshold:g}"] = [
            [int(h) if s else None for h, s in zip(row_h, row_s)]
            for row_h, row_s in zip(hits, scored)
        ]
    return out


def score_clip_job(job: tuple[Path, JhmdbClip]) -> np.ndarray:
    """(T, J) normalised distances of one clip's keypoint file (one scoring-pool unit).

    Args:
        job: (predictions folder, clip).

    Raises:
        VpropError: The clip's keypoint file is missing or does not cover its frames.
    """
    predictions, clip = job
    path = predictions / f"{clip.name}.json"
    names = clip.frame_names()
    keypoints = read_keypoints(path, names, clip.joints.shape[1], None)
    if keypoints is None:
        raise VpropError(f"missing or invalid keypoint file (expected {len(names)} frames "
                         f"of {clip.joints.shape[1]} joints)", path)
    return normalised_distances(keypoints.xy, keypoints.visible, clip.joints)


def score(
    data_root: Path, predictions: Path, sequences: list[str] | None = None,
    split: Path | None = None, out_dir: Path | None = None, workers: int | None = 1,
) -> dict[str, Any]:
    """Score a folder of keypoint files (``<predictions>/<class>/<clip>.json``) by PCK.

    The one scoring path of ``vprop eval --task jhmdb`` and ``vprop score --task jhmdb``.

    Args:
        data_root: JHMDB root (ground truth).
        predictions: Folder of keypoint files.
        sequences: Clips to score (default: the list's).
        split: Split list file.
        out_dir: Where ``per-clip_results.csv``, ``per-joint_results.csv`` and the report's
            ``per_frame.json`` go (None: nowhere).
        workers: Processes reading and scoring clips in parallel (``None``: one per 20,000
            frames, as a clip file scores in about a millisecond, up to every CPU); the
            result is identical for any number.

    Returns:
        {"global": {"PCK@0.1": %, ..., "PCK@0.5": %}, "per_clip": {clip: {"frames",
        "scored_joints", PCK...}}, "per_joint": {joint: {"PCK@0.1", "PCK@0.2"}}, "csv"};
        NaN figures (nothing scored) are ``None``.

    Raises:
        VpropError: Bad dataset or list, or a clip's prediction file missing or not covering
            its frames (naming the file).
    """
    clips = load_clips(Path(data_root), sequences, split)
    per_clip: dict[str, Any] = {}
    per_frame: dict[str, Any] = {}
    workers = auto_workers(workers, sum(len(clip.frames) for clip in clips), 20_000)  # cheap
    distances = ordered_map(score_clip_job, [(Path(predictions), clip) for clip in clips],
                            workers, cost=lambda job: len(job[1].frames))
    for clip, clip_distances in zip(clips, distances):
        names = clip.frame_names()
        per_frame[clip.name] = frame_scores(names, clip_distances)
        per_clip[clip.name] = {
            "frames": len(names),
            "scored_joints": int((~np.isnan(clip_distances)).sum()),
            **_clean(pck_summary(clip_distances)),
        }
    if out_dir is not None:
        write_per_frame(Path(out_dir), "jhmdb", per_frame)
    pooled = np.concatenate(distances)  # (sum T, J)
    per_joint = _per_joint(pooled)
    csv_paths = [] if out_dir is None else _write_csvs(Path(out_dir), per_clip, per_joint)
    return {"global": _clean(pck_summary(pooled)), "per_clip": per_clip,
            "per_joint": per_joint, "csv": [str(path) for path in csv_paths]}


def _write_csvs(out_dir: Path, per_clip: dict[str, Any], per_joint: dict[str, Any]
                ) -> list[Path]:
    keys = [pck_key(a) for a in THRESHOLDS]
    return [
        write_csv(out_dir / "per-clip_results.csv", ("clip", "frames", "scored_joints", *keys),
                  [[name, v["frames"], v["scored_joints"], *(v.get(k) for k in keys)]
                   for name, v in per_clip.items()]),
        write_csv(out_dir / "per-joint_results.csv",
                  ("joint", *(pck_key(a) for a in HEADLINE)),
                  [[name, *values.values()] for name, values in per_joint.items()]),
    ]


def input_size_for(request: EvalRequest, stride: int) -> tuple[int, int]:
    """Backbone input: ``--size`` if given, else the preset's rule (320x320) in whole cells."""
    if request.size:
        return check_patch_multiple(tuple(request.size), stride)
    return protocol("jhmdb", request.preset.name).input_size.resolve(INPUT_SIZE, stride, False)


class JhmdbTask:
    """JHMDB pose propagation (:class:`~vprop.benchmarks.tasks.Task`)."""

    name = "jhmdb"
    unit = "clip"
    score = staticmethod(score)  # ``vprop score`` (the scorer eval uses too)

    def make_sample(self, dest: Path) -> Path:
        """Write the embedded synthetic JHMDB sample under ``dest``; return its root."""
        return make_jhmdb_sample(Path(dest))

    def plan(self, extractor: Any, request: EvalRequest) -> list[WorkUnit]:
        """One unit per clip, writing one keypoint file."""
        stride = feature_stride(extractor)
        size = input_size_for(request, stride)
        grid = feature_grid(size, stride, pads_input(extractor))
        extra = {"data_root": str(Path(request.data_root).resolve()),
                 "decode_topk": decode_topk(request.preset, request.decode_topk),
                 "grid": list(grid)}
        return [
            WorkUnit(name=clip.name, frames=len(clip.frames), input_size=size,
                     outputs=[check_inside(prediction_path(request.out_dir, clip.name),
                                           request.out_dir)],
                     item=clip, signature_extra=extra)
            for clip in load_clips(Path(request.data_root), request.sequences, request.split)
        ]

    def predict(self, extractor: Any, unit: WorkUnit, request: EvalRequest) -> None:
        """Propagate one clip and write its keypoint file (with what produced it)."""
        clip, topk = unit.item, unit.signature_extra["decode_topk"]
        keypoints = predict_clip(extractor, clip, request.preset, unit.input_size,
                                 request.settings, topk)
        signature = run_signature(extractor, request.preset, unit.input_size, request.settings,
                                  **unit.signature_extra)
        meta = {"frame_size": list(clip.size), "input_size": list(unit.input_size),
                "grid": unit.signature_extra["grid"], "signature": signature}
        write_keypoints(unit.outputs[0], clip.name, clip.frame_names(), keypoints, meta)

    def finish(self, request: EvalRequest, units: list[WorkUnit]) -> dict[str, Any]:
        """Score PCK@0.1 ... 0.5 over every clip (:func:`score`)."""
        out_dir = Path(request.out_dir)
        scores = score(Path(request.data_root), out_dir / RESULTS_DIR,
                       [unit.name for unit in units], request.split, out_dir,
                       workers=request.workers)
        csv_paths = scores.pop("csv")
        first = units[0]  # every clip has the same input size, grid and decode
        return {
            **scores,
            "sequences": list(scores["per_clip"]),
            "input_size": list(first.input_size),
            "grid": first.signature_extra["grid"],
            "decode_topk": first.signature_extra["decode_topk"],
            "outputs": {"predictions": str(out_dir / RESULTS_DIR), "csv": csv_paths},
        }


TASK = JhmdbTask()


def run(extractor: Any, request: EvalRequest) -> dict[str, Any]:
    """Evaluate on JHMDB in this process (:func:`~vprop.benchmarks.tasks.run_task`)."""
    return run_task(TASK, extractor, request)
