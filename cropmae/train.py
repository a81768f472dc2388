"""`vprop pretrain`'s entry point: what to train on, where to continue from, then the trainer.

:func:`run_pretraining` takes the run folder's lock (one live run per folder), sets up
torchrun, picks the checkpoint to resume from, discovers the data on rank 0 and shares it;
the engine itself (data pipeline, model, optimiser, the step loop, checkpoints) is
:class:`vprop.cropmae.trainer.Trainer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vprop.cropmae import distributed as dist_utils
from vprop.cropmae.config import TrainConfig
from vprop.cropmae.run_folder import resume_point
from vprop.cropmae.sources import DataSource, discover
from vprop.cropmae.trainer import Trainer, TrainResult
from vprop.errors import VpropError
from vprop.safety import RunLock, check_outside_dataset, remove_stale_temporaries

__all__ = ["TrainResult", "run_pretraining"]


def run_pretraining(config: TrainConfig, out_option: str = "--out") -> TrainResult:
    """Train CropMAE / SiamMAE as ``config`` says; works alone or under torchrun.

    Args:
        config: The options (``resolve`` fills the method/data-dependent ones).
        out_option: The command-line flag that named ``config.output_dir`` (for errors).

    Raises:
        VpropError: Bad data path, unreadable checkpoint, unusable options.
    """
    env = dist_utils.setup(config.device, timeout_minutes=240 if config.eval_davis else 30)
    lock = None
    try:
        if env.is_main:  # one live run per output folder; stale temporaries go under the lock
            if Path(config.data).is_dir():
                check_outside_dataset(config.output_dir, config.data, out_option)
            lock = RunLock(config.output_dir, out_option)
            remove_stale_temporaries(config.output_dir)
        resume_path = resume_point(config, out_option)
        source = _discover_everywhere(config, env)
        return Trainer(config, env, source, resume_path).run()
    finally:
        if lock is not None:
            lock.release()
        dist_utils.cleanup()


def _discover_everywhere(config: TrainConfig, env: dist_utils.DistEnv) -> DataSource:
    """Scan the data on rank 0 and share the list (errors are re-raised on every rank)."""
    found: Any = None
    if env.is_main:
        try:
            found = discover(config.data, config.data_format, config.method)
        except VpropError as error:
            found = error
    found = dist_utils.broadcast_object(found, env)
    if isinstance(found, VpropError):
        raise found
    return found
