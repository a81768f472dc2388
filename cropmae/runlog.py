"""Rank-0 reporting: a tqdm bar (loss, lr, images/s), a JSONL log and a text log."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vprop.utils import atomic_write_bytes


class RunLog:
    """Progress bar + ``log.jsonl`` + ``train.log`` in the output folder; silent off rank 0.

    Args:
        output_dir: Where the logs go.
        enabled: False on every rank but 0.
        total_steps: Length of the bar.
        start_step: Where the bar starts (resumed runs).
        progress: Show the bar at all.
    """

    def __init__(self, output_dir: Path, enabled: bool, total_steps: int, start_step: int,
                 progress: bool = True) -> None:
        self.enabled = enabled
        self.jsonl = output_dir / "log.jsonl"
        self.text = output_dir / "train.log"
        self.bar = None
        if enabled:
            truncate_log(self.jsonl, start_step)
        if enabled and progress:
            self.bar = tqdm(total=total_steps, initial=start_step, unit="step",
                            dynamic_ncols=True, file=sys.stderr)

    def say(self, message: str) -> None:
        """Print a line (above the bar) and append it to train.log."""
        if not self.enabled:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)
        with open(self.text, "a") as handle:
            handle.write(f"{stamp} {message}\n")

    def record(self, entry: dict[str, Any]) -> None:
        """Append one JSON object to log.jsonl (non-finite floats written as null)."""
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in entry.items()}
        with open(self.jsonl, "a") as handle:
            handle.write(json.dumps(clean) + "\n")

    def advance(self, steps: int, loss: float | None = None, lr: float | None = None,
                images_per_s: float | None = None) -> None:
        """Move the bar and refresh its loss / lr / images-per-second fields."""
        if self.bar is None:
            return
        if loss is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", img_s=f"{images_per_s:.0f}",
                                 refresh=False)
        self.bar.update(steps)

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


def truncate_log(path: Path, step: int) -> int:
    """Keep only the records of ``log.jsonl`` up to ``step`` (a resumed run rewrites the rest).

    Records after the checkpoint a run resumes from were written by the interrupted run and
    will be written again; a torn last line (killed mid-write) is dropped as well.

    Returns:
        The number of records dropped.
    """
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            dropped += 1
            continue
        if isinstance(record, dict) and int(record.get("step", 0)) <= step:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        atomic_write_bytes(path, "".join(f"{line}\n" for line in kept).encode())
    return dropped
