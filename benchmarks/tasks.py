"""The task registry: ``davis``, ``jhmdb``, ``vip`` -> the module that runs each benchmark.

A task module defines three functions:

* ``preset_overrides(preset_name) -> dict``: task-specific preset changes (e.g. VIP's top-10
  for the cropmae preset), applied before the user's own overrides;
* ``make_sample(dest: Path) -> Path``: write the embedded synthetic sample in the official
  layout under ``dest`` and return the dataset root to read;
* ``run(extractor, request: EvalRequest) -> dict``: propagate, write the official outputs under
  ``request.out_dir``, score, and return ``{"global": {...}, ...metrics..., "table": str}``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from vprop.benchmarks.pipeline import EngineSettings
from vprop.errors import VpropError
from vprop.propagation import Preset

TASK_MODULES = {
    "davis": "vprop.benchmarks.davis.task",
    "jhmdb": "vprop.benchmarks.jhmdb.task",
    "vip": "vprop.benchmarks.vip.task",
}


@dataclass
class EvalRequest:
    """Everything a task needs to run, resolved by the CLI.

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


def get_task(name: str) -> ModuleType:
    """Import and return the task module for ``name``.

    Raises:
        VpropError: Unknown task.
    """
    if name not in TASK_MODULES:
        raise VpropError(f"unknown task {name!r}; choose one of {sorted(TASK_MODULES)}")
    return importlib.import_module(TASK_MODULES[name])
