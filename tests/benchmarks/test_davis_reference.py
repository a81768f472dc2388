"""Agreement with the CropMAE authors' propagation code on the real blackswan sequence.

``reference-propagation/`` holds a fixed random ViT-S/16 and the masks the reference code
produced with it at its DAVIS settings, with the official evaluator's scores. vprop's cropmae
preset must reproduce them (>= 99% identical pixels on average, J&F within 0.005), with exact
and with screened affinities.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vprop.benchmarks.io import read_indexed_png
from vprop.cli.main import main


@pytest.mark.parametrize("affinity", ["exact", "screened"])
def test_cropmae_preset_reproduces_reference_masks(shared_data, tmp_path, affinity):
    reference = shared_data / "reference-propagation"
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "eval", "--task", "davis", "--preset", "cropmae",
        "--data-root", str(shared_data / "davis-mini" / "DAVIS"), "--sequences", "blackswan",
        "--ckpt", str(reference / "vits16-random-fp16.pth"), "--arch", "vit_small_patch16_224",
        "--out", str(out), "--no-progress", "--device", "cpu", "--affinity", affinity,
    ])
    assert result.exit_code == 0, result.output

    expected_frames = sorted((reference / "blackswan").glob("*.png"))
    assert len(expected_frames) == 50
    identical = []
    for expected_path in expected_frames:
        expected, _ = read_indexed_png(expected_path)
        ours, _ = read_indexed_png(out / "results" / "blackswan" / expected_path.name)
        identical.append(np.mean(ours == expected))
    assert np.mean(identical) >= 0.99, f"identical pixels {np.mean(identical):.4f}"

    official = json.loads((reference / "official-scores-blackswan.json").read_text())
    ours = json.loads((out / "results.json").read_text())
    assert abs(ours["global"]["J&F-Mean"] - official["global"]["J&F-Mean"]) <= 0.005
    assert abs(ours["global"]["J-Mean"] - official["global"]["J-Mean"]) <= 0.005
    assert abs(ours["global"]["F-Mean"] - official["global"]["F-Mean"]) <= 0.005
