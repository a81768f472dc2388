r"""Report DAVIS scores: the official evaluator's two CSV files.

The official evaluator writes its CSVs with pandas ``to_csv(index=False,
float_format="%.3f")``: comma separated, ``\\n`` line ends, floats with three decimals,
NaN as an empty field, strings quoted only when needed. The same format is reproduced
here with the standard :mod:`csv` module.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vprop.benchmarks.davis.scoring import GLOBAL_KEYS
from vprop.utils import atomic_write_bytes

GLOBAL_CSV = "global_results-{split}.csv"
PER_SEQUENCE_CSV = "per-sequence_results-{split}.csv"
PER_SEQUENCE_HEADER = ("Sequence", "J-Mean", "F-Mean")


def _cell(value: Any) -> str:
    """Format one cell like pandas with ``float_format="%.3f"``."""
    if isinstance(value, str):
        return value
    value = float(value)
    return "" if math.isnan(value) else "%.3f" % value  # noqa: UP031 - pandas' own format


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def global_csv_text(global_scores: Mapping[str, float]) -> str:
    """Text of ``global_results-val.csv`` (header + one row, three decimals)."""
    return _csv_text(GLOBAL_KEYS, [[global_scores[key] for key in GLOBAL_KEYS]])


def per_sequence_csv_text(per_object: Mapping[str, Mapping[str, float]]) -> str:
    """Text of ``per-sequence_results-val.csv`` (one row per ``<seq>_<id>``)."""
    rows = [[name, obj["J-Mean"], obj["F-Mean"]] for name, obj in per_object.items()]
    return _csv_text(PER_SEQUENCE_HEADER, rows)


def write_csv_reports(
    scores: Mapping[str, Any], out_dir: str | Path, split: str = "val"
) -> list[Path]:
    """Write the two official CSV files.

    Args:
        scores: The dict returned by :func:`vprop.benchmarks.davis.scoring.score_davis`.
        out_dir: Destination folder (created if needed).
        split: Set name used in the file names (``val`` -> ``global_results-val.csv``).

    Returns:
        Paths of the global and the per-sequence CSV files.
    """
    out_dir = Path(out_dir)
    global_path = out_dir / GLOBAL_CSV.format(split=split)
    sequence_path = out_dir / PER_SEQUENCE_CSV.format(split=split)
    atomic_write_bytes(global_path, global_csv_text(scores["global"]).encode())
    atomic_write_bytes(sequence_path, per_sequence_csv_text(scores["per_object"]).encode())
    return [global_path, sequence_path]
