"""`vprop compare` over two checkpoints on the real DAVIS sample: tables and summaries."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from click.testing import CliRunner

from vprop.checkpoints import create_vit
from vprop.cli.main import main

from .summary_parsing import read_table_csv, summary


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
    davis = shared_data / "davis-mini" / "DAVIS"
    args = ["compare", str(tmp_path / "a_mae.pth"), str(tmp_path / "b_dino.pth"),
            "--task", "davis", "--data-root", str(davis), "--sequences", "blackswan",
            "--size", "240x432", "--arch", "vit_test_patch16", "--out", str(out),
            "--no-progress", "--device", "cpu"]
    result = CliRunner().invoke(main, [*args, "--report"])
    assert result.exit_code == 0, result.output
    meta, rows = read_table_csv(out / "comparison.csv")
    assert [row["checkpoint"] for row in rows] == ["a_mae.pth", "b_dino.pth"]
    assert [row["sha256"] for row in rows] == [mae[:12], dino[:12]]
    runs = {row["checkpoint"]: json.loads((out / row["checkpoint"] / "results.json").read_text())
            for row in rows}
    for row in rows:
        run = runs[row["checkpoint"]]
        assert run["backbone"]["format"] == ("mae" if "mae" in row["checkpoint"] else "dino")
        for metric in ("J&F-Mean", "J-Mean", "F-Mean", "J-Recall", "F-Decay"):
            # CSV: percent at full precision = 100 x the fraction in results.json.
            assert float(row[metric]) == pytest.approx(100 * run["global"][metric], abs=1e-9)
    # The header names task, data, preset, protocol and sequences.
    assert meta["task"] == "davis" and meta["data"] == str(davis)
    assert meta["preset"] == "cropmae" and meta["sequences"] == "1 (blackswan)"
    assert "top-k 7" in meta["protocol"] and "input 240x432" in meta["protocol"]
    # Different random weights give different figures: the table is not one run copied twice.
    assert rows[0]["J&F-Mean"] != rows[1]["J&F-Mean"]
    # Markdown: percentages with one decimal, as the papers print them.
    markdown = (out / "comparison.md").read_text()
    assert markdown.startswith("**DAVIS-2017")
    jf = runs["a_mae.pth"]["global"]["J&F-Mean"]
    assert f"| a_mae.pth | {mae[:12]} | vit_test_patch16 | native | {100 * jf:.1f} |" in markdown
    assert result.stdout == markdown + "\n"  # stdout: exactly the table comparison.md holds
    # Start summary of each run: checkpoint name, format and hash prefix, as results.json.
    start = summary(result.stderr, "vprop eval: davis")
    assert start["checkpoint"] == f"a_mae.pth (format mae, sha256 {mae[:12]})"
    assert start["input size"] == "240x432 (--size)"
    # End summary of the comparison: each run's headline figures, as results.json.
    end = summary(result.stderr, "vprop compare: davis finished")
    for index, (name, run) in enumerate(runs.items()):
        line = end[f"run {index + 1}"]
        assert line.startswith(f"{name}: J&F-Mean {100 * run['global']['J&F-Mean']:.1f}  "
                               f"J-Mean {100 * run['global']['J-Mean']:.1f}")
        assert line.endswith("(reused 0, recomputed 0)")
    assert str(out / "comparison.tex") in end["tables"]

    # --report: the HTML comparison with both hashes and the per-object delta of blackswan_1
    html = (out / "report" / "index.html").read_text()
    assert "Comparison: davis (2 runs)" in html and mae[:12] in html and dino[:12] in html
    objects = [run["per_object"]["blackswan_1"] for run in runs.values()]
    object_jf = [(o["J-Mean"] + o["F-Mean"]) / 2 for o in objects]
    assert f'data-v="{object_jf[1] - object_jf[0]}"' in html

    # Again, as LaTeX: every run is reused (announced) and the booktabs table is printed.
    again = CliRunner().invoke(main, [*args, "--format", "latex"])
    assert again.exit_code == 0, again.output
    assert "blackswan: finished earlier with the same settings, reused" in again.stderr
    assert "\\toprule" in again.stdout and "J\\&F-Mean" in again.stdout
    assert f"{100 * jf:.1f}" in again.stdout
    assert again.stdout == (out / "comparison.tex").read_text() + "\n"
    assert summary(again.stderr, "vprop compare: davis finished")["run 1"].endswith(
        "(reused 1, recomputed 0)")


def test_compare_missing_checkpoint_is_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "nope.pth"), "--no-progress"])
    assert result.exit_code == 2
    assert result.output.strip().endswith("nope.pth: checkpoint not found")


def test_name_equals_path_gives_readable_run_names(tmp_path):
    from vprop.benchmarks.comparison import parse_checkpoint_specs

    for folder in ("run1", "run2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "checkpoint-last.pth").write_bytes(b"x")
    a, b = (str(tmp_path / f / "checkpoint-last.pth") for f in ("run1", "run2"))
    assert parse_checkpoint_specs([f"cropmae={a}", f"siammae={b}", "random"]) == [
        ("cropmae", a), ("siammae", b), ("random-init", None)]
    assert parse_checkpoint_specs([a, b, "zoo:dino_vits16"]) == [
        ("checkpoint-last.pth", a), ("checkpoint-last.pth-2", b), ("zoo-dino_vits16",
                                                                   "zoo:dino_vits16")]
    odd = tmp_path / "lr=0.1.pth"  # an existing file is never split at '='
    odd.write_bytes(b"x")
    assert parse_checkpoint_specs([str(odd)]) == [("lr=0.1.pth", str(odd))]


@pytest.mark.parametrize("spec, message", [
    ("a={missing}", "checkpoint not found"),
    ("../x={file}", "must be a plain name"),
    ("={file}", "must be a plain name"),
])
def test_bad_name_specs_are_one_line_errors(tmp_path, spec, message):
    (tmp_path / "f.pth").write_bytes(b"x")
    spec = spec.format(missing=tmp_path / "nope.pth", file=tmp_path / "f.pth")
    result = CliRunner().invoke(main, ["compare", spec, "--no-progress"])
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_models_lists_the_zoo_and_timm_names():
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    assert "zoo:dino_vits16" in result.output and "dino_deitsmall16_pretrain.pth" in result.output
    assert "J&F 61.8" in result.output and "zoo:crw" in result.output
    listed = CliRunner().invoke(main, ["models", "--timm", "*reg4_dinov2"]).output.split()
    assert "vit_small_patch14_reg4_dinov2" in listed
    formats = CliRunner().invoke(main, ["models", "--formats"]).output
    assert "lightning" in formats and "dinov2" in formats and "crw" in formats


def test_runs_scored_at_different_sizes_never_share_a_column():
    from vprop.benchmarks.tables import results_table
    from vprop.errors import VpropError

    def payload(size, jf):
        return {"task": "davis", "global": {"J&F-Mean": jf},
                "backbone": {"arch": "vits16", "sha256": "ab" * 32}, "score_size": size}

    table = results_table(["a", "b"], [payload([480, 880], 0.6), payload([480, 880], 0.5)])
    assert table.header[:5] == ["checkpoint", "sha256", "arch", "scored at", "J&F-Mean"]
    assert [row[3] for row in table.rows] == ["480x880", "480x880"]
    with pytest.raises(VpropError, match=r"different sizes.*a: 480x880, b: native"):
        results_table(["a", "b"], [payload([480, 880], 0.6), payload("native", 0.5)])
    # tasks without a score size (JHMDB, VIP) get no such column
    table = results_table(["a"], [{"task": "vip", "global": {"mIoU": 30.0}, "backbone": {}}])
    assert "scored at" not in table.header
