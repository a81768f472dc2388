"""Any published ViT checkpoint -> a frozen, L2-normalised patch-feature extractor."""

from vprop.checkpoints.extractor import FeatureExtractor, load_backbone
from vprop.checkpoints.registry import ArchSpec, arch_spec, create_vit, list_archs

__all__ = ["ArchSpec", "FeatureExtractor", "arch_spec", "create_vit", "list_archs",
           "load_backbone"]
