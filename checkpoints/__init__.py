"""Any published backbone checkpoint -> a frozen, L2-normalised dense feature extractor."""

from vprop.checkpoints.extractor import FeatureExtractor, ViTFeatures, load_backbone, wrap_encoder
from vprop.checkpoints.loading import build_encoder_from_state
from vprop.checkpoints.registry import (
    ALIASES,
    ArchInfo,
    arch_info,
    create_backbone,
    create_vit,
    list_archs,
)

__all__ = ["ALIASES", "ArchInfo", "FeatureExtractor", "ViTFeatures", "arch_info",
           "build_encoder_from_state", "create_backbone", "create_vit", "list_archs",
           "load_backbone", "wrap_encoder"]
