"""`vprop eval --task jhmdb|vip` end to end with a tiny ViT: real JHMDB clip, synthetic VIP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import scipy.io
from click.testing import CliRunner
from PIL import Image

from vprop.benchmarks.vip.synthetic import make_vip_sample
from vprop.cli.main import main

TINY = ["--arch", "vit_test_patch16", "--no-progress", "--device", "cpu"]
REAL_CLIP = "catch/Goal_Keeping_Tips_catch_f_cm_np1_fr_med_2"


def _eval(task: str, *args: str):
    return CliRunner().invoke(main, ["eval", "--task", task, *TINY, *args])


def test_jhmdb_real_clip(shared_data, tmp_path):
    root = shared_data / "jhmdb-mini"
    out = tmp_path / "run"
    result = _eval("jhmdb", "--data-root", str(root), "--split", str(root / "val_list.txt"),
                   "--out", str(out))
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["synthetic"] is False and payload["task"] == "jhmdb"
    assert payload["config"]["preset"]["topk"] == 7
    figures = [payload["global"][f"PCK@{a}"] for a in ("0.1", "0.2", "0.3", "0.4", "0.5")]
    assert all(0.0 <= value <= 100.0 for value in figures)
    assert figures == sorted(figures)  # PCK cannot drop as the threshold grows
    assert payload["per_clip"][REAL_CLIP]["frames"] == 40
    assert payload["grid"] == [20, 20]
    saved = json.loads((out / "results" / f"{REAL_CLIP}.json").read_text())
    assert len(saved["frames"]) == 40 and saved["frame_size"] == [240, 320]
    # Frame 0 is the decode of its own Gaussian maps: the peak cell of each joint, so at most
    # half a cell (320/20/2 = 8 px in x, 240/20/2 = 6 px in y) from the ground truth.
    mat = root / "joint_positions" / REAL_CLIP / "joint_positions.mat"
    gt0 = scipy.io.loadmat(str(mat))["pos_img"][:, :, 0].T - 1.0  # (15, 2)
    pred0 = np.array(saved["frames"][0]["keypoints"])
    assert np.all(pred0[:, 2] == 1)
    assert np.all(np.abs(pred0[:, 0] - gt0[:, 0]) <= 8.0 + 1e-6)
    assert np.all(np.abs(pred0[:, 1] - gt0[:, 1]) <= 6.0 + 1e-6)
    assert "PCK@0.1" in result.output
    # The resolved input size is in the config; the table and per-clip CSV are written.
    assert payload["config"]["size"] == [320, 320]
    assert payload["config"]["size_rule"] == "320x320, floored to whole cells of the stride"
    per_clip = (out / "per-clip_results.csv").read_text().splitlines()
    assert per_clip[0].startswith("clip,frames,scored_joints,PCK@0.1") and len(per_clip) == 2
    assert float(per_clip[1].split(",")[3]) == payload["global"]["PCK@0.1"]  # one clip
    assert f"| {payload['global']['PCK@0.1']:.1f} | {payload['global']['PCK@0.2']:.1f} |" \
        in result.stdout  # percent, one decimal
    assert "JHMDB" in (out / "results_table.tex").read_text()
    assert payload["decode_topk"] == 5  # CropMAE's decode for the cropmae preset
    _check_score_equals_eval("jhmdb", root, out, "per_clip", "--split",
                             str(root / "val_list.txt"))

    # --decode-topk reaches the decode, is recorded, and invalidates the finished clip
    result = _eval("jhmdb", "--data-root", str(root), "--split", str(root / "val_list.txt"),
                   "--out", str(out), "--decode-topk", "3")
    assert result.exit_code == 0, result.output
    again = json.loads((out / "results.json").read_text())
    assert again["decode_topk"] == 3 and again["config"]["decode_topk"] == 3
    assert again["skipped_finished"] == []
    assert json.loads((out / "results" / f"{REAL_CLIP}.json").read_text())["signature"][
        "decode_topk"] == 3
    _check_score_equals_eval("jhmdb", root, out, "per_clip", "--split",
                             str(root / "val_list.txt"))
    refused = _eval("davis", "--decode-topk", "3", "--out", str(tmp_path / "refused"))
    assert refused.exit_code == 2
    assert refused.stderr.strip() == "error: --decode-topk: only used by --task jhmdb"


def _check_score_equals_eval(task: str, root: Path, out: Path, per_item: str, *extra: str):
    """`vprop score` on an eval's run folder gives the figures of its results.json."""
    payload = json.loads((out / "results.json").read_text())
    result = CliRunner().invoke(main, ["score", "--task", task, "--data-root", str(root),
                                       "--results", str(out), "--out", str(out / "rescored"),
                                       *extra])
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "rescored" / "scores.json").read_text())
    assert scores["global"] == payload["global"]
    for name, figures in scores[per_item].items():
        assert figures.items() <= payload[per_item][name].items()
    for key in ("per_class", "per_joint", "confusion"):
        assert scores.get(key) == payload.get(key)


