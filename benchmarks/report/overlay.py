"""``vprop viz overlay`` (paper Fig. 4): a run's predictions over a sequence, as a strip or video.

A strip is a few evenly spaced frames left to right (optionally the ground truth as a second
row); a video holds every frame: MP4 (H.264 through PyAV) or GIF (Pillow, adaptive palette).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vprop.benchmarks.report.draw import fit_width, save_image, side_by_side, stacked
from vprop.benchmarks.report.frames import frame_pairs, sequences_of
from vprop.benchmarks.report.runs import Run
from vprop.errors import VpropError

VIDEO_SUFFIXES = (".mp4", ".gif")
STRIP_SUFFIXES = (".png", ".jpg", ".jpeg")


def pick_frames(names: Sequence[str], count: int) -> list[str]:
    """``count`` frame names evenly spaced from the first to the last (all when fewer)."""
    if count >= len(names):
        return list(names)
    if count == 1:
        return [names[0]]
    return [names[round(i * (len(names) - 1) / (count - 1))] for i in range(count)]


def check_sequence(run: Run, sequence: str | None) -> str:
    """The sequence to draw: the one asked for (must be in the run) or the run's worst.

    Raises:
        VpropError: The run has no such sequence (the message lists them).
    """
    known = sequences_of(run)
    if sequence is None:
        if not known:
            raise VpropError("the run holds no scored sequence", run.path / "results.json")
        return known[0]
    if sequence not in known:
        raise VpropError(f"{sequence!r} is not in the run {run.path}; it has: "
                         f"{', '.join(sorted(known))}", "--sequence")
    return sequence


def strip(run: Run, sequence: str, count: int = 5, with_gt: bool = False,
          width: int = 1600) -> np.ndarray:
    """Predictions over ``count`` evenly spaced frames, left to right (ground truth above).

    Returns:
        (H, W, 3) uint8 image, at most ``width`` pixels wide.
    """
    names = [name for name, _, _ in frame_pairs(run, sequence, None)] if count else []
    chosen = pick_frames(names, count)
    truths, preds = [], []
    for _, truth, pred in frame_pairs(run, sequence, chosen):
        truths.append(truth)
        preds.append(pred)
    if not preds:
        raise VpropError(f"no frames for {sequence}", run.path)
    rows = [side_by_side(truths), side_by_side(preds)] if with_gt else [side_by_side(preds)]
    return fit_width(stacked(rows), width)


def _even(image: np.ndarray) -> np.ndarray:
    """Crop to even height and width (H.264 with 4:2:0 chroma needs them)."""
    return image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]


def write_mp4(frames: Sequence[np.ndarray], path: Path, fps: int) -> Path:
    """Encode RGB frames as H.264 MP4 with PyAV (MPEG-4 part 2 when H.264 is missing)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        try:
            stream = container.add_stream("libx264", rate=fps)
        except (av.error.FFmpegError, ValueError):
            stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = _even(frames[0]).shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(_even(frame)),
                                                 format="rgb24")
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_gif(frames: Sequence[np.ndarray], path: Path, fps: int) -> Path:
    """Write an animated GIF (adaptive palette per frame, looping)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=max(1, round(1000 / fps)))
    return path


def write_overlay(run: Run, sequence: str | None, out: Path, count: int = 5,
                  with_gt: bool = False, fps: int = 10, width: int = 1600) -> Path:
    """Write the overlay of a sequence: a strip (.png/.jpg) or a video (.mp4/.gif).

    Args:
        run: The run.
        sequence: Sequence / clip / video; default: the run's worst.
        out: Output file; its suffix chooses the kind.
        count: Frames of a strip.
        with_gt: Add the ground truth (strip: a row above; video: left of the prediction).
        fps: Frames per second of a video.
        width: Largest width in pixels.

    Raises:
        VpropError: Unknown suffix or sequence, missing dataset or predictions.
    """
    suffix = out.suffix.lower()
    if suffix not in VIDEO_SUFFIXES + STRIP_SUFFIXES:
        raise VpropError(f"--out must end in one of {', '.join(VIDEO_SUFFIXES + STRIP_SUFFIXES)}",
                         out)
    sequence = check_sequence(run, sequence)
    if suffix in STRIP_SUFFIXES:
        return save_image(out, strip(run, sequence, count, with_gt, width))
    frames = [fit_width(side_by_side([truth, pred]) if with_gt else pred, width)
              for _, truth, pred in frame_pairs(run, sequence, None)]
    writer = write_mp4 if suffix == ".mp4" else write_gif
    return writer(frames, out, fps)
