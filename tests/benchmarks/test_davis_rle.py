"""COCO RLE interchange: lossless round trips and rejection of corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from vprop.benchmarks.davis.rle import (
    FORMAT_NAME,
    FORMAT_VERSION,
    encode_frame,
    read_rle_json,
    results_folder_to_rle,
    write_png_folder,
    write_rle_json,
)
from vprop.benchmarks.davis.scoring import score_davis
from vprop.benchmarks.io import read_indexed_png
from vprop.errors import VpropError


def id_maps_to_rle(id_maps):
    """In-memory results ``{sequence: {frame: (H, W) ids}}`` as an RLE payload."""
    videos, annotations = [], []
    for sequence, frames in id_maps.items():
        names = list(frames)
        size = list(np.shape(frames[names[0]])) if names else [0, 0]
        videos.append({"sequence": sequence, "frames": names, "size": size})
        for frame in names:
            annotations.extend(encode_frame(sequence, frame, frames[frame]))
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "videos": videos,
        "annotations": annotations,
    }


@pytest.fixture(scope="module")
def mini(shared_data: Path) -> Path:
    return shared_data / "davis-mini"


def test_round_trip_is_lossless_on_real_results(mini: Path, tmp_path: Path):
    folder = mini / "results-reference"
    write_rle_json(tmp_path / "r.json", results_folder_to_rle(folder))
    imported = read_rle_json(tmp_path / "r.json")
    pngs = sorted(folder.glob("*/*.png"))
    assert sum(len(frames) for frames in imported.values()) == len(pngs) == 94
    for path in pngs:
        np.testing.assert_array_equal(
            imported[path.parent.name][path.stem], read_indexed_png(path)[0], err_msg=str(path)
        )


def test_records_hold_one_mask_per_object(mini: Path):
    ids = read_indexed_png(mini / "results-reference" / "train" / "00001.png")[0]
    records = encode_frame("train", "00001", ids)
    assert [r["object_id"] for r in records] == [int(v) for v in np.unique(ids) if v]
    for record in records:
        assert record["size"] == [480, 854] and isinstance(record["counts"], str)
        decoded = mask_utils.decode({"size": record["size"], "counts": record["counts"].encode()})
        np.testing.assert_array_equal(decoded.astype(bool), ids == record["object_id"])


def test_png_to_rle_to_png_scores_identically(mini: Path, tmp_path: Path):
    write_rle_json(tmp_path / "r.json", results_folder_to_rle(mini / "results-reference"))
    written = write_png_folder(read_rle_json(tmp_path / "r.json"), tmp_path / "png", mini / "DAVIS")
    assert written == 94
    original = score_davis(mini / "DAVIS", mini / "results-reference", progress=False)
    assert score_davis(mini / "DAVIS", tmp_path / "png", progress=False) == original
    assert score_davis(mini / "DAVIS", tmp_path / "r.json", progress=False) == original


def test_png_palette_copied_from_ground_truth(mini: Path, tmp_path: Path):
    maps = {"train": {"00001": np.array([[0, 1], [2, 3]], dtype=np.uint8)}}
    write_png_folder(maps, tmp_path, mini / "DAVIS")
    _, palette = read_indexed_png(tmp_path / "train" / "00001.png")
    _, gt_palette = read_indexed_png(
        mini / "DAVIS" / "Annotations" / "480p" / "train" / "00000.png"
    )
    assert palette[:12] == gt_palette[:12]


def test_in_memory_round_trip_keeps_empty_frames(tmp_path: Path):
    maps = {
        "toy": {"a": np.zeros((3, 5), np.uint8), "b": np.array([[0, 2, 2, 0, 9]] * 3, np.uint8)}
    }
    write_rle_json(tmp_path / "t.json", id_maps_to_rle(maps))
    imported = read_rle_json(tmp_path / "t.json")
    assert list(imported["toy"]) == ["a", "b"]
    for frame, ids in maps["toy"].items():
        np.testing.assert_array_equal(imported["toy"][frame], ids)


def _payload_with(record: dict) -> dict:
    return {"annotations": [record]}


def _write(tmp_path: Path, payload) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload))
    return path


def test_corrupt_counts_rejected(tmp_path: Path):
    record = {"sequence": "s", "frame": "0", "object_id": 1, "size": [4, 4], "counts": "5220003"}
    with pytest.raises(VpropError, match="annotation 0.*4x4"):
        read_rle_json(_write(tmp_path, _payload_with(record)))  # encodes 4x5 pixels


def test_overlapping_objects_rejected(tmp_path: Path):
    counts = encode_frame("s", "0", np.ones((2, 2), np.uint8))[0]["counts"]
    records = [
        {"sequence": "s", "frame": "0", "object_id": k, "size": [2, 2], "counts": counts}
        for k in (1, 2)
    ]
    imported = read_rle_json(_write(tmp_path, {"annotations": records}))
    with pytest.raises(VpropError, match="overlaps"):
        imported["s"]["0"]


def test_not_json_or_wrong_layout_rejected(tmp_path: Path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(VpropError, match="x.json"):
        read_rle_json(path)
    with pytest.raises(VpropError, match="annotations"):
        read_rle_json(_write(tmp_path, [1, 2]))


@pytest.mark.parametrize("sequence, frame", [("../escape", "00000"), ("seq", "../../x")])
def test_png_writer_refuses_names_that_escape_the_output_folder(tmp_path, sequence, frame):
    from vprop.benchmarks.davis.rle import write_png_folder

    with pytest.raises(VpropError, match="not a single folder name"):
        write_png_folder({sequence: {frame: np.zeros((4, 4), np.uint8)}}, tmp_path / "out")
    assert not any(tmp_path.rglob("*.png"))
