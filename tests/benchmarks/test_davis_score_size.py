"""`--score-size 480x880` (the CropMAE/SiamMAE DAVIS_480_880 protocol) and `vprop prepare davis`.

Expected figures come from ``official_davis.py`` beside this file: an independent line-by-line
re-implementation of the official davis2017-evaluation, first checked here against what the
official evaluator printed for ``davis-mini`` (``official-scores.json``), then run on the copy
``vprop prepare davis --resize 480x880`` writes and the 880x480 PNGs ``vprop eval`` writes.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from hostile import copy_davis
from PIL import Image

from vprop.cli.main import main

SEQUENCES = ["car-shadow", "train"]


def _official():
    path = Path(__file__).with_name("official_davis.py")
    spec = importlib.util.spec_from_file_location("official_davis", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, Path]:
    """(native DAVIS root, its 480x880 copy written by `vprop prepare davis`)."""
    source = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "davis-mini" / "DAVIS"
    if not source.is_dir():
        pytest.skip("real data samples not found")
    before = _snapshot(source)
    dest = tmp_path_factory.mktemp("prepared") / "DAVIS_480_880"
    result = CliRunner().invoke(main, ["prepare", "davis", "--resize", "480x880", str(source),
                                       str(dest)])
    assert result.exit_code == 0, result.output
    assert _snapshot(source) == before  # the source dataset is never written to
    return source, dest


def test_independent_formulas_reproduce_the_official_evaluator(shared_data):
    mini = shared_data / "davis-mini"
    official = json.loads((mini / "official-scores.json").read_text())
    ours = _official().evaluate(mini / "DAVIS", mini / "results-reference",
                                ["blackswan", "car-shadow", "train"])
    for key, value in official["global"].items():
        assert ours["global"][key] == pytest.approx(value, abs=1e-12), key
    for name, value in official["per_object"].items():
        assert ours["per_object"][name]["J-Mean"] == pytest.approx(value["J_mean"], abs=1e-12)
        assert ours["per_object"][name]["F-Mean"] == pytest.approx(value["F_mean"], abs=1e-12)


def test_prepare_writes_the_official_layout_at_880x480(prepared):
    source, dest = prepared
    assert (dest / "ImageSets" / "2017" / "val.txt").read_text() == \
        (source / "ImageSets" / "2017" / "val.txt").read_text()
    for seq in ("blackswan", "car-shadow", "train"):
        frames = sorted((source / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        copies = sorted((dest / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        assert [p.name for p in copies] == [p.name for p in frames]
        assert Image.open(copies[0]).size == (880, 480)
        # the CropMAE loader's frame resize (float bilinear), up to JPEG re-encoding
        loader = cv2.resize(cv2.imread(str(frames[0])).astype(np.float32) / 255.0, (880, 480))
        written = cv2.imread(str(copies[0])).astype(np.float32) / 255.0
        assert np.abs(written - loader).mean() < 2 / 255
        for annotation in sorted((source / "Annotations" / "480p" / seq).glob("*.png")):
            original = Image.open(annotation)
            copy = Image.open(dest / "Annotations" / "480p" / seq / annotation.name)
            assert copy.mode == "P" and copy.getpalette() == original.getpalette()
            expected = cv2.resize(np.array(original), (880, 480), interpolation=cv2.INTER_NEAREST)
            assert np.array_equal(np.array(copy), expected)


def test_prepare_refuses_to_write_into_the_source_or_a_non_empty_folder(prepared, tmp_path):
    source, dest = prepared
    for target in (source / "resized", dest):
        result = CliRunner().invoke(main, ["prepare", "davis", "--resize", "480x880",
                                           str(source), str(target)])
        assert result.exit_code == 2
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert not (source / "resized").exists()


@pytest.mark.usefixtures("one_torch_thread")
def test_score_size_480x880_equals_the_official_formulas_on_the_prepared_copy(prepared, tmp_path):
    source = copy_davis(prepared[0], tmp_path, {"car-shadow": 12, "train": 4})
    dest = tmp_path / "DAVIS_480_880"
    result = CliRunner().invoke(main, ["prepare", "davis", "--resize", "480x880", str(source),
                                       str(dest)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    common = ["--task", "davis", "--arch", "vit_test_patch16", "--no-progress", "--device", "cpu",
              "--data-root", str(source), "--sequences", ",".join(SEQUENCES), "--out", str(out)]
    result = CliRunner().invoke(main, ["eval", *common, "--score-size", "480x880"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["score_size"] == [480, 880]
    assert Image.open(out / "results" / "train" / "00001.png").size == (880, 480)

    expected = _official().evaluate(dest, out / "results", SEQUENCES)
    for key, value in expected["global"].items():
        assert payload["global"][key] == pytest.approx(value, abs=1e-12), key
    for name, value in expected["per_object"].items():
        assert payload["per_object"][name]["J-Mean"] == pytest.approx(value["J-Mean"], abs=1e-12)
        assert payload["per_object"][name]["F-Mean"] == pytest.approx(value["F-Mean"], abs=1e-12)

    # the same PNGs scored natively on the prepared copy give the same figures
    scored = CliRunner().invoke(main, ["score", "--data-root", str(dest), "--results",
                                       str(out / "results"), "--sequences", ",".join(SEQUENCES),
                                       "--out", str(tmp_path / "scores"), "--no-progress"])
    assert scored.exit_code == 0, scored.output
    rescored = json.loads((tmp_path / "scores" / "scores.json").read_text())
    assert rescored["global"] == pytest.approx(payload["global"], abs=1e-12)

    # one flag apart: the native protocol recomputes (the score size is in the signature)
    result = CliRunner().invoke(main, ["eval", *common, "--score-size", "native"])
    assert result.exit_code == 0, result.output
    native = json.loads((out / "results.json").read_text())
    assert native["score_size"] == "native" and native["skipped_finished"] == []
    assert Image.open(out / "results" / "train" / "00001.png").size == (854, 480)
    assert native["global"]["J&F-Mean"] != payload["global"]["J&F-Mean"]
