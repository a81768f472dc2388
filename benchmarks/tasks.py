"""The task registry and the one loop that runs any task: plan, reuse, shard, predict, score.

A task (:class:`Task`: DAVIS, JHMDB, VIP) says what its work units are (sequences, clips,
videos, each with its input size and output files), how to predict one unit, and how to score
a run. :func:`run_task` does everything else the same way for all three: the resume store
(:mod:`vprop.benchmarks.resume`), torchrun sharding (:mod:`vprop.benchmarks.distributed`),
timing, and scoring once on rank 0.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from vprop.benchmarks.distributed import Ranks, shard_longest_first
from vprop.benchmarks.resume import ResumeStore, run_signature
from vprop.benchmarks.settings import EngineSettings
from vprop.errors import VpropError
from vprop.propagation.presets import Preset
from vprop.utils import atomic_write_json

# Task name -> module defining ``TASK`` (imported on first use: the CLI lists names torch-free).
TASK_MODULES = {
    "davis": "vprop.benchmarks.davis.task",
    "jhmdb": "vprop.benchmarks.jhmdb.task",
    "vip": "vprop.benchmarks.vip.task",
}
PER_FRAME_FILE = "per_frame.json"


@dataclass
class EvalRequest:
    """Everything a task needs to run, resolved by :mod:`vprop.benchmarks.evaluate`.

    Attributes:
        data_root: Dataset root in the official layout.
        out_dir: Run folder (outputs, results.json).
        preset: Resolved preset (task overrides and user overrides applied).
        sequences: Subset of sequences / clips / videos, or ``None`` for the whole split.
        size: User override of the backbone input (height, width), or ``None``.
        split: Split/list file override (JHMDB, VIP), or ``None`` for the task default.
        overwrite: Recompute finished sequences instead of skipping them.
        settings: Device, batch size, dtypes, progress bars.
        synthetic: Whether ``data_root`` is the embedded synthetic sample.
        score_size: DAVIS: ``(height, width)`` to write and score predictions at, ``"native"``
            for each sequence's own size, ``None`` for the preset's protocol default.
        decode_topk: JHMDB: cells averaged per joint, ``None`` for the preset's protocol.
        workers: Processes for scoring (``None``: one per CPU).
    """

    data_root: Path
    out_dir: Path
    preset: Preset
    sequences: list[str] | None = None
    size: tuple[int, int] | None = None
    split: Path | None = None
    overwrite: bool = False
    settings: EngineSettings = field(default_factory=EngineSettings)
    synthetic: bool = False
    score_size: tuple[int, int] | str | None = None
    decode_topk: int | None = None
    workers: int | None = 1


@dataclass
class WorkUnit:
    """One sequence / clip / video of a run.

    Attributes:
        name: Its name (``clip`` names of JHMDB include the class: ``class/clip``).
        frames: Number of frames (torchrun shards the longest first).
        input_size: Backbone input (height, width).
        outputs: Files it writes; all must exist for a finished unit to be reused.
        item: The task's own description (a DavisSequence, JhmdbClip, VipVideo).
        signature_extra: Task settings that change its outputs (decode top-k, score size).
    """

    name: str
    frames: int
    input_size: tuple[int, int]
    outputs: list[Path]
    item: Any
    signature_extra: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    """What a benchmark provides to :func:`run_task` (one object per task module: ``TASK``)."""

    name: str  # registry name
    unit: str  # what a unit is called on the progress bar: seq, clip, video

    def make_sample(self, dest: Path) -> Path:
        """Write the embedded synthetic sample under ``dest``; return its root."""

    def plan(self, extractor: Any, request: EvalRequest) -> list[WorkUnit]:
        """The units of a request, in dataset order (checks layout and files)."""

    def predict(self, extractor: Any, unit: WorkUnit, request: EvalRequest) -> None:
        """Propagate one unit and write its outputs."""

    def finish(self, request: EvalRequest, units: list[WorkUnit]) -> dict[str, Any]:
        """Score every unit's outputs and return the task's result (written to results.json)."""


def get_task(name: str) -> Task:
    """The task object of ``name``.

    Raises:
        VpropError: Unknown task.
    """
    if name not in TASK_MODULES:
        raise VpropError(f"unknown task {name!r}; choose one of {sorted(TASK_MODULES)}")
    return importlib.import_module(TASK_MODULES[name]).TASK


def write_per_frame(out_dir: Path, task: str, units: dict[str, Any]) -> Path:
    """Write a run's per-frame scores (read by ``vprop report``, which never rescores).

    Args:
        out_dir: Run folder.
        task: Task name.
        units: Scored unit (DAVIS object, JHMDB clip, VIP video) -> ``{"frames": [names],
            <metric>: [one value per frame, None where not scored], ...}``.

    Returns:
        The file written (``out_dir/per_frame.json``).
    """
    path = Path(out_dir) / PER_FRAME_FILE
    atomic_write_json(path, {"task": task, "units": units})
    return path


def run_task(task: Task, extractor: Any, request: EvalRequest,
             ranks: Ranks | None = None) -> dict[str, Any] | None:
    """Run a task: reuse finished units, predict this rank's share of the rest, score on rank 0.

    Every rank plans the same units and makes the same reuse decisions (from the markers,
    before any rank writes), then predicts its share of the units to compute, longest first.
    Rank 0 waits for all ranks and scores everything once.

    Returns:
        The task's result plus ``skipped_finished``, ``recomputed``, ``timing`` and
        ``ranks`` on rank 0; ``None`` on the other ranks.

    Raises:
        VpropError: Bad data, or another rank failed.
    """
    ranks = ranks or Ranks()
    units = task.plan(extractor, request)
    store = ResumeStore(request.out_dir, request.overwrite, quiet=not ranks.is_main)
    todo, signatures = [], {}
    for unit in units:
        signatures[unit.name] = run_signature(extractor, request.preset, unit.input_size,
                                              request.settings, **unit.signature_extra)
        if not store.reusable(unit.name, signatures[unit.name], unit.outputs):
            todo.append(unit)
    ranks.sync("planned")
    mine = shard_longest_first(todo, ranks.rank, ranks.world)
    with ranks.guard("predict"):
        for unit in tqdm(mine, desc=task.name.upper(), unit=task.unit,
                         disable=not request.settings.progress):
            store.start(unit.name)
            start = time.perf_counter()
            task.predict(extractor, unit, request)
            store.finish(unit.name, signatures[unit.name], unit.outputs, unit.frames,
                         time.perf_counter() - start)
    if not ranks.is_main:
        return None
    result = task.finish(request, units)
    return {**result, **store.summary([unit.name for unit in units]),
            "ranks": ranks.world}
