"""The dino preset end to end against an independent transcription of DINO's DAVIS loop.

``dino_reference`` below re-writes ``eval_video_segmentation.py`` (``eval_video_tracking_davis``,
``label_propagation``, ``restrict_neighborhood``, ``norm_mask``, ``read_frame``, ``read_seg``,
``to_one_hot``) with OpenCV, PIL and plain torch, sharing nothing with vprop's engine but the
backbone (the same tiny random ViT object computes the features on both sides). vprop's
``dino`` preset must write the same PNGs on real DAVIS frames: 100.00% identical pixels.
"""

from __future__ import annotations

import queue
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vprop.benchmarks.davis import task as davis_task
from vprop.benchmarks.papers import get_preset
from vprop.benchmarks.pipeline import EngineSettings
from vprop.benchmarks.tasks import EvalRequest
from vprop.checkpoints import load_backbone

N_LAST, RADIUS, TOPK, PATCH = 7, 12, 5, 16


def _read_frame(path: Path) -> tuple[torch.Tensor, int, int]:
    img = cv2.imread(str(path))
    ori_h, ori_w, _ = img.shape
    th, tw = 480, int(((480 * ori_w) / ori_h // 64) * 64)
    img = cv2.resize(img, (tw, th)).astype(np.float32) / 255.0
    tensor = torch.from_numpy(np.transpose(img[:, :, ::-1].copy(), (2, 0, 1))).float()
    for channel, mean, std in zip(tensor, (0.485, 0.456, 0.406), (0.228, 0.224, 0.225)):
        channel.sub_(mean)
        channel.div_(std)
    return tensor, ori_h, ori_w


def _features(extractor, frame: torch.Tensor) -> torch.Tensor:
    """(h*w, D) patch features, row-major, like DINO's extract_feature."""
    with torch.inference_mode():
        feats = extractor(frame[None])[0]  # (D, h, w)
    return feats.flatten(1).T.clone()


def _neighbourhood(h: int, w: int) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    near = ((rows[:, None] - rows[None]).abs() <= RADIUS) & ((cols[:, None] - cols[None]).abs()
                                                              <= RADIUS)
    return near.float()  # (query h*w, source h*w): DINO's square mask


def _propagate(feat_tar, h, w, frame_feats, segs, mask):
    ncontext = len(frame_feats)
    sources = F.normalize(torch.stack(frame_feats), dim=1, p=2)  # (n, D, hw)
    target = F.normalize(feat_tar, dim=1, p=2).unsqueeze(0).repeat(ncontext, 1, 1)
    aff = torch.exp(torch.bmm(target, sources) / 0.1)  # (n, hw query, hw source)
    aff *= mask.unsqueeze(0)
    aff = aff.transpose(2, 1).reshape(-1, h * w)  # (n * hw source, hw query)
    tk_val, _ = torch.topk(aff, dim=0, k=TOPK)
    aff[aff < tk_val.min(dim=0).values] = 0
    aff = aff / torch.sum(aff, keepdim=True, axis=0)
    segs = torch.cat(segs)  # (n, C, h, w)
    n, c = segs.shape[:2]
    segs = segs.reshape(n, c, -1).transpose(2, 1).reshape(-1, c).T
    return torch.mm(segs, aff).reshape(1, c, h, w)


def dino_reference(extractor, frames: list[Path], seg_path: Path, out: Path) -> None:
    """DINO's eval_video_tracking_davis for one sequence, writing uint8 id PNGs."""
    out.mkdir(parents=True)
    frame1, ori_h, ori_w = _read_frame(frames[0])
    h, w = frame1.shape[1] // PATCH, frame1.shape[2] // PATCH
    feat1 = _features(extractor, frame1).T  # (D, hw)
    seg = Image.open(seg_path)
    small = torch.from_numpy(np.array(seg.resize((w, h), 0)).astype(np.int64))
    first_seg = F.one_hot(small, int(small.max()) + 1).permute(2, 0, 1)[None].float()
    Image.fromarray(np.asarray(seg)).save(out / f"{frames[0].stem}.png")
    que: queue.Queue = queue.Queue(N_LAST)
    mask = _neighbourhood(h, w)
    for path in frames[1:]:
        frame = _read_frame(path)[0]
        feat_tar = _features(extractor, frame)  # (hw, D)
        used_feats = [feat1] + [pair[0] for pair in list(que.queue)]
        used_segs = [first_seg] + [pair[1] for pair in list(que.queue)]
        seg_tar = _propagate(feat_tar, h, w, used_feats, used_segs, mask)
        if que.qsize() == N_LAST:
            que.get()
        que.put([feat_tar.T, seg_tar.clone()])
        up = F.interpolate(seg_tar, scale_factor=PATCH, mode="bilinear", align_corners=False,
                           recompute_scale_factor=False)[0]
        for channel in range(up.shape[0]):
            values = up[channel]
            if values.max() > 0:
                values = values - values.min()
                up[channel] = values / values.max()
        labels = torch.max(up, dim=0)[1].numpy().astype(np.uint8)
        labels = np.array(Image.fromarray(labels).resize((ori_w, ori_h), 0))
        Image.fromarray(labels).save(out / f"{path.stem}.png")


@pytest.mark.usefixtures("one_torch_thread")
def test_dino_preset_writes_dinos_masks(shared_data, tmp_path):
    source = shared_data / "davis-mini" / "DAVIS"
    root = tmp_path / "DAVIS"
    lengths = {"blackswan": 12, "train": 4}  # 1 object over 12 frames; 4 objects
    for name, count in lengths.items():
        for kind, suffix in (("JPEGImages", "jpg"), ("Annotations", "png")):
            (root / kind / "480p" / name).mkdir(parents=True)
            for index in range(count):
                shutil.copy(source / kind / "480p" / name / f"{index:05d}.{suffix}",
                            root / kind / "480p" / name)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("blackswan\ntrain\n")

    torch.manual_seed(0)
    extractor = load_backbone(arch="vit_test_patch16", pos_embed="dino")
    request = EvalRequest(data_root=root, out_dir=tmp_path / "vprop", preset=get_preset("dino"),
                          settings=EngineSettings(device="cpu", progress=False, batch_size=1))
    davis_task.run(extractor, request)
    different = total = 0
    for name in lengths:
        frames = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))
        expected_dir = tmp_path / "dino" / name
        dino_reference(extractor, frames, root / "Annotations" / "480p" / name / "00000.png",
                       expected_dir)
        for path in sorted(expected_dir.glob("*.png")):
            expected = np.asarray(Image.open(path))
            ours = np.asarray(Image.open(tmp_path / "vprop" / "results" / name / path.name))
            assert ours.shape == expected.shape == (480, 854)
            different += int(np.sum(ours != expected))
            total += expected.size
    assert different == 0, f"{different} of {total} pixels differ from DINO's loop"
