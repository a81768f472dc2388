"""The batched decode-on-device path, run with device="cpu" (the CUDA code is the same)."""

import numpy as np
import pytest
import torch
from PIL import Image

from vprop.cropmae.config import TrainConfig, resolve
from vprop.cropmae.crops import CropPairSampler
from vprop.cropmae.data import PairDataset, collate_pairs
from vprop.cropmae.device_decode import collate_encoded, render_batch
from vprop.cropmae.sources import discover
from vprop.errors import VpropError


def test_device_rendered_views_equal_the_worker_views(shared_data, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((shared_data / "images-mini").iterdir())[:5]:
        (folder / path.name).write_bytes(path.read_bytes())
    Image.new("RGB", (300, 200), (10, 200, 30)).save(folder / "z_flat.png")  # not a JPEG
    source = discover(str(folder), "auto", "cropmae")
    sampler = CropPairSampler(size=96)
    common = dict(source=source, method="cropmae", pair_sampler=sampler, num_patches=36,
                  repeats=2, reduced_decode=False)
    cpu = PairDataset(**common)
    encoded = PairDataset(**common, gpu_decode=True)
    keys = [(1, i) for i in range(len(source.clips))]
    reference = collate_pairs([cpu[k] for k in keys])
    batch = collate_encoded([encoded[k] for k in keys])
    assert sum(not isinstance(x, torch.Tensor) for x in batch["items"]) == 10  # 5 JPEGs x 2
    views = render_batch(batch, sampler, "cpu")
    assert views.shape == reference["views"].shape == (12, 2, 3, 96, 96)
    assert torch.equal(batch["noise"], reference["noise"])
    # torchvision's and PIL's libjpeg-turbo builds may round a few pixels differently
    diff = (views.int() - reference["views"].int()).abs().float()
    assert diff.mean() < 0.5 and diff.max() <= 8


def test_gpu_decode_refuses_what_it_cannot_do():
    with pytest.raises(VpropError, match="gpu-decode"):
        resolve(TrainConfig(method="siammae", gpu_decode=True), "videos")
    with pytest.raises(VpropError, match="gpu-decode"):
        resolve(TrainConfig(gpu_decode=True, color_jitter=True), "images")
    assert np.isfinite(resolve(TrainConfig(gpu_decode=True), "images").mask_ratio)
