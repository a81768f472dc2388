"""Experiment-tracker sinks of a pretraining run: TensorBoard and Weights & Biases.

``log.jsonl`` (:class:`~vprop.cropmae.runlog.RunLog`) is always written and stays the source
of truth; a sink receives a copy of every entry (scalars) and the Fig. 3 reconstruction panel
as an image. Each tracker is imported only when chosen; W&B runs ``mode="offline"`` when no
API key is configured (``WANDB_API_KEY`` unset and no ``wandb login``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vprop.errors import VpropError

if TYPE_CHECKING:  # numpy only in annotations: `vprop pretrain --help` stays light
    import numpy as np

LOGGERS = ("jsonl", "tensorboard", "wandb")
TB_DIR = "tensorboard"
# log.jsonl key -> tracker tag, for step lines and for DAVIS evaluation lines.
STEP_TAGS = {"loss": "train/loss", "lr": "train/lr", "images_per_s": "train/images_per_s",
             "data_wait_frac": "train/data_wait_frac"}
DAVIS_TAGS = {"J&F": "eval/davis_J&F"}


class Sink(Protocol):
    """What a tracker offers the run log."""

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Record tag -> value at an optimiser step."""

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """Record an (H, W, 3) uint8 image at an optimiser step."""

    def close(self) -> None:
        """Flush and close."""


def tracked_scalars(entry: dict[str, Any]) -> dict[str, float]:
    """The tracker tags and values of one log.jsonl entry (nulls left out)."""
    tags = DAVIS_TAGS if entry.get("event") == "davis" else STEP_TAGS
    return {tag: float(entry[key]) for key, tag in tags.items()
            if isinstance(entry.get(key), (int, float))}


class TensorBoardSink:
    """Event files in ``<output_dir>/tensorboard`` (``tensorboard --logdir OUTPUT_DIR``)."""

    def __init__(self, output_dir: Path, config: dict[str, Any]) -> None:
        """Open a ``SummaryWriter``; the resolved configuration goes in as text."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise VpropError(f"cannot import tensorboard ({error}); pip install tensorboard",
                             "--logger") from None
        self.writer = SummaryWriter(log_dir=str(Path(output_dir) / TB_DIR))
        lines = "\n".join(f"    {key}: {value}" for key, value in config.items())
        self.writer.add_text("config", lines)

    def scalars(self, values: dict[str, float], step: int) -> None:  # noqa: D102
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:  # noqa: D102
        self.writer.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:  # noqa: D102
        self.writer.close()


def _wandb_mode() -> str:
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "online" if "api.wandb.ai" in netrc.read_text() else "offline"
    except OSError:
        return "offline"


class WandbSink:
    """A W&B run in ``<output_dir>/wandb`` (offline unless a key is configured)."""

    def __init__(self, output_dir: Path, config: dict[str, Any], project: str) -> None:
        """Start the run (``pip install 'vprop[wandb]'`` provides the package)."""
        try:
            import wandb
        except ImportError:
            raise VpropError("the wandb package is not installed; pip install 'vprop[wandb]' "
                             "or use --logger tensorboard", "--logger wandb") from None
        self.wandb = wandb
        self.run = wandb.init(project=project, dir=str(output_dir), config=config,
                              mode=_wandb_mode(), name=Path(output_dir).name)

    def scalars(self, values: dict[str, float], step: int) -> None:  # noqa: D102
        self.run.log(values, step=step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:  # noqa: D102
        self.run.log({tag: self.wandb.Image(image)}, step=step)

    def close(self) -> None:  # noqa: D102
        self.run.finish()


def make_sinks(logger: str, output_dir: Path, config: dict[str, Any],
               wandb_project: str = "vprop") -> list[Sink]:
    """The sinks for ``--logger`` (none for ``jsonl``).

    Raises:
        VpropError: Unknown logger, or its package is missing (one line, before training).
    """
    if logger not in LOGGERS:
        raise VpropError(f"unknown logger {logger!r}; use one of {', '.join(LOGGERS)}",
                         "--logger")
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if logger == "tensorboard":
        return [TensorBoardSink(output_dir, config)]
    if logger == "wandb":
        return [WandbSink(output_dir, config, wandb_project)]
    return []
