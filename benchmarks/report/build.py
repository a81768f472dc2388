"""``vprop report``: one static HTML page for one or several run folders.

``<out>/index.html`` with its images as files in ``<out>/img/``: per run the global figures,
the resolved configuration and checkpoint hash, the per-unit table (worst first, sortable),
per-unit plots over frames and the worst frames with ground truth and prediction side by side;
with several runs of a task, the ``vprop compare`` table and per-unit deltas.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vprop.benchmarks.report import html_page as H
from vprop.benchmarks.report.draw import fit_width, save_image, side_by_side
from vprop.benchmarks.report.frames import frame_pairs
from vprop.benchmarks.report.plots import plot_unit_series
from vprop.benchmarks.report.runs import Run, load_run, unique_names
from vprop.benchmarks.tables import results_table
from vprop.errors import VpropError
from vprop.utils import atomic_write_bytes

INDEX = "index.html"
IMAGES = "img"
PANEL_WIDTH = 960  # px of a ground-truth | prediction pair


def _config_summary(run: Run) -> dict[str, Any]:
    payload = run.payload
    backbone = payload.get("backbone", {})
    summary = {
        "task": run.task, "folder": str(run.path),
        "checkpoint": backbone.get("ckpt") or "none (random init)",
        "sha256": backbone.get("sha256") or "n/a", "arch": backbone.get("arch"),
        "preset": payload.get("config", {}).get("preset", {}).get("name"),
        "data_root": str(run.data_root),
        "missing keys": len(backbone.get("missing_keys") or []),
        "unexpected keys": len(backbone.get("unexpected_keys") or []),
        "wall seconds": payload.get("wall_seconds"),
    }
    return summary


def _units_table(run: Run, run_id: str) -> str:
    view = run.view
    header = [view.unit, *view.columns]
    rows = [[unit.name, *(unit.figures.get(c) for c in view.columns)] for unit in run.units]
    note = (f"<p>{len(run.units)} {view.unit}s, worst first by {view.columns[0]}; click a "
            "header to sort.</p>")
    return note + H.table(header, rows, scale=view.scale, table_id=f"units-{run_id}")


def _plots(run: Run, img: Path, rel: str, limit: int) -> str:
    view = run.view
    figures = []
    for index, unit in enumerate(u for u in run.units if u.series):
        if index >= limit:
            break
        name = f"series-{index:03d}.png"
        plot_unit_series(unit, view, img / name)
        figures.append(H.figure(f"{rel}/{name}", f"{unit.name}: "
                                + ", ".join(view.series) + " per scored frame"))
    if not figures:
        return ""
    shown = "" if len(figures) == len(run.units) else f" (the {len(figures)} worst)"
    return (f"<h3>{' and '.join(view.series)} over frames{shown}</h3>"
            f'<div class="grid">{"".join(figures)}</div>')


def _worst_frames(run: Run, img: Path, rel: str, count: int) -> str:
    view = run.view
    picked = []
    for unit in run.units:
        worst = unit.worst_frame(view.worst_by)
        if worst is not None:
            picked.append((unit, *worst))
    picked.sort(key=lambda item: item[2])
    figures, drawn = [], set()
    for unit, frame_index, value in picked:
        frame = unit.frames[frame_index]
        if (unit.sequence, frame) in drawn:  # two objects of one frame: draw it once
            continue
        if len(drawn) == count:
            break
        index = len(drawn)
        drawn.add((unit.sequence, frame))
        (_, truth, pred), = list(frame_pairs(run, unit.sequence, [frame]))
        name = f"worst-{index:02d}.jpg"
        save_image(img / name, fit_width(side_by_side([truth, pred]), PANEL_WIDTH))
        caption = (f"{unit.name}, frame {frame}: {view.worst_by} = "
                   f"{H.number(value, view.scale)}")
        figures.append(H.figure(f"{rel}/{name}", caption))
    if not figures:
        return ""
    return f"<h3>Worst frames</h3><p>{H.escape(view.legend)}</p>" + "".join(figures)


def _run_section(run: Run, index: int, out: Path, worst: int, max_plots: int) -> str:
    rel = f"{IMAGES}/run{index}"
    img = out / rel
    parts = [f"<h2 id=\"run{index}\">{H.escape(run.name)} <small>({run.task})</small>"
             f"{H.badges(run.payload)}</h2>",
             H.cards(run.payload["global"], run.view.scale),
             H.table(["", "value"], list(_config_summary(run).items()), sortable=False),
             H.json_block("results.json: global figures (full precision)",
                          run.payload["global"]),
             H.json_block("resolved configuration", run.payload.get("config", {})),
             H.json_block("backbone (checkpoint, hash, keys)", run.payload.get("backbone", {})),
             f"<h3>Per {run.view.unit}</h3>"]
    plots_html = _plots(run, img, rel, max_plots)
    parts.append(_units_table(run, f"run{index}"))
    if not run.has_frames:
        parts.append('<p class="note">No per_frame.json in this run (written by vprop eval '
                     "since the report was added): re-run vprop eval into the same folder "
                     "(finished sequences are reused) to get per-frame plots and worst "
                     "frames.</p>")
    parts.append(plots_html)
    try:
        parts.append(_worst_frames(run, img, rel, worst))
    except VpropError as error:
        parts.append(f'<p class="note">Worst frames not drawn: {H.escape(str(error))}</p>')
    return "\n".join(parts)


def _comparison_section(runs: Sequence[Run]) -> str:
    first = runs[0]
    table = results_table([r.name for r in runs], [r.payload for r in runs])
    key = first.view.columns[0]
    by_unit = [{u.name: u.figures.get(key) for u in run.units} for run in runs]
    names = [u.name for u in first.units]
    names += sorted({n for table in by_unit[1:] for n in table} - set(names))
    delta_rows = []
    for name in names:
        values = [table.get(name) for table in by_unit]
        deltas = [None if v is None or values[0] is None else v - values[0] for v in values[1:]]
        delta_rows.append([name, *values, *deltas])
    delta_rows.sort(key=lambda row: min([d for d in row[1 + len(runs):] if d is not None],
                                        default=0.0))
    delta_header = [first.view.unit, *(f"{key} {r.name}" for r in runs),
                    *(f"Δ {r.name} − {first.name}" for r in runs[1:])]
    return (f"<h2>Comparison: {first.task} ({len(runs)} runs)</h2>"
            + f"<p>{H.escape(table.title)}</p>"
            + H.table(table.header, table.rows, scale=100.0)
            + f"<h3>Per {first.view.unit} {key}, biggest drop first</h3>"
            + H.table(delta_header, delta_rows, scale=first.view.scale,
                      delta_from=1 + len(runs)))


def build_report(run_dirs: Sequence[str | Path], out_dir: str | Path, worst: int = 6,
                 max_plots: int = 60, say: Callable[[str], None] | None = None) -> Path:
    """Write ``out_dir/index.html`` (and ``out_dir/img/``) for the run folders.

    Args:
        run_dirs: Folders written by ``vprop eval`` (any tasks).
        out_dir: Report folder (its ``img/`` is replaced).
        worst: Worst frames drawn per run.
        max_plots: Per-unit plots drawn per run (the worst units).
        say: Progress messages.

    Returns:
        The HTML file.

    Raises:
        VpropError: A folder is not a run folder (naming its ``results.json``).
    """
    paths = [Path(p) for p in run_dirs]
    if not paths:
        raise VpropError("no run folders given")
    runs = [load_run(p, n) for p, n in zip(paths, unique_names(paths))]
    out = Path(out_dir)
    shutil.rmtree(out / IMAGES, ignore_errors=True)
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    sections = []
    tasks = list(dict.fromkeys(run.task for run in runs))
    for task in tasks:
        group = [run for run in runs if run.task == task]
        if len(group) > 1:
            sections.append(_comparison_section(group))
    if len(runs) > 1:
        links = "".join(f'<li><a href="#run{i}">{H.escape(r.name)}</a> ({r.task})</li>'
                        for i, r in enumerate(runs))
        sections.insert(0, f"<ul>{links}</ul>")
    for index, run in enumerate(runs):
        if say is not None:
            say(f"report: {run.name} ({run.task}, {len(run.units)} {run.view.unit}s)")
        sections.append(_run_section(run, index, out, worst, max_plots))
    title = "vprop report: " + ", ".join(run.name for run in runs)
    index_path = out / INDEX
    atomic_write_bytes(index_path, H.page(title, sections).encode("utf-8"))
    return index_path
