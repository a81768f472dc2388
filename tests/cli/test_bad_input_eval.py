"""`vprop eval --task davis` on hostile input: one `error:` line, exit 2, nothing overwritten.

Every case hashes the dataset and an earlier finished run folder before the bad run and
checks them afterwards (see ``hostile.Guard``).
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from hostile import TINY_EVAL, Guard, TinyFs, copy_davis, invoke, refused

from vprop.checkpoints.registry import create_vit
from vprop.safety import RunLock

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data):
    """A 4-frame DAVIS copy and a finished run folder made from it."""
    base = tmp_path_factory.mktemp("hostile-eval")
    davis = copy_davis(shared_data / "davis-mini" / "DAVIS", base, {"train": 4})
    done = base / "done"
    result = invoke("eval", "--task", "davis", *TINY_EVAL, "--data-root", str(davis),
                    "--out", str(done))
    assert result.exit_code == 0, result.output
    return {"base": base, "davis": davis, "done": done}


def _eval(world, *args: str, data: Path | None = None, out: Path | None = None) -> list[str]:
    return ["eval", "--task", "davis", *TINY_EVAL,
            "--data-root", str(data or world["davis"]), "--out", str(out or world["done"]), *args]


@pytest.fixture
def own_davis(world, tmp_path):
    """A private copy of the DAVIS sample that a case may damage."""
    return copy_davis(Path(world["davis"]), tmp_path, {"train": 4})


# ----------------------------------------------------------------------------- names escaping
@pytest.mark.parametrize("name", [
    "../../../DAVIS/Annotations/480p/train",  # relative escape
    "..",
    "train/../train",
    "a\\b",
])
def test_sequence_names_must_be_single_components(world, name):
    guard = Guard(world["davis"], world["done"])
    line = refused(guard, "--sequences", *_eval(world, "--sequences", name))
    assert "single folder name" in line


def test_absolute_sequence_name_is_refused(world):
    absolute = str(world["davis"] / "JPEGImages" / "480p" / "train")
    guard = Guard(world["davis"], world["done"])
    refused(guard, "--sequences", *_eval(world, "--sequences", absolute))


@pytest.mark.parametrize("line", ["../../Annotations/480p/train", "/etc"])
def test_list_file_names_must_be_single_components(own_davis, world, line):
    listing = own_davis / "ImageSets" / "2017" / "val.txt"
    listing.write_text(f"train\n{line}\n")
    guard = Guard(own_davis, world["done"])
    refused(guard, str(listing), *_eval(world, data=own_davis))


def test_symlinked_results_folder_into_the_ground_truth_is_refused(world, own_davis, tmp_path):
    out = tmp_path / "run"
    (out / "results").mkdir(parents=True)
    (out / "results" / "train").symlink_to(own_davis / "Annotations" / "480p" / "train")
    guard = Guard(own_davis, world["done"])
    refused(guard, ["results/train", "outside"], *_eval(world, data=own_davis, out=out))


def test_out_inside_the_dataset_is_refused(world):
    guard = Guard(world["davis"], world["done"])
    refused(guard, "--out", *_eval(world, out=world["davis"] / "runs"))


# ----------------------------------------------------------------------------- frames
def test_unpadded_frame_names_are_ordered_naturally(world, tmp_path):
    davis = copy_davis(Path(world["davis"]), tmp_path, {"train": 4})
    for kind, suffix in (("JPEGImages", "jpg"), ("Annotations", "png")):
        folder = davis / kind / "480p" / "train"
        for index in range(12):  # 0..11 -> text order would put 10, 11 after 1
            source = folder / f"{index % 4:05d}.{suffix}"
            shutil.copy(source, folder / f"{index}.{suffix}")
        for index in range(4):
            (folder / f"{index:05d}.{suffix}").unlink()
    from vprop.benchmarks.davis.dataset import load_sequence

    frames = load_sequence(davis, "train").frames
    assert [path.stem for path in frames] == [str(i) for i in range(12)]


def test_missing_middle_frame_names_the_jpeg(world, own_davis):
    (own_davis / "JPEGImages" / "480p" / "train" / "00002.jpg").unlink()
    guard = Guard(own_davis, world["done"])
    refused(guard, "JPEGImages/480p/train/00002.jpg", *_eval(world, data=own_davis))


def test_misnamed_middle_frame_names_the_missing_jpeg(world, own_davis):
    folder = own_davis / "JPEGImages" / "480p" / "train"
    (folder / "00001.jpg").rename(folder / "00001.jpeg")
    guard = Guard(own_davis, world["done"])
    refused(guard, "JPEGImages/480p/train/00001.jpg", *_eval(world, data=own_davis))


def test_last_frame_missing_but_annotated_names_the_jpeg(world, own_davis):
    (own_davis / "JPEGImages" / "480p" / "train" / "00003.jpg").unlink()
    guard = Guard(own_davis, world["done"])
    refused(guard, "JPEGImages/480p/train/00003.jpg", *_eval(world, data=own_davis))


def test_a_frame_that_cannot_be_ordered_is_refused(world, own_davis):
    folder = own_davis / "JPEGImages" / "480p" / "train"
    shutil.copy(folder / "00001.jpg", folder / "extra.jpg")
    guard = Guard(own_davis, world["done"])
    refused(guard, ["JPEGImages/480p/train", "extra.jpg"], *_eval(world, data=own_davis))


def test_corrupt_middle_frame_is_named(world, own_davis, tmp_path):
    (own_davis / "JPEGImages" / "480p" / "train" / "00002.jpg").write_bytes(b"\xff\xd8junk")
    guard = Guard(own_davis, world["done"])
    refused(guard, "00002.jpg", *_eval(world, data=own_davis, out=tmp_path / "r"))


def test_only_too_short_sequences_is_an_error(world, tmp_path):
    davis = copy_davis(Path(world["davis"]), tmp_path, {"train": 2})
    guard = Guard(davis, world["done"])
    refused(guard, ["no sequence has a frame to score", "train"], *_eval(world, data=davis,
                                                                        out=tmp_path / "r"))


def test_short_sequence_is_excluded_from_the_global_mean_with_a_warning(world, tmp_path,
                                                                        shared_data):
    davis = copy_davis(shared_data / "davis-mini" / "DAVIS", tmp_path, {"train": 2,
                                                                       "car-shadow": 3})
    result = invoke(*_eval(world, data=davis, out=tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert "warning: sequence train excluded from the global figures" in result.stderr
    import json

    payload = json.loads((tmp_path / "r" / "results.json").read_text())
    assert set(payload["per_object"]) == {"car-shadow_1"}
    # car-shadow alone: its one scored frame decides the global figures (not null)
    assert payload["global"]["J-Mean"] == pytest.approx(payload["per_object"]["car-shadow_1"]
                                                        ["J-Mean"])
    assert payload["excluded"] == {"train": payload["excluded"]["train"]}


# ----------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("option, value", [
    ("--temperature", "nan"), ("--temperature", "inf"), ("--temperature", "0"),
    ("--radius", "nan"), ("--radius", "-1"), ("--topk", "0"), ("--context", "-1"),
    ("--size", "abcxdef"), ("--batch-size", "0"),
])
def test_bad_numbers_name_their_option(world, option, value):
    guard = Guard(world["davis"], world["done"])
    refused(guard, option, *_eval(world, option, value))


@pytest.mark.parametrize("assignment, field", [
    ("temperature=nan", "temperature"), ("radius=inf", "radius"), ("std=nan,0.2,0.2", "std"),
    ("temperature=0", "temperature"),
])
def test_bad_preset_set_numbers_are_refused(world, assignment, field):
    guard = Guard(world["davis"], world["done"])
    refused(guard, ["--preset-set", field], *_eval(world, "--preset-set", assignment))


def test_nan_weights_stop_naming_sequence_and_frame(world, tmp_path):
    model = create_vit("vit_test_patch16")
    state = model.state_dict()
    state["blocks.0.attn.qkv.weight"][:] = float("nan")
    ckpt = tmp_path / "nan.pth"
    torch.save({"model": state}, ckpt)
    out = tmp_path / "run"
    guard = Guard(world["davis"], world["done"])
    line = refused(guard, ["train", "00000.jpg", "not finite"],
                   *_eval(world, "--ckpt", str(ckpt), out=out))
    assert "features" in line
    assert not (out / ".vprop-done" / "train.json").exists()


def test_unallocatable_input_size_is_one_line(world, tmp_path):
    guard = Guard(world["davis"], world["done"])
    refused(guard, "--size", *_eval(world, "--size", "160000x160000", out=tmp_path / "r"))


# ----------------------------------------------------------------------------- files and folders
def test_out_is_a_file(world, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    guard = Guard(world["davis"], world["done"], target)
    refused(guard, str(target), *_eval(world, out=target))


def test_out_below_a_file(world, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    guard = Guard(world["davis"], world["done"], target)
    refused(guard, [str(target / "run"), "Not a directory"], *_eval(world, out=target / "run"))


def test_missing_data_root(world, tmp_path):
    guard = Guard(world["davis"], world["done"])
    refused(guard, str(tmp_path / "nowhere"),
            *_eval(world, data=tmp_path / "nowhere", out=tmp_path / "r"))


def test_missing_checkpoint(world, tmp_path):
    guard = Guard(world["davis"], world["done"])
    refused(guard, str(tmp_path / "none.pth"), *_eval(world, "--ckpt", str(tmp_path / "none.pth")))


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_malicious_pickle_checkpoint(world, tmp_path):
    ckpt = tmp_path / "evil.pth"
    ckpt.write_bytes(pickle.dumps({"model": _Payload()}, protocol=2))
    guard = Guard(world["davis"], world["done"])
    line = refused(guard, str(ckpt), *_eval(world, "--ckpt", str(ckpt)))
    assert "refusing to unpickle" in line


def test_run_folder_held_by_another_run_is_refused(world):
    guard = Guard(world["davis"], world["done"])
    with RunLock(world["done"]):
        line = refused(guard, str(world["done"]), *_eval(world))
    assert "another vprop run" in line


def test_read_only_out_is_one_line(world, tmp_path):
    fs = TinyFs(tmp_path / "ro", read_only=True)
    try:
        guard = Guard(world["davis"], world["done"])
        refused(guard, "Read-only file system", *_eval(world, out=fs.where / "run"))
    finally:
        fs.close()


def test_full_disk_is_one_line_and_keeps_finished_sequences(world, tmp_path):
    fs = TinyFs(tmp_path / "full", size="12k")
    try:
        guard = Guard(world["davis"], world["done"])
        refused(guard, [str(fs.where / "run"), "No space left on device"],
                *_eval(world, out=fs.where / "run"))
    finally:
        fs.close()
