"""torchrun for evaluation: which process am I, whose units are mine, wait for everybody.

``torchrun --nproc_per_node N -m vprop.cli.main eval ...`` (and multi-node with torchrun's
usual ``--nnodes/--node_rank/--rdzv_*`` flags, the run folder on a shared file system) starts N
copies of the command. :func:`init_from_env` joins them into one process group (NCCL on GPUs,
gloo on CPUs); every rank predicts its share of the units and rank 0 scores them all.
Without torchrun's environment everything runs in one process and nothing is initialised.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vprop.errors import VpropError

# Ranks wait for the slowest one at the end of the predictions: long videos on a slow device
# can take hours, so the collective timeout is generous (the default would kill the run).
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=12)


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun).

    Attributes:
        rank: Global rank.
        world: Number of processes.
        local_rank: Rank on this node (selects the GPU).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process scores and writes ``results.json``."""
        return self.rank == 0

    def sync(self, stage: str, failed: bool = False) -> None:
        """Wait for every rank; raise if any rank says it failed.

        Raises:
            VpropError: Another rank failed at ``stage`` (this rank's own error is raised by
                its caller).
        """
        if self.world == 1:
            return
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1.0 if failed else 0.0], device=_collective_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() > 0 and not failed:
            raise VpropError(f"another torchrun rank failed during {stage}; see its error "
                             "above (finished units are kept: rerun to resume)")

    def share(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a small picklable object)."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=_collective_device())
        return box[0]

    @contextlib.contextmanager
    def guard(self, stage: str) -> Iterator[None]:
        """Run a block on every rank; an error on one rank stops all of them at the end."""
        try:
            yield
        except BaseException:
            self.sync(stage, failed=True)
            raise
        self.sync(stage)


def _collective_device() -> Any:
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def torchrun_env() -> dict[str, int] | None:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` set by torchrun, or None outside torchrun."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    try:
        return {key: int(os.environ[key]) for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK")
                if key in os.environ}
    except ValueError:
        raise VpropError("RANK / WORLD_SIZE / LOCAL_RANK must be integers "
                         "(set by torchrun)") from None


def init_from_env(device: str) -> Ranks:
    """Join the torchrun process group (once) and pick this rank's device.

    Args:
        device: The ``--device`` option: ``auto`` or ``cuda`` become ``cuda:<local rank>``
            under torchrun; ``cpu`` uses gloo.

    Returns:
        This process's :class:`Ranks` (rank 0 of 1 outside torchrun).
    """
    env = torchrun_env()
    if env is None:
        return Ranks()
    import torch
    import torch.distributed as dist

    local_rank = env.get("LOCAL_RANK", 0)
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=COLLECTIVE_TIMEOUT)
        atexit.register(shutdown)  # leave the group cleanly when the command ends
    return Ranks(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank)


def rank_device(device: str, ranks: Ranks) -> str:
    """The device of this rank: ``cuda`` / ``auto`` -> ``cuda:<local rank>`` under torchrun."""
    if ranks.world == 1 or device == "cpu" or device.startswith("cuda:"):
        return device
    import torch

    return f"cuda:{ranks.local_rank}" if torch.cuda.is_available() else device


def shutdown() -> None:
    """Leave the process group (no-op outside torchrun)."""
    import sys

    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_longest_first(units: Sequence[Any], rank: int, world: int) -> list[Any]:
    """This rank's units: longest first, each to the least-loaded rank (greedy LPT).

    Units carry ``frames`` and ``name``; the assignment depends only on them, so every rank
    computes the same split without talking to the others. A rank's units come back longest
    first; a single process keeps the dataset order.
    """
    if world == 1:
        return list(units)  # one process: dataset order, as the progress bars show it
    loads, mine = [0] * world, []
    for unit in sorted(units, key=lambda unit: (-unit.frames, unit.name)):
        target = min(range(world), key=lambda index: (loads[index], index))
        loads[target] += unit.frames
        if target == rank:
            mine.append(unit)
    return mine
