"""vprop: label-propagation evaluation and CropMAE/SiamMAE pretraining for ViT backbones."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``vprop.__version__``, read from the installed metadata on first use (fast start-up)."""
    if name != "__version__":
        raise AttributeError(f"module 'vprop' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vprop")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0.0.0"
