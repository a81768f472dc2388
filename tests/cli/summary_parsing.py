"""Read the `key  value` lines of vprop's start/end summary blocks back from the terminal."""

from __future__ import annotations

import csv
import io
from pathlib import Path


def summary(text: str, title: str) -> dict[str, str]:
    """The ``key -> value`` lines of the block whose title line is ``title`` (first one)."""
    lines = text.splitlines()
    start = lines.index(title)
    items: dict[str, str] = {}
    for line in lines[start + 1:]:
        if not line.startswith("  ") or not line[2:].strip():
            break
        key, value = line[2:14].strip(), line[14:]
        if key:
            items[key] = value
    return items


def read_table_csv(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A vprop table CSV: its ``# key: value`` header lines and its rows."""
    meta, body = {}, []
    for line in Path(path).read_text().splitlines(keepends=True):
        if line.startswith("# "):
            key, _, value = line[2:].rstrip("\n").partition(": ")
            meta[key] = value
        else:
            body.append(line)
    return meta, list(csv.DictReader(io.StringIO("".join(body))))
