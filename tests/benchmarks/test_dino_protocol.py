"""The dino preset against DINO's ``eval_video_segmentation.py``, on real DAVIS frames.

Every expected value is computed here with OpenCV / PIL / numpy, following DINO's code line by
line (``read_frame``, ``color_normalize``, ``read_seg`` and the output ``Image.resize(..., 0)``),
independently of vprop's implementation.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import torch
from click.testing import CliRunner
from PIL import Image

from vprop.benchmarks.io import read_indexed_png
from vprop.benchmarks.papers import get_preset
from vprop.cli.main import main
from vprop.propagation import decode_labels, first_frame_labels, resize_ids
from vprop.propagation.frames import to_model_input

DINO_MEAN, DINO_STD = (0.485, 0.456, 0.406), (0.228, 0.224, 0.225)


def dino_read_frame(path: str) -> torch.Tensor:
    """DINO's read_frame for a landscape 854x480 frame: uint8 cv2.resize, then float."""
    img = cv2.imread(path)
    ori_h, ori_w, _ = img.shape
    th = 480
    tw = int(((th * ori_w) / ori_h // 64) * 64)
    img = cv2.resize(img, (tw, th))
    img = img.astype(np.float32) / 255.0
    img = img[:, :, ::-1]
    tensor = torch.from_numpy(np.transpose(img.copy(), (2, 0, 1))).float()
    for channel, mean, std in zip(tensor, DINO_MEAN, DINO_STD):
        channel.sub_(mean)
        channel.div_(std)
    return tensor


def test_dino_input_tensor_equals_dino_preprocessing(shared_data):
    preset = get_preset("dino")
    frames = shared_data / "davis-mini" / "DAVIS" / "JPEGImages" / "480p"
    for path in (frames / "blackswan" / "00000.jpg", frames / "car-shadow" / "00017.jpg",
                 frames / "train" / "00003.jpg"):
        expected = dino_read_frame(str(path))
        assert tuple(expected.shape) == (3, 480, 832)
        rgb = np.asarray(Image.open(path).convert("RGB"))
        ours = to_model_input(rgb, (480, 832), preset.mean, preset.std, preset.input_resize)
        assert torch.equal(ours, expected), (path, (ours - expected).abs().max())
        # the float-first resize and ImageNet's 0.229 (the cropmae preset's input) differ
        other = to_model_input(rgb, (480, 832))
        assert (other - expected).abs().max() > 1e-3


def test_output_resize_equals_pil_nearest_on_every_pixel(shared_data):
    # a real mask nearest-downsampled to the 832x480 input grid, plus a column ramp that
    # exposes every column mapping.
    annotation = shared_data / "davis-mini" / "DAVIS" / "Annotations" / "480p" / "train"
    mask = np.asarray(Image.open(annotation / "00000.png"))
    small = np.asarray(Image.fromarray(mask).resize((832, 480), Image.BILINEAR))
    ramp = np.tile((np.arange(832) % 251).astype(np.uint8), (480, 1))
    for source in (small, ramp):
        expected = np.array(Image.fromarray(source).resize((854, 480), 0))  # DINO's line
        ours = resize_ids(torch.from_numpy(source.copy()), (480, 854), "pil").numpy()
        assert np.array_equal(ours, expected)
    # the case the old torch 'nearest-exact' got wrong: column 640 reads source 623, not 624
    columns = resize_ids(torch.arange(832).repeat(2, 1), (2, 854), "pil")[0]
    assert columns[640].item() == 623
    exact = torch.nn.functional.interpolate(torch.arange(832.0)[None, None, None],
                                            size=(1, 854), mode="nearest-exact")
    assert exact[0, 0, 0, 640].item() == 624


def test_decode_and_first_frame_labels_follow_dino(shared_data):
    preset = get_preset("dino")
    path = shared_data / "davis-mini" / "DAVIS" / "Annotations" / "480p" / "train" / "00000.png"
    seg = Image.open(path)
    small = np.array(seg.resize((832 // 16, 480 // 16), 0))  # DINO read_seg
    ids = torch.from_numpy(np.asarray(seg).astype(np.int64))
    soft = first_frame_labels(ids, int(ids.max()) + 1, (480, 832), (30, 52),
                              preset.label_downsample, preset.nearest)
    assert np.array_equal(soft.argmax(0).numpy(), small)
    # decode: bilinear x16, per-channel min-max, argmax, PIL NEAREST to 854x480 (DINO's loop)
    logits = torch.rand(5, 30, 52, generator=torch.Generator().manual_seed(0))
    up = torch.nn.functional.interpolate(logits[None], scale_factor=16, mode="bilinear",
                                         align_corners=False, recompute_scale_factor=False)[0]
    for channel in range(up.shape[0]):
        values = up[channel] - up[channel].min()
        up[channel] = values / values.max()
    argmax = torch.max(up, dim=0)[1].numpy().astype(np.uint8)
    expected = np.array(Image.fromarray(argmax).resize((854, 480), 0))
    ours = decode_labels(logits, (480, 832), (480, 854), minmax=True, nearest=preset.nearest)
    assert np.array_equal(ours.numpy(), expected)


def test_dino_preset_writes_frame_0_as_ground_truth(davis_train_only, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "eval", "--task", "davis", "--preset", "dino", "--arch", "vit_test_patch16",
        "--data-root", str(davis_train_only), "--out", str(out), "--no-progress",
        "--device", "cpu",
    ])
    assert result.exit_code == 0, result.output
    gt, _ = read_indexed_png(davis_train_only / "Annotations" / "480p" / "train" / "00000.png")
    written, _ = read_indexed_png(out / "results" / "train" / "00000.png")
    assert np.array_equal(written, gt)
    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["preset"]["std"] == [0.228, 0.224, 0.225]
    assert payload["input_sizes"] == {"train": [480, 832]}
    assert payload["score_size"] == "native"
