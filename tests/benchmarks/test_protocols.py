"""Protocol data: the crw preset as videowalk's published DAVIS command, size rules per stride.

videowalk README, DAVIS label propagation:
``python test.py ... --topk 10 --videoLen 20 --radius 12 --temperature 0.05 --cropSize -1``
(``--cropSize -1``: native frames; CRW's ResNet-18 without layer4 has stride 8, and its padded
convolutions give ceil(size / 8) cells: 60x107 for 480x854).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vprop.benchmarks.davis import task as davis_task
from vprop.benchmarks.io import read_indexed_png
from vprop.benchmarks.papers import get_preset, protocol
from vprop.benchmarks.pipeline import EngineSettings
from vprop.benchmarks.protocols import SizeRule
from vprop.benchmarks.sizes import feature_grid, pads_input
from vprop.benchmarks.tasks import EvalRequest


class PaddedConvNet(torch.nn.Module):
    """Three stride-2 3x3 convolutions with padding 1 (stride 8, ceil grid, like a ResNet)."""

    stride = 8

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.body(images), dim=1)


class PatchEmbedNet(torch.nn.Module):
    """A ViT-style patch embedding (kernel = stride = 16, floor grid), with ``patch_size``."""

    patch_size = 16

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Conv2d(3, 8, 16, stride=16)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(images)


def test_crw_preset_follows_the_published_davis_command():
    crw = get_preset("crw")
    assert crw.temperature == 0.05  # README command; argparse default 0.07 is not what ran
    assert (crw.topk, crw.radius, crw.context) == (10, 12, 20)
    assert (crw.shape, crw.restrict_first, crw.pad_start) == ("circle", False, True)
    assert protocol("davis", "crw").input_size == SizeRule("native")
    assert protocol("jhmdb", "crw").decode_topk == 3
    assert protocol("jhmdb", "cropmae").decode_topk == 5


def test_native_rule_keeps_the_frame_for_padded_convnets_and_floors_for_vits():
    conv, vit = PaddedConvNet(), PatchEmbedNet()
    assert pads_input(conv) and not pads_input(vit)
    rule = protocol("davis", "crw").input_size
    assert rule.resolve((480, 854), 8, pads_input(conv)) == (480, 854)
    assert rule.resolve((480, 854), 16, pads_input(vit)) == (480, 848)
    # the grid the engine builds labels on is the one the backbone really produces
    for net, stride, size in ((conv, 8, (480, 854)), (vit, 16, (480, 848))):
        grid = feature_grid(size, stride, pads_input(net))
        assert tuple(net(torch.zeros(1, 3, *size)).shape[-2:]) == grid
    assert feature_grid((480, 854), 8, True) == (60, 107)
    # the other presets' rules are unchanged: cropmae 480x880, dino short side 480 / x64
    assert protocol("davis", "cropmae").input_size.resolve((480, 854), 16, False) == (480, 880)
    assert protocol("davis", "dino").input_size.resolve((480, 854), 16, False) == (480, 832)
    assert protocol("davis", "dino").input_size.resolve((854, 480), 8, False) == (832, 480)


@pytest.mark.usefixtures("one_torch_thread")
def test_crw_preset_runs_a_stride_8_convnet_at_native_size(davis_train_only, tmp_path):
    request = EvalRequest(data_root=davis_train_only, out_dir=tmp_path / "run",
                          preset=get_preset("crw"),
                          settings=EngineSettings(device="cpu", progress=False))
    result = davis_task.run(PaddedConvNet(), request)
    assert result["input_sizes"] == {"train": [480, 854]}
    written, _ = read_indexed_png(tmp_path / "run" / "results" / "train" / "00001.png")
    assert written.shape == (480, 854)
    assert set(np.unique(written)) <= {0, 1, 2, 3, 4}
