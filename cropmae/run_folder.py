"""A pretraining run's output folder: checkpoint names, which one to resume from, copies.

``checkpoint-last.pth`` is refreshed at every save; ``checkpoint-NNNN.pth`` (epoch NNNN) is a
second name of the same content, kept every ``--save-every`` epochs and at the end.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vprop.cropmae.config import TrainConfig
from vprop.errors import VpropError
from vprop.utils import atomic_write

LAST_CHECKPOINT = "checkpoint-last.pth"


def epoch_checkpoint(folder: Path, epoch: int) -> Path:
    """The numbered checkpoint of ``epoch`` in ``folder`` (``checkpoint-0004.pth``)."""
    return folder / f"checkpoint-{epoch:04d}.pth"


def saved_checkpoints(folder: Path) -> list[Path]:
    """Resumable checkpoints in ``folder``, best first: last, then epochs newest first."""
    numbered = []
    for path in folder.glob("checkpoint-*.pth"):
        stem = path.stem.removeprefix("checkpoint-")
        if stem.isdigit() and path.is_file():
            numbered.append((int(stem), path))
    last = folder / LAST_CHECKPOINT
    return ([last] if last.is_file() else []) + [path for _, path in sorted(numbered, reverse=True)]


def resume_point(config: TrainConfig, out_option: str = "--out") -> Path | None:
    """The checkpoint to continue from; never silently restarts over an earlier run.

    ``--resume auto`` takes ``checkpoint-last.pth``, else the latest numbered epoch
    checkpoint, else starts from step 0 (nothing saved yet). Without ``--resume``, a folder
    holding checkpoints is refused rather than overwritten (the message names
    ``out_option``, the flag that chose the folder).

    Raises:
        VpropError: No ``--resume`` but the output folder holds checkpoints.
    """
    saved = saved_checkpoints(Path(config.output_dir))
    if not config.resume:
        if saved:
            raise VpropError(f"holds checkpoints of an earlier run ({saved[0].name}); pass "
                             f"--resume auto to continue it, or choose another {out_option}",
                             config.output_dir)
        return None
    if config.resume == "auto":
        return saved[0] if saved else None
    return Path(config.resume)


def link_or_copy(source: Path, target: Path) -> None:
    """Give ``source``'s content a second name: a hard link, else an atomic fsync'ed copy."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # another filesystem, or links not supported
        with open(source, "rb") as handle:
            atomic_write(target, lambda out: shutil.copyfileobj(handle, out))
        return
    os.replace(tmp, target)
