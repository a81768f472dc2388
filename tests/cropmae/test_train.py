"""End-to-end pretraining runs with a tiny ViT on the real image / video samples."""

import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from vprop.checkpoints.extractor import load_backbone
from vprop.cropmae import checkpointing
from vprop.cropmae.config import TrainConfig, resolve
from vprop.cropmae.factory import build_model
from vprop.cropmae.recon_viz import LABEL_WIDTH
from vprop.cropmae.train import run_pretraining

TINY = dict(arch="vit_test_patch16", img_size=64, decoder_dim=64, decoder_ffn_dim=128,
            workers=0, log_every=1, progress=False, save_every=1000)


def read_log(output_dir):
    lines = [json.loads(line) for line in open(output_dir / "log.jsonl")]
    return [line for line in lines if "loss" in line]


def mean(values):
    return sum(values) / len(values)


def test_cropmae_loss_goes_down_and_checkpoint_evaluates(shared_data, tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(data=str(shared_data / "images-mini"), output_dir=str(out),
                         mask_ratio=0.9, epochs=4, batch_size=20, lr=2e-3, warmup_epochs=0.5,
                         show_reconstructions=True, recon_count=3, **TINY)
    result = run_pretraining(config)
    losses = [line["loss"] for line in read_log(out)]
    assert len(losses) == 40 and result.step == 40
    assert mean(losses[-8:]) < mean(losses[:3]) - 0.15
    # config.json holds every option and the derived run figures
    saved = json.load(open(out / "config.json"))
    assert saved["mask_ratio"] == 0.9 and saved["global_scale"] == [0.1, 1.0]
    assert saved["derived"]["steps_per_epoch"] == 10 and saved["derived"]["global_batch"] == 20
    assert (out / "checkpoint-0004.pth").is_file()
    panel = Image.open(out / "reconstructions" / "step00000040.png")
    assert panel.size == (LABEL_WIDTH + 3 * 64 + 2 * 4, 4 * 64 + 3 * 4)  # labelled rows
    # the checkpoint loads through vprop's checkpoint room and gives the encoder's features
    payload = checkpointing.load_checkpoint(result.last_checkpoint)
    model = build_model(resolve(TrainConfig(**{**TINY, "mask_ratio": 0.9}), "images")).eval()
    checkpointing.import_model_state(model, payload["model"])
    extractor = load_backbone("vit_test_patch16", result.last_checkpoint)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        tokens, _ = model.encode(images)
    ours = torch.nn.functional.normalize(tokens[:, 1:], dim=-1).transpose(1, 2)
    assert torch.allclose(extractor(images).flatten(2), ours, atol=1e-5)


def test_kill_and_resume_continues_the_same_run(shared_data, tmp_path):
    common = dict(data=str(shared_data / "images-mini"), mask_ratio=0.75, epochs=2,
                  batch_size=32, warmup_epochs=0.5, lr=1e-3, **TINY)  # dropout 0.1 kept on
    full = run_pretraining(TrainConfig(output_dir=str(tmp_path / "full"), **common))
    stopped = run_pretraining(TrainConfig(output_dir=str(tmp_path / "cut"),
                                          stop_after_steps=9, **common))
    assert stopped.stopped_early and stopped.step == 9  # mid-epoch 2 (6 steps per epoch)
    resumed = run_pretraining(TrainConfig(output_dir=str(tmp_path / "cut"), resume="auto",
                                          **common))
    assert resumed.step == full.step == 12
    a, b = read_log(tmp_path / "full"), read_log(tmp_path / "cut")
    assert [x["step"] for x in b] == list(range(1, 13))
    for x, y in zip(a, b):
        assert x["lr"] == y["lr"]
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-6, abs=0)
    final_a = torch.load(tmp_path / "full" / "checkpoint-last.pth", weights_only=True)
    final_b = torch.load(tmp_path / "cut" / "checkpoint-last.pth", weights_only=True)
    for key, value in final_a["model"].items():
        assert torch.allclose(value, final_b["model"][key], atol=1e-6), key
    assert final_b["epoch"] == 2 and final_b["step"] == 12


def test_two_gloo_processes_match_one_process(shared_data, tmp_path):
    common = ["--data", str(shared_data / "images-mini"), "--arch", "vit_test_patch16",
              "--img-size", "64", "--mask-ratio", "0.75", "--epochs", "1", "--workers", "0",
              "--log-every", "1", "--no-progress", "--decoder-dropout", "0",
              "--stop-after-steps", "4", "--decoder-dim", "64", "--decoder-ffn-dim", "128",
              "--lr", "1e-3", "--warmup-epochs", "0.1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "vprop.cli.main", "pretrain", *common, "--batch-size", "8",
           "--output-dir", str(tmp_path / "ddp")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    from click.testing import CliRunner

    from vprop.cli.main import main

    single = CliRunner().invoke(main, ["pretrain", *common, "--batch-size", "16",
                                       "--output-dir", str(tmp_path / "one")])
    assert single.exit_code == 0, single.output
    a, b = read_log(tmp_path / "one"), read_log(tmp_path / "ddp")
    assert len(a) == len(b) == 4
    assert len({round(x["loss"], 6) for x in a}) > 1  # the weights do change
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5)
    config = json.load(open(tmp_path / "ddp" / "config.json"))
    assert config["derived"]["world_size"] == 2 and config["derived"]["global_batch"] == 16
    one = torch.load(tmp_path / "one" / "checkpoint-last.pth", weights_only=True)["model"]
    two = torch.load(tmp_path / "ddp" / "checkpoint-last.pth", weights_only=True)["model"]
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5), key


