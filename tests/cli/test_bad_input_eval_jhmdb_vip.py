"""`vprop eval --task jhmdb|vip` on hostile input: one `error:` line, exit 2, no writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hostile import TINY_EVAL, Guard, invoke, refused

from vprop.benchmarks.jhmdb.synthetic import make_jhmdb_sample
from vprop.benchmarks.vip.synthetic import make_vip_sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WALK = "walk/synthetic_walk_f_cm_np1_ri_med_0"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Synthetic JHMDB and VIP samples (official layouts) and a finished JHMDB run."""
    base = tmp_path_factory.mktemp("hostile-jv")
    jhmdb, vip = make_jhmdb_sample(base / "j"), make_vip_sample(base / "v")
    done = base / "done"
    result = invoke("eval", "--task", "jhmdb", *TINY_EVAL, "--data-root", str(jhmdb),
                    "--sequences", WALK, "--out", str(done))
    assert result.exit_code == 0, result.output
    return {"jhmdb": jhmdb, "vip": vip, "done": done}


def _copy(root: Path, dest: Path) -> Path:
    shutil.copytree(root, dest)
    return dest


def _eval(task: str, data: Path, out: Path, *args: str) -> list[str]:
    return ["eval", "--task", task, *TINY_EVAL, "--data-root", str(data), "--out", str(out),
            *args]


def test_jhmdb_mat_with_fewer_than_15_joints_is_refused(samples, tmp_path):
    data = _copy(samples["jhmdb"], tmp_path / "J")
    mat = data / "joint_positions" / WALK / "joint_positions.mat"
    pos = scipy.io.loadmat(str(mat))["pos_img"]
    scipy.io.savemat(str(mat), {"pos_img": pos[:, :13]})
    guard = Guard(data, samples["done"])
    line = refused(guard, [str(mat), "13 joints"],
                   *_eval("jhmdb", data, samples["done"], "--sequences", WALK))
    assert "15" in line


@pytest.mark.parametrize("clip", ["../Rename_Images/walk", "walk/..", "..", "walk/../../x"])
def test_jhmdb_clip_names_cannot_escape(samples, clip):
    guard = Guard(samples["jhmdb"], samples["done"])
    refused(guard, "--sequences",
            *_eval("jhmdb", samples["jhmdb"], samples["done"], "--sequences", clip))


def test_jhmdb_list_file_line_escaping_is_refused(samples, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("Rename_Images/walk/.. joint_positions/walk/..\n")
    guard = Guard(samples["jhmdb"], samples["done"])
    refused(guard, str(listing),
            *_eval("jhmdb", samples["jhmdb"], samples["done"], "--split", str(listing)))


def test_jhmdb_missing_middle_frame_names_the_png(samples, tmp_path):
    data = _copy(samples["jhmdb"], tmp_path / "J")
    frames = sorted((data / "Rename_Images" / WALK).glob("*.png"))
    frames[3].unlink()
    guard = Guard(data, samples["done"])
    refused(guard, str(frames[3]), *_eval("jhmdb", data, tmp_path / "r", "--sequences", WALK))


def test_jhmdb_nan_temperature_is_refused(samples):
    guard = Guard(samples["jhmdb"], samples["done"])
    refused(guard, "--temperature",
            *_eval("jhmdb", samples["jhmdb"], samples["done"], "--temperature", "nan"))


def test_vip_video_names_cannot_escape(samples, tmp_path):
    guard = Guard(samples["vip"], samples["done"])
    refused(guard, "--sequences", *_eval("vip", samples["vip"], tmp_path / "r",
                                         "--sequences", "../Annotations"))


def test_vip_list_line_escaping_is_refused(samples, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("Images/.. Annotations/Category_ids/..\n")
    guard = Guard(samples["vip"], samples["done"])
    refused(guard, str(listing),
            *_eval("vip", samples["vip"], tmp_path / "r", "--split", str(listing)))


def test_vip_annotated_frame_missing_names_the_jpeg(samples, tmp_path):
    data = _copy(samples["vip"], tmp_path / "V")
    frames = sorted((data / "Images" / "videos1").glob("*.jpg"))
    frames[4].unlink()  # its annotation stays
    guard = Guard(data, samples["done"])
    refused(guard, [frames[4].name, "annotation has no frame"],
            *_eval("vip", data, tmp_path / "r", "--sequences", "videos1"))


def test_vip_frames_that_cannot_be_ordered_are_refused(samples, tmp_path):
    data = _copy(samples["vip"], tmp_path / "V")
    folder = data / "Images" / "videos1"
    shutil.copy(sorted(folder.glob("*.jpg"))[1], folder / "cover.jpg")
    guard = Guard(data, samples["done"])
    refused(guard, [str(folder), "cover.jpg"],
            *_eval("vip", data, tmp_path / "r", "--sequences", "videos1"))


def test_vip_out_inside_the_dataset_is_refused(samples):
    guard = Guard(samples["vip"], samples["done"])
    refused(guard, "--out", *_eval("vip", samples["vip"], samples["vip"] / "Images" / "out"))


def test_jhmdb_non_numeric_joint_file_is_refused(samples, tmp_path):
    data = _copy(samples["jhmdb"], tmp_path / "J")
    mat = data / "joint_positions" / WALK / "joint_positions.mat"
    pos = scipy.io.loadmat(str(mat))["pos_img"].astype(np.float64)
    pos[0, 2, 1] = np.nan
    scipy.io.savemat(str(mat), {"pos_img": pos})
    guard = Guard(data, samples["done"])
    refused(guard, [str(mat), "non-finite"],
            *_eval("jhmdb", data, samples["done"], "--sequences", WALK))
