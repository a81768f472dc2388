"""`vprop viz overlay | attention | curve`: what the images show, not only that they exist."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from vprop.benchmarks.io import davis_palette
from vprop.benchmarks.report.attention import cls_attention
from vprop.checkpoints import load_backbone
from vprop.cli.main import main

TINY = ["--arch", "vit_test_patch16", "--no-progress", "--device", "cpu"]


def _invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def train_run(shared_data, tmp_path_factory):
    """A real 4-frame DAVIS run (`train`, 4 objects) with a tiny random ViT."""
    base = tmp_path_factory.mktemp("viz")
    davis = shared_data / "davis-mini" / "DAVIS"
    _invoke("eval", "--task", "davis", *TINY, "--data-root", davis, "--sequences", "train",
            "--size", "224x416", "--out", base / "run", "--report")
    return base / "run", davis


def test_eval_report_flag_writes_the_page(train_run):
    run, _ = train_run
    payload = json.loads((run / "results.json").read_text())
    html = (run / "report" / "index.html").read_text()
    assert f"{payload['global']['J&F-Mean']:.4f}" in html
    assert html.count("<tr><td data-v=\"train_") == 4  # one row per object
    assert len(list((run / "report" / "img" / "run0").glob("series-*.png"))) == 4


def test_overlay_strip_blends_the_palette_colour(train_run, tmp_path):
    run, davis = train_run
    out = tmp_path / "strip.png"
    _invoke("viz", "overlay", run, "--sequence", "train", "--frames", "2", "--out", out,
            "--width", "4000")
    strip = np.asarray(Image.open(out).convert("RGB")).astype(int)
    palette = np.asarray(davis_palette()).reshape(256, 3)
    x = 0
    for frame in ("00000", "00003"):  # two evenly spaced frames: the first and the last
        rgb = np.asarray(Image.open(davis / "JPEGImages/480p/train" / f"{frame}.jpg")).astype(int)
        ids = np.asarray(Image.open(run / "results/train" / f"{frame}.png"))
        panel = strip[: rgb.shape[0], x : x + rgb.shape[1]]
        inside = ids > 0
        assert inside.sum() > 1000 and (~inside).sum() > 1000
        expected = np.rint(0.5 * rgb + 0.5 * palette[ids])  # half frame, half object colour
        assert np.abs(panel[inside] - expected[inside]).max() <= 1
        assert np.array_equal(panel[~inside], rgb[~inside])  # background untouched
        x += rgb.shape[1] + 6


@pytest.mark.parametrize(("suffix", "size"), [(".mp4", (240, 426)), (".gif", (240, 427))])
def test_overlay_video_has_every_frame(train_run, tmp_path, suffix, size):
    run, _ = train_run
    out = tmp_path / f"train{suffix}"
    _invoke("viz", "overlay", run, "--out", out, "--width", "427")
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 4
    assert frames[0].shape[:2] == size  # 854x480 fitted to 427 px (H.264: even sides)


def test_overlay_bad_sequence_is_one_line_error(train_run, tmp_path):
    run, _ = train_run
    result = CliRunner().invoke(main, ["viz", "overlay", str(run), "--sequence", "nope",
                                       "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: --sequence: 'nope'")


@pytest.mark.parametrize("arch", ["vit_test_patch16", "vit_test_patch8"])
def test_attention_rows_are_timms_own_softmax(arch):
    torch.manual_seed(0)
    extractor = load_backbone(arch)
    rgb = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    result = cls_attention(extractor, rgb, (64, 96))
    patch = 16 if arch.endswith("16") else 8
    assert result.grid == (64 // patch, 96 // patch) and result.prefix == 1
    heads = result.weights.shape[0]
    assert result.weights.shape == (heads, 1 + result.grid[0] * result.grid[1])
    assert torch.allclose(result.weights.sum(dim=1), torch.ones(heads), atol=1e-5)
    # timm's unfused path hands the softmax matrix to attn_drop: capture it there.
    attn = extractor.model.blocks[-1].attn
    attn.fused_attn = False
    seen = {}
    handle = attn.attn_drop.register_forward_hook(lambda m, a, out: seen.update(w=out))
    from vprop.propagation import to_model_input

    with torch.no_grad():
        extractor(to_model_input(rgb, (64, 96))[None])
    handle.remove()
    assert torch.allclose(result.weights, seen["w"][0, :, 0, :], atol=1e-6)


def test_attention_cli_panel_shows_each_head(shared_data, tmp_path):
    image = shared_data / "davis-mini/DAVIS/JPEGImages/480p/blackswan/00000.jpg"
    out = tmp_path / "attention.png"
    result = _invoke("viz", "attention", image, "--arch", "vit_test_patch8", "--size", "64x96",
                     "--out", out)
    assert "2 heads, grid 8x12" in result.output
    panel = np.asarray(Image.open(out).convert("RGB"))
    assert panel.shape == (64, 3 * 96 + 2 * 6, 3)  # image + one panel per head, one row
    from matplotlib import colormaps

    hottest = (np.asarray(colormaps["inferno"](1.0)[:3]) * 255).round()
    coldest = (np.asarray(colormaps["inferno"](0.0)[:3]) * 255).round()
    for head in range(2):
        tile = panel[:, (head + 1) * 102 : (head + 1) * 102 + 96].astype(int)
        cells = tile.reshape(8, 8, 12, 8, 3)
        assert (cells == cells[:, :1, :, :1]).all()  # constant over each 8x8 patch
        colours = cells[:, 0, :, 0].reshape(-1, 3)
        assert (np.abs(colours - hottest).sum(1) <= 1).any()  # the max maps to the top colour
        assert (np.abs(colours - coldest).sum(1) <= 1).any()  # the min to the bottom one


def test_attention_of_a_cnn_is_one_line_error(shared_data, tmp_path):
    image = shared_data / "davis-mini/DAVIS/JPEGImages/480p/blackswan/00000.jpg"
    result = CliRunner().invoke(main, ["viz", "attention", str(image), "--arch", "resnet18",
                                       "--out", str(tmp_path / "a.png")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].startswith("error: --arch: attention maps")
    assert not (tmp_path / "a.png").exists()


def _log(path, losses, lrs, davis):
    path.mkdir(parents=True)
    lines = [{"step": i + 1, "epoch": i // 2, "epoch_progress": (i + 1) / 2, "loss": loss,
              "lr": lr} for i, (loss, lr) in enumerate(zip(losses, lrs))]
    lines += [{"event": "davis", "epoch": epoch, "step": 2 * epoch, "J&F": jf}
              for epoch, jf in davis]
    (path / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_curve_points_are_the_jsonl_values(tmp_path):
    from vprop.benchmarks.report.plots import plot_curves, read_log

    _log(tmp_path / "a", [1.0, 0.8, 0.6, 0.55], [1e-4, 2e-4, 1.5e-4, 5e-5], [(1, 0.31), (2, 0.4)])
    _log(tmp_path / "b", [0.9, 0.7], [3e-4, 1e-4], [])
    drawn = plot_curves([("a", read_log(tmp_path / "a")), ("b", read_log(tmp_path / "b"))],
                        tmp_path / "curve.png")
    assert drawn[("a", "loss")] == ([0.5, 1.0, 1.5, 2.0], [1.0, 0.8, 0.6, 0.55])
    assert drawn[("a", "lr")] == ([0.5, 1.0, 1.5, 2.0], [1e-4, 2e-4, 1.5e-4, 5e-5])
    assert drawn[("a", "J&F")] == ([1.0, 2.0], [0.31, 0.4])
    assert drawn[("b", "loss")] == ([0.5, 1.0], [0.9, 0.7])
    assert ("b", "J&F") not in drawn
    out = tmp_path / "cli.png"
    _invoke("viz", "curve", tmp_path / "a", tmp_path / "b", "--out", out)
    assert Image.open(out).size == (1200, 300)  # three panels of 4 x 3 inches at 100 dpi


def test_curve_without_log_is_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["viz", "curve", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().endswith("no log.jsonl (not a vprop pretraining folder?)")
