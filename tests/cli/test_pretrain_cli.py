import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from vprop.cli.main import main
from vprop.cropmae.recon_viz import LABEL_WIDTH

TINY = ["--arch", "vit_test_patch16", "--img-size", "32", "--workers", "0", "--no-progress",
        "--decoder-dim", "32", "--decoder-ffn-dim", "64", "--decoder-depth", "1",
        "--stop-after-steps", "1", "--batch-size", "2"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def frame_folder(root, frames=12):
    for clip in ("a", "b"):
        for i in range(frames):
            path = root / clip / f"{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((40, 40, 3), 5 * i, np.uint8)).save(path)
    return root


def test_help_lists_the_ablation_knobs():
    result = CliRunner().invoke(main, ["pretrain", "--help"])
    assert result.exit_code == 0
    for flag in ("--method", "--mask-ratio", "--crop-strategy", "--decoder-depth",
                 "--decoder-dim", "--color-jitter", "--gaussian-blur", "--resume",
                 "--eval-davis", "--show-reconstructions", "--accum-iter", "--precision"):
        assert flag in result.output


def test_missing_data_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["pretrain", "--data", str(tmp_path / "none"), *TINY])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {tmp_path / 'none'}: data path does "
                                                  "not exist"]


@pytest.mark.parametrize(("method", "ratio", "scale"),
                         [("cropmae", 0.985, [0.1, 1.0]), ("siammae", 0.95, [0.5, 1.0])])
def test_method_defaults_land_in_config_json(tmp_path, shared_data, method, ratio, scale):
    data = shared_data / "images-mini" if method == "cropmae" else frame_folder(tmp_path / "f")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["pretrain", "--method", method, "--data", str(data),
                                       "--output-dir", str(out), "--subset", "8", *TINY])
    assert result.exit_code == 0, result.output
    config = json.load(open(out / "config.json"))
    assert config["method"] == method and config["mask_ratio"] == ratio
    assert config["global_scale"] == scale and config["local_scale"] == [0.3, 0.6]
    assert config["blr"] == 1e-4 and config["weight_decay"] == 0.05
    assert config["betas"] == [0.9, 0.95] and config["epochs"] == 400
    assert config["warmup_epochs"] == pytest.approx(20.0)
    assert config["derived"]["num_items"] == (8 if method == "cropmae" else 2)
    assert config["derived"]["lr"] == pytest.approx(1e-4 * 2 / 256)
    raw = torch.load(out / "checkpoint-last.pth", weights_only=True)
    assert raw["vprop"]["method"] == method and raw["step"] == 1


def test_viz_recon_writes_the_four_row_panel(tmp_path, shared_data):
    out = tmp_path / "out"
    runner = CliRunner()
    trained = runner.invoke(main, ["pretrain", "--data", str(shared_data / "images-mini"),
                                   "--output-dir", str(out), "--mask-ratio", "0.75", *TINY])
    assert trained.exit_code == 0, trained.output
    png = tmp_path / "panel.png"
    drawn = runner.invoke(main, ["viz", "recon", "--ckpt", str(out / "checkpoint-last.pth"),
                                 "--data", str(shared_data / "images-mini"), "--out", str(png),
                                 "--count", "5"])
    assert drawn.exit_code == 0, drawn.output
    assert Image.open(png).size == (LABEL_WIDTH + 5 * 32 + 4 * 4, 4 * 32 + 3 * 4)


def test_pretrained_checkpoint_evaluates_with_vprop_eval(tmp_path, shared_data,
                                                         davis_train_only):
    from vprop.cropmae.davis_hook import evaluate_encoder_on_davis

    davis = davis_train_only  # only the 4-frame `train` sequence, to stay fast
    runner = CliRunner()
    out = tmp_path / "pre"
    trained = runner.invoke(main, ["pretrain", "--data", str(shared_data / "images-mini"),
                                   "--output-dir", str(out), "--mask-ratio", "0.75", *TINY])
    assert trained.exit_code == 0, trained.output
    ckpt = out / "checkpoint-last.pth"
    evaluated = runner.invoke(main, ["eval", "--task", "davis", "--data-root", str(davis),
                                     "--ckpt", str(ckpt), "--out", str(tmp_path / "eval"),
                                     "--device", "cpu", "--no-progress"])
    assert evaluated.exit_code == 0, evaluated.output
    results = json.load(open(tmp_path / "eval" / "results.json"))
    assert not results["random_init"]
    assert results["backbone"]["arch"] == "vit_test_patch16"  # read from the vprop metadata
    assert results["backbone"]["format"] == "vprop"
    model = torch.load(ckpt, weights_only=True)["model"]
    encoder = {k: v for k, v in model.items() if not k.startswith(("decoder", "mask_token"))}
    ours = evaluate_encoder_on_davis(encoder, "vit_test_patch16", davis, tmp_path / "hook",
                                     torch.device("cpu"))
    assert results["global"]["J&F-Mean"] == pytest.approx(ours, abs=1e-12)


