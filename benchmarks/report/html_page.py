"""HTML pieces of the report: one static page, inline CSS and a few lines of inline JS.

No framework, no CDN: the page opens from disk. Tables with class ``sortable`` sort on a
header click (numbers numerically, by each cell's ``data-v``); rows arrive worst first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from vprop.utils import finite_or_none

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;
max-width:1400px}
h1{font-size:22px}h2{font-size:19px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
h3{font-size:15px;margin-top:22px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3;cursor:pointer;user-select:none}
td:first-child,th:first-child{text-align:left}
.neg{color:#b00020}.pos{color:#087f23}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;color:#fff;
margin-left:6px}
.synthetic{background:#c77700}.random{background:#b00020}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}
.card .k{font-size:12px;color:#666}.card .v{font-size:20px;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.grid figure{margin:0}.grid img{border:1px solid #eee}
figcaption{font-size:12px;color:#444;max-width:900px}
pre{background:#f7f7f7;padding:8px;font-size:12px;overflow:auto;max-height:360px}
.note{color:#8a5a00}
"""

SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.title = 'sort';
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-order') !== 'asc';
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return asc ? c : -c;
      });
      th.setAttribute('data-order', asc ? 'asc' : 'desc');
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def number(value: Any, scale: float = 1.0) -> str:
    """Figures as shown: 4 decimals for fractions (scale 1), 2 for percentages."""
    if value is None or (isinstance(value, float) and finite_or_none(value) is None):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}" if scale == 1.0 else f"{value:.2f}"


def _sort_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and finite_or_none(value) is None):
        return "Infinity"  # missing figures sort after every number
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], scale: float = 1.0,
          sortable: bool = True, delta_from: int | None = None, table_id: str = "") -> str:
    """An HTML table; numbers formatted with :func:`number`, raw values kept in ``data-v``.

    Args:
        header: Column names.
        rows: Cells (first column: a name).
        scale: Figure scale (decimals).
        sortable: Add the click-to-sort behaviour.
        delta_from: Columns from this index on are deltas (signed, coloured).
        table_id: The table's HTML id.
    """
    head = "".join(f"<th>{escape(str(name))}</th>" for name in header)
    body = []
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            text = number(value, scale)
            css = ""
            if delta_from is not None and index >= delta_from and isinstance(value, float):
                text = ("+" if value > 0 else "") + text
                css = ' class="neg"' if value < 0 else (' class="pos"' if value > 0 else "")
            cells.append(f'<td data-v="{escape(_sort_value(value))}"{css}>{escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    css = ' class="sortable"' if sortable else ""
    css += f' id="{escape(table_id)}"' if table_id else ""
    return (f"<table{css}><thead><tr>{head}</tr></thead><tbody>" + "".join(body)
            + "</tbody></table>")


def cards(figures: dict[str, Any], scale: float) -> str:
    """Headline figures as cards."""
    items = [f'<div class="card"><div class="k">{escape(key)}</div>'
             f'<div class="v">{escape(number(value, scale))}</div></div>'
             for key, value in figures.items()]
    return '<div class="cards">' + "".join(items) + "</div>"


def badges(payload: dict[str, Any]) -> str:
    """SYNTHETIC / RANDOM INIT badges, as the CLI warns."""
    out = ""
    if payload.get("synthetic"):
        out += '<span class="badge synthetic">SYNTHETIC sample</span>'
    if payload.get("random_init"):
        out += '<span class="badge random">RANDOM-INIT backbone</span>'
    return out


def json_block(title: str, value: Any) -> str:
    """A collapsible JSON dump (full precision)."""
    text = json.dumps(value, indent=1, sort_keys=False, default=str)
    return f"<details><summary>{escape(title)}</summary><pre>{escape(text)}</pre></details>"


def figure(src: str, caption: str, width: int | None = None) -> str:
    """An image with a caption; ``src`` is relative to the page."""
    size = f' width="{width}"' if width else ""
    return (f'<figure><img src="{escape(src)}" alt="{escape(caption)}"{size} loading="eager">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def page(title: str, sections: Sequence[str]) -> str:
    """The whole document."""
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<link rel="icon" href="data:,">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1>" + "\n".join(sections)
            + f"<script>{SCRIPT}</script></body></html>\n")
