"""VIP reader, channel mapping and the synthetic fixture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vprop.benchmarks.vip.dataset import load_video, load_videos, read_video_list
from vprop.benchmarks.vip.labels import channels_to_ids, check_class_ids, first_frame_channels
from vprop.benchmarks.vip.synthetic import make_vip_sample
from vprop.errors import VpropError


def test_synthetic_sample_is_official_layout(tmp_path):
    root = make_vip_sample(tmp_path)
    assert "Synthetic" in (root / "SYNTHETIC.txt").read_text()
    videos = load_videos(root)
    assert [video.name for video in videos] == ["videos1", "videos2"]
    for video in videos:
        assert video.size == (160, 280) and video.label_size == (160, 280)
        assert len(video.frames) == len(video.annotations) == 10
        assert [a.stem for a in video.annotations] == [f.stem for f in video.frames]
        ids = np.asarray(Image.open(video.annotations[3]))
        assert set(np.unique(ids)) == {0, 2, 4, 8, 13, 14, 15, 16, 17, 18, 19, 255}


def test_synthetic_sample_is_deterministic(tmp_path):
    a = make_vip_sample(tmp_path / "a")
    b = make_vip_sample(tmp_path / "b")
    for rel in ("Images/videos2/000000000007.jpg",
                "Annotations/Category_ids/videos2/000000000007.png"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_list_formats(tmp_path):
    listing = tmp_path / "vip_vallist.txt"
    listing.write_text(
        "datasets/VIP/Images/videos338 datasets/VIP/Annotations/Category_ids/videos338\n"
        "videos12\n\nvideos12\n"
    )
    assert read_video_list(listing) == ["videos338", "videos12"]
    listing.write_text("a/b c/d e\n")
    with pytest.raises(VpropError, match=r"vip_vallist\.txt.*line 1"):
        read_video_list(listing)


def test_bad_class_id_in_first_annotation_names_the_file(tmp_path):
    root = make_vip_sample(tmp_path)
    first = root / "Annotations" / "Category_ids" / "videos1" / "000000000001.png"
    ids = np.asarray(Image.open(first)).copy()
    ids[5, 5] = 25
    Image.fromarray(ids).save(first)
    with pytest.raises(VpropError, match=r"000000000001\.png.*class id 25"):
        load_video(root, "videos1")


def test_annotation_without_frame_is_rejected(tmp_path):
    root = make_vip_sample(tmp_path)
    (root / "Images" / "videos1" / "000000000004.jpg").unlink()
    with pytest.raises(VpropError, match=r"000000000004\.png.*no frame"):
        load_video(root, "videos1")


def test_missing_first_annotation_is_rejected(tmp_path):
    root = make_vip_sample(tmp_path)
    (root / "Annotations" / "Category_ids" / "videos2" / "000000000001.png").unlink()
    with pytest.raises(VpropError, match="first-frame annotation not found"):
        load_video(root, "videos2")


def test_check_class_ids_accepts_0_to_19_and_255():
    check_class_ids(np.array([[0, 19, 255]], np.uint8), "x.png")
    with pytest.raises(VpropError, match=r"x\.png.*class id 20"):
        check_class_ids(np.array([[0, 20, 254]], np.uint8), "x.png")


def test_channels_follow_present_classes_and_255_joins_background():
    ids = np.array([[255, 7, 7], [3, 3, 255]], np.uint8)  # no 0 present, but 255 is
    channels, classes = first_frame_channels(ids)
    assert classes.tolist() == [0, 3, 7]
    assert channels.tolist() == [[0, 2, 2], [1, 1, 0]]
    back = channels_to_ids(torch.tensor([[2, 1, 0]]), classes)
    assert back.tolist() == [[7, 3, 0]] and back.dtype == np.uint8
    _, plain = first_frame_channels(np.array([[4, 9]], np.uint8))
    assert plain.tolist() == [4, 9]
