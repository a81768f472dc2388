"""Any published backbone checkpoint -> a frozen, L2-normalised dense feature extractor."""

from vprop.checkpoints.extractor import FeatureExtractor, ViTFeatures, load_backbone
from vprop.checkpoints.registry import (
    ALIASES,
    ArchInfo,
    arch_info,
    create_backbone,
    create_vit,
    list_archs,
)

__all__ = ["ALIASES", "ArchInfo", "FeatureExtractor", "ViTFeatures", "arch_info",
           "create_backbone", "create_vit", "list_archs", "load_backbone"]
