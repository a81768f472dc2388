"""Read a run folder (``results.json``, ``per_frame.json``) into what the report shows.

Nothing here scores anything: figures come from the files the evaluation wrote. What differs
between tasks (which figure ranks the rows, which per-frame series exist, their scale) is data
in :data:`TASK_VIEWS`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vprop.benchmarks.tasks import PER_FRAME_FILE
from vprop.errors import VpropError


@dataclass(frozen=True)
class TaskView:
    """How a task's run is shown.

    Attributes:
        unit: What a table row is (object, clip, video).
        table_key: Key of ``results.json`` holding the per-unit figures.
        columns: Per-unit figures shown in the table (the first ranks the rows, worst first).
        series: Per-frame series of ``per_frame.json`` plotted over frames.
        worst_by: The per-frame series whose minimum picks a unit's worst frame.
        scale: Full scale of the figures (1 for DAVIS fractions, 100 for percentages).
        mean_of: ``(name, a, b)``: add the figure ``name = (a + b) / 2`` per unit (DAVIS's
            J&F, pooled as the official evaluator pools the global J&F-Mean).
        object_suffix: Whether unit names end in ``_<object id>`` after the sequence name.
        legend: How to read the worst-frame panels.
    """

    unit: str
    table_key: str
    columns: tuple[str, ...]
    series: tuple[str, ...]
    worst_by: str
    scale: float
    mean_of: tuple[str, str, str] | None = None
    object_suffix: bool = False
    legend: str = "Left: ground truth; right: prediction (label colours blended)."


TASK_VIEWS: dict[str, TaskView] = {
    "davis": TaskView("object", "per_object", ("J&F", "J-Mean", "F-Mean", "J-Recall",
                                               "F-Recall", "J-Decay", "F-Decay"),
                      ("J", "F"), "J", 1.0, mean_of=("J&F", "J-Mean", "F-Mean"),
                      object_suffix=True),
    "jhmdb": TaskView("clip", "per_clip", ("PCK@0.1", "PCK@0.2", "PCK@0.3", "PCK@0.4",
                                           "PCK@0.5", "frames"),
                      ("PCK@0.1", "PCK@0.2"), "PCK@0.1", 100.0,
                      legend="Left: ground-truth joints (yellow); right: predicted joints, "
                             "green within PCK@0.1, red outside, grey when not scored."),
    "vip": TaskView("video", "per_video", ("mIoU", "frames", "scored_frames"), ("mIoU",),
                    "mIoU", 100.0),
}


@dataclass
class Unit:
    """One row of the per-sequence table (a DAVIS object, a JHMDB clip, a VIP video).

    Attributes:
        name: Row name (``blackswan_1``, ``<class>/<clip>``, ``videos1``).
        sequence: The video it belongs to (``blackswan``, the clip, the video).
        figures: The row's figures, by column name (None when not available).
        frames: Names of the frames with per-frame figures (empty when absent).
        series: Per-frame figures by series name (None where not scored).
        detail: Any other per-frame entry of ``per_frame.json`` (e.g. JHMDB joint hits).
    """

    name: str
    sequence: str
    figures: dict[str, float | None]
    frames: list[str] = field(default_factory=list)
    series: dict[str, list[float | None]] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def rank_value(self, column: str) -> float:
        """Sort key: the figure, missing ones last."""
        value = self.figures.get(column)
        return math.inf if value is None else float(value)

    def worst_frame(self, series: str) -> tuple[int, float] | None:
        """(index, value) of the lowest scored frame of ``series``; None when nothing scored."""
        values = self.series.get(series, [])
        scored = [(v, i) for i, v in enumerate(values) if v is not None]
        if not scored:
            return None
        value, index = min(scored)
        return index, value


@dataclass
class Run:
    """A run folder as the report sees it.

    Attributes:
        path: The folder.
        name: Display name (unique within a report).
        task: ``davis``, ``jhmdb`` or ``vip``.
        payload: ``results.json``.
        view: The task's :class:`TaskView`.
        units: Table rows, worst first.
        has_frames: Whether ``per_frame.json`` was found.
    """

    path: Path
    name: str
    task: str
    payload: dict[str, Any]
    view: TaskView
    units: list[Unit]
    has_frames: bool

    @property
    def data_root(self) -> Path:
        """The dataset root the run read (from the resolved configuration)."""
        return Path(self.payload.get("config", {}).get("data_root", ""))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise VpropError("file not found (not a vprop run folder?)", path) from None
    except (OSError, ValueError) as error:
        raise VpropError(f"cannot read JSON ({error})", path) from None


def _figures(view: TaskView, entry: dict[str, Any]) -> dict[str, float | None]:
    figures = {column: entry.get(column) for column in view.columns}
    if view.mean_of is not None:
        name, a, b = view.mean_of
        if entry.get(a) is not None and entry.get(b) is not None:
            figures[name] = (entry[a] + entry[b]) / 2.0
    return figures


def _sequence_of(view: TaskView, name: str) -> str:
    return name.rsplit("_", 1)[0] if view.object_suffix else name


def load_run(path: str | Path, name: str | None = None) -> Run:
    """Read a run folder written by ``vprop eval`` (any task).

    Args:
        path: The run folder (holding ``results.json``).
        name: Display name; default: the folder name.

    Returns:
        The run with its units sorted worst first by the task's first column.

    Raises:
        VpropError: No/bad ``results.json``, or a task the report does not know.
    """
    path = Path(path)
    payload = _read_json(path / "results.json")
    task = payload.get("task")
    if task not in TASK_VIEWS or "global" not in payload:
        raise VpropError(f"results.json of an unknown task {task!r}", path / "results.json")
    view = TASK_VIEWS[task]
    frames_path = path / PER_FRAME_FILE
    per_frame = _read_json(frames_path)["units"] if frames_path.is_file() else {}
    units = []
    for unit_name, entry in payload.get(view.table_key, {}).items():
        frame_entry = dict(per_frame.get(unit_name, {}))
        names = frame_entry.pop("frames", [])
        series = {key: frame_entry.pop(key) for key in view.series if key in frame_entry}
        units.append(Unit(unit_name, _sequence_of(view, unit_name), _figures(view, entry),
                          names, series, frame_entry))
    units.sort(key=lambda unit: (unit.rank_value(view.columns[0]), unit.name))
    return Run(path, name or path.resolve().name, task, payload, view, units,
               frames_path.is_file())


def unique_names(paths: list[Path]) -> list[str]:
    """Display names for run folders: the folder name, or parent/name when names collide."""
    names = [Path(p).resolve().name for p in paths]
    out = []
    for path, name in zip(paths, names):
        if names.count(name) > 1:
            resolved = Path(path).resolve()
            name = f"{resolved.parent.name}/{resolved.name}"
        while name in out:
            name += "'"
        out.append(name)
    return out
