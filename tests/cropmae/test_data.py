import numpy as np
import pytest
import torch
from PIL import Image

from vprop.cropmae.config import TrainConfig, resolve
from vprop.cropmae.data import EpochSampler, PairDataset, collate_pairs, steps_per_epoch
from vprop.cropmae.factory import build_dataset
from vprop.cropmae.sources import discover
from vprop.errors import VpropError


def write_image(path, value: int = 128, size=(40, 50)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)


def dataset_for(path, method="cropmae", **overrides) -> PairDataset:
    source = discover(path, "auto", method)
    config = resolve(TrainConfig(data=str(path), method=method, arch="vit_test_patch16",
                                 img_size=32, **overrides), source.format)
    return build_dataset(config, source)


def test_discovers_the_real_image_sample(shared_data):
    source = discover(shared_data / "images-mini", "auto", "cropmae")
    assert source.format == "images" and len(source.clips) == 200


def test_image_folder_is_recursive_and_sorted(tmp_path):
    for name in ("n02/b.JPEG", "n01/a.jpg", "n01/sub/c.png"):
        write_image(tmp_path / name)
    (tmp_path / "n01" / "notes.txt").write_text("x")
    source = discover(tmp_path, "auto", "cropmae")
    assert [c.path.relative_to(tmp_path).as_posix() for c in source.clips] == [
        "n01/a.jpg", "n01/sub/c.png", "n02/b.JPEG"]


def test_video_folder_list_file_and_frame_folders(shared_data, tmp_path):
    videos = discover(shared_data / "videos", "auto", "siammae")
    assert videos.format == "videos" and [c.path.name for c in videos.clips] == [
        "dog.mp4", "example.mp4"]
    listing = tmp_path / "train.txt"
    listing.write_text(f"# K400 style\n{shared_data / 'videos' / 'dog.mp4'} 12\nclips/a.mp4,3\n")
    listed = discover(listing, "auto", "siammae")
    assert [c.path for c in listed.clips] == [shared_data / "videos" / "dog.mp4",
                                             tmp_path / "clips" / "a.mp4"]
    for i in range(3):
        write_image(tmp_path / "frames" / "v1" / f"{i:05d}.jpg")
    write_image(tmp_path / "frames" / "v2" / "00000.jpg")
    frames = discover(tmp_path / "frames", "auto", "siammae")
    assert frames.format == "frames" and [len(c.frames) for c in frames.clips] == [3, 1]


def test_unsuitable_data_is_reported(tmp_path, shared_data):
    with pytest.raises(VpropError, match="does not exist"):
        discover(tmp_path / "nope", "auto", "cropmae")
    with pytest.raises(VpropError, match="no images"):
        discover(tmp_path, "images", "cropmae")
    with pytest.raises(VpropError, match="siammae needs videos"):
        discover(shared_data / "images-mini", "images", "siammae")


def test_samples_are_a_pure_function_of_seed_epoch_index(shared_data):
    dataset = dataset_for(shared_data / "images-mini")
    a, b, c = dataset[(0, 7)], dataset[(0, 7)], dataset[(1, 7)]
    assert a["views"].shape == (1, 2, 3, 32, 32) and a["views"].dtype == torch.uint8
    assert a["noise"].shape == (1, 4)
    assert torch.equal(a["views"], b["views"]) and torch.equal(a["noise"], b["noise"])
    assert not torch.equal(a["views"], c["views"])


def test_corrupt_files_are_skipped_and_reported(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"good{i}.png", value=50 * (i + 1))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    dataset = dataset_for(tmp_path)
    broken = [c.path.name for c in dataset.source.clips].index("broken.jpg")
    item = dataset[(0, broken)]
    assert len(item["skipped"]) >= 1 and "broken.jpg" in item["skipped"][0]
    assert item["views"].float().mean() > 0  # filled from a readable image instead
    batch = collate_pairs([dataset[(0, i)] for i in range(4)])
    assert batch["views"].shape == (4, 2, 3, 32, 32) and len(batch["skipped"]) >= 1


def test_all_corrupt_data_fails_with_one_line(tmp_path):
    for i in range(2):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"junk")
    dataset = dataset_for(tmp_path)
    with pytest.raises(VpropError, match="undecodable items in a row"):
        dataset[(0, 0)]


def test_frame_folder_pairs_respect_the_gap_and_order(tmp_path):
    for i in range(60):  # frame i has grey level 4 * i
        write_image(tmp_path / "clip" / f"{i:05d}.png", value=4 * i, size=(24, 24))
    dataset = dataset_for(tmp_path, method="siammae", repeated_sampling=3)
    for index_epoch in range(10):
        item = dataset[(index_epoch, 0)]
        assert item["views"].shape == (3, 2, 3, 32, 32)
        for pair in item["views"]:
            first, second = (int(round(v.float().mean().item())) // 4 for v in pair)
            assert 4 <= second - first < 48


def test_siammae_on_the_real_mp4_clips(shared_data):
    dataset = dataset_for(shared_data / "videos", method="siammae")
    item = dataset[(0, 1)]  # example.mp4
    views = item["views"].float()
    assert views.shape == (1, 2, 3, 32, 32)
    # same crop of frames 4-47 apart: close but not identical
    difference = (views[0, 0] - views[0, 1]).abs().mean().item()
    assert 0 < difference < 60


def test_world_size_does_not_change_the_global_batches():
    size, batch = 50, 4
    single = list(EpochSampler(size, 0, 1, seed=3))
    single.extend([])
    ranks = [list(EpochSampler(size, r, 2, seed=3)) for r in range(2)]
    for step in range(steps_per_epoch(size, 2, batch // 2, 1)):
        together = ranks[0][step * 2:(step + 1) * 2] + ranks[1][step * 2:(step + 1) * 2]
        assert sorted(together) == sorted(single[step * batch:(step + 1) * batch])


def test_sampler_resumes_mid_epoch_and_reshuffles_per_epoch():
    sampler = EpochSampler(30, seed=0)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start=12)
    assert list(sampler) == full[12:] and len(sampler) == 18
    sampler.set_epoch(3)
    assert [i for _, i in sampler] != [i for _, i in full]
    assert sorted(i for _, i in full) == list(range(30))
