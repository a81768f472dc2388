"""The vprop checkpoint format (one module) and the in-memory loading entry point."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from vprop.checkpoints import formats, vprop_format
from vprop.checkpoints.extractor import load_backbone, wrap_encoder
from vprop.checkpoints.loading import build_encoder_from_state
from vprop.cropmae import checkpointing
from vprop.errors import VpropError
from vprop.utils import atomic_write_bytes, atomic_write_json


def test_the_format_is_defined_once():
    meta = vprop_format.metadata("vit_test_patch16", method="cropmae")
    assert meta == {"format": "vprop-pretrain", "version": 1, "arch": "vit_test_patch16",
                    "method": "cropmae"}
    # the pretraining writer/loader and the eval-side adapter use this module, not copies
    assert checkpointing.save_checkpoint is vprop_format.save
    assert checkpointing.load_checkpoint is vprop_format.load
    assert not hasattr(formats, "VPROP_FORMAT_TAG") and not hasattr(checkpointing, "FORMAT_TAG")
    assert formats.detect_format({"vprop": meta, "model": {}}) == "vprop"
    with pytest.raises(VpropError, match="version 2 is not supported"):
        vprop_format.check_metadata({"vprop": {**meta, "version": 2}})


@pytest.mark.parametrize("write", [
    lambda path: vprop_format.save(path, {"vprop": vprop_format.metadata("a"), "x": 1}),
    lambda path: atomic_write_json(path, {"x": 1}),
    lambda path: atomic_write_bytes(path, b"x"),
])
def test_every_atomic_writer_fsyncs_before_the_rename(tmp_path, monkeypatch, write):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace",
                        lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write(tmp_path / "out")
    assert events == ["fsync", "replace"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_checkpoint_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "c.pth"
    vprop_format.save(target, {"vprop": vprop_format.metadata("a"), "x": 1})

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        vprop_format.save(target, {"vprop": vprop_format.metadata("a"), "x": 2})
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth"]
    assert vprop_format.load(target)["x"] == 1


def test_in_memory_weights_load_like_the_same_weights_on_disk(tmp_path, source, encoder_state,
                                                              images):
    state = encoder_state(source)
    path = tmp_path / "c.pth"
    torch.save({"model": state, "vprop": vprop_format.metadata("vit_test_patch16")}, path)
    from_file = load_backbone(None, path)
    model, report = build_encoder_from_state(state, "vit_test_patch16")
    from_memory = wrap_encoder(model, report)
    assert report.ckpt is None and report.sha256 is None and report.format == "plain"
    assert torch.equal(from_memory(images), from_file(images))
    # a whole vprop payload in memory is read like the file (arch from the metadata)
    _, auto = build_encoder_from_state(torch.load(path, weights_only=True), ckpt_format="auto")
    assert auto.format == "vprop" and auto.arch == "vit_test_patch16"


def test_in_memory_weights_that_do_not_fit_are_refused(source, encoder_state):
    state = encoder_state(source)
    state.pop("blocks.0.attn.qkv.weight")
    with pytest.raises(VpropError, match="lacks encoder weights: blocks.0.attn.qkv.weight"):
        build_encoder_from_state(state, "vit_test_patch16")
