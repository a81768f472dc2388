"""Where the time goes: a light per-stage timer, always available, off unless asked for.

The engine and the benchmarks mark their stages (``decode``, ``backbone``, ``propagation``,
``upsample``, ``png``, ``scoring``, ...) with :func:`stage`. Nothing is measured and nothing is
synchronised unless a :class:`StageTimer` is installed with :func:`recording`; then every stage
adds its wall time to that timer, from whichever thread it runs in (decoding and output work
run on background threads, so stage times can add up to more than the wall time: they are busy
times, not a partition of it). On CUDA, a stage given a ``device`` synchronises that device
before and after, only while timing, so that asynchronous kernels are charged to their stage;
an untimed run is never synchronised.

Example::

    timer = StageTimer()
    with recording(timer):
        run_the_evaluation()
    print(timer.report())
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

__all__ = ["StageTimer", "active", "recording", "stage"]


class StageTimer:
    """Accumulates wall seconds and call counts per stage name (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[str, float] = {}
        self._calls: dict[str, int] = {}

    def add(self, name: str, seconds: float, calls: int = 1) -> None:
        """Charge ``seconds`` (and ``calls`` calls) to stage ``name``."""
        with self._lock:
            self._seconds[name] = self._seconds.get(name, 0.0) + seconds
            self._calls[name] = self._calls.get(name, 0) + calls

    @contextmanager
    def stage(self, name: str, device: Any = None) -> Iterator[None]:
        """Time the enclosed block as stage ``name`` (synchronising a CUDA ``device``)."""
        _synchronize(device)
        start = time.perf_counter()
        try:
            yield
        finally:
            _synchronize(device)
            self.add(name, time.perf_counter() - start)

    def seconds(self, name: str) -> float:
        """Seconds charged to ``name`` so far (0 when it never ran)."""
        with self._lock:
            return self._seconds.get(name, 0.0)

    def report(self) -> dict[str, dict[str, float | int]]:
        """``{stage: {"seconds", "calls"}}`` in the order the stages first ran."""
        with self._lock:
            return {name: {"seconds": seconds, "calls": self._calls[name]}
                    for name, seconds in self._seconds.items()}


_ACTIVE: StageTimer | None = None
_IDLE = nullcontext()


def active() -> StageTimer | None:
    """The timer installed by :func:`recording`, or None when nothing is being timed."""
    return _ACTIVE


def stage(name: str, device: Any = None) -> Any:
    """Context manager charging the enclosed block to ``name`` on the active timer, if any.

    Args:
        name: Stage name.
        device: The torch device the block's work runs on; a CUDA device is synchronised
            before and after the block, only while a timer is active.

    Returns:
        A context manager (a shared no-op one when no timer is active).
    """
    timer = _ACTIVE
    return _IDLE if timer is None else timer.stage(name, device)


@contextmanager
def recording(timer: StageTimer) -> Iterator[StageTimer]:
    """Install ``timer`` as the active timer for the enclosed block (process-wide).

    Args:
        timer: Receives every :func:`stage` of every thread while the block runs.

    Yields:
        The timer.
    """
    global _ACTIVE
    previous, _ACTIVE = _ACTIVE, timer
    try:
        yield timer
    finally:
        _ACTIVE = previous


def _synchronize(device: Any) -> None:
    """Wait for a CUDA device's queued work (no-op for CPU devices and ``None``)."""
    if device is None or getattr(device, "type", str(device).split(":")[0]) != "cuda":
        return
    import torch

    torch.cuda.synchronize(device)
