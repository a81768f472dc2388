"""Background threads: per-frame output work, and the CPU's cores shared between threads.

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

import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import torch

__all__ = ["OutputPool", "SplitBatches", "cpu_workers"]


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


@contextmanager
def cpu_workers(device: torch.device, workers: int | None = None,
                ) -> Iterator[tuple[ThreadPoolExecutor, int] | None]:
    """Share the CPU's cores between Python threads instead of inside each torch op.

    On a CPU with ``workers`` > 1 (default: torch's intra-op thread count), torch ops run
    single-threaded for the duration of the block and the caller spreads independent work
    (the frames of a batch, the bands of a frame) over a pool of ``workers`` threads: torch
    ops release the GIL, and no op waits at a barrier for a core another process took (a
    busy 2-core machine slows two-thread ops several times). Results are bit-identical: the
    same ops run on the same rows. The previous thread count is restored on exit.

    Yields:
        ``(executor, workers)``, or None (GPU, or a single worker): run as usual.
    """
    workers = torch.get_num_threads() if workers is None else workers
    if device.type != "cpu" or workers <= 1:
        yield None
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers, "vprop-cpu") as pool:
            yield pool, workers
    finally:
        torch.set_num_threads(before)


class SplitBatches:
    """Run an extractor on parts of each batch concurrently (see :func:`cpu_workers`).

    Args:
        extractor: (B, 3, H, W) -> (B, D, h, w).
        pool: Executor whose threads run the parts.
        parts: Parts a batch is split into (at most one frame each).
    """

    def __init__(self, extractor: Callable[[torch.Tensor], torch.Tensor],
                 pool: ThreadPoolExecutor, parts: int) -> None:
        self.extractor, self.pool, self.parts = extractor, pool, parts

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Features of ``images``, the parts computed on the pool's threads, in order."""
        size = math.ceil(images.shape[0] / self.parts)
        if size >= images.shape[0]:
            return self.extractor(images)
        # Inference mode and autocast are thread-local: the workers enter the caller's.
        autocast = torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
        parts = self.pool.map(lambda part: self._forward(part, *autocast), images.split(size))
        return torch.cat(list(parts))

    def _forward(self, images: torch.Tensor, autocast: bool, dtype: torch.dtype) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=autocast):
            return self.extractor(images)
