"""`vprop compare` over two checkpoints on the real DAVIS sample."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest
import torch
from click.testing import CliRunner

from vprop.checkpoints import create_vit
from vprop.cli.main import main


def _save(model, path, wrap):
    state = {key: value.half() for key, value in model.state_dict().items()}
    torch.save(wrap(state), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_compare_two_checkpoints_writes_side_by_side_table(shared_data, tmp_path):
    torch.manual_seed(0)
    mae = _save(create_vit("vit_test_patch16"), tmp_path / "a_mae.pth", lambda s: {"model": s})
    dino = _save(create_vit("vit_test_patch16"), tmp_path / "b_dino.pth",
                 lambda s: {"teacher": {f"backbone.{k}": v for k, v in s.items()}})
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, [
        "compare", str(tmp_path / "a_mae.pth"), str(tmp_path / "b_dino.pth"),
        "--task", "davis", "--data-root", str(shared_data / "davis-mini" / "DAVIS"),
        "--sequences", "blackswan", "--size", "240x432", "--arch", "vit_test_patch16",
        "--out", str(out), "--no-progress", "--device", "cpu",
    ])
    assert result.exit_code == 0, result.output
    with open(out / "comparison.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["checkpoint"] for row in rows] == ["a_mae.pth", "b_dino.pth"]
    assert [row["sha256"] for row in rows] == [mae[:12], dino[:12]]
    for row in rows:
        run = json.loads((out / row["checkpoint"] / "results.json").read_text())
        assert run["backbone"]["format"] == ("mae" if "mae" in row["checkpoint"] else "dino")
        for metric in ("J&F-Mean", "J-Mean", "F-Mean", "J-Recall", "F-Decay"):
            assert float(row[metric]) == pytest.approx(run["global"][metric], abs=1e-12)
    # Different random weights give different figures: the table is not one run copied twice.
    assert rows[0]["J&F-Mean"] != rows[1]["J&F-Mean"]
    markdown = (out / "comparison.md").read_text()
    assert markdown.splitlines()[0].startswith("| checkpoint | sha256 | arch | J&F-Mean")
    assert mae[:12] in markdown and dino[:12] in markdown


def test_compare_missing_checkpoint_is_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "nope.pth"), "--no-progress"])
    assert result.exit_code == 2
    assert result.output.strip().endswith("nope.pth: checkpoint not found")
