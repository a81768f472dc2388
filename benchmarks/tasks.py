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
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from vprop.benchmarks.settings import EngineSettings
from vprop.benchmarks.sizes import feature_stride
from vprop.errors import VpropError
from vprop.propagation.presets import Preset
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
PER_FRAME_FILE = "per_frame.json"


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


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def signature_changes(old: dict[str, Any], new: dict[str, Any], limit: int = 3) -> str:
    """What differs between two run signatures, e.g. ``preset.topk 7 -> 10``."""
    before, after = _flatten(old), _flatten(new)
    keys = [key for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]
    parts = [f"{key} {before.get(key)} -> {after.get(key)}" for key in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"{len(keys) - limit} more")
    return ", ".join(parts) or "unknown"


def read_record(marker: Path) -> dict[str, Any] | None:
    """The content of a done marker, or None when absent or unreadable."""
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def announce(message: str) -> None:
    """Print a line to stderr without breaking the progress bars."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


class ResumeLog:
    """Decides, announces and records which sequences a run reuses or recomputes, and why.

    Args:
        overwrite: ``--overwrite``: recompute every sequence.
        quiet: Do not print (the decisions are still recorded).
    """

    def __init__(self, overwrite: bool, quiet: bool = False) -> None:
        self.overwrite = overwrite
        self.quiet = quiet
        self.skipped: list[str] = []
        self.recomputed: dict[str, str] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.this_run = {"frames": 0, "seconds": 0.0}

    def _say(self, message: str) -> None:
        if not self.quiet:
            announce(message)

    def reuse(self, name: str, record: dict[str, Any] | None, signature: dict[str, Any],
              outputs_present: bool) -> bool:
        """Whether ``name`` can be reused, given its stored record; announces the decision.

        Args:
            name: Sequence / clip / video name.
            record: What the earlier run stored (``signature``, ``predicted_frames``,
                ``seconds``), or
                None when it never finished.
            signature: The current run's signature for this sequence.
            outputs_present: Whether every output file of the earlier run is still there.
        """
        if record is None:
            return False
        if self.overwrite:
            reason = "--overwrite"
        elif record.get("signature") != signature:
            reason = "other settings: " + signature_changes(record.get("signature") or {},
                                                            signature)
        elif not outputs_present:
            reason = "outputs missing"
        else:
            self.skipped.append(name)
            self.records[name] = record
            self._say(f"{name}: finished earlier with the same settings, reused "
                      "(--overwrite recomputes)")
            return True
        self.recomputed[name] = reason
        if not self.overwrite:  # asked for: counted in the end summary, not announced each time
            self._say(f"{name}: recomputed ({reason})")
        return False

    def finished(self, name: str, frames: int, seconds: float) -> dict[str, Any]:
        """Record a sequence predicted by this run; returns its timing record."""
        self.this_run["frames"] += frames
        self.this_run["seconds"] += seconds
        self.records[name] = {"predicted_frames": frames, "seconds": seconds}
        return self.records[name]

    def summary(self) -> dict[str, Any]:
        """``skipped_finished``, ``recomputed`` and ``timing`` for ``results.json``."""
        known = [r for r in self.records.values() if isinstance(r.get("seconds"), (int, float))]
        total = timing(sum(int(r.get("predicted_frames", 0)) for r in known),
                       sum(float(r["seconds"]) for r in known))
        total["sequences_without_timing"] = len(self.records) - len(known)
        total["this_run"] = timing(self.this_run["frames"], self.this_run["seconds"])
        return {"skipped_finished": list(self.skipped), "recomputed": dict(self.recomputed),
                "timing": total}

    def check_marker(self, name: str, marker: Path, signature: dict[str, Any],
                     outputs: list[Path]) -> bool:
        """:meth:`reuse` for tasks that keep a done marker per sequence (DAVIS, VIP)."""
        record = read_record(marker)
        present = (record is not None and record.get("outputs") == [p.name for p in outputs]
                   and all(path.is_file() for path in outputs))
        return self.reuse(name, record, signature, present)


def is_finished(marker: Path, signature: dict[str, Any], outputs: list[Path]) -> bool:
    """Whether a sequence finished with this signature and all its outputs still exist."""
    done = read_record(marker)
    return (
        done is not None
        and done.get("signature") == signature
        and done.get("outputs") == [path.name for path in outputs]
        and all(path.is_file() for path in outputs)
    )


def mark_finished(marker: Path, signature: dict[str, Any], outputs: list[Path],
                  **timing_record: Any) -> None:
    """Record that a sequence finished: signature, output names, frames and seconds."""
    atomic_write_json(marker, {"signature": signature, "outputs": [path.name for path in outputs],
                               **timing_record})


def timing(frames: int, seconds: float) -> dict[str, Any]:
    """The ``timing`` block of a task result."""
    return {
        "frames_predicted": frames,
        "seconds": seconds,
        "frames_per_second": frames / seconds if frames and seconds > 0 else None,
    }
