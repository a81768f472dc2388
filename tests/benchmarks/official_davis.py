"""An independent re-implementation of the official ``davis2017-evaluation`` (semi-supervised).

Written for the tests from the official code (``davis2017/davis.py``, ``results.py``,
``metrics.py``, ``utils.py``, ``evaluation.py`` and ``evaluation_method.py``), line by line, and
sharing nothing with vprop: whole-sequence arrays as the official ``DAVIS`` / ``Results``
classes build them, ``db_eval_iou``, ``f_measure`` (``_seg2bmap`` boundaries; the tolerance
``ceil(0.008 * ||shape||)``; ``cv2.dilate`` with ``skimage.morphology.disk``; the
``bwmorph``-style rescaling branch of ``_seg2bmap`` is never taken by the evaluator, which
always asks for the mask's own size), ``db_statistics`` and the global means.

``tests/benchmarks/test_davis_score_size.py`` first checks it against the official figures in
``../shared/data/davis-mini/official-scores.json`` (what the official evaluator printed), then
uses it as the expected value for vprop's ``--score-size 480x880``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage.morphology import disk


def _seg2bmap(seg: np.ndarray) -> np.ndarray:
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def db_eval_iou(annotation: np.ndarray, segmentation: np.ndarray) -> float:
    annotation, segmentation = annotation.astype(bool), segmentation.astype(bool)
    inters = np.sum(segmentation & annotation)
    union = np.sum(segmentation | annotation)
    return 1.0 if np.isclose(union, 0) else inters / union


def f_measure(foreground_mask: np.ndarray, gt_mask: np.ndarray, bound_th: float = 0.008) -> float:
    bound_pix = np.ceil(bound_th * np.linalg.norm(foreground_mask.shape))
    fg_boundary = _seg2bmap(foreground_mask)
    gt_boundary = _seg2bmap(gt_mask)
    fg_dil = cv2.dilate(fg_boundary.astype(np.uint8), disk(bound_pix).astype(np.uint8))
    gt_dil = cv2.dilate(gt_boundary.astype(np.uint8), disk(bound_pix).astype(np.uint8))
    gt_match = gt_boundary * fg_dil
    fg_match = fg_boundary * gt_dil
    n_fg, n_gt = np.sum(fg_boundary), np.sum(gt_boundary)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision, recall = np.sum(fg_match) / float(n_fg), np.sum(gt_match) / float(n_gt)
    return 0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def db_statistics(per_frame_values: np.ndarray) -> tuple[float, float, float]:
    mean = np.nanmean(per_frame_values)
    recall = np.nanmean(per_frame_values > 0.5)
    ids = (np.round(np.linspace(1, len(per_frame_values), 5) + 1e-10) - 1).astype(np.uint8)
    bins = [per_frame_values[ids[i]:ids[i + 1] + 1] for i in range(4)]
    return mean, recall, np.nanmean(bins[0]) - np.nanmean(bins[3])


def _object_stack(maps: np.ndarray, num_objects: int) -> np.ndarray:
    ids = np.arange(1, num_objects + 1)[:, None, None, None]
    return (np.ones((num_objects, *maps.shape)) * ids) == maps[None]


def evaluate(davis_root: Path, results: Path, sequences: list[str]) -> dict:
    """Official semi-supervised evaluation: {"global": {...}, "per_object": {name: {J, F}}}."""
    stats = {"J": {"M": [], "R": [], "D": []}, "F": {"M": [], "R": [], "D": []}}
    per_object = {}
    for seq in sequences:
        files = sorted((Path(davis_root) / "Annotations" / "480p" / seq).glob("*.png"))
        masks = np.stack([np.array(Image.open(path)) for path in files]).astype(np.float64)
        masks[masks == 255] = 0
        num_objects = int(np.max(masks[0]))
        gt = _object_stack(masks, num_objects)[:, 1:-1]
        ids = [path.stem for path in files][1:-1]
        res = np.stack([np.array(Image.open(Path(results) / seq / f"{i}.png")) for i in ids])
        res = _object_stack(res.astype(np.float64), int(np.max(res)))
        assert res.shape[0] == gt.shape[0], "more objects in the results than in the ground truth"
        for obj in range(gt.shape[0]):
            j = np.array([db_eval_iou(gt[obj, t], res[obj, t]) for t in range(gt.shape[1])])
            f = np.array([f_measure(res[obj, t], gt[obj, t]) for t in range(gt.shape[1])])
            for key, values in (("J", j), ("F", f)):
                for stat, value in zip("MRD", db_statistics(values)):
                    stats[key][stat].append(value)
            per_object[f"{seq}_{obj + 1}"] = {"J-Mean": stats["J"]["M"][-1],
                                              "F-Mean": stats["F"]["M"][-1]}
    j, f = stats["J"], stats["F"]
    global_ = {
        "J&F-Mean": (np.mean(j["M"]) + np.mean(f["M"])) / 2.0,
        "J-Mean": np.mean(j["M"]), "J-Recall": np.mean(j["R"]), "J-Decay": np.mean(j["D"]),
        "F-Mean": np.mean(f["M"]), "F-Recall": np.mean(f["R"]), "F-Decay": np.mean(f["D"]),
    }
    return {"global": {key: float(value) for key, value in global_.items()},
            "per_object": per_object}
