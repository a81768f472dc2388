"""Rank-0 reporting of a pretraining run.

A per-step tqdm bar (loss, lr, images/s, ETA), JSONL and text logs, tracker sinks
(TensorBoard, W&B: copies of the JSONL entries), and the start-of-run and
end-of-run summaries.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vprop.benchmarks.summary import block, plural
from vprop.cropmae.loggers import Sink, tracked_scalars
from vprop.utils import atomic_write_bytes, json_safe

REFRESH_S = 0.5  # at most two bar refreshes (and loss reads) per second
ITEM_WORDS = {"images": ("image", "images"), "videos": ("video", "videos"),
              "frames": ("frame folder", "frame folders")}


def sig3(value: float) -> str:
    """A number with 3 significant digits, without exponent below 1e6 (1234.5 -> 1230)."""
    if not math.isfinite(value):
        return str(value)
    return format(float(f"{value:.3g}"), ".6g")


def duration(seconds: float) -> str:
    """``1:02:03`` (hours:minutes:seconds)."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def items_text(count: int, data_format: str) -> str:
    """``200 images``, ``1 video``, ``3 frame folders``."""
    one, many = ITEM_WORDS.get(data_format, ("item", "items"))
    return plural(count, one, many)


def start_block(config: Any, resumed_from: Path | None, start_step: int) -> str:
    """What the run will do, from the resolved config (the values of ``config.json``)."""
    derived = config.derived
    lr = (f"{sig3(derived['lr'])} peak" + ("" if config.lr is not None else
          f" (blr {config.blr:g} x {derived['global_batch']} / 256)")
          + f", {plural(derived['warmup_steps'], 'warmup step')}, cosine to {config.min_lr:g}")
    items = [
        ("method", f"{config.method}, {config.arch}, {config.img_size}px, mask ratio "
                   f"{config.mask_ratio:g}, {config.crop_strategy}" if config.method == "cropmae"
         else f"{config.method}, {config.arch}, {config.img_size}px, mask ratio "
              f"{config.mask_ratio:g}, frame gap {list(config.frame_gap)}"),
        ("data", f"{config.data} ({items_text(derived['num_items'], derived['data_format'])})"),
        ("schedule", f"{plural(config.epochs, 'epoch')} x "
                     f"{plural(derived['steps_per_epoch'], 'step')} per epoch = "
                     f"{plural(derived['total_steps'], 'step')}"),
        ("batch", f"{derived['global_batch']} global ({config.batch_size} per process x "
                  f"{config.accum_iter} accumulation x "
                  f"{plural(derived['world_size'], 'process', 'processes')})"),
        ("lr", lr),
        ("device", f"{derived['device']}, precision {derived['precision']}, "
                   f"{plural(config.workers or 0, 'loader worker')}"),
        ("output", str(config.output_dir)),
    ]
    if resumed_from is not None:
        items.append(("resumed", f"from {resumed_from} at step {start_step}"))
    return block("vprop pretrain", items)


def end_block(summary: dict[str, Any]) -> str:
    """What the run did and left behind (the ``summary`` dict of the trainer)."""
    items = [
        ("steps", f"{summary['step']}/{summary['total_steps']} (epoch {summary['epoch']}), "
                  f"{plural(summary['steps_this_run'], 'step')} in this run"
                  + (", stopped early (--stop-after-steps)" if summary["stopped_early"] else "")),
        ("loss", "n/a" if summary["last_loss"] is None else
         f"{sig3(summary['last_loss'])} (last logged, step {summary['last_loss_step']})"),
        ("speed", f"{sig3(summary['images_per_s'])} img/s over this run, "
                  f"{duration(summary['seconds'])} wall time"),
        ("checkpoint", str(summary["checkpoint"] or "none written")),
    ]
    for entry in summary["davis"]:
        items.append(("DAVIS J&F", f"{100 * entry['J&F']:.1f} after epoch {entry['epoch']}"))
    if summary["skipped_items"]:
        items.append(("skipped", f"{plural(summary['skipped_items'], 'unreadable item')} "
                                 "(see train.log)"))
    items.append(("written", ", ".join(summary["written"])))
    return block("vprop pretrain finished", items)


