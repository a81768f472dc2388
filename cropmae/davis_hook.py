"""`--eval-davis`: DAVIS-2017 J&F of the encoder during pretraining (paper Fig. 6).

The hook is a small callable ``encoder state dict -> J&F``. It goes through the same public
pieces as ``vprop eval --task davis``: the encoder is written to a temporary vprop
checkpoint, loaded with :func:`vprop.checkpoints.load_backbone` and run by the DAVIS task
(``vprop.benchmarks.davis.task.run``) with the ``cropmae`` preset.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from vprop.errors import VpropError

DavisHook = Callable[[dict[str, torch.Tensor]], float]


def evaluate_encoder_on_davis(encoder_state: dict[str, torch.Tensor], arch: str,
                              davis_root: Path, out_dir: Path, device: torch.device,
                              sequences: list[str] | None = None) -> float:
    """J&F-Mean of an encoder on a DAVIS-2017 root (val split, cropmae preset).

    Args:
        encoder_state: timm-keyed encoder weights.
        arch: Registry name of the encoder.
        davis_root: DAVIS root in the official layout.
        out_dir: Where the predictions and CSVs go (overwritten).
        device: Device for the backbone.
        sequences: Optional subset of sequences (default: the val list).

    Returns:
        The global J&F-Mean (0-1).
    """
    from vprop.benchmarks.davis import task as davis_task
    from vprop.benchmarks.papers import get_preset
    from vprop.benchmarks.pipeline import EngineSettings
    from vprop.benchmarks.tasks import EvalRequest
    from vprop.checkpoints import load_backbone

    out_dir.mkdir(parents=True, exist_ok=True)
    preset = get_preset("cropmae")
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        path = Path(tmp) / "encoder.pth"
        torch.save({"model": encoder_state,
                    "vprop": {"format": "vprop-pretrain", "version": 1, "arch": arch}}, path)
        extractor = load_backbone(arch, path, pos_embed=preset.pos_embed)
    extractor = extractor.to(device)
    request = EvalRequest(data_root=davis_root, out_dir=out_dir, preset=preset,
                          sequences=sequences, overwrite=True,
                          settings=EngineSettings(device=str(device), progress=False))
    result = davis_task.run(extractor, request)
    return float(result["global"]["J&F-Mean"])


def check_davis_root(davis_root: str | Path) -> Path:
    """Raise unless ``davis_root`` holds ``ImageSets/2017/val.txt``; return it as a Path."""
    root = Path(davis_root)
    if not (root / "ImageSets" / "2017" / "val.txt").is_file():
        raise VpropError("not a DAVIS-2017 root (no ImageSets/2017/val.txt)", root)
    return root


def make_davis_hook(davis_root: str | Path, arch: str, device: torch.device,
                    out_dir: str | Path) -> DavisHook:
    """Check the DAVIS root now (fail before training starts) and return the hook.

    Each call evaluates into ``out_dir/davis-eval`` (replaced every time).
    """
    root = check_davis_root(davis_root)
    target = Path(out_dir) / "davis-eval"

    def hook(encoder_state: dict[str, torch.Tensor]) -> float:
        return evaluate_encoder_on_davis(encoder_state, arch, root, target, device)

    return hook
