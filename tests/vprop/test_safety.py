"""The validation layer: names, paths, frame order, floats, the run lock, umask, OSError text."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from vprop.errors import VpropError
from vprop.safety import (
    FINITE,
    RunLock,
    check_inside,
    check_name,
    check_outside_dataset,
    describe_os_error,
    ordered_frames,
    remove_stale_temporaries,
)
from vprop.utils import atomic_write_bytes


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/abs", "a\\b", "x\x00y", "tab\there"])
def test_names_that_are_not_one_component_are_refused(name):
    with pytest.raises(VpropError, match=r"^list\.txt: .*single folder name"):
        check_name(name, "sequence", "list.txt")


@pytest.mark.parametrize("name", ["blackswan", "car-shadow", "videos1", "a b", "..hidden", "é"])
def test_ordinary_names_pass(name):
    assert check_name(name, "sequence", "--sequences") == name


def test_check_inside_follows_symlinks(tmp_path):
    (tmp_path / "run" / "results").mkdir(parents=True)
    (tmp_path / "gt").mkdir()
    (tmp_path / "run" / "results" / "seq").symlink_to(tmp_path / "gt")
    assert check_inside(tmp_path / "run" / "results" / "x", tmp_path / "run")
    with pytest.raises(VpropError, match="outside"):
        check_inside(tmp_path / "run" / "results" / "seq", tmp_path / "run")
    with pytest.raises(VpropError, match="outside"):
        check_inside(tmp_path / "run" / ".." / "gt", tmp_path / "run")


@pytest.mark.parametrize("out", ["data", "data/runs", "."])
def test_run_folder_overlapping_the_dataset_is_refused(tmp_path, out):
    (tmp_path / "data").mkdir()
    with pytest.raises(VpropError, match="^--out: .*never written"):
        check_outside_dataset(tmp_path / out, tmp_path / "data")
    check_outside_dataset(tmp_path / "elsewhere", tmp_path / "data")


def _touch(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return [folder / name for name in names]


def test_frames_are_ordered_by_number_not_text(tmp_path):
    paths = _touch(tmp_path, [f"{i}.jpg" for i in (10, 2, 0, 11, 1, 3, 4, 5, 6, 7, 8, 9)])
    assert [p.stem for p in ordered_frames(paths, tmp_path, ".jpg")] == [str(i) for i in range(12)]


def test_gap_names_the_missing_file_with_its_padding(tmp_path):
    paths = _touch(tmp_path, ["00000.jpg", "00001.jpg", "00003.jpg"])
    with pytest.raises(VpropError, match=r"00002\.jpg: frame missing between 00001\.jpg and "):
        ordered_frames(paths, tmp_path, ".jpg")
    paths = _touch(tmp_path / "b", ["8.jpg", "9.jpg", "11.jpg"])
    with pytest.raises(VpropError, match=r"/10\.jpg: frame missing"):
        ordered_frames(paths, tmp_path / "b", ".jpg")


def test_unorderable_or_duplicate_numbers_are_refused(tmp_path):
    with pytest.raises(VpropError, match="not numbered"):
        ordered_frames(_touch(tmp_path / "a", ["0.jpg", "1.jpg", "x.jpg"]), tmp_path, ".jpg")
    with pytest.raises(VpropError, match="same number"):
        ordered_frames(_touch(tmp_path / "b", ["1.jpg", "01.jpg"]), tmp_path, ".jpg")
    names = ["b.jpg", "a.jpg"]  # no numbers at all: plain name order
    assert [p.name for p in ordered_frames(_touch(tmp_path / "c", names), tmp_path, ".jpg")] == [
        "a.jpg", "b.jpg"]


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN"])
def test_finite_float_refuses_non_finite(text):
    with pytest.raises(click.BadParameter, match="finite"):
        FINITE.convert(text, None, None)
    assert FINITE.convert("0.25", None, None) == 0.25


def test_run_lock_refuses_a_second_holder_and_dies_with_its_process(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(VpropError, match=rf"run: another vprop run \(pid {os.getpid()}\)"):
            RunLock(tmp_path / "run")
    RunLock(tmp_path / "run").release()  # free again
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from vprop.safety import RunLock; "
                               f"RunLock({str(tmp_path / 'run')!r}); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(VpropError, match=f"pid {holder.pid}"):
        RunLock(tmp_path / "run")
    holder.kill()
    holder.wait()
    RunLock(tmp_path / "run").release()  # a killed holder leaves no stale lock


def test_run_lock_leaves_no_folder_it_created_when_nothing_was_written(tmp_path):
    RunLock(tmp_path / "a" / "b").release()
    assert not (tmp_path / "a").exists()
    with RunLock(tmp_path / "c" / "d") as lock:
        (lock.folder / "results.json").write_text("{}")
    assert (tmp_path / "c" / "d" / "results.json").is_file()


def test_atomic_writes_honour_the_umask(tmp_path):
    before = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.json", b"{}")
        os.umask(0o007)
        atomic_write_bytes(tmp_path / "b.json", b"{}")
    finally:
        os.umask(before)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o660


def test_stale_temporaries_are_removed(tmp_path):
    stale = _touch(tmp_path / "run" / "results" / "s", [".00001.png.abc.tmp"])
    stale += _touch(tmp_path / "run", [".checkpoint-last.pth.x1.tmp"])
    keep = _touch(tmp_path / "run", ["checkpoint-last.pth", "notes.tmp"])
    keep += _touch(tmp_path / "run" / "my-data", [".mine.tmp"])  # not a vprop output folder
    assert sorted(remove_stale_temporaries(tmp_path / "run")) == sorted(stale)
    assert all(path.exists() for path in keep)


def test_os_errors_read_as_path_and_reason():
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/checkpoint-last.pth")
    assert describe_os_error(error) == "/runs/x/checkpoint-last.pth: No space left on device"
    exists = FileExistsError(errno.EEXIST, "File exists", "/a")
    assert describe_os_error(exists) == "/a: File exists"


def test_worker_traceback_is_reduced_to_the_original_message():
    folded = ("Caught VpropError in DataLoader worker process 0.\nOriginal Traceback (most recent "
              "call last):\n  File \"x.py\", line 1, in f\n    raise VpropError(...)\n"
              "vprop.errors.VpropError: /data/a.jpg: cannot decode image\n")
    assert str(VpropError(folded)) == "/data/a.jpg: cannot decode image"
