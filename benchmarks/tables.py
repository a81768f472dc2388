"""One results-table format for every task and for `vprop compare`: Markdown, CSV, LaTeX.

Figures are percentages as the papers print them (DAVIS J&F-Mean 60.4, JHMDB PCK@0.1 45.2,
VIP mIoU 38.9): one decimal in Markdown and LaTeX, full precision in CSV. Every table names
what it covers (task, data, preset, protocol, sequences) in its header. Pure Python: no torch.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vprop.errors import VpropError
from vprop.utils import atomic_write_bytes, finite_or_none

FORMATS = ("md", "csv", "latex")
SUFFIXES = {"md": ".md", "csv": ".csv", "latex": ".tex"}


@dataclass(frozen=True)
class TaskMetrics:
    """How a task's ``results.json["global"]`` becomes table columns.

    Attributes:
        title: Benchmark name as papers print it.
        metrics: Global keys shown, in order.
        scale: Factor to percent (DAVIS stores fractions, JHMDB and VIP percentages).
        unit: What the figures are, for the caption.
    """

    title: str
    metrics: tuple[str, ...]
    scale: float
    unit: str


TASK_METRICS = {
    "davis": TaskMetrics("DAVIS-2017", ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean",
                                        "F-Recall", "F-Decay"), 100.0, "J&F, J and F in %"),
    "jhmdb": TaskMetrics("JHMDB", ("PCK@0.1", "PCK@0.2", "PCK@0.3", "PCK@0.4", "PCK@0.5"), 1.0,
                         "PCK in %"),
    "vip": TaskMetrics("VIP", ("mIoU",), 1.0, "mIoU in %"),
}


@dataclass
class Table:
    """A results table: what it covers (``meta``), column names and rows.

    Attributes:
        title: One line naming the benchmark and unit.
        meta: Ordered (key, value) pairs: task, data, preset, protocol, sequences.
        header: Column names.
        rows: Cells: strings, floats (percent) or None.
    """

    title: str
    meta: list[tuple[str, str]]
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def protocol_text(preset: Mapping[str, Any]) -> str:
    """One line with the propagation parameters of a resolved preset dict."""
    parts = [f"temperature {preset['temperature']:g}", f"top-k {preset['topk']}",
             f"radius {preset['radius']:g} ({preset['shape']})",
             f"context {preset['context']} frames + first"]
    if preset.get("restrict_first"):
        parts.append("first frame restricted")
    return ", ".join(parts)


def size_text(size: Any) -> str:
    """``[480, 880]`` -> ``480x880``; a list of sizes -> ``480x880, 880x480``; None -> ``-``."""
    if not size:
        return "-"
    if isinstance(size[0], (list, tuple)):
        return ", ".join(size_text(item) for item in size)
    return f"{size[0]}x{size[1]}"


def sequences_text(names: Sequence[str] | None, shown: int = 4) -> str:
    """``3 (a, b, c)`` or ``30 (a, b, c, d, ...)``."""
    if not names:
        return "-"
    listed = ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")
    return f"{len(names)} ({listed})"


def table_meta(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The header of a table for one run's ``results.json`` payload."""
    config = payload.get("config", {})
    preset = config.get("preset", {})
    data = str(config.get("data_root", "?"))
    data += " (SYNTHETIC sample, not a benchmark)" if payload.get("synthetic") else ""
    return [
        ("task", payload["task"]),
        ("data", data),
        ("preset", str(preset.get("name", "?"))),
        ("protocol", f"{protocol_text(preset)}; input {size_text(config.get('size'))}"
         if preset else "?"),
        ("sequences", sequences_text(payload.get("sequences"))),
    ]


def percent(payload: Mapping[str, Any], metric: str) -> float | None:
    """A global figure of a run in percent (None when absent or NaN)."""
    value = finite_or_none(payload.get("global", {}).get(metric))
    return None if value is None else value * TASK_METRICS[payload["task"]].scale


