"""Convolutional backbones (timm ResNets) as dense feature extractors at stride 8.

The correspondence literature (CRW / videowalk, and UVC, VFS, MoCo and SimSiam as evaluated
by CRW's code) propagates labels on ``res4`` features at stride 8. vprop does what videowalk's
``ResNet.modify`` does, exactly:

* every convolution of ``layer3`` gets stride 1 (no dilation: videowalk sets ``m.stride = 1``
  and leaves dilation and padding alone), so ``layer3`` keeps the stride 8 of ``layer2``;
* ``layer4`` is removed (videowalk's test default ``--remove-layers layer4``), with timm's
  public ``prune_intermediate_layers``;
* features are L2-normalised per cell (videowalk normalises over channels);
* CRW's own checkpoint was trained with reflect padding (``model_type='scratch'`` calls
  ``modify(padding='reflect')``); the ``crw`` format records ``padding_mode='reflect'`` and it
  is applied here.

Why not dilation (timm's ``output_stride=8``)? It changes the receptive field of every
``layer3`` convolution relative to what CRW trained and tested with; the stride-1 variant is
what its published 67.6 J&F was measured with. Other timm CNNs (no ``layer3``) use the deepest
feature stage at stride <= 8 without surgery.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vprop.checkpoints.extractor import FeatureExtractor
from vprop.checkpoints.loading import LoadReport
from vprop.errors import VpropError

RES4_INDEX = 3  # timm ResNet feature indices: 0 stem, 1..4 layer1..layer4
_PROBE = 64  # side of the zero image used to measure the output stride


def stride8_res4(model: nn.Module) -> None:
    """Set every ``layer3`` convolution to stride 1 (videowalk's ``ResNet.modify``)."""
    for module in model.layer3.modules():
        if isinstance(module, nn.Conv2d):
            module.stride = (1, 1)


def set_padding_mode(model: nn.Module, mode: str) -> None:
    """Use ``mode`` (``'reflect'``) for every padded convolution, as videowalk does."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and sum(module.padding) > 0:
            module.padding_mode = mode


def _default_index(model: nn.Module) -> int:
    """res4 for ResNets; else the deepest feature stage at stride <= 8."""
    if hasattr(model, "layer3"):
        return RES4_INDEX
    reductions = [int(r) for r in model.feature_info.reduction()]
    usable = [i for i, r in enumerate(reductions) if r <= 8]
    if not usable:
        raise VpropError(f"{type(model).__name__} has no feature stage at stride <= 8")
    return usable[-1]


class CNNFeatures(FeatureExtractor):
    """Frozen timm CNN returning L2-normalised features of one stage.

    Attributes:
        feature_index: timm feature index used (3 = ResNet ``layer3`` = res4).
        padding_mode: Convolution padding (``'zeros'`` or CRW's ``'reflect'``).
    """

    pads_input = True  # partial border cells kept: grid = ceil(size / stride)

    def __init__(self, model: nn.Module, report: LoadReport, layer: int | None = None
                 ) -> None:
        """Apply the stride-8 res4 surgery and prune what follows the feature stage.

        Raises:
            VpropError: A layer index outside the model's feature stages.
        """
        if not hasattr(model, "forward_intermediates"):
            raise VpropError(f"{report.arch}: timm {type(model).__name__} has no "
                             "forward_intermediates; cannot take dense features from it")
        stages = len(model.feature_info)
        index = _default_index(model) if layer is None else layer
        if not -stages <= index < stages:
            raise VpropError(f"layer {layer} is outside the {stages} feature stages of "
                             f"{report.arch}")
        self.feature_index = index % stages
        if hasattr(model, "layer3") and self.feature_index >= RES4_INDEX:
            stride8_res4(model)
        self.padding_mode = str(report.meta.get("padding_mode", "zeros"))
        if self.padding_mode != "zeros":
            set_padding_mode(model, self.padding_mode)
        model.prune_intermediate_layers([self.feature_index], prune_head=True)
        super().__init__(model, report)
        self.layer = layer
        with torch.no_grad():
            probe = self._features(torch.zeros(1, 3, _PROBE, _PROBE))
        self.stride = _PROBE // probe.shape[-1]
        self.embed_dim = int(probe.shape[1])
        self.pos_embed_mode = "none"

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_intermediates(
            x, indices=[self.feature_index], stop_early=True, intermediates_only=True)[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Extract stage features of the whole image (padded convolutions, no crop).

        Args:
            images: [B, 3, H, W] float, already normalised, any size of at least one cell.

        Returns:
            [B, D, ceil(H / s), ceil(W / s)] float32, unit L2 norm over D at each cell (a
            partial border cell is kept, as videowalk's native-size evaluation does).
        """
        self._crop(images)  # validates shape and size; the crop itself is not used
        h, w = -(-images.shape[2] // self.stride), -(-images.shape[3] // self.stride)
        feats = self._features(images.float()).float()  # [B, D, h, w]
        if tuple(feats.shape[-2:]) != (h, w):
            raise VpropError(f"{self.report.arch} gave a {tuple(feats.shape[-2:])} grid for "
                             f"{tuple(images.shape[-2:])} input, expected {(h, w)}")
        return F.normalize(feats, dim=1).contiguous()

    def describe(self) -> dict[str, Any]:
        """The load report plus stage, stride, padding and width."""
        info = super().describe()
        info.update(layer=self.layer, feature_index=self.feature_index,
                    padding_mode=self.padding_mode, pos_embed=self.pos_embed_mode)
        return info
