"""Agreement with the CropMAE authors' propagation code on the real blackswan sequence.

``reference-propagation/`` holds a fixed random ViT-S/16 and the masks the reference code
produced with it at its DAVIS settings, with the official evaluator's scores. vprop's cropmae
preset must reproduce them: every pixel with exact and certified affinities (certified ones
pick the same candidates by construction); 100.00% of the pixels (to two decimals) with
screened ones, whose float32 re-scoring may sum in another order and flip a near-tie (2 of the
20,496,000 pixels when measured); J&F within 0.005 of the official figure.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vprop.benchmarks.io import read_indexed_png
from vprop.cli.main import main


@pytest.mark.parametrize("affinity", ["exact", "certified", "screened"])
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
    different, total = 0, 0
    for expected_path in expected_frames:
        expected, _ = read_indexed_png(expected_path)
        ours, _ = read_indexed_png(out / "results" / "blackswan" / expected_path.name)
        different += int(np.sum(ours != expected))
        total += expected.size
    if affinity != "screened":
        assert different == 0, f"{different} pixels differ from the reference masks"
    assert round(100.0 * (1 - different / total), 2) == 100.0, f"{different} pixels differ"

    official = json.loads((reference / "official-scores-blackswan.json").read_text())
    ours = json.loads((out / "results.json").read_text())
    assert abs(ours["global"]["J&F-Mean"] - official["global"]["J&F-Mean"]) <= 0.005
    assert abs(ours["global"]["J-Mean"] - official["global"]["J-Mean"]) <= 0.005
    assert abs(ours["global"]["F-Mean"] - official["global"]["F-Mean"]) <= 0.005
