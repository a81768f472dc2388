"""A process pool over independent scoring units (sequences, clips, videos), order kept.

Scoring a unit is pure numpy work on files, so a pool of processes scales it over the cores.
The pool uses the ``spawn`` start method: a worker starts as a fresh interpreter and imports
only what the scoring function needs, which is safe even when the parent holds CUDA or
OpenMP threads (``fork`` is not). Results come back in the order of the units, whatever order
the workers finish in, so every figure, dict and CSV equals the one-process result exactly.
With one worker (or one unit) nothing is spawned: the units run inline, in order.

The scoring functions default to one process (``workers=1``): a library call never starts
processes unasked, and a script that asks for more needs the usual ``if __name__ ==
"__main__":`` guard, as with any spawned pool. The commands (``vprop score``) default to
:func:`auto_workers`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from vprop.errors import VpropError

Unit = TypeVar("Unit")
Result = TypeVar("Result")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a container)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_workers(workers: int | None, option: str = "--workers") -> int:
    """The number of scoring processes: ``workers``, or every available CPU for ``None``.

    Raises:
        VpropError: ``workers`` is not a positive integer (the message names ``option``).
    """
    if workers is None:
        return available_cpus()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise VpropError(f"{option}: must be a positive number of processes, got {workers!r}")
    return workers


def auto_workers(workers: int | None, total_cost: float, cost_per_worker: float) -> int:
    """``workers`` if given (checked); for ``None``, every CPU that has enough work.

    A spawned worker costs about a second of start-up (a fresh interpreter importing numpy,
    OpenCV, scikit-image), so the automatic choice gives each worker at least
    ``cost_per_worker`` units of ``total_cost`` (e.g. frames) and runs small jobs inline.
    """
    if workers is not None:
        return check_workers(workers)
    return max(1, min(available_cpus(), int(total_cost // cost_per_worker)))


def ordered_map(
    function: Callable[[Unit], Result],
    units: Sequence[Unit],
    workers: int | None = 1,
    cost: Callable[[Unit], float] | None = None,
    on_done: Callable[[], None] | None = None,
) -> list[Result]:
    """``[function(unit) for unit in units]``, spread over up to ``workers`` processes.

    Args:
        function: A module-level function (picklable); it runs in a fresh interpreter.
        units: Picklable arguments, one call each.
        workers: Processes (``None``: every available CPU); never more than the units.
        cost: Optional estimate of a unit's work: the costliest units are submitted first,
            so the workers finish together (the results keep the order of ``units``).
        on_done: Called once per finished unit (e.g. to advance a progress bar).

    Returns:
        The results, in the order of ``units``.

    Raises:
        Whatever ``function`` raised for the failing unit that comes first in ``units``
        (inline: the first failure, as a loop would); units not yet started are cancelled.
    """
    workers = min(check_workers(workers), len(units))
    if workers <= 1:
        return list(_inline(function, units, on_done))
    order = sorted(range(len(units)), key=lambda i: -cost(units[i])) if cost else range(
        len(units))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures: dict[Future, int] = {pool.submit(function, units[i]): i for i in order}
        results: list[Any] = [None] * len(units)
        failed: dict[int, BaseException] = {}
        for future in as_completed(futures):
            if future.cancelled():  # after a failure
                continue
            index = futures[future]
            error = future.exception()
            if error is not None:
                failed[index] = error
                for other in futures:
                    other.cancel()
                continue
            results[index] = future.result()
            if on_done is not None:
                on_done()
    if failed:
        raise failed[min(failed)]
    return results


def _inline(function: Callable[[Unit], Result], units: Sequence[Unit],
            on_done: Callable[[], None] | None) -> Iterator[Result]:
    for unit in units:
        yield function(unit)
        if on_done is not None:
            on_done()
