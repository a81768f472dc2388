"""torchrun integration: process group set-up, rank helpers, reductions.

Launch with ``torchrun --nproc_per_node G [--nnodes N --node_rank i --rdzv_endpoint host:port]
-m vprop.cli.main pretrain ...``; torchrun sets RANK / WORLD_SIZE / LOCAL_RANK, which this
module reads. NCCL is used on GPUs, gloo on CPU.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vprop.utils import resolve_device


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files (global rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def setup(device: str = "auto", timeout_minutes: float = 30.0) -> DistEnv:
    """Initialise the process group if launched by torchrun, and pick the device.

    Args:
        device: ``auto`` (CUDA if available), ``cuda`` or ``cpu``.
        timeout_minutes: Collective timeout (raise it when rank 0 runs long evaluations).

    Returns:
        This process's :class:`DistEnv`.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch_device = resolve_device(device, local_rank)
    use_cuda = torch_device.type == "cuda"
    if use_cuda:
        torch.cuda.set_device(torch_device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            timeout=datetime.timedelta(minutes=timeout_minutes),
            device_id=torch_device if use_cuda else None,
        )
    return DistEnv(rank, world_size, local_rank, torch_device)


def cleanup() -> None:
    """Destroy the process group if one was created."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait for every process (no-op when alone)."""
    if env.distributed:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum a tensor over processes in place and return it."""
    if env.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj: object, env: DistEnv) -> object:
    """Send a picklable object from rank 0 to every process."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