class RunLog:
    """Progress bar + ``log.jsonl`` + ``train.log`` in the output folder; silent off rank 0.

    Args:
        output_dir: Where the logs go.
        enabled: False on every rank but 0.
        total_steps: Length of the bar.
        start_step: Where the bar starts (resumed runs).
        progress: Show the bar at all (without it, every log line is printed instead).
        sinks: Trackers (TensorBoard, W&B) receiving a copy of every entry; log.jsonl stays
            the source of truth.
    """

    def __init__(self, output_dir: Path, enabled: bool, total_steps: int, start_step: int,
                 progress: bool = True, sinks: list[Sink] | None = None) -> None:
        self.enabled = enabled
        self.sinks = list(sinks or []) if enabled else []
        self.jsonl = output_dir / "log.jsonl"
        self.text = output_dir / "train.log"
        self.total_steps = total_steps
        self.start_step = start_step
        self.started = time.perf_counter()
        self.last_refresh = 0.0
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
        clean = json_safe(entry)
        with open(self.jsonl, "a") as handle:
            handle.write(json.dumps(clean) + "\n")
        values = tracked_scalars(clean)
        if values and "step" in clean:
            for sink in self.sinks:
                sink.scalars(values, int(clean["step"]))

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """Send an (H, W, 3) uint8 image (e.g. the reconstruction panel) to the trackers."""
        for sink in self.sinks:
            sink.image(tag, image, step)

    def eta_seconds(self, step: int) -> float | None:
        """Remaining time at this process's mean step time so far."""
        done = step - self.start_step
        if done <= 0:
            return None
        return (self.total_steps - step) * (time.perf_counter() - self.started) / done

    def wants_refresh(self) -> bool:
        """Whether the bar's loss / lr / images-per-second fields are due for a refresh."""
        return self.bar is not None and time.perf_counter() - self.last_refresh >= REFRESH_S

    def step(self, loss: float | None = None, lr: float | None = None,
             images_per_s: float | None = None) -> None:
        """Advance the bar by one step; refresh its fields when values are given."""
        if self.bar is None:
            return
        if loss is not None:
            self.last_refresh = time.perf_counter()
            self.bar.set_postfix(loss=sig3(loss), lr=f"{lr:.3g}", img_s=sig3(images_per_s),
                                 refresh=False)
        self.bar.update(1)

    def line(self, step: int, epoch: int, loss: float, lr: float, images_per_s: float) -> None:
        """The periodic log line, printed when there is no bar (it shows the same fields)."""
        if self.bar is not None:
            return
        eta = self.eta_seconds(step)
        self.say(f"step {step}/{self.total_steps} (epoch {epoch}) loss {sig3(loss)} "
                 f"lr {lr:.3g} img/s {sig3(images_per_s)} ETA "
                 f"{'?' if eta is None else duration(eta)}")

    def close(self) -> None:
        """Close the bar and the trackers."""
        if self.bar is not None:
            self.bar.close()
        for sink in self.sinks:
            sink.close()
        self.sinks = []


class Window:
    """Running sums of one rank between two log lines (loss, samples, skips, data wait)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new window now."""
        self.loss_sum: Any = 0.0  # a device tensor once a loss was added (no sync per step)
        self.loss_count = 0
        self.samples = 0
        self.skipped = 0
        self.steps = 0
        self.data_s = 0.0
        self.start = time.perf_counter()

    def add_loss(self, loss: Any, samples: int) -> None:
        """Add one micro-batch's (detached) loss tensor and its batch size."""
        self.loss_sum = self.loss_sum + loss.float()
        self.loss_count += 1
        self.samples += samples


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
