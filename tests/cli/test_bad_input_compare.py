"""`vprop compare` on hostile input: one `error:` line, exit 2, earlier comparison untouched."""

from __future__ import annotations

import pytest
from hostile import TINY_EVAL, Guard, copy_davis, invoke, refused

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data):
    """A 4-frame DAVIS copy and a finished comparison (random init) made from it."""
    base = tmp_path_factory.mktemp("hostile-compare")
    davis = copy_davis(shared_data / "davis-mini" / "DAVIS", base, {"train": 4})
    done = base / "done"
    result = invoke("compare", "random", "--task", "davis", *TINY_EVAL, "--data-root",
                    str(davis), "--out", str(done))
    assert result.exit_code == 0, result.output
    assert (done / "comparison.md").is_file()
    return {"davis": davis, "done": done}


def _compare(world, *args: str, out=None) -> list[str]:
    return ["compare", *args, "--task", "davis", *TINY_EVAL, "--data-root", str(world["davis"]),
            "--out", str(out or world["done"])]


def test_missing_checkpoint(world, tmp_path):
    guard = Guard(world["davis"], world["done"])
    missing = str(tmp_path / "none.pth")
    refused(guard, missing, *_compare(world, "random", missing))


def test_out_is_a_file(world, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    guard = Guard(world["davis"], world["done"], target)
    refused(guard, str(target), *_compare(world, "random", out=target))


def test_nan_temperature(world):
    guard = Guard(world["davis"], world["done"])
    refused(guard, "--temperature", *_compare(world, "random", "--temperature", "nan"))


def test_out_inside_the_dataset(world):
    guard = Guard(world["davis"], world["done"])
    refused(guard, "--out", *_compare(world, "random", out=world["davis"] / "cmp"))


def test_escaping_sequence(world):
    guard = Guard(world["davis"], world["done"])
    refused(guard, "--sequences", *_compare(world, "random", "--sequences", "../x"))