@pytest.mark.parametrize("flags, message", [
    (["--decoder-heads", "7"], "must be a multiple of --decoder-heads 7"),
    (["--workers", "-1"], "--workers must be >= 0"),
    (["--recon-count", "0"], "--recon-count must be at least 1"),
    (["--device", "foo"], "unknown device 'foo'"),
])
def test_bad_flags_are_one_line_errors(shared_data, tmp_path, flags, message):
    args = ["pretrain", "--data", str(shared_data / "images-mini"), "--epochs", "1",
            "--output-dir", str(tmp_path / "out"), *flags]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]


def _sig3(value: float) -> float:
    return float(f"{value:.3g}")


def test_start_and_end_summaries_print_what_config_json_holds(tmp_path, shared_data):
    from .summary_parsing import summary

    out = tmp_path / "out"
    stop = TINY.index("--stop-after-steps")
    args = TINY[:stop] + TINY[stop + 2:]
    result = CliRunner().invoke(main, ["pretrain", "--data", str(shared_data / "images-mini"),
                                       "--output-dir", str(out), "--subset", "8", "--epochs",
                                       "1", "--log-every", "2", *args])
    assert result.exit_code == 0, result.output
    config = json.load(open(out / "config.json"))
    derived = config["derived"]
    start = summary(result.stderr, "vprop pretrain")
    assert start["data"] == f"{config['data']} ({derived['num_items']} images)"
    assert derived["num_items"] == 8 and derived["steps_per_epoch"] == 4
    assert start["schedule"] == (f"1 epoch x {derived['steps_per_epoch']} steps per epoch = "
                                 f"{derived['total_steps']} steps")
    assert start["batch"].startswith(f"{derived['global_batch']} global (2 per process x 1 "
                                     "accumulation x 1 process)")
    assert _sig3(float(start["lr"].split()[0])) == _sig3(derived["lr"])
    assert start["device"].startswith(f"{derived['device']}, precision {derived['precision']}")
    assert start["method"].startswith(f"cropmae, vit_test_patch16, 32px, mask ratio "
                                      f"{config['mask_ratio']:g}")
    assert start["output"] == config["output_dir"] == str(out)
    # One progress line per --log-every steps (no bar): loss, lr and img/s as log.jsonl.
    logged = [json.loads(line) for line in open(out / "log.jsonl")]
    assert [entry["step"] for entry in logged] == [2, 4]
    lines = [line for line in result.stderr.splitlines() if line.startswith("step ")]
    assert len(lines) == 2
    for line, entry in zip(lines, logged):
        words = line.split()
        assert words[1] == f"{entry['step']}/4"
        assert float(words[words.index("loss") + 1]) == _sig3(entry["loss"])
        assert float(words[words.index("lr") + 1]) == _sig3(entry["lr"])
        assert float(words[words.index("img/s") + 1]) == _sig3(entry["images_per_s"])
        assert words[words.index("ETA") + 1].count(":") == 2
    end = summary(result.stderr, "vprop pretrain finished")
    assert end["steps"] == "4/4 (epoch 1), 4 steps in this run"
    assert end["loss"] == f"{logged[-1]['loss']:.3g} (last logged, step 4)"
    assert end["checkpoint"] == str(out / "checkpoint-last.pth")
    assert torch.load(out / "checkpoint-last.pth", weights_only=True)["step"] == 4
    assert str(out / "checkpoint-0001.pth") in end["written"]
    assert "vprop pretrain finished" in (out / "train.log").read_text()


def test_default_output_is_under_runs():
    result = CliRunner().invoke(main, ["pretrain", "--help"])
    assert "runs/pretrain" in result.output
