"""Task-agnostic glue between benchmark readers and the propagation engine.

Every task (DAVIS, JHMDB, VIP) goes through :func:`propagate_video`, so there is one
propagation code path: frames are decoded in a background thread, turned into backbone inputs,
featurised in small batches and streamed through :class:`~vprop.propagation.LabelPropagator`.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vprop.benchmarks.background import SplitBatches, cpu_workers
from vprop.benchmarks.io import read_rgb
from vprop.benchmarks.settings import AFFINITY_MODES, EngineSettings
from vprop.errors import VpropError
from vprop.propagation import (
    LabelPropagator,
    Preset,
    first_frame_labels,
    stream_features,
    to_model_input,
)
from vprop.timing import stage

__all__ = ["AFFINITY_MODES", "EngineSettings", "prefetch", "propagate_grid_labels",
           "propagate_video", "read_frames"]


def read_frames(paths: Sequence[Path], size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Read RGB frames, checking each has the (height, width) of frame 0.

    Raises:
        VpropError: A frame is unreadable or of another size, naming the file.
    """
    for path in paths:
        with stage("decode"):
            frame = read_rgb(path)
        if frame.shape[:2] != tuple(size):
            raise VpropError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, expected {size[1]}x{size[0]} "
                "like the first frame",
                path,
            )
        yield frame


