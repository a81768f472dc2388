"""VIP task end to end with an extractor whose propagation result is known by hand.

A "positional" extractor gives every grid cell a one-hot feature, so propagation copies frame
0's labels to every frame. Full-width stripes 16 px high on a 64x96 input (patch 16, grid 4x6)
survive the bilinear down- and up-sampling exactly (each pixel is nearer its own cell's centre
and no corners exist), so predictions equal frame 0's annotation and mIoU follows by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vprop.benchmarks.papers import get_preset, protocol
from vprop.benchmarks.pipeline import EngineSettings
from vprop.benchmarks.tasks import EvalRequest
from vprop.benchmarks.vip import task
from vprop.benchmarks.vip.dataset import VipVideo
from vprop.errors import VpropError


class PositionalExtractor(torch.nn.Module):
    """(B, 3, H, W) -> (B, h*w, h, w): a one-hot feature per grid cell."""

    stride = 16

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = images.shape
        h, w = height // 16, width // 16
        return torch.eye(h * w).reshape(h * w, h, w).expand(batch, -1, -1, -1).clone()


def _stripes(classes: list[int]) -> np.ndarray:
    return np.repeat(np.array(classes, np.uint8), 16)[:, None].repeat(96, axis=1)  # (64, 96)


def _video(root: Path) -> tuple[np.ndarray, np.ndarray]:
    gt0 = _stripes([0, 2, 5, 0])
    gt0[0:16, 0:8] = 255  # 128 ignored px; in frame 0 they join the background channel
    gt1 = _stripes([0, 2, 0, 5])  # class 5 moved down one stripe
    gt1[0:16, 0:8] = 255
    gt1[48:64, 0:16] = 255  # 256 ignored px where the prediction (0) would be wrong
    frames = root / "Images" / "videos7"
    labels = root / "Annotations" / "Category_ids" / "videos7"
    frames.mkdir(parents=True)
    labels.mkdir(parents=True)
    for stem, gt in (("000001", gt0), ("000002", gt1)):
        Image.fromarray(np.full((64, 96, 3), 90, np.uint8)).save(frames / f"{stem}.jpg")
        Image.fromarray(gt).save(labels / f"{stem}.png")
    (root / "val_list.txt").write_text("videos7\n")
    return gt0, gt1


def _request(root: Path, out: Path, **changes) -> EvalRequest:
    preset = get_preset("cropmae").override(**protocol("vip", "cropmae").overrides())
    fields = dict(data_root=root, out_dir=out, preset=preset, size=(64, 96),
                  settings=EngineSettings(device="cpu", progress=False))
    fields.update(changes)
    return EvalRequest(**fields)


def test_identity_propagation_gives_the_hand_computed_miou(tmp_path):
    gt0, _ = _video(tmp_path / "data")
    result = task.run(PositionalExtractor(), _request(tmp_path / "data", tmp_path / "out"))
    expected_pred = np.where(gt0 == 255, 0, gt0)
    for stem in ("000001", "000002"):
        written = np.asarray(Image.open(tmp_path / "out" / "results" / "videos7" / f"{stem}.png"))
        np.testing.assert_array_equal(written, expected_pred)
    # Stripes hold 16 * 96 = 1536 px. Counted pairs (gt -> pred) over both frames:
    # 0->0: 1408 + 1536 (frame 0) + 1408 (frame 1) = 4352; 2->2: 2 * 1536 = 3072;
    # 5->5: 1536 (frame 0); 0->5: 1536 (frame 1, stripe 3); 5->0: 1536 - 256 = 1280.
    iou0 = 4352 / (4352 + 1536 + 4352 + 1280 - 4352)
    iou5 = 1536 / (1536 + 1280 + 1536 + 1536 - 1536)
    assert result["per_class"]["background"] == pytest.approx(100 * iou0)
    assert result["per_class"]["hair"] == pytest.approx(100.0)
    assert result["per_class"]["dress"] == pytest.approx(100 * iou5)
    assert result["per_class"]["hat"] is None  # absent everywhere: excluded
    assert result["global"]["mIoU"] == pytest.approx(100 * (iou0 + 1 + iou5) / 3)
    confusion = np.array(result["confusion"])
    assert confusion.sum() == 2 * 64 * 96 - 128 - 128 - 256
    assert result["per_video"]["videos7"]["scored_frames"] == 2


def test_rerun_reuses_finished_videos_unless_config_changes(tmp_path):
    _video(tmp_path / "data")
    extractor = PositionalExtractor()
    first = task.run(extractor, _request(tmp_path / "data", tmp_path / "out"))
    assert first["skipped_finished"] == [] and first["timing"]["frames_predicted"] == 2
    marker = json.loads((tmp_path / "out" / ".vprop-done" / "videos7.json").read_text())
    assert marker["outputs"] == ["000001.png", "000002.png"]
    again = task.run(extractor, _request(tmp_path / "data", tmp_path / "out"))
    assert again["skipped_finished"] == ["videos7"] and again["global"] == first["global"]
    (tmp_path / "out" / "results" / "videos7" / "000002.png").unlink()  # incomplete output
    assert task.run(extractor, _request(tmp_path / "data", tmp_path / "out"))[
        "skipped_finished"] == []
    other = get_preset("crw")
    assert task.run(extractor, _request(tmp_path / "data", tmp_path / "out", preset=other))[
        "skipped_finished"] == []
    forced = task.run(extractor, _request(tmp_path / "data", tmp_path / "out", overwrite=True))
    assert forced["skipped_finished"] == []


def test_bad_class_id_in_a_later_annotation_names_the_file(tmp_path):
    _, gt1 = _video(tmp_path / "data")
    bad = gt1.copy()
    bad[40, 40] = 30
    path = tmp_path / "data" / "Annotations" / "Category_ids" / "videos7" / "000002.png"
    Image.fromarray(bad).save(path)
    with pytest.raises(VpropError, match=r"000002\.png.*class id 30"):
        task.run(PositionalExtractor(), _request(tmp_path / "data", tmp_path / "out"))


def test_preset_overrides_and_input_sizes():
    assert protocol("vip", "cropmae").overrides() == {"topk": 10}
    assert protocol("vip", "crw").overrides() == {} and protocol("vip", "dino").overrides() == {}
    landscape = VipVideo("v", (), (), (160, 280), (160, 280))
    portrait = VipVideo("v", (), (), (280, 160), (280, 160))
    # long side 880; short side 880 * 160 / 280 = 502.9 floored to a multiple of 64 = 448.
    assert task.input_size_for(landscape, None, 16) == (448, 880)
    assert task.input_size_for(portrait, None, 8) == (880, 448)
    assert task.input_size_for(landscape, (64, 96), 16) == (64, 96)
    with pytest.raises(VpropError, match="multiple of the patch"):
        task.input_size_for(landscape, (100, 100), 16)


def test_score_reads_crw_cropmae_style_outputs(tmp_path):
    """CRW/CropMAE write greyscale class-id PNGs at the input size beside `_blend.jpg` files;
    `score` resizes them to the annotation size (PIL NEAREST) like their eval_vip.py."""
    from vprop.benchmarks.vip.synthetic import make_vip_sample

    root = make_vip_sample(tmp_path / "data")
    predictions = tmp_path / "crw-output"
    for labels in sorted((root / "Annotations" / "Category_ids").iterdir()):
        for path in sorted(labels.glob("*.png")):
            gt = np.asarray(Image.open(path))
            ids = np.where(gt == 255, 0, gt).astype(np.uint8)
            doubled = ids.repeat(2, axis=0).repeat(2, axis=1)  # "input size" = 2x the GT
            target = predictions / labels.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(doubled, mode="L").save(target)
            Image.fromarray(doubled, mode="L").convert("RGB").save(
                target.with_name(f"{path.stem}_blend.jpg"))
    result = task.score(root, predictions)
    # PIL NEAREST halving reads pixel 2x + 1, a copy of x: predictions equal the ground truth
    assert result["global"]["mIoU"] == pytest.approx(100.0)
    present = [name for name, value in result["per_class"].items() if value is not None]
    assert present and all(result["per_class"][name] == pytest.approx(100.0) for name in present)
