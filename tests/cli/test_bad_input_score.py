"""`vprop score` and `vprop convert` on hostile input: one `error:` line, exit 2, nothing written
into the dataset, earlier reports untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hostile import Guard, copy_davis, invoke, refused
from PIL import Image


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data):
    """A 4-frame DAVIS copy, predictions for it, and an earlier finished score report."""
    base = tmp_path_factory.mktemp("hostile-score")
    davis = copy_davis(shared_data / "davis-mini" / "DAVIS", base, {"train": 4})
    results = base / "results"
    shutil.copytree(shared_data / "davis-mini" / "results-reference" / "train", results / "train")
    done = base / "done"
    result = invoke("score", "--data-root", str(davis), "--results", str(results),
                    "--out", str(done), "--no-progress")
    assert result.exit_code == 0, result.output
    return {"davis": davis, "results": results, "done": done}


def _score(world, *args: str, results: Path | None = None, out: Path | None = None,
           data: Path | None = None) -> list[str]:
    return ["score", "--data-root", str(data or world["davis"]),
            "--results", str(results or world["results"]), "--out", str(out or world["done"]),
            "--no-progress", *args]


def _guard(world, *more: Path) -> Guard:
    return Guard(world["davis"], world["results"], world["done"], *more)


@pytest.mark.parametrize("name", ["../train", "/etc", "train/../train", ".."])
def test_sequence_names_must_be_single_components(world, name):
    refused(_guard(world), "--sequences", *_score(world, "--sequences", name))


def test_imageset_outside_imagesets_is_refused(world):
    refused(_guard(world), "--imageset", *_score(world, "--imageset", "../../../etc/hosts"))


def test_imageset_line_escaping_is_refused(world, tmp_path):
    davis = copy_davis(Path(world["davis"]), tmp_path, {"train": 4})
    listing = davis / "ImageSets" / "2017" / "val.txt"
    listing.write_text("../../JPEGImages/480p/train\n")
    refused(_guard(world, davis), str(listing), *_score(world, data=davis))


def test_scoring_the_ground_truth_folder_never_writes_into_it(world):
    annotations = world["davis"] / "Annotations" / "480p"
    line = refused(_guard(world), "--results",
                   "score", "--data-root", str(world["davis"]), "--results", str(annotations),
                   "--no-progress")
    assert "datasets are never written to" in line


def test_out_inside_the_dataset_is_refused(world):
    refused(_guard(world), "--out", *_score(world, out=world["davis"] / "scores"))


def test_missing_results(world, tmp_path):
    refused(_guard(world), str(tmp_path / "none"), *_score(world, results=tmp_path / "none"))


def test_missing_prediction_is_named(world, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(world["results"], results)
    (results / "train" / "00002.png").unlink()
    refused(_guard(world), str(results / "train" / "00002.png"),
            *_score(world, results=results, out=tmp_path / "o"))


def test_prediction_with_an_unknown_object_is_named(world, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(world["results"], results)
    path = results / "train" / "00001.png"
    image = Image.open(path)
    ids = np.asarray(image).copy()
    ids[:5, :5] = 9
    out = Image.fromarray(ids, mode="P")
    out.putpalette(image.getpalette())
    out.save(path)
    refused(_guard(world), [str(path), "object id 9"],
            *_score(world, results=results, out=tmp_path / "o"))


def test_prediction_of_the_wrong_size_is_named(world, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(world["results"], results)
    path = results / "train" / "00001.png"
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="P").save(path)
    refused(_guard(world), [str(path), "size"], *_score(world, results=results,
                                                         out=tmp_path / "o"))


def test_unknown_task(world):
    refused(_guard(world), ["--task", "kinetics"], *_score(world, "--task", "kinetics"))


def test_jhmdb_task_on_a_davis_root_names_the_root(world):
    refused(_guard(world), [str(world["davis"]), "no clip list"],
            *_score(world, "--task", "jhmdb"))


def test_out_is_a_file(world, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    refused(_guard(world, target), str(target), *_score(world, out=target))


def test_only_too_short_sequences(world, tmp_path, shared_data):
    davis = copy_davis(shared_data / "davis-mini" / "DAVIS", tmp_path, {"train": 2})
    refused(_guard(world, davis), "no sequence has a frame to score",
            *_score(world, data=davis, out=tmp_path / "o"))


def test_rle_with_escaping_sequence_name_writes_nothing(world, tmp_path):
    rle = tmp_path / "evil.json"
    rle.write_text(json.dumps({"videos": [], "annotations": [
        {"sequence": "../../escape", "frame": "00000", "object_id": 1, "size": [1, 1],
         "counts": "01"}]}))
    dest = tmp_path / "png"
    refused(_guard(world), [str(rle), "../../escape"], "convert", str(rle), str(dest),
            "--to", "png")
    assert not dest.exists() and not (tmp_path.parent / "escape").exists()


def test_convert_into_the_dataset_is_refused(world, tmp_path):
    rle = tmp_path / "ok.json"
    assert invoke("convert", str(world["results"]), str(rle), "--to", "rle").exit_code == 0
    refused(_guard(world), "DESTINATION", "convert", str(rle),
            str(world["davis"] / "Annotations" / "480p"), "--to", "png",
            "--palette-from", str(world["davis"]))
