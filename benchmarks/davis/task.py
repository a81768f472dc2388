"""DAVIS-2017 semi-supervised VOS by label propagation: predict, write official PNGs, score."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from vprop.benchmarks.background import OutputPool
from vprop.benchmarks.davis import synthetic
from vprop.benchmarks.davis.dataset import DavisSequence, load_sequences
from vprop.benchmarks.davis.scoring import resize_ground_truth, score_davis
from vprop.benchmarks.io import read_indexed_png, write_indexed_png
from vprop.benchmarks.papers import protocol
from vprop.benchmarks.pipeline import propagate_video, read_frames
from vprop.benchmarks.sizes import check_patch_multiple, feature_grid, feature_stride, pads_input
from vprop.benchmarks.tasks import EvalRequest, WorkUnit, run_task, write_per_frame
from vprop.propagation import Preset, decode_labels
from vprop.safety import check_inside
from vprop.timing import stage

VOID = 255
RESULTS_DIR = "results"


def input_size(
    preset: Preset, frame_hw: tuple[int, int], stride: int, user_size: tuple[int, int] | None,
    pads: bool = False,
) -> tuple[int, int]:
    """Backbone input (height, width) for a DAVIS sequence.

    ``user_size`` if given, else the preset's rule (:func:`vprop.benchmarks.papers.protocol`:
    cropmae 480x880; crw native, floored to the stride unless the backbone pads like CRW's
    ResNet; dino short side 480, long side floored to x64).
    """
    if user_size is not None:
        return check_patch_multiple(user_size, stride)
    return protocol("davis", preset.name).input_size.resolve(frame_hw, stride, pads)


def score_size(request: EvalRequest) -> tuple[int, int] | None:
    """The size predictions are written and scored at (``None``: each sequence's native size).

    ``request.score_size`` wins (``"native"`` forces the native size); else the preset's
    protocol default (native for every preset, see the README).
    """
    if request.score_size == "native":
        return None
    if request.score_size is not None:
        return tuple(request.score_size)
    return protocol("davis", request.preset.name).score_size


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

    Predictions are written at :func:`score_size` (the native size by default). Frame 0 is its
    decoded grid labels or its annotation, as the preset's ``first_frame_output`` says.

    Args:
        extractor: Feature extractor with a ``stride`` (or ``patch_size``).
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
    stride = feature_stride(extractor)
    grid = feature_grid(size, stride, pads_input(extractor))
    soft_maps = propagate_video(
        extractor, read_frames(sequence.frames, sequence.size), channels, len(values), preset,
        size, grid, request.settings, sequence.frames, sequence.name,
    )
    out_size = score_size(request) or sequence.size
    names = sequence.frame_names()
    bar = tqdm(
        total=len(names), desc=sequence.name, unit="frame", leave=False,
        disable=not request.settings.progress,
    )


    def output(path: Path, soft: torch.Tensor | None) -> None:  # runs on an output thread
        if soft is None:
            written = resize_ground_truth(first, out_size)
        else:  # upsample + argmax where soft lives (the device); the label map comes back
            written = values[decode_labels(soft, size, out_size, minmax=preset.minmax_output,
                                           nearest=preset.nearest).numpy()]
        write_indexed_png(path, written, palette)

    with OutputPool() as pool:
        for index, (name, soft) in enumerate(zip(names, soft_maps)):
            ground_truth = index == 0 and preset.first_frame_output == "ground-truth"
            pool.submit(partial(output, out_dir / f"{name}.png", None if ground_truth else soft))
            bar.update()
    bar.close()
    return len(names)


class DavisTask:
    """DAVIS-2017 semi-supervised VOS (:class:`~vprop.benchmarks.tasks.Task`).

    Outputs under ``request.out_dir``: ``results/<seq>/<frame>.png`` (official results layout,
    palette of the ground truth), ``global_results-val.csv``, ``per-sequence_results-val.csv``.
    """

    name = "davis"
    unit = "seq"

    def make_sample(self, dest: Path) -> Path:
        """Write the embedded synthetic DAVIS sample and return its root."""
        return synthetic.make_sample(dest)

    def plan(self, extractor: Any, request: EvalRequest) -> list[WorkUnit]:
        """One unit per sequence, with its input size and its PNGs."""
        results_dir = request.out_dir / RESULTS_DIR
        stride, pads, scored_at = feature_stride(extractor), pads_input(extractor), \
            score_size(request)
        units = []
        for sequence in load_sequences(request.data_root, request.sequences):
            check_inside(results_dir / sequence.name, request.out_dir)
            units.append(WorkUnit(
                name=sequence.name, frames=len(sequence.frames),
                input_size=input_size(request.preset, sequence.size, stride, request.size, pads),
                outputs=[results_dir / sequence.name / f"{name}.png"
                         for name in sequence.frame_names()],
                item=sequence,
                signature_extra={"score_size": scored_at,
                                 "data_root": str(Path(request.data_root).resolve())}))
        return units

    def predict(self, extractor: Any, unit: WorkUnit, request: EvalRequest) -> None:
        """Propagate one sequence and write its indexed PNGs."""
        predict_sequence(extractor, unit.item, request, unit.input_size,
                         request.out_dir / RESULTS_DIR / unit.name)

    def finish(self, request: EvalRequest, units: list[WorkUnit]) -> dict[str, Any]:
        """Score every sequence; write the official CSVs and per_frame.json."""
        from vprop.benchmarks.davis.csv_report import write_csv_reports

        names, scored_at = [unit.name for unit in units], score_size(request)
        results_dir = request.out_dir / RESULTS_DIR
        with stage("scoring"):
            scores = score_davis(request.data_root, results_dir, sequences=names,
                                 progress=False, score_size=scored_at, workers=request.workers)
        csv_paths = write_csv_reports(scores, request.out_dir)
        write_per_frame(request.out_dir, "davis", scores["per_frame"])
        return {
            "global": scores["global"],
            "per_object": scores["per_object"],
            "sequences": names,
            "excluded": scores["excluded"],
            "warnings": scores["warnings"],
            "score_size": list(scored_at) if scored_at else "native",
            "input_sizes": {unit.name: list(unit.input_size) for unit in units},
            "outputs": {"predictions": str(results_dir), "csv": [str(p) for p in csv_paths]},
        }


TASK = DavisTask()


def run(extractor: Any, request: EvalRequest) -> dict[str, Any]:
    """Evaluate on DAVIS in this process (:func:`~vprop.benchmarks.tasks.run_task`)."""
    return run_task(TASK, extractor, request)
