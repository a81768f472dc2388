"""JHMDB task end to end with an extractor whose propagation result is known by hand.

A "positional" extractor gives every grid cell a one-hot feature, so each query cell matches
only itself in every context frame: propagation copies frame 0's maps unchanged. With a static
video, every frame's prediction is therefore the decode of frame 0's Gaussian maps, i.e. the
peak cells, and PCK follows from the ground truth we write.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from vprop.benchmarks.jhmdb import task
from vprop.benchmarks.papers import get_preset, protocol
from vprop.benchmarks.pipeline import EngineSettings
from vprop.benchmarks.tasks import EvalRequest

CLIP = "test/static_clip"


class PositionalExtractor(torch.nn.Module):
    """(B, 3, H, W) -> (B, h*w, h, w): a one-hot feature per grid cell."""

    def __init__(self, patch_size: int) -> None:
        super().__init__()
        self.stride = patch_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = images.shape
        h, w = height // self.stride, width // self.stride
        return torch.eye(h * w).reshape(h * w, h, w).expand(batch, -1, -1, -1).clone()


def _joint_grid() -> np.ndarray:
    """Frame 0's joints in 20x20 grid cells: x 2.2 .. 16.2, y 3.2 .. 13.2."""
    j = np.arange(15)
    return np.stack([2.2 + j, 3.2 + j % 11], axis=1)


def _static_clip(root: Path) -> None:
    """3 identical 240x320 frames; GT = frame 0, frame 0 again, frame 0 shifted 36.8 px in x."""
    frames = root / "Rename_Images" / CLIP
    frames.mkdir(parents=True)
    image = np.full((240, 320, 3), 127, np.uint8)
    for t in range(3):
        Image.fromarray(image).save(frames / f"{t + 1:05d}.png")
    gt0 = _joint_grid() * [16.0, 12.0]  # 320/20 = 16 px per cell in x, 240/20 = 12 in y
    track = np.stack([gt0, gt0, gt0 + [36.8, 0.0]])  # (3, 15, 2), 0-based pixels
    mat = root / "joint_positions" / CLIP / "joint_positions.mat"
    mat.parent.mkdir(parents=True)
    scipy.io.savemat(str(mat), {"pos_img": np.transpose(track, (2, 1, 0)) + 1.0})
    (root / "val_list.txt").write_text(f"Rename_Images/{CLIP}\n")


def _request(root: Path, out: Path, **changes) -> EvalRequest:
    fields = dict(data_root=root, out_dir=out, preset=get_preset("cropmae"),
                  settings=EngineSettings(device="cpu", progress=False))
    fields.update(changes)
    return EvalRequest(**fields)


@pytest.mark.parametrize(("patch", "size"), [(16, None), (8, (160, 160))])
def test_identity_propagation_gives_the_hand_computed_pck(tmp_path, patch, size):
    _static_clip(tmp_path / "data")
    result = task.run(PositionalExtractor(patch), _request(tmp_path / "data", tmp_path / "out",
                                                          size=size))
    # Prediction in every frame = peak cells int(p - 1.5) + 2 = (2 + j, 3 + j % 11), i.e.
    # pixels (16 (2 + j), 12 (3 + j % 11)), 4 px from frame 0's GT (3.2, 2.4 off).
    # Box: 16 * 14 = 224 by 12 * 10 = 120 -> normaliser 0.6 * hypot(224, 120) = 152.47.
    # Frame 1: d = 4 -> 0.026 (hit). Frame 2: d = hypot(40, 2.4) / 152.47 = 0.263.
    assert result["grid"] == [20, 20]
    assert result["global"]["PCK@0.1"] == pytest.approx(50.0)
    assert result["global"]["PCK@0.2"] == pytest.approx(50.0)
    assert result["global"]["PCK@0.3"] == pytest.approx(100.0)
    assert result["per_clip"][CLIP]["scored_joints"] == 30
    saved = json.loads((tmp_path / "out" / "results" / f"{CLIP}.json").read_text())
    assert [frame["frame"] for frame in saved["frames"]] == ["00001", "00002", "00003"]
    j = np.arange(15)
    expected = np.stack([16.0 * (2 + j), 12.0 * (3 + j % 11), np.ones(15)], axis=1)
    for frame in saved["frames"]:
        np.testing.assert_allclose(frame["keypoints"], expected, atol=1e-4)


def test_rerun_reuses_finished_clips_unless_config_changes(tmp_path):
    _static_clip(tmp_path / "data")
    extractor = PositionalExtractor(16)
    first = task.run(extractor, _request(tmp_path / "data", tmp_path / "out"))
    assert first["skipped_finished"] == [] and first["timing"]["frames_predicted"] == 3
    again = task.run(extractor, _request(tmp_path / "data", tmp_path / "out"))
    assert again["skipped_finished"] == [CLIP] and again["timing"]["this_run"][
        "frames_predicted"] == 0
    # A resumed run keeps the timing of the reused clip (not ~0 s).
    assert again["timing"]["frames_predicted"] == 3
    assert again["timing"]["seconds"] == first["timing"]["seconds"] > 0
    assert again["global"] == first["global"]
    forced = task.run(extractor, _request(tmp_path / "data", tmp_path / "out", overwrite=True))
    assert forced["skipped_finished"] == [] and forced["recomputed"] == {CLIP: "--overwrite"}
    other = get_preset("cropmae").override(topk=3)
    changed = task.run(extractor, _request(tmp_path / "data", tmp_path / "out", preset=other))
    assert changed["skipped_finished"] == []
    assert changed["recomputed"] == {CLIP: "other settings: preset.topk 7 -> 3"}
    assert (tmp_path / "out" / "per-clip_results.csv").read_text().startswith(
        "clip,frames,scored_joints,PCK@0.1,PCK@0.2")


def test_invisible_prediction_is_written_as_minus_one(tmp_path):
    # Move every GT joint of frame 0 off the grid: all maps are empty -> invisible everywhere,
    # nothing scored, figures are None (not NaN) in the result.
    _static_clip(tmp_path / "data")
    mat = tmp_path / "data" / "joint_positions" / CLIP / "joint_positions.mat"
    pos = scipy.io.loadmat(str(mat))["pos_img"]
    pos[:, :, 0] = -100.0
    scipy.io.savemat(str(mat), {"pos_img": pos})
    result = task.run(PositionalExtractor(16), _request(tmp_path / "data", tmp_path / "out"))
    assert result["global"]["PCK@0.1"] is None
    saved = json.loads((tmp_path / "out" / "results" / f"{CLIP}.json").read_text())
    assert saved["frames"][1]["keypoints"][0] == [-1.0, -1.0, 0]


def test_task_hooks():
    assert protocol("jhmdb", "cropmae").overrides() == {}
    assert task.decode_topk(get_preset("cropmae")) == 5
    assert task.decode_topk(get_preset("crw")) == 3
