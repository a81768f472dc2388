"""Matplotlib figures: per-frame series of one unit and pretraining curves (paper Fig. 6).

matplotlib is imported on first use with the non-interactive Agg backend.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vprop.benchmarks.report.runs import TaskView, Unit
from vprop.errors import VpropError

DPI = 100
CURVE_METRICS = (("loss", "loss"), ("lr", "learning rate"), ("J&F", "DAVIS J&F"))


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_unit_series(unit: Unit, view: TaskView, path: Path) -> Path:
    """Per-frame figures of one unit (DAVIS J and F, JHMDB PCK, VIP mIoU) over its frames.

    Args:
        unit: The unit, with per-frame series.
        view: Its task's view (series names, scale).
        path: PNG to write.

    Returns:
        ``path``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 2.2), dpi=DPI)
    numeric = all(name.isdigit() for name in unit.frames)
    x = [int(name) for name in unit.frames] if numeric else list(range(len(unit.frames)))
    for name in view.series:
        values = [float("nan") if v is None else v for v in unit.series.get(name, [])]
        ax.plot(x[: len(values)], values, label=name, linewidth=1.4, marker="." if len(x) < 30
                else None)
    ax.set_ylim(-0.03 * view.scale, 1.03 * view.scale)
    ax.set_xlabel("frame" if numeric else "scored frame")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(unit.name, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The entries of a pretraining run's ``log.jsonl`` (the source of truth).

    Raises:
        VpropError: No ``log.jsonl`` or an unreadable line (naming the file and line).
    """
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        raise VpropError("no log.jsonl (not a vprop pretraining folder?)", path)
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise VpropError(f"line {number} is not JSON", path) from None
    return entries


def curve_points(entries: Sequence[dict[str, Any]]) -> dict[str, tuple[list, list]]:
    """(epochs, values) of loss, lr and J&F from log entries.

    Loss and lr come from the step lines (x = ``epoch_progress``, fractional epochs), J&F from
    the ``"event": "davis"`` lines (x = ``epoch``). Null values are left out.
    """
    points: dict[str, tuple[list, list]] = {key: ([], []) for key, _ in CURVE_METRICS}
    for entry in entries:
        if entry.get("event") == "davis":
            if entry.get("J&F") is not None:
                points["J&F"][0].append(entry["epoch"])
                points["J&F"][1].append(entry["J&F"])
            continue
        for key in ("loss", "lr"):
            if entry.get(key) is not None and "epoch_progress" in entry:
                points[key][0].append(entry["epoch_progress"])
                points[key][1].append(entry[key])
    return points


def plot_curves(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]],
                path: Path) -> dict[tuple[str, str], tuple[list, list]]:
    """Loss, lr and J&F over pretraining epochs, one line per run, one panel per figure.

    Args:
        runs: (name, log entries) per run.
        path: PNG to write.

    Returns:
        The points each drawn line holds, read back from matplotlib:
        ``{(run name, metric): (x, y)}``.
    """
    plt = pyplot()
    shown = [(key, label) for key, label in CURVE_METRICS
             if any(curve_points(entries)[key][0] for _, entries in runs)]
    if not shown:
        raise VpropError("no loss, lr or J&F entries in the logs")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.0 * len(shown), 3.0), dpi=DPI,
                             squeeze=False)
    drawn: dict[tuple[str, str], tuple[list, list]] = {}
    for ax, (key, label) in zip(axes[0], shown):
        for name, entries in runs:
            xs, ys = curve_points(entries)[key]
            if not xs:
                continue
            (line,) = ax.plot(xs, ys, label=name, marker="o" if key == "J&F" else None,
                              linewidth=1.3)
            drawn[(name, key)] = ([float(v) for v in line.get_xdata()],
                                  [float(v) for v in line.get_ydata()])
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if key == "loss":
            ax.set_yscale("log")
        if len(runs) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return drawn
