"""Parallel scoring (``--workers N``) gives exactly the one-process result, on every task.

Each comparison runs the real pool (spawned processes) once; the single-process run is the
reference, and the DAVIS one is tied to the official evaluator's figures as well.
"""

from __future__ import annotations

import json
import math
import operator
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vprop.benchmarks.davis.scoring import score_davis
from vprop.benchmarks.io import read_indexed_png
from vprop.benchmarks.jhmdb import task as jhmdb
from vprop.benchmarks.jhmdb.dataset import load_clips
from vprop.benchmarks.jhmdb.predictions import ClipKeypoints, prediction_path, write_keypoints
from vprop.benchmarks.jhmdb.synthetic import make_jhmdb_sample
from vprop.benchmarks.parallel import available_cpus, check_workers, ordered_map
from vprop.benchmarks.vip import task as vip
from vprop.benchmarks.vip.synthetic import make_vip_sample
from vprop.cli.main import main
from vprop.errors import VpropError


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def _score_cli(mini: Path, out: Path, workers: str):
    return CliRunner().invoke(main, [
        "score", "--task", "davis", "--data-root", str(mini / "DAVIS"), "--results",
        str(mini / "results-reference"), "--out", str(out), "--workers", workers,
        "--no-progress"])


def test_davis_workers_2_equals_workers_1_and_the_official_figures(shared_data, tmp_path):
    mini = shared_data / "davis-mini"
    one = _score_cli(mini, tmp_path / "one", "1")
    two = _score_cli(mini, tmp_path / "two", "2")
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert two.stdout == one.stdout
    written = _files(tmp_path / "one")
    assert set(written) == {"global_results-val.csv", "per-sequence_results-val.csv",
                            "scores.json"}
    assert _files(tmp_path / "two") == written  # every CSV byte and every JSON figure
    official = json.loads((mini / "official-scores.json").read_text())
    scores = json.loads((tmp_path / "two" / "scores.json").read_text())
    assert list(scores["per_object"]) == list(official["per_object"])
    for key, value in official["global"].items():
        assert scores["global"][key] == pytest.approx(value, abs=1e-6)


def test_davis_in_memory_predictions_score_the_same_in_a_pool(shared_data):
    mini = shared_data / "davis-mini"
    maps = {sequence: {path.stem: read_indexed_png(path)[0] for path in
                       sorted((mini / "results-reference" / sequence).glob("*.png"))}
            for sequence in ("car-shadow", "train")}
    one = score_davis(mini / "DAVIS", maps, sequences=list(maps), progress=False, workers=1)
    two = score_davis(mini / "DAVIS", maps, sequences=list(maps), progress=False, workers=2)
    assert two == one
    official = json.loads((mini / "official-scores.json").read_text())["per_object"]
    assert two["per_object"]["train_2"]["J-Mean"] == pytest.approx(
        official["train_2"]["J_mean"], abs=1e-6)


def test_davis_error_in_a_worker_is_the_one_process_error(shared_data, tmp_path):
    mini = shared_data / "davis-mini"
    results = tmp_path / "results"
    shutil.copytree(mini / "results-reference", results)
    (results / "car-shadow" / "00012.png").unlink()
    messages = []
    for workers in (1, 2):
        with pytest.raises(VpropError) as caught:
            score_davis(mini / "DAVIS", results, progress=False, workers=workers)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "car-shadow/00012.png" in messages[0]


def test_jhmdb_workers_2_equals_workers_1(tmp_path):
    root = make_jhmdb_sample(tmp_path / "data")
    out = tmp_path / "run"
    rng = np.random.default_rng(0)
    for clip in load_clips(root):
        xy = clip.joints + rng.normal(0, 6, clip.joints.shape)  # some joints miss, some hit
        visible = np.ones(clip.joints.shape[:2], bool)
        visible[::3, 4] = False
        write_keypoints(prediction_path(out, clip.name), clip.name, clip.frame_names(),
                        ClipKeypoints(xy=xy, visible=visible), {})
    one = jhmdb.score(root, out / "results", out_dir=tmp_path / "one", workers=1)
    two = jhmdb.score(root, out / "results", out_dir=tmp_path / "two", workers=2)
    assert {k: v for k, v in two.items() if k != "csv"} == {
        k: v for k, v in one.items() if k != "csv"}
    assert _files(tmp_path / "two") == _files(tmp_path / "one")
    assert 0 < one["global"]["PCK@0.1"] < 100  # the noise makes a real, non-trivial score