def test_siammae_trains_on_the_real_mp4_clips(shared_data, tmp_path):
    out = tmp_path / "siam"
    config = TrainConfig(data=str(shared_data / "videos"), method="siammae", output_dir=str(out),
                         mask_ratio=0.75, epochs=12, batch_size=2, repeated_sampling=4, lr=2e-3,
                         warmup_epochs=2, **TINY)
    result = run_pretraining(config)
    log = read_log(out)
    assert [line["step"] for line in log] == list(range(1, 13))
    assert mean([line["loss"] for line in log[-3:]]) < log[0]["loss"] - 0.1
    saved = json.load(open(out / "config.json"))
    assert saved["derived"]["data_format"] == "videos"
    assert saved["derived"]["pairs_per_step"] == 8 and saved["global_scale"] == [0.5, 1.0]
    meta = torch.load(result.last_checkpoint, weights_only=True)["vprop"]
    assert meta["method"] == "siammae"


def test_eval_davis_records_jf_of_the_current_encoder(shared_data, tmp_path, davis_train_only):
    from vprop.cropmae.davis_hook import evaluate_encoder_on_davis

    davis = davis_train_only
    out = tmp_path / "run"
    config = TrainConfig(data=str(shared_data / "images-mini"), output_dir=str(out),
                         mask_ratio=0.75, epochs=2, batch_size=50, lr=1e-2, warmup_epochs=0,
                         subset=100, eval_davis=str(davis), eval_every=1, **TINY)
    result = run_pretraining(config)
    events = [json.loads(line) for line in open(out / "log.jsonl")]
    davis_events = [e for e in events if e.get("event") == "davis"]
    assert [(e["epoch"], e["step"]) for e in davis_events] == [(1, 2), (2, 4)]
    assert all(0.0 <= e["J&F"] <= 1.0 for e in davis_events)
    assert result.davis == davis_events
    final = torch.load(result.last_checkpoint, weights_only=True)["model"]
    encoder = {k: v for k, v in final.items() if not k.startswith(("decoder", "mask_token"))}
    again = evaluate_encoder_on_davis(encoder, "vit_test_patch16", davis, tmp_path / "again",
                                      torch.device("cpu"))
    assert again == pytest.approx(davis_events[-1]["J&F"], abs=1e-9)
    assert davis_events[0]["J&F"] != davis_events[1]["J&F"]  # a different encoder each time


def test_corrupt_files_are_counted_and_the_run_goes_on(tmp_path):
    data = tmp_path / "images"
    data.mkdir()
    for i in range(6):
        Image.fromarray(torch.randint(0, 255, (40, 48, 3), dtype=torch.uint8).numpy()).save(
            data / f"ok{i}.png")
    (data / "bad0.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (data / "bad1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "run"
    result = run_pretraining(TrainConfig(data=str(data), output_dir=str(out), mask_ratio=0.75,
                                         epochs=1, batch_size=4, **TINY))
    assert result.step == 2
    log = read_log(out)
    assert log[-1]["skipped_total"] >= 2  # each bad file is drawn once per epoch
    text = (out / "train.log").read_text()
    assert "bad0.jpg" in text and "bad1.png" in text and "warning: skipped" in text


def test_gradient_accumulation_equals_the_larger_batch(shared_data, tmp_path):
    common = dict(data=str(shared_data / "images-mini"), mask_ratio=0.75, epochs=1, lr=1e-3,
                  warmup_epochs=0.1, decoder_dropout=0.0, stop_after_steps=3, subset=64, **TINY)
    big = run_pretraining(TrainConfig(output_dir=str(tmp_path / "big"), batch_size=16, **common))
    acc = run_pretraining(TrainConfig(output_dir=str(tmp_path / "acc"), batch_size=8,
                                      accum_iter=2, **common))
    a, b = read_log(tmp_path / "big"), read_log(tmp_path / "acc")
    assert [x["loss"] for x in a] == pytest.approx([x["loss"] for x in b], rel=1e-5)
    one = torch.load(big.last_checkpoint, weights_only=True)["model"]
    two = torch.load(acc.last_checkpoint, weights_only=True)["model"]
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5), key
