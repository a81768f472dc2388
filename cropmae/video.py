"""Read chosen frames of a video file: PyAV by default, decord as an optional backend.

Both backends return frames as (3, H, W) uint8 tensors. A file that cannot be opened or
decoded raises :class:`~vprop.errors.VpropError` naming it (the dataset counts and skips it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from vprop.errors import VpropError

VideoBackend = Literal["pyav", "decord"]
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 array -> (3, H, W) uint8 tensor (a channels-last view, no copy)."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)


class PyAVReader:
    """Frame-accurate random access with PyAV.

    One seek to the keyframe before the first wanted frame, then decode forward up to the
    last wanted frame; frame indices come from presentation timestamps. With ``skip_nonref``
    the decoder drops the non-reference frames it is not asked for (no later frame depends
    on them, so the wanted frames are bit-identical) and only the wanted frames are converted
    to RGB: on H.264 with B-frames this roughly halves the decoding work of a pair.

    Args:
        path: The video file.
        skip_nonref: Skip unwanted non-reference frames while decoding forward.
    """

    def __init__(self, path: str | Path, skip_nonref: bool = True) -> None:
        """Open ``path`` and read its frame count (header, else duration x frame rate)."""
        import av

        self.path = Path(path)
        self.skip_nonref = skip_nonref
        try:
            self._container = av.open(str(self.path))
            self._stream = self._container.streams.video[0]
        except (av.error.FFmpegError, IndexError, OSError) as error:
            raise VpropError(f"cannot open video ({error})", self.path) from error
        stream = self._stream
        self._rate = stream.average_rate or stream.guessed_rate
        self._start = stream.start_time or 0
        count = stream.frames
        if not count and stream.duration and self._rate:
            count = int(stream.duration * stream.time_base * self._rate)
        if not count and self._container.duration and self._rate:
            count = int(self._container.duration / 1_000_000 * self._rate)
        self.num_frames = int(count)

    def close(self) -> None:
        """Release the file."""
        self._container.close()

    def __enter__(self) -> PyAVReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _index_of(self, frame, counter: int) -> int:  # noqa: ANN001 - av.VideoFrame
        if frame.pts is None or not self._rate:
            return counter
        return int(round(float((frame.pts - self._start) * self._stream.time_base * self._rate)))

    def _frames(self, wanted: set[int]):
        """Decoded frames from the current position; unwanted non-reference ones skipped."""
        if not self.skip_nonref or not self._rate:
            yield from self._container.decode(self._stream)
            return
        context, base = self._stream.codec_context, self._stream.time_base * self._rate
        for packet in self._container.demux(self._stream):
            needed = packet.pts is None or int(round(float(
                (packet.pts - self._start) * base))) in wanted
            context.skip_frame = "DEFAULT" if needed else "NONREF"
            yield from packet.decode()

    def _decode_from(self, first: int, wanted: set[int], last: int) -> dict[int, np.ndarray]:
        """Decode forward from the keyframe at or before ``first``; keep ``wanted`` frames."""
        import av

        found: dict[int, np.ndarray] = {}
        if first > 0 and self._rate:
            target = int(first / self._rate / self._stream.time_base) + self._start
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        else:
            self._container.seek(self._start, stream=self._stream, backward=True)
        counter = 0
        try:
            for frame in self._frames(wanted):
                index = self._index_of(frame, counter)
                counter += 1
                if counter == 1 and 0 < first < index:
                    return {}  # seek overshot: caller decodes from the start
                if index in wanted:
                    found[index] = frame.to_ndarray(format="rgb24")
                if index >= last:
                    break
        except av.error.FFmpegError as error:
            if not found:
                raise VpropError(f"cannot decode video ({error})", self.path) from error
        return found

    def get(self, indices: list[int]) -> list[torch.Tensor]:
        """Return the frames at ``indices`` (0-based), each (3, H, W) uint8.

        Indices past the real end (a header that overstates the length) get the last frame.
        """
        wanted = set(indices)
        first, last = min(indices), max(indices)
        found = self._decode_from(first, wanted, last)
        if not found and first > 0:
            found = self._decode_from(0, wanted, last)
        if not found:
            raise VpropError("no decodable frame at the requested positions", self.path)
        frames = []
        for index in indices:
            if index not in found:
                index = min(found, key=lambda k, i=index: abs(k - i))
            frames.append(_to_tensor(found[index]))
        return frames


class DecordReader:
    """Random access with decord (optional extra: ``pip install vprop[decord]``)."""

    def __init__(self, path: str | Path) -> None:
        """Open ``path``; raises VpropError if decord is missing or the file is unreadable."""
        try:
            import decord
        except ImportError as error:
            raise VpropError("the decord backend needs `pip install decord`") from error
        self.path = Path(path)
        try:
            self._reader = decord.VideoReader(str(self.path), num_threads=1)
        except (RuntimeError, decord.DECORDError) as error:
            raise VpropError(f"cannot open video ({error})", self.path) from error
        self.num_frames = len(self._reader)

    def close(self) -> None:
        """Release the file."""
        self._reader = None

    def __enter__(self) -> DecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, indices: list[int]) -> list[torch.Tensor]:
        """Return the frames at ``indices`` (0-based), each (3, H, W) uint8."""
        try:
            batch = self._reader.get_batch(list(indices)).asnumpy()  # (T, H, W, 3)
        except Exception as error:  # noqa: BLE001 - decord raises bare runtime errors
            raise VpropError(f"cannot decode video ({error})", self.path) from error
        return [_to_tensor(frame) for frame in batch]


def open_video(path: str | Path, backend: VideoBackend = "pyav") -> PyAVReader | DecordReader:
    """Open a video with the chosen backend."""
    if backend == "pyav":
        return PyAVReader(path)
    if backend == "decord":
        return DecordReader(path)
    raise VpropError(f"unknown video backend {backend!r}; use pyav or decord")


def sample_pair_indices(
    num_frames: int, rng: np.random.Generator, gap_range: tuple[int, int] = (4, 48)
) -> tuple[int, int]:
    """Two frame indices ``gap`` apart, gap ~ U[low, high) clipped to the clip (SiamMAE).

    As in the reference code, the bounds shrink for short clips: low = min(low, T - 1),
    high = min(high, T), so a clip of T >= 2 frames always yields a pair.

    Args:
        num_frames: Frames in the clip (T).
        rng: Random generator.
        gap_range: [low, high) of the gap in frames.

    Returns:
        (first, second) with second - first = gap.
    """
    if num_frames < 2:
        raise ValueError(f"a frame pair needs at least 2 frames, got {num_frames}")
    low = min(gap_range[0], num_frames - 1)
    high = max(min(gap_range[1], num_frames), low + 1)
    gap = int(rng.integers(low, high))
    first = int(rng.integers(0, num_frames - gap))
    return first, first + gap
