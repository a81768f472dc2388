"""`vprop bench features` runs and reports the geometry it measured (no timing asserted)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from vprop.cli.main import main


def test_bench_features_reports_stride_grid_and_rate():
    result = CliRunner().invoke(main, ["bench", "features", "--arch", "vit_test_patch8",
                                       "--arch", "resnet18", "--size", "64x96", "--frames", "1"])
    assert result.exit_code == 0, result.output
    vit, cnn = (json.loads(line) for line in result.output.strip().splitlines())
    assert (vit["stride"], vit["grid"], vit["dim"]) == (8, [8, 12], 64)
    assert (cnn["stride"], cnn["grid"], cnn["dim"]) == (8, [8, 12], 256)
    assert vit["frames_per_second"] > 0 and cnn["frames"] == 1