def test_vip_workers_2_equals_workers_1(tmp_path):
    root = make_vip_sample(tmp_path / "data")
    predictions = tmp_path / "predictions"
    for labels in sorted((root / "Annotations" / "Category_ids").iterdir()):
        for index, path in enumerate(sorted(labels.glob("*.png"))):
            ids = np.asarray(Image.open(path)).copy()
            ids = np.where(ids == 255, 0, ids)
            ids = np.roll(ids, 3 * index, axis=1)  # a growing shift: parts partly missed
            target = predictions / labels.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(ids.astype(np.uint8), mode="L").save(target)
    one = vip.score(root, predictions, out_dir=tmp_path / "one", workers=1)
    two = vip.score(root, predictions, out_dir=tmp_path / "two", workers=2)
    assert {k: v for k, v in two.items() if k != "csv"} == {
        k: v for k, v in one.items() if k != "csv"}
    assert _files(tmp_path / "two") == _files(tmp_path / "one")
    assert 0 < one["global"]["mIoU"] < 100


def test_ordered_map_keeps_order_costliest_first_and_reraises():
    units = [3, 1, 4, 1, 5]
    # cost reverses the submission order; the results must still follow the units
    assert ordered_map(operator.neg, units, workers=2, cost=lambda u: u) == [-3, -1, -4, -1, -5]
    with pytest.raises(ValueError, match="math domain"):
        ordered_map(math.sqrt, [4.0, -1.0, 9.0], workers=2)
    # the failing unit goes first; the pending ones are cancelled, not reported
    with pytest.raises(ValueError, match="math domain"):
        ordered_map(math.sqrt, [-1.0] + [4.0] * 20, workers=2, cost=lambda u: -u)


def test_check_workers():
    assert check_workers(None) == available_cpus() >= 1
    assert check_workers(3) == 3
    for bad in (0, -2, 1.5):
        with pytest.raises(VpropError, match=r"^--workers: must be a positive"):
            check_workers(bad)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_score_rejects_bad_workers_in_one_line(shared_data, tmp_path, value):
    mini = shared_data / "davis-mini"
    result = _score_cli(mini, tmp_path / "out", value)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: --workers: must be a positive number of processes, got {value}"]
    assert not (tmp_path / "out").exists()


def test_auto_workers_gives_each_process_enough_work(monkeypatch):
    import vprop.benchmarks.parallel as parallel

    monkeypatch.setattr(parallel, "available_cpus", lambda: 8)
    assert parallel.auto_workers(None, 88, 150) == 1  # davis-mini: inline
    assert parallel.auto_workers(None, 1999 - 60, 150) == 8  # DAVIS val: every CPU
    assert parallel.auto_workers(None, 450, 150) == 3
    assert parallel.auto_workers(2, 10, 150) == 2  # an explicit count is kept


def test_bench_score_reports_identical_runs(shared_data, tmp_path):
    mini = shared_data / "davis-mini"
    result = CliRunner().invoke(main, [
        "bench", "score", "--data-root", str(mini / "DAVIS"), "--results",
        str(mini / "results-reference"), "--workers", "1,2", "--out", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert [run["workers"] for run in report["runs"]] == [1, 2]
    assert report["identical"] is True and all(run["seconds"] > 0 for run in report["runs"])
    official = json.loads((mini / "official-scores.json").read_text())
    assert report["J&F-Mean"] == pytest.approx(official["global"]["J&F-Mean"], abs=1e-6)
