"""DAVIS scoring against the official evaluator's figures, error cases, and the CSV report."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vprop.benchmarks.davis.csv_report import write_csv_reports
from vprop.benchmarks.davis.scoring import (
    GLOBAL_KEYS,
    read_ground_truth,
    score_davis,
    score_sequence,
)
from vprop.benchmarks.io import read_indexed_png, write_indexed_png
from vprop.errors import VpropError


@pytest.fixture(scope="module")
def mini(shared_data: Path) -> Path:
    return shared_data / "davis-mini"


@pytest.fixture(scope="module")
def reference_scores(mini: Path) -> dict:
    return score_davis(mini / "DAVIS", mini / "results-reference", progress=False)


def _copy_results(mini: Path, tmp_path: Path, sequences: list[str]) -> Path:
    results = tmp_path / "results"
    for sequence in sequences:
        shutil.copytree(mini / "results-reference" / sequence, results / sequence)
    return results


# --- official figures ------------------------------------------------------------------


def test_every_official_figure_is_reproduced(mini: Path, reference_scores: dict):
    official = json.loads((mini / "official-scores.json").read_text())
    assert list(reference_scores["global"]) == list(GLOBAL_KEYS)
    for key, value in official["global"].items():
        assert reference_scores["global"][key] == pytest.approx(value, abs=1e-6), key
    assert list(reference_scores["per_object"]) == list(official["per_object"])
    for name, figures in official["per_object"].items():
        ours = reference_scores["per_object"][name]
        assert ours["J-Mean"] == pytest.approx(figures["J_mean"], abs=1e-6), name
        assert ours["F-Mean"] == pytest.approx(figures["F_mean"], abs=1e-6), name


def test_reference_propagation_blackswan_matches_official(shared_data: Path, tmp_path: Path):
    reference = shared_data / "reference-propagation"
    shutil.copytree(reference / "blackswan", tmp_path / "results" / "blackswan")
    scores = score_davis(
        shared_data / "davis-mini" / "DAVIS", tmp_path / "results", ["blackswan"], progress=False
    )
    official = json.loads((reference / "official-scores-blackswan.json").read_text())
    for key, value in official["global"].items():
        assert scores["global"][key] == pytest.approx(value, abs=1e-6), key
    assert scores["per_object"]["blackswan_1"]["J-Mean"] == pytest.approx(
        official["per_object"]["blackswan_1"]["J_mean"], abs=1e-6
    )


def test_per_frame_excludes_first_and_last_frame(reference_scores: dict):
    frames = reference_scores["per_frame"]["blackswan_1"]
    assert frames["frames"][0] == "00001" and frames["frames"][-1] == "00048"
    assert len(frames["J"]) == len(frames["F"]) == 48
    assert np.mean(frames["J"]) == pytest.approx(
        reference_scores["per_object"]["blackswan_1"]["J-Mean"]
    )


# --- in-memory sequence scoring --------------------------------------------------------


def test_score_sequence_in_memory_matches_official(mini: Path):
    frames, gt = read_ground_truth(mini / "DAVIS", "car-shadow")
    pred = np.stack(
        [
            read_indexed_png(mini / "results-reference" / "car-shadow" / f"{f}.png")[0]
            for f in frames
        ]
    )
    pred[0] = 7  # first and last frames are not scored, even with an invalid id
    pred[-1] = 7
    official = json.loads((mini / "official-scores.json").read_text())["per_object"]
    scores = score_sequence(gt, pred)
    assert list(scores) == [1]
    assert scores[1]["J-Mean"] == pytest.approx(official["car-shadow_1"]["J_mean"], abs=1e-6)
    assert scores[1]["F-Mean"] == pytest.approx(official["car-shadow_1"]["F_mean"], abs=1e-6)


def test_void_counts_as_background_and_objects_come_from_first_frame():
    gt = np.zeros((3, 4, 4), dtype=np.uint8)
    gt[:, 0, :2] = 1  # object 1: 2 pixels on every frame
    gt[1, 1, :2] = 255  # 2 void pixels in the scored frame
    gt[1, 3, 3] = 2  # id 2 absent from frame 0: not an object
    pred = np.zeros_like(gt)
    pred[1, :2, :2] = 1  # object 1 + the void pixels
    scores = score_sequence(gt, pred)
    assert list(scores) == [1]
    assert scores[1]["J"] == [pytest.approx(0.5)]  # 2 / 4: void is not ignored


def test_prediction_with_more_objects_than_ground_truth_fails():
    gt = np.zeros((3, 4, 4), dtype=np.uint8)
    gt[0, 0, 0] = 1
    pred = np.zeros_like(gt)
    pred[1, 2, 2] = 2
    with pytest.raises(VpropError, match="object id 2"):
        score_sequence(gt, pred)


def test_missing_objects_are_scored_as_empty(mini: Path, tmp_path: Path):
    results = _copy_results(mini, tmp_path, ["train"])
    for path in results.glob("train/*.png"):
        ids, palette = read_indexed_png(path)
        write_indexed_png(path, np.where(ids == 4, 0, ids), palette)
    scores = score_davis(mini / "DAVIS", results, ["train"], progress=False)
    official = json.loads((mini / "official-scores.json").read_text())["per_object"]
    assert scores["per_object"]["train_4"]["J-Mean"] == 0.0
    assert scores["per_object"]["train_4"]["F-Mean"] == 0.0
    assert scores["per_object"]["train_1"]["J-Mean"] == pytest.approx(
        official["train_1"]["J_mean"], abs=1e-6
    )


# --- errors naming the file ------------------------------------------------------------


def test_missing_frame_names_the_file(mini: Path, tmp_path: Path):
    results = _copy_results(mini, tmp_path, ["car-shadow"])
    (results / "car-shadow" / "00005.png").unlink()
    with pytest.raises(VpropError, match=r"car-shadow/00005\.png"):
        score_davis(mini / "DAVIS", results, ["car-shadow"], progress=False)


def test_missing_sequence_folder_names_it(mini: Path, tmp_path: Path):
    results = _copy_results(mini, tmp_path, ["car-shadow"])
    with pytest.raises(VpropError, match=r"results[/\\]blackswan"):
        score_davis(mini / "DAVIS", results, ["car-shadow", "blackswan"], progress=False)


def test_size_mismatch_names_the_file(mini: Path, tmp_path: Path):
    results = _copy_results(mini, tmp_path, ["car-shadow"])
    write_indexed_png(results / "car-shadow" / "00003.png", np.zeros((10, 12)), None)
    with pytest.raises(VpropError, match=r"00003\.png.*12x10"):
        score_davis(mini / "DAVIS", results, ["car-shadow"], progress=False)


def test_unreadable_png_names_the_file(mini: Path, tmp_path: Path):
    results = _copy_results(mini, tmp_path, ["car-shadow"])
    (results / "car-shadow" / "00007.png").write_bytes(b"not a png")
    with pytest.raises(VpropError, match=r"00007\.png"):
        score_davis(mini / "DAVIS", results, ["car-shadow"], progress=False)


def test_extra_object_in_a_file_names_it(mini: Path, tmp_path: Path):
    results = _copy_results(mini, tmp_path, ["car-shadow"])
    ids = np.zeros((480, 854), dtype=np.uint8)
    ids[:5, :5] = 2
    write_indexed_png(results / "car-shadow" / "00009.png", ids, None)
    with pytest.raises(VpropError, match=r"00009\.png.*object id 2"):
        score_davis(mini / "DAVIS", results, ["car-shadow"], progress=False)


# --- CSV report ------------------------------------------------------------------------


def test_csv_files_round_trip_at_three_decimals(reference_scores: dict, tmp_path: Path):
    global_path, sequence_path = write_csv_reports(reference_scores, tmp_path)
    assert global_path.name == "global_results-val.csv"
    assert sequence_path.name == "per-sequence_results-val.csv"

    lines = global_path.read_text().splitlines()
    assert lines[0] == "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay"
    assert len(lines) == 2
    row = dict(zip(lines[0].split(","), lines[1].split(",")))
    for key, text in row.items():
        assert len(text.split(".")[1]) == 3
        assert float(text) == round(reference_scores["global"][key], 3)

    with sequence_path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Sequence", "J-Mean", "F-Mean"]
    assert [r[0] for r in rows[1:]] == list(reference_scores["per_object"])
    for name, j_text, f_text in rows[1:]:
        assert float(j_text) == round(reference_scores["per_object"][name]["J-Mean"], 3)
        assert float(f_text) == round(reference_scores["per_object"][name]["F-Mean"], 3)
