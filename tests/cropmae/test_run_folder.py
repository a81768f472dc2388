"""The run folder: numbered checkpoints are a second name of checkpoint-last.pth."""

from __future__ import annotations

import errno
import os

from vprop.cropmae import run_folder


def test_numbered_checkpoint_is_a_hard_link_or_a_durable_copy(tmp_path, monkeypatch):
    last = tmp_path / run_folder.LAST_CHECKPOINT
    last.write_bytes(b"weights" * 100)
    linked = run_folder.epoch_checkpoint(tmp_path, 1)
    run_folder.link_or_copy(last, linked)
    assert linked.name == "checkpoint-0001.pth" and os.path.samefile(last, linked)

    def cross_device(source, target):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "link", cross_device)
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    copied = run_folder.epoch_checkpoint(tmp_path, 2)
    run_folder.link_or_copy(last, copied)
    assert copied.read_bytes() == last.read_bytes() and not os.path.samefile(last, copied)
    assert len(synced) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-0001.pth", "checkpoint-0002.pth", "checkpoint-last.pth"]
    assert run_folder.saved_checkpoints(tmp_path) == [last, copied, linked]
