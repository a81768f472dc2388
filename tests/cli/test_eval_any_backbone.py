"""`vprop eval --arch NAME` for timm backbones outside vprop's aliases, ViTs and a ResNet."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vprop.benchmarks.davis.scoring import score_davis
from vprop.benchmarks.resume import done_marker
from vprop.cli.main import main

# (timm name, feature stride, input size at the cropmae preset: 480x880 in whole cells)
ARCHS = [
    ("vit_tiny_patch16_224", 16, [480, 880]),
    ("vit_small_patch14_reg4_dinov2", 14, [476, 868]),
    ("deit_small_patch16_224", 16, [480, 880]),
    ("resnet18", 8, [480, 880]),
]


@pytest.mark.parametrize("arch, stride, size", ARCHS, ids=[a[0] for a in ARCHS])
def test_random_init_timm_backbone_on_real_train_sequence(davis_train_only, tmp_path, arch,
                                                          stride, size, one_torch_thread):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "eval", "--task", "davis", "--arch", arch, "--data-root", str(davis_train_only),
        "--out", str(out), "--no-progress", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    backbone = payload["backbone"]
    assert backbone["arch"] == arch and backbone["stride"] == stride
    assert backbone["random_init_seed"] == 0 and payload["random_init"] is True
    pngs = sorted((out / "results" / "train").glob("*.png"))
    assert len(pngs) == 4
    for png in pngs:
        image = Image.open(png)
        assert image.mode == "P" and image.size == (854, 480)
    first = np.asarray(Image.open(pngs[0]))
    assert first.max() >= 1  # frame 0 carries the objects
    rescored = score_davis(davis_train_only, out / "results", sequences=["train"],
                           progress=False)
    assert payload["global"]["J&F-Mean"] == pytest.approx(rescored["global"]["J&F-Mean"],
                                                          abs=1e-12)
    marker = json.loads(done_marker(out, "train").read_text())
    assert marker["signature"]["input_size"] == size
    assert marker["signature"]["stride"] == stride
