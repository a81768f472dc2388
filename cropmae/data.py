"""The pretraining dataset: decoded items -> view pairs + masking noise, reproducibly.

Every random choice for a sample (frame indices, crops, flips, augmentations, the masking
noise of view 2) comes from a generator seeded by ``(seed, epoch, index)``. A sample is
therefore the same whatever the number of workers or processes, and a resumed run sees
exactly the samples the uninterrupted run would have seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from vprop.cropmae.crops import CropPairSampler, FramePairSampler, ViewPair
from vprop.cropmae.decode import ImageFile
from vprop.cropmae.sources import Clip, DataSource
from vprop.cropmae.video import VideoBackend, open_video, sample_pair_indices
from vprop.errors import VpropError


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one sample, a pure function of (seed, epoch, index)."""
    return np.random.default_rng([seed, epoch, index])


@dataclass
class PairDataset(Dataset):
    """View pairs for CropMAE (one image or frame) or SiamMAE (two frames of one clip).

    Indexed by ``(epoch, index)`` tuples (see :class:`EpochSampler`). Each item holds
    ``repeats`` pairs drawn from the same decoded clip (SiamMAE's repeated sampling) and
    the masking noise for each view 2. A clip that cannot be decoded is replaced by another
    one drawn from the same generator; the skipped files are reported in the item.
    """

    source: DataSource
    method: str
    pair_sampler: CropPairSampler | FramePairSampler
    num_patches: int
    seed: int = 0
    repeats: int = 1
    video_backend: VideoBackend = "pyav"
    gap_range: tuple[int, int] = (4, 48)
    max_retries: int = 20
    reduced_decode: bool = True
    gpu_decode: bool = False
    _frame_counts: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.source.clips)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        rng = sample_rng(self.seed, epoch, index)
        skipped: list[str] = []
        make = self._encoded_pairs if self.gpu_decode else self._pairs
        for _ in range(self.max_retries + 1):
            clip = self.source.clips[index]
            try:
                pairs = make(clip, rng)
                break
            except VpropError as error:
                skipped.append(str(error))
            except Exception as error:  # noqa: BLE001 - decoders raise many kinds
                skipped.append(f"{clip.path}: {type(error).__name__}: {error}")
            index = int(rng.integers(len(self)))
        else:
            raise VpropError(
                f"{self.max_retries + 1} undecodable items in a row; last: {skipped[-1]}",
                self.source.root,
            )
        noise = torch.from_numpy(rng.random((self.repeats, self.num_patches), dtype=np.float32))
        if self.gpu_decode:
            return {"pairs": pairs, "noise": noise, "skipped": skipped}
        views = torch.stack([torch.stack([p.view1, p.view2]) for p in pairs])  # (R, 2, 3, S, S)
        return {"views": views, "noise": noise, "skipped": skipped}

    def _encoded_pairs(self, clip: Clip, rng: np.random.Generator) -> list[Any]:
        """For ``gpu_decode``: JPEG bytes + plans (other files: CPU views, as usual)."""
        from vprop.cropmae.device_decode import EncodedPair

        image = ImageFile(clip.path, self.reduced_decode)
        sampler = self.pair_sampler
        if image.format == "JPEG" and image.mode in ("RGB", "L"):
            data = torch.from_numpy(np.fromfile(clip.path, dtype=np.uint8))
            image.close()
            return [EncodedPair(data, sampler.plan(image.height, image.width, rng))
                    for _ in range(self.repeats)]
        pairs = [sampler(image, rng) for _ in range(self.repeats)]
        return [torch.stack([p.view1, p.view2]) for p in pairs]

    def _pairs(self, clip: Clip, rng: np.random.Generator) -> list[ViewPair]:
        if self.method == "siammae":
            length = self._length(clip)
            picks = [i for _ in range(self.repeats)
                     for i in sample_pair_indices(length, rng, self.gap_range)]
            frames = self._read_frames(clip, tuple(picks))  # one decoding pass for all pairs
            return [self.pair_sampler(frames[2 * r], frames[2 * r + 1], rng)
                    for r in range(self.repeats)]
        if self.source.format == "images":
            image = ImageFile(clip.path, self.reduced_decode)
            return [self.pair_sampler(image, rng) for _ in range(self.repeats)]
        picks = [int(rng.integers(self._length(clip))) for _ in range(self.repeats)]
        frames = self._read_frames(clip, tuple(picks))
        return [self.pair_sampler(frame, rng) for frame in frames]

    def _length(self, clip: Clip) -> int:
        if clip.frames:
            return len(clip.frames)
        if clip.path not in self._frame_counts:
            with open_video(clip.path, self.video_backend) as reader:
                self._frame_counts[clip.path] = reader.num_frames
        count = self._frame_counts[clip.path]
        if count < (2 if self.method == "siammae" else 1):
            raise VpropError(f"video has {count} frames", clip.path)
        return count

    def _read_frames(self, clip: Clip, indices: tuple[int, ...]) -> list[torch.Tensor | ImageFile]:
        if clip.frames:  # decoded lazily, at the scale the crop needs
            return [ImageFile(clip.frames[i], self.reduced_decode) for i in indices]
        with open_video(clip.path, self.video_backend) as reader:
            return reader.get(list(indices))


def collate_pairs(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch items: views (B*R, 2, 3, S, S) uint8, noise (B*R, L), skipped file messages."""
    return {
        "views": torch.cat([item["views"] for item in items]),
        "noise": torch.cat([item["noise"] for item in items]),
        "skipped": [msg for item in items for msg in item["skipped"]],
    }


class EpochSampler(Sampler):
    """Shuffled ``(epoch, index)`` keys for one rank, resumable mid-epoch.

    The global order is a permutation seeded by ``seed + epoch``, cut to a multiple of the
    world size; rank r takes positions r, r + W, r + 2W, ... (like DistributedSampler with
    drop_last). With a per-rank batch b, global step k therefore covers permutation positions
    [k*b*W, (k+1)*b*W) whatever W is: W processes see the samples one process would see.
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True) -> None:
        """Build a sampler over ``size`` items for ``rank`` of ``world_size``."""
        self.size, self.rank, self.world_size = size, rank, world_size
        self.seed, self.shuffle = seed, shuffle
        self.epoch, self.start = 0, 0
        self.per_rank = size // world_size
        if self.per_rank == 0:
            raise VpropError(f"{size} items cannot be split over {world_size} processes")

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch, skipping the first ``start`` keys of this rank (for resuming)."""
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        mine = order[: self.per_rank * self.world_size][self.rank :: self.world_size]
        return iter([(self.epoch, index) for index in mine[self.start :]])


def steps_per_epoch(size: int, world_size: int, batch_size: int, accum_iter: int) -> int:
    """Optimiser steps per epoch: full micro-batches per rank, grouped by ``accum_iter``."""
    micro = (size // world_size) // batch_size
    return micro // accum_iter


def default_workers() -> int:
    """A sensible number of loader workers: the CPUs per local process, at most 10."""
    import os

    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(0, min(10, math.floor((os.cpu_count() or 1) / max(1, local)) - 1))