def prefetch(items: Iterable, depth: int = 8) -> Iterator:
    """Run an iterator in a background thread, ``depth`` items ahead; errors are re-raised."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        """Hand an entry to the consumer; False once the consumer has gone away."""
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def worker() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as error:  # noqa: BLE001 - forwarded to the consumer
            put((done, error))

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()


def _model_inputs(frames: Iterable[np.ndarray], input_size: tuple[int, int],
                  preset: Preset, device: torch.device) -> Iterator[torch.Tensor]:
    """Backbone inputs of RGB frames (timed as the ``resize`` stage).

    On CUDA the uint8 frame is uploaded and converted, resized and normalised on the device;
    elsewhere on the CPU (the reference path).
    """
    where = device if device.type == "cuda" else torch.device("cpu")
    for frame in frames:
        with stage("resize"):
            image = to_model_input(frame, input_size, preset.mean, preset.std,
                                   preset.input_resize, device=where)
        yield image


def propagate_grid_labels(
    extractor: Callable[[torch.Tensor], torch.Tensor],
    frames: Iterable[np.ndarray],
    first_labels: torch.Tensor,
    preset: Preset,
    input_size: tuple[int, int],
    settings: EngineSettings,
    frame_paths: Sequence[Path] | None = None,
    name: str = "",
) -> Iterator[torch.Tensor]:
    """Propagate soft labels given on frame 0's feature grid through a video.

    Args:
        extractor: (B, 3, H, W) -> (B, D, H/p, W/p) L2-normalised features.
        frames: RGB uint8 (H, W, 3) frames in order, frame 0 first (consumed lazily).
        first_labels: (C, h, w) soft labels of frame 0 on the feature grid of ``input_size``
            (e.g. JHMDB's Gaussian keypoint maps).
        preset: Propagation preset.
        input_size: Backbone input (height, width).
        settings: Device, batch size and dtypes.
        frame_paths: The frame files, in order; when given, every feature map and every
            frame's soft labels are checked to be finite, and an error names the frame.
        name: The sequence / clip / video name, for those errors.

    Yields:
        (C, h, w) soft labels per frame (frame 0's are ``first_labels``).

    Raises:
        VpropError: Non-finite features or soft labels (``frame_paths`` given).
    """
    device, checks = settings.torch_device(), DeferredChecks()
    with cpu_workers(device, settings.cpu_workers) as workers:
        # CPU: the frames of a batch (a module's forward is re-entrant; any other callable
        # may count its calls, so it runs whole) and the bands of a frame on the threads.
        if workers is not None and isinstance(extractor, torch.nn.Module):
            extractor = SplitBatches(extractor, *workers)
        if frame_paths is not None:
            extractor = FiniteFeatures(extractor, frame_paths, name, checks)
        inputs = prefetch(_model_inputs(frames, input_size, preset, device))
        features = stream_features(
            extractor,
            inputs,
            batch_size=settings.batch_size,
            device=device,
            dtype=settings.dtype(settings.feature_dtype),
            autocast_dtype=settings.dtype(settings.autocast),
        )
        propagator = LabelPropagator(preset, affinity=settings.affinity,
                                     mapper=map if workers is None else workers[0].map)
        soft_maps = propagator.run(features, first_labels.to(device))
        if frame_paths is None:
            yield from soft_maps
            return
        for path, soft in zip(frame_paths, soft_maps):
            checks.add(torch.isfinite(soft).all(), partial(_soft_error, name, path))
            yield soft
        checks.flush()


def _soft_error(name: str, path: Path, finite: torch.Tensor) -> VpropError | None:
    """The error for a frame whose soft labels are not all finite (None when they are)."""
    if bool(finite):
        return None
    return VpropError(f"{name}: soft labels of frame {path.name} are not finite (NaN or "
                      "inf); check --temperature and the checkpoint's weights", path)


class DeferredChecks:
    """Checks of flags computed on the device, raised in frame order.

    On the CPU each check runs at once. On CUDA the flags are copied to the host
    asynchronously and read once the device has produced them (at most ``lag`` checks later),
    so that the host never waits for the GPU frame by frame; an error is then raised a few
    frames late (the sequence is never marked finished).

    Args:
        lag: Pending checks at most before the oldest is waited for.
        deferred: Defer the checks (default: only for CUDA flags); ``True`` on the CPU runs
            the same bookkeeping, for tests.
    """

    def __init__(self, lag: int = 8, deferred: bool | None = None) -> None:
        self.lag, self.deferred = lag, deferred
        self.pending: deque[tuple[torch.Tensor, Any, Callable]] = deque()

    def add(self, flags: torch.Tensor,
            error: Callable[[torch.Tensor], Exception | None]) -> None:
        """Check ``flags``: ``error(host_flags)`` returns the exception to raise, or None."""
        if not (flags.is_cuda if self.deferred is None else self.deferred):
            self._raise(error(flags))
            return
        host = flags.to("cpu", non_blocking=flags.is_cuda)
        done = torch.cuda.Event() if flags.is_cuda else _Finished()
        done.record()
        self.pending.append((host, done, error))
        while self.pending and (len(self.pending) > self.lag or self.pending[0][1].query()):
            self._settle()

    def flush(self) -> None:
        """Wait for every pending check (raising the first failure)."""
        while self.pending:
            self._settle()

    def _settle(self) -> None:
        host, done, error = self.pending.popleft()
        done.synchronize()
        self._raise(error(host))

    @staticmethod
    def _raise(exception: Exception | None) -> None:
        if exception is not None:
            raise exception


class _Finished:
    """A CUDA event stand-in for host tensors: always done."""

    def record(self) -> None:
        """Nothing to wait for."""

    def query(self) -> bool:
        """Always done."""
        return True

    def synchronize(self) -> None:
        """Nothing to wait for."""


class FiniteFeatures:
    """Wrap an extractor so that a non-finite feature map stops the run, naming its frame.

    Args:
        extractor: (B, 3, H, W) -> (B, D, h, w) features.
        frame_paths: The frames fed to it, in order (one call per consecutive batch).
        name: Sequence / clip / video name for the message.
    """

    def __init__(self, extractor: Callable[[torch.Tensor], torch.Tensor],
                 frame_paths: Sequence[Path], name: str,
                 checks: DeferredChecks | None = None) -> None:
        self.extractor, self.frame_paths, self.name, self.seen = extractor, frame_paths, name, 0
        self.checks = checks or DeferredChecks()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Run the extractor and check its output frame by frame."""
        feats = self.extractor(images)
        finite = torch.isfinite(feats).flatten(1).all(dim=1)  # (B,)
        self.checks.add(finite, partial(self._error, self.seen))
        self.seen += images.shape[0]
        return feats

    def _error(self, first_index: int, finite: torch.Tensor) -> VpropError | None:
        """The error naming the first non-finite frame of a batch (None when all are finite)."""
        if bool(finite.all()):
            return None
        index = first_index + int((~finite).nonzero()[0])
        path = self.frame_paths[min(index, len(self.frame_paths) - 1)]
        return VpropError(f"{self.name}: the backbone's features of frame {path.name} are not "
                          "finite (NaN or inf); check the checkpoint's weights and --precision",
                          path)


def propagate_video(
    extractor: Callable[[torch.Tensor], torch.Tensor],
    frames: Iterable[np.ndarray],
    first_channels: torch.Tensor,
    num_labels: int,
    preset: Preset,
    input_size: tuple[int, int],
    grid: tuple[int, int],
    settings: EngineSettings,
    frame_paths: Sequence[Path] | None = None,
    name: str = "",
) -> Iterator[torch.Tensor]:
    """Propagate frame 0's label map (DAVIS objects, VIP parts) through a video.

    Args:
        extractor: (B, 3, H, W) -> (B, D, H/p, W/p) L2-normalised features.
        frames: RGB uint8 (H, W, 3) frames in order, frame 0 first (consumed lazily).
        first_channels: (H, W) channel index of every pixel of frame 0.
        num_labels: Number of label channels C.
        preset: Propagation preset.
        input_size: Backbone input (height, width).
        grid: Feature grid (h, w) the backbone gives for ``input_size``
            (:func:`~vprop.benchmarks.sizes.feature_grid`).
        settings: Device, batch size and dtypes.
        frame_paths: Frame files, to check features and soft labels (see
            :func:`propagate_grid_labels`).
        name: Sequence name for those errors.

    Yields:
        (C, h, w) soft labels on the feature grid, one per frame (frame 0's from its labels).
    """
    labels = first_frame_labels(
        first_channels, num_labels, input_size, grid, preset.label_downsample, preset.nearest
    )
    yield from propagate_grid_labels(extractor, frames, labels, preset, input_size, settings,
                                     frame_paths, name)
