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
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from vprop.benchmarks.pipeline import EngineSettings
from vprop.benchmarks.sizes import feature_stride
from vprop.errors import VpropError
from vprop.propagation import Preset
from vprop.utils import atomic_write_json

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
        score_size: DAVIS: ``(height, width)`` to write and score predictions at, ``"native"``
            for each sequence's own size, ``None`` for the preset's protocol default.
        decode_topk: JHMDB: cells averaged per joint, ``None`` for the preset's protocol.
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


def get_task(name: str) -> ModuleType:
    """Import and return the task module for ``name``.

    Raises:
        VpropError: Unknown task.
    """
    if name not in TASK_MODULES:
        raise VpropError(f"unknown task {name!r}; choose one of {sorted(TASK_MODULES)}")
    return importlib.import_module(TASK_MODULES[name])


DONE_DIR = ".vprop-done"


def run_signature(
    extractor: Any, preset: Preset, input_size: tuple[int, int], settings: EngineSettings,
    **extra: Any,
) -> dict[str, Any]:
    """What determines a sequence's outputs: preset, input size, backbone, engine and extras.

    The engine part is the settings that change predictions (dtypes, affinity mode).

    A finished sequence is reused by a later run only when its signature is equal, so a run
    into an existing folder with another checkpoint, preset or size recomputes everything.
    """
    describe = getattr(extractor, "describe", None)
    signature = {
        "preset": preset.to_dict(),
        "input_size": list(input_size),
        "stride": feature_stride(extractor),
        "backbone": describe() if callable(describe) else None,
        "engine": settings.signature(),
        **extra,
    }
    return json.loads(json.dumps(signature, default=str))  # JSON-normalised, comparable


def done_marker(out_dir: Path, name: str) -> Path:
    """The marker file recording that sequence ``name`` finished (and with which settings)."""
    return Path(out_dir) / DONE_DIR / f"{name.replace('/', '__')}.json"


def is_finished(marker: Path, signature: dict[str, Any], outputs: list[Path]) -> bool:
    """Whether a sequence finished with this signature and all its outputs still exist."""
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return (
        done.get("signature") == signature
        and done.get("outputs") == [path.name for path in outputs]
        and all(path.is_file() for path in outputs)
    )


def mark_finished(marker: Path, signature: dict[str, Any], outputs: list[Path]) -> None:
    """Record that a sequence finished, with its signature and output file names."""
    atomic_write_json(marker, {"signature": signature, "outputs": [path.name for path in outputs]})


def timing(frames: int, seconds: float) -> dict[str, Any]:
    """The ``timing`` block of a task result."""
    return {
        "frames_predicted": frames,
        "seconds": seconds,
        "frames_per_second": frames / seconds if frames and seconds > 0 else None,
    }
