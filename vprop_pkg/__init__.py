"""vprop: label-propagation evaluation and CropMAE/SiamMAE pretraining for ViT backbones."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vprop")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0.0.0"
