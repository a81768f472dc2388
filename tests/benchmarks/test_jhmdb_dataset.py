"""JHMDB reader: the real clip, list formats, the synthetic sample and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from vprop.benchmarks.jhmdb.dataset import load_clip, load_clips, read_clip_list, read_joints
from vprop.benchmarks.jhmdb.synthetic import joint_track, make_jhmdb_sample
from vprop.errors import VpropError

REAL_CLIP = "catch/Goal_Keeping_Tips_catch_f_cm_np1_fr_med_2"


def test_real_clip_from_its_list(shared_data):
    root = shared_data / "jhmdb-mini"
    (clip,) = load_clips(root)
    assert clip.name == REAL_CLIP
    assert len(clip.frames) == 40 and clip.frames[0].name == "00001.png"
    assert clip.size == (240, 320)
    assert clip.joints.shape == (40, 15, 2)
    # pos_img[:, 0, 0] = (286.5, 106.5) in the .mat (1-based) -> 0-based.
    assert clip.joints[0, 0].tolist() == [285.5, 105.5]


def test_list_formats(tmp_path):
    crw = tmp_path / "jhmdb_vallist.txt"
    crw.write_text(
        "datasets/jhmdb/joint_positions/pour/clip_a/joint_positions.mat "
        "datasets/jhmdb/Rename_Images/pour/clip_a\n"
        "Rename_Images/golf/clip_b joint_positions/golf/clip_b/joint_positions.mat\n"
        "\n# a comment\njump/clip_c\n"
        "jump/clip_c\n"
    )
    assert read_clip_list(crw) == ["pour/clip_a", "golf/clip_b", "jump/clip_c"]
    official = tmp_path / "catch_test_split1.txt"
    official.write_text("clip_d.avi 1\nclip_e.avi 2\n")
    assert read_clip_list(official) == ["catch/clip_e"]


def test_bad_list_line_names_the_file(tmp_path):
    bad = tmp_path / "list.txt"
    bad.write_text("just some words here\n")
    with pytest.raises(VpropError, match=r"list\.txt.*line 1"):
        read_clip_list(bad)


def test_missing_list_asks_for_one(tmp_path):
    (tmp_path / "Rename_Images").mkdir()
    with pytest.raises(VpropError, match="clip list"):
        load_clips(tmp_path)


def test_synthetic_sample_is_official_layout(tmp_path):
    root = make_jhmdb_sample(tmp_path)
    assert "Synthetic" in (root / "SYNTHETIC.txt").read_text()
    clips = load_clips(root)
    assert len(clips) == 2
    for clip in clips:
        assert clip.size == (240, 320) and len(clip.frames) == 10
    first = clips[0]
    np.testing.assert_allclose(first.joints, joint_track((110.0, 118.0), (7.0, 0.5)))
    # A bare clip name is found under its class.
    (again,) = load_clips(root, sequences=[first.name.split("/")[1]])
    assert again.name == first.name


def test_mat_without_pos_img_names_the_file(tmp_path):
    mat = tmp_path / "joint_positions.mat"
    scipy.io.savemat(str(mat), {"pos_world": np.zeros((2, 15, 3))})
    with pytest.raises(VpropError, match=r"joint_positions\.mat.*pos_img"):
        read_joints(mat)


def test_corrupt_or_misshaped_mat_names_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.mat"
    corrupt.write_bytes(b"not a mat file at all" * 4)
    with pytest.raises(VpropError, match=r"corrupt\.mat"):
        read_joints(corrupt)
    flat = tmp_path / "flat.mat"
    scipy.io.savemat(str(flat), {"pos_img": np.zeros((15, 3))})
    with pytest.raises(VpropError, match=r"flat\.mat.*2 x J x T"):
        read_joints(flat)


def test_frame_count_must_match_the_annotation(tmp_path):
    root = make_jhmdb_sample(tmp_path)
    name = load_clips(root)[0].name
    (root / "Rename_Images" / name / "00010.png").unlink()
    mat = root / "joint_positions" / name / "joint_positions.mat"
    with pytest.raises(VpropError, match=r"joint_positions\.mat.*10 frames.*9 frames"):
        load_clip(root, name)
    assert str(mat) in str(pytest.raises(VpropError, load_clip, root, name).value)


def test_missing_annotation_names_the_file(tmp_path):
    root = make_jhmdb_sample(tmp_path)
    name = load_clips(root)[0].name
    shutil.rmtree(root / "joint_positions" / name)
    with pytest.raises(VpropError, match="joint annotation not found"):
        load_clip(root, name)


def test_unknown_clip_is_reported(tmp_path):
    root = make_jhmdb_sample(tmp_path)
    with pytest.raises(VpropError, match="not found"):
        load_clips(root, sequences=["walk/nope"])
    with pytest.raises(VpropError, match="matches 0 folders"):
        load_clips(root, sequences=["nope"])
    assert Path(root / "val_list.txt").is_file()
