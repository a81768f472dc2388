"""DAVIS-2017 semi-supervised VOS by label propagation: predict, write official PNGs, score."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vprop.benchmarks.davis import synthetic
from vprop.benchmarks.davis.dataset import DavisSequence, load_sequences
from vprop.benchmarks.io import read_indexed_png, write_indexed_png
from vprop.benchmarks.pipeline import propagate_video, read_frames
from vprop.benchmarks.sizes import (
    check_patch_multiple,
    fit_to_stride,
    floor_to,
    short_side_size,
)
from vprop.benchmarks.tasks import (
    EvalRequest,
    ResumeLog,
    done_marker,
    mark_finished,
    run_signature,
    write_per_frame,
)
from vprop.propagation import Preset, decode_labels

VOID = 255


def preset_overrides(preset_name: str) -> dict:
    """DAVIS uses every preset as published."""
    return {}


def make_sample(dest: Path) -> Path:
    """Write the embedded synthetic DAVIS sample and return its root."""
    return synthetic.make_sample(dest)


def input_size(
    preset: Preset, frame_hw: tuple[int, int], patch: int, user_size: tuple[int, int] | None
) -> tuple[int, int]:
    """Backbone input (height, width) for a DAVIS sequence.

    cropmae: 480x880 (880x480 for portrait frames), as the SiamMAE/CropMAE code; crw: native
    resolution floored to the patch size; dino: short side 480, long side floored to 64.
    """
    if user_size is not None:
        return check_patch_multiple(user_size, patch)
    height, width = frame_hw
    if preset.name == "dino":
        return fit_to_stride(short_side_size(frame_hw, 480, 64), patch)
    if preset.name == "crw":
        return floor_to(height, patch), floor_to(width, patch)
    return fit_to_stride((480, 880) if width >= height else (880, 480), patch)


# What input_size() does per preset, for the start-of-run summary.
INPUT_SIZE_RULES = {
    "cropmae": "480x880 (880x480 for portrait frames), floored to whole cells of the stride",
    "crw": "native resolution floored to the stride",
    "dino": "short side 480, long side floored to a multiple of 64 (whole cells)",
}


def input_size_rule(preset_name: str, user_size: tuple[int, int] | None) -> str:
    """How the backbone input size is chosen, in words."""
    if user_size is not None:
        return f"{user_size[0]}x{user_size[1]} (--size)"
    return INPUT_SIZE_RULES.get(preset_name, INPUT_SIZE_RULES["cropmae"])


def label_values(ids: np.ndarray) -> np.ndarray:
    """Sorted label values of frame 0 (void already mapped to 0), background always first."""
    values = np.unique(ids)
    return values if values[0] == 0 else np.concatenate([[0], values])


def predict_sequence(
    extractor: torch.nn.Module,
    sequence: DavisSequence,
    request: EvalRequest,
    size: tuple[int, int],
    out_dir: Path,
) -> int:
    """Propagate frame 0's objects through one sequence and write indexed PNGs.

    Args:
        extractor: Feature extractor with ``stride``.
        sequence: The sequence to predict.
        request: Resolved evaluation request (preset, engine settings).
        size: Backbone input (height, width) for this sequence.
        out_dir: Folder receiving ``<frame>.png``.

    Returns:
        Number of frames written.
    """
    first, palette = read_indexed_png(sequence.first_annotation)
    ids = np.where(first == VOID, 0, first)  # void counts as background
    values = label_values(ids)  # channel c <-> object id values[c]
    channels = torch.from_numpy(np.searchsorted(values, ids))
    preset = request.preset
    soft_maps = propagate_video(
        extractor,
        read_frames(sequence.frames, sequence.size),
        channels,
        len(values),
        preset,
        size,
        extractor.stride,
        request.settings,
    )
    names = sequence.frame_names()
    bar = tqdm(
        total=len(names), desc=sequence.name, unit="frame", leave=False,
        disable=not request.settings.progress,
    )
    for name, soft in zip(names, soft_maps):
        index = decode_labels(
            soft.cpu(), size, sequence.size, minmax=preset.minmax_output,
            exact_nearest=preset.label_downsample == "nearest",
        )
        write_indexed_png(out_dir / f"{name}.png", values[index.numpy()], palette)
        bar.update()
    bar.close()
    return len(names)


def run(extractor: torch.nn.Module, request: EvalRequest) -> dict:
    """Evaluate on DAVIS: predict every (unfinished) sequence, then score all of them.

    Outputs under ``request.out_dir``: ``results/<seq>/<frame>.png`` (official results layout,
    palette of the ground truth), ``global_results-val.csv``, ``per-sequence_results-val.csv``.

    Returns:
        ``{"global", "per_object", "sequences", "input_sizes", "skipped_finished",
        "recomputed", "timing", "outputs"}``; ``timing`` sums the prediction time of every
        sequence, also of those a resumed run reused (``timing.this_run``: this run only).
    """
    from vprop.benchmarks.davis.csv_report import write_csv_reports
    from vprop.benchmarks.davis.scoring import score_davis

    sequences = load_sequences(request.data_root, request.sequences)
    results_dir = request.out_dir / "results"
    progress = request.settings.progress
    resume = ResumeLog(request.overwrite)
    sizes = {}
    for sequence in tqdm(sequences, desc="DAVIS", unit="seq", disable=not progress):
        size = input_size(request.preset, sequence.size, extractor.stride, request.size)
        sizes[sequence.name] = list(size)
        signature = run_signature(extractor, request.preset, size, request.settings)
        marker = done_marker(request.out_dir, sequence.name)
        outputs = [results_dir / sequence.name / f"{name}.png" for name in sequence.frame_names()]
        if resume.check_marker(sequence.name, marker, signature, outputs):
            continue
        marker.unlink(missing_ok=True)
        start = time.perf_counter()
        frames = predict_sequence(extractor, sequence, request, size,
                                  results_dir / sequence.name)
        record = resume.finished(sequence.name, frames, time.perf_counter() - start)
        mark_finished(marker, signature, outputs, **record)
    names = [sequence.name for sequence in sequences]
    scores = score_davis(request.data_root, results_dir, sequences=names, progress=False)
    csv_paths = write_csv_reports(scores, request.out_dir)
    write_per_frame(request.out_dir, "davis", scores["per_frame"])
    return {
        "global": scores["global"],
        "per_object": scores["per_object"],
        "sequences": names,
        "input_sizes": sizes,
        **resume.summary(),
        "outputs": {"predictions": str(results_dir), "csv": [str(p) for p in csv_paths]},
    }
