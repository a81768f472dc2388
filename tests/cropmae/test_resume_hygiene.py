"""Resume hygiene: epoch-only checkpoints, log.jsonl truncation, stale temporaries, umask."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from vprop.cropmae.config import TrainConfig
from vprop.cropmae.run_folder import saved_checkpoints
from vprop.cropmae.runlog import truncate_log
from vprop.cropmae.train import run_pretraining

TINY = dict(arch="vit_test_patch16", img_size=32, decoder_dim=32, decoder_ffn_dim=64,
            decoder_depth=1, workers=0, log_every=1, progress=False, batch_size=2,
            device="cpu")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def images(shared_data, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((shared_data / "images-mini").iterdir())[:4]:
        shutil.copy(path, folder)
    return folder  # 4 images, batch 2: 2 steps per epoch


def _records(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_resume_auto_with_only_an_epoch_checkpoint_continues_from_it(images, tmp_path):
    reference = tmp_path / "reference"
    run_pretraining(TrainConfig(data=str(images), output_dir=str(reference), epochs=2, **TINY))
    out = tmp_path / "run"
    run_pretraining(TrainConfig(data=str(images), output_dir=str(out), epochs=2,
                                stop_after_steps=3, save_every=1, **TINY))
    assert (out / "checkpoint-0001.pth").is_file()
    (out / "checkpoint-last.pth").unlink()  # only the epoch-1 checkpoint (step 2) is left
    assert saved_checkpoints(out) == [out / "checkpoint-0001.pth"]
    result = run_pretraining(TrainConfig(data=str(images), output_dir=str(out), epochs=2,
                                         resume="auto", **TINY))
    assert result.step == 4
    assert "resumed from" in (out / "train.log").read_text()
    # step 3 was logged by the first run, dropped on resume and logged again: no duplicates
    steps = [record["step"] for record in _records(out)]
    assert steps == [1, 2, 3, 4]
    ref, got = _weights(reference / "checkpoint-last.pth"), _weights(out / "checkpoint-last.pth")
    assert all(torch.equal(ref[key], got[key]) for key in ref)
    assert [r["loss"] for r in _records(out)] == [r["loss"] for r in _records(reference)]


def test_stale_temporary_checkpoints_are_removed_on_the_next_start(images, tmp_path):
    out = tmp_path / "run"
    run_pretraining(TrainConfig(data=str(images), output_dir=str(out), epochs=2,
                                stop_after_steps=1, **TINY))
    stale = [out / ".checkpoint-last.pth.k1l2.tmp", out / ".checkpoint-0001.pth.tmp"]
    for path in stale:
        path.write_bytes(b"\0" * 4096)  # what a kill during torch.save leaves behind
    run_pretraining(TrainConfig(data=str(images), output_dir=str(out), epochs=2,
                                stop_after_steps=2, resume="auto", **TINY))
    assert not any(path.exists() for path in stale)


def test_outputs_honour_the_umask(images, tmp_path):
    out = tmp_path / "run"
    before = os.umask(0o002)
    try:
        run_pretraining(TrainConfig(data=str(images), output_dir=str(out), epochs=1, **TINY))
    finally:
        os.umask(before)
    for name in ("checkpoint-last.pth", "checkpoint-0001.pth", "config.json", "log.jsonl"):
        assert (out / name).stat().st_mode & 0o777 == 0o664, name


def test_truncate_log_keeps_records_up_to_the_step_and_drops_a_torn_line(tmp_path):
    log = tmp_path / "log.jsonl"
    lines = [json.dumps({"step": s, "loss": 1.0}) for s in (1, 2, 3)]
    lines.insert(2, json.dumps({"event": "davis", "step": 2, "J&F": 0.5}))
    log.write_text("\n".join(lines) + '\n{"step": 4, "lo')
    assert truncate_log(log, 2) == 2
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        {"step": 1, "loss": 1.0}, {"step": 2, "loss": 1.0},
        {"event": "davis", "step": 2, "J&F": 0.5}]
