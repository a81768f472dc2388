"""--logger tensorboard / wandb: trackers get a copy of log.jsonl (the source of truth)."""

import json
import sys

import pytest
from click.testing import CliRunner

from vprop.cli.main import main
from vprop.cropmae.config import TrainConfig
from vprop.cropmae.recon_viz import LABEL_WIDTH
from vprop.cropmae.train import run_pretraining

TINY = dict(arch="vit_test_patch16", img_size=64, decoder_dim=64, decoder_ffn_dim=128,
            workers=0, log_every=1, progress=False, save_every=1000, subset=40, batch_size=10,
            epochs=2, lr=1e-3, recon_count=2)


def _jsonl(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_tensorboard_events_hold_the_jsonl_values(shared_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    run_pretraining(TrainConfig(data=str(shared_data / "images-mini"), output_dir=str(out),
                                logger="tensorboard", log_images_every=1, **TINY))
    lines = [line for line in _jsonl(out) if "loss" in line]
    assert len(lines) == 8  # 40 images / batch 10 x 2 epochs
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0,
                                                                       "images": 0})
    events.Reload()
    for tag, key in (("train/loss", "loss"), ("train/lr", "lr")):
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == [line["step"] for line in lines]
        assert [e.value for e in logged] == pytest.approx([line[key] for line in lines],
                                                          rel=1e-6)  # float32 in the events
    images = events.Images("reconstructions")
    assert [image.step for image in images] == [4, 8]  # the end of each epoch
    # the Fig. 3 panel: labelled rows, 4 rows x 2 samples of 64 px with 4 px gaps
    assert (images[0].width, images[0].height) == (LABEL_WIDTH + 2 * 64 + 4, 4 * 64 + 3 * 4)


def test_missing_wandb_is_one_line_error(shared_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    result = CliRunner().invoke(main, [
        "pretrain", "--data", str(shared_data / "images-mini"), "--output-dir",
        str(tmp_path / "run"), "--logger", "wandb", "--arch", "vit_test_patch16",
        "--img-size", "64", "--epochs", "1", "--batch-size", "10", "--subset", "10",
        "--workers", "0", "--no-progress"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: --logger wandb: the wandb package is not installed")
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / "log.jsonl").exists()  # stopped before training


def test_wandb_offline_run_when_installed(shared_data, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb (optional extra vprop[wandb]) not installed")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    run_pretraining(TrainConfig(data=str(shared_data / "images-mini"), output_dir=str(out),
                                logger="wandb", log_images_every=1,
                                **{**TINY, "epochs": 1}))
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert list(runs[0].glob("files/media/images/reconstructions_*.png"))