def test_vip_synthetic_fixture(tmp_path):
    root = make_vip_sample(tmp_path / "data")
    out = tmp_path / "run"
    result = _eval("vip", "--data-root", str(root), "--out", str(out))
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["preset"]["topk"] == 10  # VIP's cropmae top-k
    assert 0.0 <= payload["global"]["mIoU"] <= 100.0
    assert payload["per_class"]["hat"] is None  # absent from the fixture
    assert payload["per_video"]["videos1"]["input_size"] == [448, 880]
    assert payload["config"]["size"] == [448, 880]
    per_class = (out / "per-class_results.csv").read_text().splitlines()
    assert per_class[0] == "class,IoU" and len(per_class) == 21
    assert per_class[2] == "hat,"  # absent class: empty cell, not 0
    assert (out / "per-video_results.csv").read_text().count("videos") == 2
    assert f"| {payload['global']['mIoU']:.1f} |" in result.stdout
    for video in ("videos1", "videos2"):
        first = np.asarray(Image.open(root / "Annotations/Category_ids" / video /
                                      "000000000001.png"))
        allowed = set(np.unique(first)) - {255}
        written = sorted((out / "results" / video).glob("*.png"))
        assert len(written) == 10
        for path in written:
            ids = np.asarray(Image.open(path))
            assert ids.shape == (160, 280)
            assert set(np.unique(ids)) <= allowed
        # Frame 0's prediction reproduces most of its own annotation.
        pred0 = np.asarray(Image.open(written[0]))
        counted = first != 255
        assert (pred0[counted] == first[counted]).mean() > 0.9
    _check_score_equals_eval("vip", root, out, "per_video")


def test_embedded_default_is_synthetic_for_both_tasks(tmp_path):
    # VIP at a small input size to keep the test fast (the default size is tested above).
    for task, extra in (("jhmdb", []), ("vip", ["--size", "128x224"])):
        out = tmp_path / task
        result = _eval(task, "--out", str(out), *extra)
        assert result.exit_code == 0, result.output
        payload = json.loads((out / "results.json").read_text())
        assert payload["synthetic"] is True
        assert "synthetic" in payload["config"]["data_root"]
        assert (Path(payload["config"]["data_root"]) / "SYNTHETIC.txt").is_file()
        assert "SYNTHETIC" in result.output


def test_bad_mat_is_a_clean_error(shared_data, tmp_path):
    root = tmp_path / "jhmdb"
    shutil.copytree(shared_data / "jhmdb-mini", root)
    mat = root / "joint_positions" / REAL_CLIP / "joint_positions.mat"
    scipy.io.savemat(str(mat), {"something_else": np.zeros(3)})
    result = _eval("jhmdb", "--data-root", str(root), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "error:" in result.output and str(mat) in result.output and "pos_img" in result.output
    assert "Traceback" not in result.output


def test_bad_vip_class_is_a_clean_error(tmp_path):
    root = make_vip_sample(tmp_path / "data")
    path = root / "Annotations/Category_ids/videos2/000000000001.png"
    ids = np.asarray(Image.open(path)).copy()
    ids[0, 0] = 21
    Image.fromarray(ids).save(path)
    result = _eval("vip", "--data-root", str(root), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert str(path) in result.output and "class id 21" in result.output
