"""`vprop score` and `vprop convert` through click's CliRunner."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vprop.cli.main import main


@pytest.fixture(scope="module")
def mini(shared_data: Path) -> Path:
    return shared_data / "davis-mini"


def _score(mini: Path, results: Path, *extra: str):
    args = [
        "score",
        "--task",
        "davis",
        "--data-root",
        str(mini / "DAVIS"),
        "--results",
        str(results),
    ]
    return CliRunner().invoke(main, [*args, *extra])


def test_score_writes_reports_with_official_figures(mini: Path, tmp_path: Path):
    result = _score(mini, mini / "results-reference", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    official = json.loads((mini / "official-scores.json").read_text())

    written = json.loads((tmp_path / "scores.json").read_text())
    assert written["global"]["J&F-Mean"] == pytest.approx(official["global"]["J&F-Mean"], abs=1e-6)
    assert written["per_object"]["train_3"]["F-Mean"] == pytest.approx(0.5, abs=1e-6)
    assert "numpy" in written["versions"]

    with (tmp_path / "global_results-val.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["J&F-Mean"]) == round(official["global"]["J&F-Mean"], 3)
    with (tmp_path / "per-sequence_results-val.csv").open(newline="") as handle:
        names = [r["Sequence"] for r in csv.DictReader(handle)]
    assert names == list(official["per_object"])
    # The printed table holds the official figure in percent, one decimal (0.78292 -> 78.3).
    assert "J&F-Mean" in result.stdout
    assert f"| {100 * official['global']['J&F-Mean']:.1f} |" in result.stdout
    assert "78.3" in result.stdout


def test_score_reads_what_a_run_covered(mini: Path, tmp_path: Path):
    """A folder holding only some imageset sequences is scored on those, announced."""
    results = tmp_path / "results"
    shutil.copytree(mini / "results-reference" / "car-shadow", results / "car-shadow")
    result = _score(mini, results)
    assert result.exit_code == 0, result.output
    assert "PARTIAL, 1 of" in result.stderr
    scores = json.loads((results / "scores.json").read_text())
    assert list(scores["per_object"]) == ["car-shadow_1"] and scores["sequences"] == ["car-shadow"]


def test_score_of_rle_file_writes_beside_it_in_its_own_folder(mini: Path, tmp_path: Path):
    json_path = tmp_path / "method.json"
    runner = CliRunner()
    assert runner.invoke(main, ["convert", str(mini / "results-reference"), str(json_path),
                                "--to", "rle"]).exit_code == 0
    result = _score(mini, json_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "method-scores" / "global_results-val.csv").is_file()
    assert (tmp_path / "method-scores" / "scores.json").is_file()
    assert not (tmp_path / "global_results-val.csv").exists()


def test_score_defaults_out_to_results_and_accepts_sequences(mini: Path, tmp_path: Path):
    results = tmp_path / "results"
    shutil.copytree(mini / "results-reference" / "car-shadow", results / "car-shadow")
    result = _score(mini, results, "--sequences", "car-shadow")
    assert result.exit_code == 0, result.output
    scores = json.loads((results / "scores.json").read_text())
    assert list(scores["per_object"]) == ["car-shadow_1"]
    assert (results / "per-sequence_results-val.csv").is_file()


def test_missing_frame_exits_2_with_one_line(mini: Path, tmp_path: Path):
    results = tmp_path / "results"
    shutil.copytree(mini / "results-reference" / "car-shadow", results / "car-shadow")
    (results / "car-shadow" / "00012.png").unlink()
    result = _score(mini, results, "--sequences", "car-shadow")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("error: ") and "car-shadow/00012.png" in lines[0]
    assert not (results / "scores.json").exists()


def test_unknown_tasks_and_misplaced_options_are_refused_clearly(mini: Path):
    result = _score(mini, mini / "results-reference", "--task", "kinetics")
    assert result.exit_code == 2
    assert "kinetics" in result.stderr and "davis" in result.stderr
    result = _score(mini, mini / "results-reference", "--task", "vip", "--score-size", "480x880")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --score-size: only used by --task davis"
    result = _score(mini, mini / "results-reference", "--score-size", "480by880")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --score-size: must look like 480x880")


def test_convert_round_trip_scores_identically(mini: Path, tmp_path: Path):
    runner = CliRunner()
    json_path = tmp_path / "results.json"
    to_rle = runner.invoke(
        main, ["convert", str(mini / "results-reference"), str(json_path), "--to", "rle"]
    )
    assert to_rle.exit_code == 0, to_rle.output
    png_dir = tmp_path / "png"
    to_png = runner.invoke(
        main,
        [
            "convert",
            str(json_path),
            str(png_dir),
            "--to",
            "png",
            "--palette-from",
            str(mini / "DAVIS"),
        ],
    )
    assert to_png.exit_code == 0, to_png.output
    assert len(list(png_dir.glob("*/*.png"))) == 94

    from_json = _score(mini, json_path, "--out", str(tmp_path / "a"))
    from_png = _score(mini, png_dir, "--out", str(tmp_path / "b"))
    assert from_json.exit_code == from_png.exit_code == 0
    a = json.loads((tmp_path / "a" / "scores.json").read_text())
    b = json.loads((tmp_path / "b" / "scores.json").read_text())
    assert a["global"] == b["global"] and a["per_object"] == b["per_object"]
    official = json.loads((mini / "official-scores.json").read_text())
    assert a["global"]["J&F-Mean"] == pytest.approx(official["global"]["J&F-Mean"], abs=1e-6)
