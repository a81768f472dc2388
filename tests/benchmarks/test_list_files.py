"""The one list-file reader behind JHMDB's clip lists and VIP's video lists."""

from __future__ import annotations

import re

import pytest

from vprop.benchmarks.io import name_after_marker
from vprop.benchmarks.jhmdb.dataset import read_clip_list
from vprop.benchmarks.vip.dataset import read_video_list
from vprop.errors import VpropError

READERS = [(read_clip_list, "JHMDB clip", "clip"), (read_video_list, "VIP video", "video")]


@pytest.mark.parametrize("read, what, unit", READERS)
def test_messages_name_the_file_and_the_dataset(tmp_path, read, what, unit):
    missing = tmp_path / "none.txt"
    with pytest.raises(VpropError, match=f"^{re.escape(str(missing))}: {what} list not found$"):
        read(missing)
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n")
    with pytest.raises(VpropError, match=f"^{re.escape(str(empty))}: the {unit} list is empty$"):
        read(empty)
    bad = tmp_path / "bad.txt"
    bad.write_text("# header\nthree words here\n")
    with pytest.raises(VpropError, match=f"line 2 names no {what}: 'three words here'$"):
        read(bad)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(VpropError, match=f"^{re.escape(str(binary))}: cannot read the {what}"):
        read(binary)


def test_names_after_the_last_marker_folder():
    token = "/x/Rename_Images/old/Rename_Images/pour/clip_a/00001.png"
    assert name_after_marker(token, ["Rename_Images"], 2) == "pour/clip_a"
    assert name_after_marker("a\\Images\\videos3", ["Images"], 1) == "videos3"
    assert name_after_marker("Rename_Images/pour", ["Rename_Images", "joint_positions"], 2) is None
    assert name_after_marker("videos3", ["Images"], 1) is None
