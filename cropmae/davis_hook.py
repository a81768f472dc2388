"""`--eval-davis`: DAVIS-2017 J&F of the encoder during pretraining (paper Fig. 6).

The hook is a small callable ``encoder state dict -> J&F``. It goes through the same public
pieces as ``vprop eval --task davis``: the in-memory encoder weights become a frozen extractor
with :func:`vprop.checkpoints.loading.build_encoder_from_state` (nothing is written to disk),
and :func:`davis_jf` evaluates it with the one evaluation service
(:func:`vprop.benchmarks.evaluate.evaluate`, ``cropmae`` preset, quiet, in this process only).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from vprop.errors import VpropError

DavisHook = Callable[[dict[str, torch.Tensor]], float]


def davis_jf(extractor: torch.nn.Module, davis_root: Path, out_dir: Path, device: torch.device,
             sequences: list[str] | None = None) -> float:
    """J&F-Mean of a feature extractor on a DAVIS-2017 root (val split, cropmae preset).

    Args:
        extractor: A :class:`~vprop.checkpoints.extractor.FeatureExtractor`.
        davis_root: DAVIS root in the official layout.
        out_dir: Where the predictions and CSVs go (overwritten).
        device: Device for the backbone.
        sequences: Optional subset of sequences (default: the val list).

    Returns:
        The global J&F-Mean (0-1).
    """
    from vprop.benchmarks.evaluate import EvalSpec, evaluate
    from vprop.benchmarks.settings import EngineSettings

    spec = EvalSpec(task="davis", out_dir=Path(out_dir), data_root=Path(davis_root),
                    preset="cropmae", sequences=sequences, overwrite=True,
                    settings=EngineSettings(device=str(device), progress=False))
    result = evaluate(spec, extractor=extractor, quiet=True, alone=True)
    return float(result["global"]["J&F-Mean"])


def evaluate_encoder_on_davis(encoder_state: dict[str, torch.Tensor], arch: str,
                              davis_root: Path, out_dir: Path, device: torch.device,
                              sequences: list[str] | None = None) -> float:
    """J&F-Mean of in-memory encoder weights: :func:`davis_jf` of their frozen extractor.

    ``encoder_state`` holds timm-keyed encoder weights of the registry arch ``arch``; the other
    arguments are :func:`davis_jf`'s. Nothing is written to disk but the predictions.
    """
    from vprop.benchmarks.papers import get_preset
    from vprop.checkpoints.extractor import wrap_encoder
    from vprop.checkpoints.loading import build_encoder_from_state

    model, report = build_encoder_from_state(encoder_state, arch)
    extractor = wrap_encoder(model, report, pos_embed=get_preset("cropmae").pos_embed)
    return davis_jf(extractor, davis_root, out_dir, device, sequences)


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
