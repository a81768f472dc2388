"""The one resume store of every task and every torchrun rank: a done marker per unit.

A unit (DAVIS sequence, JHMDB clip, VIP video) that finished leaves
``<out>/.vprop-done/<name>.json`` holding its run signature, its output file names, its frame
count and its prediction time. A later run reuses the unit only when the signature is equal and
every output is still there; the marker is removed before a unit is recomputed, so a run killed
in the middle never leaves a marker next to half-written outputs. Markers do not depend on the
number of processes, so a run resumes under any torchrun world size.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vprop.benchmarks.settings import EngineSettings
from vprop.benchmarks.sizes import feature_stride
from vprop.propagation.presets import Preset
from vprop.utils import atomic_write_json

DONE_DIR = ".vprop-done"


def done_marker(out_dir: Path, name: str) -> Path:
    """The marker file recording that unit ``name`` finished (and with which settings)."""
    return Path(out_dir) / DONE_DIR / f"{name.replace('/', '__')}.json"


def run_signature(
    extractor: Any, preset: Preset, input_size: tuple[int, int], settings: EngineSettings,
    **extra: Any,
) -> dict[str, Any]:
    """What determines a unit's outputs: preset, input size, backbone, engine and extras.

    The engine part is the settings that change predictions (dtypes, affinity mode). A
    finished unit is reused by a later run only when its signature is equal, so a run into an
    existing folder with another checkpoint, preset or size recomputes everything.
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


def timing(frames: int, seconds: float) -> dict[str, Any]:
    """The ``timing`` block of a task result."""
    return {
        "frames_predicted": frames,
        "seconds": seconds,
        "frames_per_second": frames / seconds if frames and seconds > 0 else None,
    }


@dataclass
class ResumeStore:
    """Decides, announces and records which units a run reuses or recomputes, and why.

    Args:
        out_dir: Run folder (markers go to ``out_dir/.vprop-done``).
        overwrite: ``--overwrite``: recompute every unit.
        quiet: Do not print (torchrun ranks other than 0); decisions are still recorded.
    """

    out_dir: Path
    overwrite: bool = False
    quiet: bool = False
    skipped: list[str] = field(default_factory=list)
    recomputed: dict[str, str] = field(default_factory=dict)

    def _say(self, message: str) -> None:
        if not self.quiet:
            announce(message)

    def reusable(self, name: str, signature: dict[str, Any], outputs: list[Path]) -> bool:
        """Whether unit ``name`` finished earlier with ``signature`` and all its ``outputs``.

        Announces the decision: reused, or recomputed with the reason (``--overwrite`` is
        counted in the end summary, not announced per unit).
        """
        record = read_record(done_marker(self.out_dir, name))
        if record is None:
            return False
        if self.overwrite:
            reason = "--overwrite"
        elif record.get("signature") != signature:
            reason = "other settings: " + signature_changes(record.get("signature") or {},
                                                            signature)
        elif record.get("outputs") != [path.name for path in outputs] or not all(
                path.is_file() for path in outputs):
            reason = "outputs missing"
        else:
            self.skipped.append(name)
            self._say(f"{name}: finished earlier with the same settings, reused "
                      "(--overwrite recomputes)")
            return True
        self.recomputed[name] = reason
        if not self.overwrite:
            self._say(f"{name}: recomputed ({reason})")
        return False

    def start(self, name: str) -> None:
        """Forget that ``name`` finished (before its outputs are rewritten)."""
        done_marker(self.out_dir, name).unlink(missing_ok=True)

    def finish(self, name: str, signature: dict[str, Any], outputs: list[Path], frames: int,
               seconds: float) -> None:
        """Record that ``name`` finished: signature, output names, frames and seconds."""
        atomic_write_json(done_marker(self.out_dir, name), {
            "signature": signature, "outputs": [path.name for path in outputs],
            "predicted_frames": frames, "seconds": seconds})

    def summary(self, names: list[str]) -> dict[str, Any]:
        """``skipped_finished``, ``recomputed`` and ``timing`` of units ``names``.

        Timing is read back from the markers, so it covers every rank's units:
        ``timing`` sums every unit's prediction time (reused ones included) and
        ``timing.this_run`` the units this run predicted.
        """
        records = {name: read_record(done_marker(self.out_dir, name)) or {} for name in names}
        known = {n: r for n, r in records.items() if isinstance(r.get("seconds"), (int, float))}
        total = _timing_of(known.values())
        total["sequences_without_timing"] = len(records) - len(known)
        total["this_run"] = _timing_of(r for n, r in known.items() if n not in self.skipped)
        return {"skipped_finished": list(self.skipped), "recomputed": dict(self.recomputed),
                "timing": total}


def _timing_of(records: Any) -> dict[str, Any]:
    records = list(records)
    return timing(sum(int(r.get("predicted_frames", 0)) for r in records),
                  sum(float(r["seconds"]) for r in records))
