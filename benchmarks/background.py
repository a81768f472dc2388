"""Per-frame output work (upsample, argmax, PNG encode and write) on background threads.

The main thread propagates frame after frame; what it does with each prediction afterwards
needs nothing from the next frames, so a task hands it to an :class:`OutputPool` as a closure
and goes on. The pool is bounded (at most ``depth`` closures pending, so memory stays that of
a few frames), keeps submission order (results and errors come back in the order the frames
were submitted), re-raises the first error at the next :meth:`~OutputPool.submit` or at the end
of the ``with`` block, and never leaves the block before every submitted closure has finished:
a sequence is only marked finished once all of its outputs are on disk.

Example::

    with OutputPool() as pool:
        for name, soft in zip(names, soft_maps):
            pool.submit(partial(write_frame, name, soft))
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

__all__ = ["OutputPool"]


class OutputPool:
    """A bounded, order-preserving pool of threads for per-frame closures.

    Args:
        workers: Threads running closures (``0``: run each closure at once in the caller's
            thread, e.g. to compare with the sequential behaviour).
        depth: Closures pending at most; :meth:`submit` waits for the oldest beyond that.
    """

    def __init__(self, workers: int = 1, depth: int = 4) -> None:
        if workers < 0 or depth < 1:
            raise ValueError(f"workers must be >= 0 and depth >= 1, got {workers}, {depth}")
        self.depth = depth
        self.results: list[Any] = []  # return values, in submission order
        self._pending: deque[Future] = deque()
        self._executor = ThreadPoolExecutor(workers, "vprop-output") if workers else None

    def submit(self, work: Callable[[], Any]) -> None:
        """Queue ``work``; re-raises the error of an earlier closure, if one failed."""
        if self._executor is None:
            self.results.append(work())
            return
        while len(self._pending) >= self.depth:
            self._collect_oldest()
        self._pending.append(self._executor.submit(work))

    def _collect_oldest(self) -> None:
        """Wait for the oldest pending closure and keep its result (or raise its error)."""
        future = self._pending.popleft()
        self.results.append(future.result())

    def drain(self) -> list[Any]:
        """Wait for every pending closure, in order; returns all results so far."""
        while self._pending:
            self._collect_oldest()
        return self.results

    def __enter__(self) -> OutputPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if kind is None:
                self.drain()  # raises the first failed closure's error
        finally:
            if self._executor is not None:
                # On an error the queued closures are dropped, the running ones finish.
                self._executor.shutdown(wait=True, cancel_futures=kind is not None)
