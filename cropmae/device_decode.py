"""Batched JPEG decoding and cropping on the training device (``--gpu-decode``).

The loader workers only read the compressed bytes and draw every random choice of a pair
(:meth:`~vprop.cropmae.crops.CropPairSampler.plan`: boxes from the JPEG header's size,
flips), so a sample is the same function of ``(seed, epoch, index)`` as on the CPU path.
The main process then decodes the whole batch with one call of
``torchvision.io.decode_jpeg(..., device="cuda")`` (nvJPEG) and cuts, resizes and flips the
views there with the same torchvision functions the CPU path uses. Files that are not
baseline JPEGs are rendered by the workers on the CPU as usual.

Written for CUDA; the tests run the identical code path with ``device="cpu"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torchvision.io import ImageReadMode, decode_jpeg

from vprop.cropmae.crops import CropPairSampler, PairPlan
from vprop.cropmae.decode import TensorImage


@dataclass
class EncodedPair:
    """One pair to render on the device: the JPEG bytes and its plan."""

    jpeg: torch.Tensor  # (N,) uint8, the file's bytes
    plan: PairPlan


def render_batch(batch: dict[str, Any], sampler: CropPairSampler,
                 device: torch.device | str) -> torch.Tensor:
    """Views (B, 2, 3, S, S) uint8 on ``device`` for a batch from :func:`collate_encoded`.

    Args:
        batch: ``"items"``: per pair either an :class:`EncodedPair` or CPU views (2, 3, S, S).
        sampler: The CropMAE sampler whose plans the workers drew.
        device: Where to decode and crop.

    Returns:
        The views in batch order.
    """
    items = batch["items"]
    encoded = [i for i, item in enumerate(items) if isinstance(item, EncodedPair)]
    decoded = decode_jpeg([items[i].jpeg for i in encoded], mode=ImageReadMode.RGB,
                          device=device) if encoded else []
    images = dict(zip(encoded, decoded))
    views = []
    for i, item in enumerate(items):
        if i in images:
            pair = sampler.render(TensorImage(images[i]), item.plan)
            views.append(torch.stack([pair.view1, pair.view2]))
        else:
            views.append(item.to(device, non_blocking=True))
    return torch.stack(views)


def collate_encoded(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch items of a ``gpu_decode`` dataset (pairs stay a list; noise is stacked)."""
    return {
        "items": [pair for item in items for pair in item["pairs"]],
        "noise": torch.cat([item["noise"] for item in items]),
        "skipped": [msg for item in items for msg in item["skipped"]],
    }


class DeviceViewsLoader:
    """Wraps a DataLoader of encoded batches; yields batches whose views are on the device."""

    def __init__(self, loader: Any, sampler: CropPairSampler, device: torch.device) -> None:
        """Render with ``sampler`` on ``device``."""
        self.loader, self.sampler, self.device = loader, sampler, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.loader:
            views = render_batch(batch, self.sampler, self.device)
            yield {"views": views, "noise": batch["noise"], "skipped": batch["skipped"]}
