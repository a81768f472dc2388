"""`vprop eval --task davis` end to end: official outputs, resume, synthetic default, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hostile import copy_davis
from PIL import Image

from vprop.benchmarks.davis.scoring import score_davis
from vprop.benchmarks.io import read_indexed_png
from vprop.cli.main import main

TINY = ["--arch", "vit_test_patch16", "--no-progress", "--device", "cpu"]


def _eval(*args: str):
    return CliRunner().invoke(main, ["eval", "--task", "davis", *TINY, *args])


def _mini_davis(shared_data: Path, dest: Path, sequences: dict[str, int]) -> Path:
    """The first N frames of real sequences in a fresh DAVIS layout under ``dest``."""
    return copy_davis(shared_data / "davis-mini" / "DAVIS", dest, sequences)


def test_real_blackswan_with_tiny_vit_writes_official_outputs(shared_data, tmp_path):
    davis = shared_data / "davis-mini" / "DAVIS"
    out = tmp_path / "run"
    result = _eval("--data-root", str(davis), "--sequences", "blackswan", "--out", str(out))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (davis / "JPEGImages" / "480p" / "blackswan").glob("*.jpg"))
    written = sorted((out / "results" / "blackswan").glob("*.png"))
    assert [p.stem for p in written] == [Path(n).stem for n in names]
    _, gt_palette = read_indexed_png(davis / "Annotations" / "480p" / "blackswan" / "00000.png")
    for path in written:
        image = Image.open(path)
        assert image.mode == "P" and image.size == (854, 480)
        assert image.getpalette()[:6] == gt_palette[:6]
        assert set(np.unique(np.asarray(image))) <= {0, 1}
    # results.json and the official CSVs hold the same figures as an independent re-scoring.
    payload = json.loads((out / "results.json").read_text())
    rescored = score_davis(davis, out / "results", sequences=["blackswan"], progress=False)
    assert payload["global"]["J&F-Mean"] == pytest.approx(rescored["global"]["J&F-Mean"], abs=1e-12)
    with open(out / "global_results-val.csv") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["J&F-Mean"]) == pytest.approx(payload["global"]["J&F-Mean"], abs=5e-4)
    assert "blackswan_1" in payload["per_object"]
    assert payload["config"]["preset"]["topk"] == 7 and payload["config"]["preset"]["radius"] == 20
    assert payload["backbone"]["arch"].startswith("vit_test")
    assert "torch" in payload["versions"]
    # A random tiny ViT still tracks the swan reasonably: far above an empty prediction (0).
    assert payload["global"]["J-Mean"] > 0.3


def test_resume_skips_finished_sequences(shared_data, tmp_path):
    root = _mini_davis(shared_data, tmp_path, {"blackswan": 5, "car-shadow": 5})
    out = tmp_path / "run"
    assert _eval("--data-root", str(root), "--out", str(out), "--size", "160x288").exit_code == 0
    marker = out / "results" / "blackswan" / "00002.png"
    stamp = marker.stat().st_mtime_ns
    again = _eval("--data-root", str(root), "--out", str(out), "--size", "160x288")
    assert again.exit_code == 0, again.output
    assert marker.stat().st_mtime_ns == stamp
    payload = json.loads((out / "results.json").read_text())
    assert sorted(payload["skipped_finished"]) == ["blackswan", "car-shadow"]
    assert _eval("--data-root", str(root), "--out", str(out), "--size", "160x288",
                 "--overwrite").exit_code == 0
    assert marker.stat().st_mtime_ns != stamp


def test_rerun_with_other_settings_recomputes(shared_data, tmp_path):
    root = _mini_davis(shared_data, tmp_path, {"blackswan": 5})
    out = tmp_path / "run"
    assert _eval("--data-root", str(root), "--out", str(out), "--size", "160x288").exit_code == 0
    first = json.loads((out / "results.json").read_text())
    # Same folder, another preset: nothing may be reused, and the figures are the new run's.
    again = _eval("--data-root", str(root), "--out", str(out), "--size", "160x288",
                  "--preset", "dino", "--topk", "1")
    assert again.exit_code == 0, again.output
    second = json.loads((out / "results.json").read_text())
    assert second["skipped_finished"] == []
    assert second["timing"]["frames_predicted"] == 5
    assert second["global"]["J&F-Mean"] != first["global"]["J&F-Mean"]


def test_affinity_mode_is_recorded_and_never_mixed_on_resume(shared_data, tmp_path):
    root = _mini_davis(shared_data, tmp_path, {"blackswan": 5})
    out = tmp_path / "run"
    assert _eval("--data-root", str(root), "--out", str(out), "--size", "160x288").exit_code == 0
    screened = _eval("--data-root", str(root), "--out", str(out), "--size", "160x288",
                     "--affinity", "screened")
    assert screened.exit_code == 0, screened.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["affinity"] == "screened"
    assert payload["skipped_finished"] == []  # the exact run's masks are not reused
    assert payload["timing"]["frames_predicted"] == 5


def test_certified_and_exact_runs_share_finished_sequences(shared_data, tmp_path):
    root = _mini_davis(shared_data, tmp_path, {"blackswan": 5})
    out = tmp_path / "run"
    first = _eval("--data-root", str(root), "--out", str(out), "--size", "160x288",
                  "--affinity", "certified")
    assert first.exit_code == 0, first.output
    assert json.loads((out / "results.json").read_text())["config"]["affinity"] == "certified"
    again = _eval("--data-root", str(root), "--out", str(out), "--size", "160x288",
                  "--affinity", "exact")
    assert again.exit_code == 0, again.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["affinity"] == "exact"
    assert payload["skipped_finished"] == ["blackswan"]  # same candidates: reused


def test_certified_affinity_with_low_precision_features_is_one_line(tmp_path):
    result = _eval("--out", str(tmp_path / "run"), "--affinity", "certified",
                   "--feature-dtype", "float16")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --affinity: certified needs --feature-dtype float32 (got float16); "
        "use --affinity exact"]


def test_embedded_synthetic_default_is_labelled(tmp_path):
    out = tmp_path / "run"
    result = _eval("--out", str(out), "--size", "160x288")
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and "RANDOMLY INITIALISED" in result.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["synthetic"] is True and payload["random_init"] is True
    assert len(payload["per_object"]) == 5  # 3 + 2 objects in the two synthetic sequences


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("problem", ["missing", "size", "rgb", "empty"])
def test_bad_first_annotation_is_one_line_error(shared_data, tmp_path, problem):
    root = _mini_davis(shared_data, tmp_path, {"blackswan": 3})
    annotation = root / "Annotations" / "480p" / "blackswan" / "00000.png"
    if problem == "missing":
        annotation.unlink()
    elif problem == "size":
        Image.open(annotation).resize((427, 240)).save(annotation)
    elif problem == "rgb":
        Image.open(annotation).convert("RGB").save(annotation)
    else:
        image = Image.open(annotation)
        Image.fromarray(np.zeros((480, 854), np.uint8), mode="P").save(annotation)
        image.close()
    line = _error_line(_eval("--data-root", str(root), "--out", str(tmp_path / "run")))
    assert "Annotations/480p/blackswan/00000.png" in line


def test_unknown_sequence_is_one_line_error(shared_data, tmp_path):
    root = _mini_davis(shared_data, tmp_path, {"blackswan": 3})
    line = _error_line(_eval("--data-root", str(root), "--sequences", "nope",
                             "--out", str(tmp_path / "run")))
    assert "nope" in line and "JPEGImages/480p/nope" in line


def test_corrupt_frame_keeps_finished_sequences(shared_data, tmp_path):
    root = _mini_davis(shared_data, tmp_path, {"blackswan": 4, "car-shadow": 4})
    broken = root / "JPEGImages" / "480p" / "car-shadow" / "00002.jpg"
    broken.write_bytes(broken.read_bytes()[:300])
    out = tmp_path / "run"
    line = _error_line(_eval("--data-root", str(root), "--out", str(out), "--size", "160x288"))
    assert "car-shadow/00002.jpg" in line
    assert len(list((out / "results" / "blackswan").glob("*.png"))) == 4  # finished work kept
    assert (out / ".vprop-done" / "blackswan.json").exists()
    assert not (out / ".vprop-done" / "car-shadow.json").exists()


def test_unknown_checkpoint_format_is_one_line_error(tmp_path):
    ckpt = tmp_path / "weird.pth"
    import torch

    torch.save({"something": {"else": torch.zeros(3)}}, ckpt)
    line = _error_line(_eval("--ckpt", str(ckpt), "--out", str(tmp_path / "run"),
                             "--size", "160x288"))
    assert "weird.pth" in line
    assert not (tmp_path / "run").exists()  # failed before doing work: no --out folder


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_is_one_line_error(tmp_path):
    line = _error_line(CliRunner().invoke(main, [
        "eval", "--arch", "vit_test_patch16", "--no-progress", "--device", "cuda",
        "--out", str(tmp_path / "run")]))
    assert "CUDA is not available" in line


def test_start_and_end_summaries_print_what_results_json_holds(davis_train_only, tmp_path):
    import hashlib

    import torch

    from vprop.checkpoints import create_vit

    from .summary_parsing import read_table_csv, summary

    torch.manual_seed(1)
    ckpt = tmp_path / "tiny_mae.pth"
    torch.save({"model": create_vit("vit_test_patch16").state_dict()}, ckpt)
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    out = tmp_path / "run"
    args = ["--data-root", str(davis_train_only), "--ckpt", str(ckpt), "--out", str(out),
            "--size", "160x288"]
    result = _eval(*args)
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    config, preset = payload["config"], payload["config"]["preset"]

    start = summary(result.stderr, "vprop eval: davis")
    assert start["data"] == config["data_root"] == str(davis_train_only)
    assert start["preset"].startswith(f"{preset['name']}: temperature {preset['temperature']:g},"
                                      f" top-k {preset['topk']}, radius {preset['radius']:g}")
    assert start["input size"] == config["size_rule"] == "160x288 (--size)"
    assert start["checkpoint"] == f"tiny_mae.pth (format {payload['backbone']['format']}, " \
                                  f"sha256 {digest[:12]})"
    assert payload["backbone"]["sha256"] == digest
    assert start["device"].startswith(f"{config['device']}, features {config['feature_dtype']}, "
                                      "autocast off, affinity exact")
    assert config["device"] == "cpu" and config["feature_dtype"] == "float32"
    assert start["output"] == config["out_dir"] == str(out)

    end = summary(result.stderr, "vprop eval: davis finished")
    figures = payload["global"]
    assert end["results"].startswith(f"J&F-Mean {100 * figures['J&F-Mean']:.1f}  "
                                     f"J-Mean {100 * figures['J-Mean']:.1f}  ")
    assert f"F-Mean {100 * figures['F-Mean']:.1f}" in end["results"]
    assert end["input size"] == "160x288" and config["size"] == [160, 288]
    assert end["reused"] == "0 finished earlier with the same settings"
    assert end["this run"].startswith("4 frames predicted")
    assert payload["timing"]["this_run"]["frames_predicted"] == 4
    assert end["predictions"] == str(out / "results")
    assert str(out / "results_table.tex") in end["written"]
    # The printed table (stdout) is results_table.md; the CSV holds the same percentages.
    assert (out / "results_table.md").read_text() in result.stdout
    meta, rows = read_table_csv(out / "results_table.csv")
    assert meta["sequences"] == "1 (train)" and rows[0]["sha256"] == digest[:12]
    assert float(rows[0]["J&F-Mean"]) == pytest.approx(100 * figures["J&F-Mean"], abs=1e-9)

    # Resumed: announced, recorded, and the timing of the reused sequence is kept.
    again = _eval(*args, "--format", "csv")
    assert again.exit_code == 0, again.output
    assert "train: finished earlier with the same settings, reused" in again.stderr
    second = json.loads((out / "results.json").read_text())
    assert second["skipped_finished"] == ["train"] and second["recomputed"] == {}
    assert second["timing"]["seconds"] == payload["timing"]["seconds"] > 0
    assert second["timing"]["frames_predicted"] == 4
    assert second["timing"]["this_run"]["frames_predicted"] == 0
    assert summary(again.stderr, "vprop eval: davis finished")["reused"] == (
        "1 finished earlier with the same settings: train")
    assert again.stdout.startswith("# DAVIS-2017")  # --format csv

    # Other settings into the same folder: said so, with what changed.
    changed = _eval(*args, "--topk", "5")
    assert changed.exit_code == 0, changed.output
    assert "train: recomputed (other settings: preset.topk 7 -> 5)" in changed.stderr
    third = json.loads((out / "results.json").read_text())
    assert third["recomputed"] == {"train": "other settings: preset.topk 7 -> 5"}
    assert third["config"]["preset"]["topk"] == 5


def test_davis_results_json_records_the_resolved_input_size(davis_train_only, tmp_path):
    out = tmp_path / "run"
    result = _eval("--data-root", str(davis_train_only), "--out", str(out), "--preset", "crw")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "results.json").read_text())["config"]
    # crw: native 480x854 floored to the patch (16): 480x848.
    assert config["size"] == [480, 848] and config["size_requested"] is None
    assert config["size_rule"] == ("native resolution (floored to the stride unless the backbone "
                                   "pads, as CRW's ResNet)")
