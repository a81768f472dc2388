"""The paper's Fig. 3 panel: view 1, view 2, masked view 2 and the reconstruction, per column."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from vprop.cropmae.data import PairDataset, collate_pairs
from vprop.cropmae.masking import patchify, unpatchify
from vprop.cropmae.model import SiameseMAE, normalize_uint8
from vprop.propagation.presets import IMAGENET_MEAN, IMAGENET_STD
from vprop.utils import atomic_write_bytes

_GAP = 4  # white pixels between tiles


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) normalised -> (N, 3, H, W) uint8."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return ((images * std + mean).clamp(0, 1) * 255).round().to(torch.uint8)


@torch.no_grad()
def reconstruct(model: SiameseMAE, views: torch.Tensor,
                noise: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run the model on uint8 view pairs and return the four rows of the panel.

    Args:
        model: The Siamese MAE (switched to eval mode here).
        views: (N, 2, 3, S, S) uint8 pairs.
        noise: (N, L) masking noise.

    Returns:
        ``view1``, ``view2``, ``masked`` and ``recon``, each (N, 3, S, S) uint8. With the
        normalised-pixel loss, each predicted patch is mapped back to pixels with the mean
        and variance of the true patch (MAE's visualisation convention); visible patches
        show the input.
    """
    model.eval()
    device = next(model.parameters()).device
    v = normalize_uint8(views.to(device))
    view1, view2 = v[:, 0], v[:, 1]
    out = model(view1, view2, noise.to(device))
    pred = out["pred"].float()  # (N, L, p*p*3)
    p = model.patch_size
    target = patchify(view2, p)
    if model.norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        std = (target.var(dim=-1, keepdim=True) + 1e-6).sqrt()
        pred = pred * std + mean
    mask = out["mask"].unsqueeze(-1)  # (N, L, 1), 1 = masked
    recon = unpatchify(pred * mask + target * (1 - mask), p, model.grid)
    grey = torch.zeros_like(target)  # ImageNet mean colour once de-normalised
    masked = unpatchify(target * (1 - mask) + grey * mask, p, model.grid)
    return {"view1": _to_uint8(view1), "view2": _to_uint8(view2),
            "masked": _to_uint8(masked), "recon": _to_uint8(recon)}


ROW_LABELS = ("view 1", "view 2", "masked view 2", "reconstruction")
LABEL_WIDTH = 100  # pixels of the left column holding the row labels


def panel_image(rows: dict[str, torch.Tensor], labels: bool = True) -> np.ndarray:
    """Tile the rows (view1, view2, masked, recon) top to bottom, samples left to right.

    Args:
        rows: The output of :func:`reconstruct`.
        labels: Name each row in a left column (``ROW_LABELS``) ``LABEL_WIDTH`` pixels wide.

    Returns:
        (4 * S + 3 * gap, [LABEL_WIDTH +] N * S + (N - 1) * gap, 3) uint8.
    """
    order = [rows["view1"], rows["view2"], rows["masked"], rows["recon"]]
    n, _, s, _ = order[0].shape
    left = LABEL_WIDTH if labels else 0
    height, width = 4 * s + 3 * _GAP, left + n * s + (n - 1) * _GAP
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, images in enumerate(order):
        for c in range(n):
            y, x = r * (s + _GAP), left + c * (s + _GAP)
            canvas[y : y + s, x : x + s] = images[c].permute(1, 2, 0).cpu().numpy()
    if not labels:
        return canvas
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for r, text in enumerate(ROW_LABELS):
        draw.text((4, r * (s + _GAP) + s // 2), text, fill=(0, 0, 0), font=font, anchor="lm")
    return np.asarray(image).copy()


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 array as a PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def panel_for_dataset(model: SiameseMAE, dataset: PairDataset, count: int) -> np.ndarray:
    """Panel (H, W, 3) uint8 for the first ``count`` items of ``dataset`` (epoch-0 views)."""
    items = [dataset[(0, i)] for i in range(min(count, len(dataset)))]
    batch = collate_pairs(items)
    return panel_image(reconstruct(model, batch["views"], batch["noise"]))


def write_panel_for_dataset(model: SiameseMAE, dataset: PairDataset, count: int,
                            path: str | Path, device: torch.device | None = None) -> Path:
    """Panel for the first ``count`` items of ``dataset`` (epoch-0 crops and masks)."""
    return write_png(path, panel_for_dataset(model, dataset, count))
