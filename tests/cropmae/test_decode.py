"""Reduced-scale JPEG decoding: same boxes, views equal to the full decode within a tolerance.

Tolerance (grey levels out of 255, per view): mean absolute difference below 4 and 99th
percentile below 32 at every scale, and on average no larger than 1.25 x the difference
between two accepted resamplers of the *full* decode (antialiased bilinear vs bicubic on the
same boxes): what reduced decoding changes is resampling error, nothing more. At scale 1 the
views are bit-identical to the full decode.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import InterpolationMode

from vprop.cropmae.crops import CropPairSampler, FramePairSampler
from vprop.cropmae.data import PairDataset
from vprop.cropmae.decode import ImageFile, draft_scale
from vprop.cropmae.sources import discover


def read_image(path) -> torch.Tensor:
    """Full-resolution decode of an image file: (3, H, W) uint8 RGB."""
    return ImageFile(path, reduce=False).tensor()


def abs_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.int() - b.int()).abs().float()


@pytest.fixture(scope="module")
def large_jpeg(tmp_path_factory, shared_data):
    """A real photo upscaled 4x (2000 px wide), so that 1/8 decoding happens too."""
    path = tmp_path_factory.mktemp("large") / "large.jpg"
    with Image.open(shared_data / "images-mini" / "n01530575_brambling.JPEG") as image:
        image.convert("RGB").resize((image.width * 4, image.height * 4),
                                    Image.Resampling.BICUBIC).save(path, quality=90)
    return path


def davis_frames(shared_data):
    root = shared_data / "davis-mini" / "DAVIS" / "JPEGImages" / "480p"
    return [root / name / "00000.jpg" for name in ("blackswan", "car-shadow", "train")]


def test_draft_scale_needs_the_output_size_on_every_side():
    class B:  # minimal box
        def __init__(self, h, w):
            self.height, self.width = h, w

    assert draft_scale([B(447, 1000)], 224) == 1
    assert draft_scale([B(448, 1000)], 224) == 2
    assert draft_scale([B(900, 1000), B(500, 1000)], 224) == 2
    assert draft_scale([B(1792, 1800)], 224) == 8


def test_reduced_decode_keeps_boxes_and_views_within_resampling_error(shared_data, large_jpeg):
    bilinear = CropPairSampler("same", size=112, global_scale=(0.5, 1.0))
    bicubic = CropPairSampler("same", size=112, global_scale=(0.5, 1.0),
                              interpolation=InterpolationMode.BICUBIC)
    diffs: dict[int, list[float]] = {}
    yardstick = []
    for path in [*davis_frames(shared_data), large_jpeg]:
        full = read_image(path)
        for seed in range(8):
            lazy = ImageFile(path)
            reduced = bilinear(lazy, np.random.default_rng(seed))
            reference = bilinear(full, np.random.default_rng(seed))
            assert reduced.box1 == reference.box1 and reduced.flip1 == reference.flip1
            diff = abs_diff(reduced.view2, reference.view2)
            assert diff.mean() < 4.0 and diff.quantile(0.99) < 32, (path, seed, lazy.scale)
            diffs.setdefault(lazy.scale, []).append(float(diff.mean()))
            other = bicubic(full, np.random.default_rng(seed)).view2
            yardstick.append(float(abs_diff(other, reference.view2).mean()))
    assert {2, 4, 8} <= set(diffs)  # every reduced scale was exercised
    reduced_mean = np.mean([d for scale in (2, 4, 8) for d in diffs[scale]])
    assert reduced_mean <= 1.25 * np.mean(yardstick)


def test_scale_one_is_bit_identical_and_dataset_boxes_do_not_change(shared_data):
    sampler = CropPairSampler()  # 224 px views of ~500x375 photos: never reducible
    paths = sorted((shared_data / "images-mini").iterdir())[:10]
    for seed, path in enumerate(paths):
        lazy = ImageFile(path)
        a = sampler(lazy, np.random.default_rng(seed))
        b = sampler(read_image(path), np.random.default_rng(seed))
        assert lazy.scale == 1 and a.box1 == b.box1 and a.box2 == b.box2
        assert torch.equal(a.view1, b.view1) and torch.equal(a.view2, b.view2)
    # the dataset with and without reduced decoding: same boxes, same noise, close views
    source = discover(str(shared_data / "images-mini"), "auto", "cropmae")
    small = CropPairSampler(size=64)
    on, off = (PairDataset(source, "cropmae", small, 16, reduced_decode=flag)
               for flag in (True, False))
    for index in range(6):
        x, y = on[(3, index)], off[(3, index)]
        assert torch.equal(x["noise"], y["noise"])
        assert abs_diff(x["views"], y["views"]).mean() < 4.0


def test_siammae_frame_files_share_the_box_at_reduced_scale(shared_data):
    frames = davis_frames(shared_data)[:1] * 2
    sampler = FramePairSampler(size=112)
    pair = sampler(ImageFile(frames[0]), ImageFile(frames[1]), np.random.default_rng(3))
    full = read_image(frames[0])
    reference = sampler(full, full, np.random.default_rng(3))
    assert pair.box1 == reference.box1 == pair.box2
    assert torch.equal(pair.view1, pair.view2)
    assert abs_diff(pair.view1, reference.view1).mean() < 4.0


def test_a_corrupt_file_is_a_vprop_error(tmp_path):
    from vprop.errors import VpropError

    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(VpropError):
        ImageFile(path).prepare([], 0)


def test_kill_and_resume_is_bit_identical_with_reduced_decoding(shared_data, tmp_path):
    import json

    from vprop.cropmae.config import TrainConfig
    from vprop.cropmae.train import run_pretraining

    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted((shared_data / "images-mini").iterdir())[:24]:
        with Image.open(path) as image:  # 2x: 1/2, 1/4 and 1/8 decoding all occur at 64 px
            image.convert("RGB").resize((image.width * 2, image.height * 2)).save(
                folder / path.name, quality=90)
    common = dict(data=str(folder), arch="vit_test_patch16", img_size=64, decoder_dim=64,
                  decoder_ffn_dim=128, workers=0, log_every=1, progress=False,
                  save_every=1000, mask_ratio=0.75, epochs=2, batch_size=8,
                  warmup_epochs=0.5, lr=1e-3, crop_strategy="random")
    run_pretraining(TrainConfig(output_dir=str(tmp_path / "full"), **common))
    run_pretraining(TrainConfig(output_dir=str(tmp_path / "cut"), stop_after_steps=4, **common))
    run_pretraining(TrainConfig(output_dir=str(tmp_path / "cut"), resume="auto", **common))

    def losses(run):
        lines = [json.loads(line) for line in open(tmp_path / run / "log.jsonl")]
        return {line["step"]: line["loss"] for line in lines if "loss" in line}

    assert losses("full") == losses("cut") and len(losses("full")) == 6
    a = torch.load(tmp_path / "full" / "checkpoint-last.pth", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint-last.pth", weights_only=True)["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