def results_table(names: Sequence[str], payloads: Sequence[Mapping[str, Any]]) -> Table:
    """One row per run: checkpoint, sha256 (12 hex digits), arch, then the task's metrics.

    Args:
        names: Display name of each run (checkpoint file name, ``random-init``).
        payloads: Each run's ``results.json`` payload, all of one task.
    """
    task = payloads[0]["task"]
    spec = TASK_METRICS[task]
    sizes = {name: score_size_text(payload) for name, payload in zip(names, payloads)}
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{name}: {size or 'n/a'}" for name, size in sizes.items())
        raise VpropError(f"runs scored at different sizes cannot share a column ({listing}); "
                         "compare them in separate tables")
    scored = any(size is not None for size in sizes.values())
    rows = []
    for name, payload in zip(names, payloads):
        backbone = payload.get("backbone", {})
        digest = backbone.get("sha256") or "random-init"
        rows.append([name, digest[:12], backbone.get("arch", ""),
                     *([sizes[name]] if scored else []),
                     *(percent(payload, metric) for metric in spec.metrics)])
    title = f"{spec.title}, label propagation ({spec.unit})"
    header = ["checkpoint", "sha256", "arch", *(["scored at"] if scored else []),
              *spec.metrics]
    return Table(title, table_meta(payloads[0]), header, rows)


def score_size_text(payload: Mapping[str, Any]) -> str | None:
    """A run's DAVIS score size as text (``native``, ``480x880``); ``None`` when it has none."""
    size = payload.get("score_size")
    if size is None or isinstance(size, str):
        return size
    return f"{size[0]}x{size[1]}"


def _cell(value: Any, digits: int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value) if digits is None else f"{value:.{digits}f}"
    return str(value)


def to_markdown(table: Table) -> str:
    """Markdown: a bold title, the covered task/data/preset/protocol/sequences, the table."""
    lines = [f"**{table.title}**", ""]
    lines += [f"- {key}: {value}" for key, value in table.meta]
    lines += ["", "| " + " | ".join(table.header) + " |",
              "|" + "|".join("---" if i < 3 else "---:" for i in range(len(table.header))) + "|"]
    lines += ["| " + " | ".join(_cell(value, 1) for value in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """CSV: ``# key: value`` comment lines, then the header and rows (full precision)."""
    buffer = io.StringIO()
    buffer.write(f"# {table.title}\n")
    for key, value in table.meta:
        buffer.write(f"# {key}: {value}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows([[_cell(value, None) for value in row] for row in table.rows])
    return buffer.getvalue()


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters."""
    return "".join(_LATEX_ESCAPES.get(char, char) for char in text)


def to_latex(table: Table) -> str:
    """LaTeX ``table`` with ``booktabs`` rules; the covered settings go in the caption."""
    numeric = [i for i in range(len(table.header))
               if all(row[i] is None or isinstance(row[i], float) for row in table.rows)]
    spec = "".join("r" if i in numeric else "l" for i in range(len(table.header)))
    caption = latex_escape(table.title + ". " + "; ".join(f"{k}: {v}" for k, v in table.meta))
    lines = ["% requires \\usepackage{booktabs}", "\\begin{table}[t]", "\\centering",
             f"\\caption{{{caption}}}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(latex_escape(name) for name in table.header) + " \\\\", "\\midrule"]
    lines += [" & ".join(latex_escape(_cell(value, 1)) for value in row) + " \\\\"
              for row in table.rows]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def render(table: Table, fmt: str) -> str:
    """Render in ``md``, ``csv`` or ``latex``."""
    return {"md": to_markdown, "csv": to_csv, "latex": to_latex}[fmt](table)


def write_all(table: Table, stem: Path) -> list[Path]:
    """Write ``stem.md``, ``stem.csv`` and ``stem.tex``; return their paths."""
    paths = []
    for fmt, suffix in SUFFIXES.items():
        path = stem.with_suffix(suffix)
        atomic_write_bytes(path, render(table, fmt).encode())
        paths.append(path)
    return paths


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write a plain CSV (numbers at full precision, None as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(value, None) for value in row] for row in rows])
    atomic_write_bytes(path, buffer.getvalue().encode())
    return Path(path)
