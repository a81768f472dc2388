"""The streaming label propagator: context queue + top-k affinity, frame after frame.

Memory is bounded by the context size, never by the video length: the propagator keeps a ring
buffer of ``context + 1`` feature maps and soft label maps (frame 0 + the last ``context``
predictions) and consumes the features of one frame at a time.

Cells are stored column-major (cell = column * height + row) and queries are processed in bands
of whole columns, so the context cells within the radius of a band form one contiguous range
and far columns are never scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import torch

from vprop.errors import VpropError
from vprop.propagation.affinity import (
    SCREEN_DTYPE,
    Candidates,
    Rescore,
    band_bias,
    band_candidates,
    screen_features,
    transfer_labels,
)
from vprop.propagation.certified import certified_candidates, query_bound
from vprop.propagation.context import ContextBuffer
from vprop.propagation.neighbourhood import neighbourhood_mask
from vprop.propagation.presets import SCREEN_FACTOR, Preset
from vprop.timing import stage

AFFINITIES = ("exact", "certified", "screened")
# Certified screening pays off from about this many distinct context frames (2-core EPYC,
# ViT-S/16 at 480x880, real car-shadow / blackswan: 0.95-1.2x the exact time per frame below
# 12, 0.8-1.0x from 14); below it the propagator scores exactly (the same candidates).
CERTIFY_MIN_SLOTS = 14


class Band(NamedTuple):
    """A chunk of query cells and the context cells within the radius of any of them.

    Attributes:
        queries: Query cells of the chunk (a range of column-major cells).
        cells: Context cells that can lie within the radius of one of its queries.
        bias: (n, B) additive mask on ``cells``: 0 inside the radius, -inf outside.
    """

    queries: slice
    cells: slice
    bias: torch.Tensor


class Grid(NamedTuple):
    """Loop invariants of one video: its feature grid, neighbourhoods and bands.

    Attributes:
        shape: (D, h, w) of every feature map.
        inradius: (M, M) bool neighbourhood mask, column-major cells.
        bands: Query chunks covering the grid in cell order.
    """

    shape: tuple[int, int, int]
    inradius: torch.Tensor
    bands: list[Band]


class LabelPropagator:
    """Propagates first-frame labels through a video with a :class:`Preset`.

    Args:
        preset: Propagation parameters.
        band_columns: Feature-grid columns of query cells scored at once (4: the scores of a
            band at the cropmae preset, ~13 MB, stay in a CPU's L3 cache with two bands in
            flight; 8 was 1.7x slower per frame on the 2-core EPYC).
        affinity: How candidates are scored (:data:`AFFINITIES`): ``exact`` scores every
            candidate in the feature dtype; ``certified`` screens them with bfloat16 copies,
            drops only those that provably cannot reach the float32 top-k and scores the rest in
            float32 (:mod:`vprop.propagation.certified`; same candidates as ``exact``, float32
            features only); ``screened`` re-scores the best ``screen_factor * topk`` of the
            screen in float32 (:mod:`vprop.propagation.affinity`; may miss a candidate).
        screen_factor: Candidates re-scored per query by ``screened``, as a multiple of ``topk``.
        mapper: ``map``-like callable the bands of a frame are scored with (e.g. a thread
            pool's ``map``, to score bands concurrently with single-threaded torch ops); the
            results are the same whatever runs them.
    """

    def __init__(
        self, preset: Preset, band_columns: int = 4, affinity: str = "exact",
        screen_factor: int = SCREEN_FACTOR, mapper: Callable[..., Iterable] = map,
    ) -> None:
        if screen_factor < 1:
            raise VpropError(f"screen_factor must be >= 1, got {screen_factor}")
        if affinity not in AFFINITIES:
            raise VpropError(f"unknown affinity {affinity!r}; choose one of {list(AFFINITIES)}")
        self.preset, self.mapper = preset, mapper
        self.band_columns = max(1, band_columns)
        self.affinity = affinity
        self.screen = affinity != "exact"
        self.candidates = screen_factor * preset.topk

    def _reach(self, width: int) -> int:
        """Largest column offset a restricted context cell can have from its query."""
        radius = self.preset.radius
        if radius <= 0:
            return width
        return math.ceil(radius) - 1 if self.preset.shape == "circle" else math.floor(radius)

    def _bands(self, height: int, width: int) -> list[tuple[slice, slice]]:
        """(query cells, context band) pairs covering the grid, column-major cell order."""
        reach, bands = self._reach(width), []
        for start in range(0, width, self.band_columns):
            stop = min(width, start + self.band_columns)
            low, high = max(0, start - reach), min(width, stop + reach)
            bands.append((slice(start * height, stop * height), slice(low * height, high * height)))
        return bands

    def grid(self, first: torch.Tensor) -> Grid:
        """The loop invariants of a video whose frame 0 has (D, h, w) features ``first``."""
        _, height, width = first.shape
        # Column-major cells: the mask of the transposed grid (both shapes are symmetric).
        inradius = neighbourhood_mask(width, height, self.preset.radius, self.preset.shape,
                                      first.device)
        dtype = SCREEN_DTYPE if self.screen else first.dtype  # the scoring dtype
        bands = [Band(queries, cells, band_bias(inradius[queries], cells, dtype))
                 for queries, cells in self._bands(height, width)]
        return Grid(tuple(first.shape), inradius, bands)

    def start(self, first: torch.Tensor, first_labels: torch.Tensor) -> ContextBuffer:
        """A context buffer holding frame 0's (D, h, w) features and (C, h, w) soft labels."""
        if first_labels.shape[1:] != first.shape[1:]:
            raise VpropError(
                f"label grid {tuple(first_labels.shape[1:])} does not match the feature grid "
                f"{tuple(first.shape[1:])}"
            )
        preset = self.preset
        labels = column_major(first_labels.to(first.device, torch.float32))
        if self.affinity == "certified" and first.dtype != torch.float32:
            raise VpropError(f"certified affinities need float32 features, got {first.dtype}")
        return ContextBuffer(column_major(first), labels, preset.context, preset.pad_start,
                             preset.restrict_first, self.screen, self.affinity == "certified")

    def step(self, context: ContextBuffer, grid: Grid, feature: torch.Tensor) -> torch.Tensor:
        """Predict one frame from the context, then push the prediction into it.

        Args:
            context: The video's buffer (from :meth:`start`); updated in place.
            grid: The video's loop invariants (from :meth:`grid`).
            feature: (D, h, w) L2-normalised features of the frame.

        Returns:
            (C, h, w) float32 soft labels of the frame.
        """
        if tuple(feature.shape) != grid.shape:
            raise VpropError(f"feature map shape {tuple(feature.shape)} differs from frame 0's "
                             f"{grid.shape}")
        query = column_major(feature)  # (M, D)
        scored_query = screen_features(query.float(), 1.0) if self.screen else query
        chunk = self._chunk_scorer(context, query, scored_query)
        chunks = list(self.mapper(chunk, grid.bands))  # column-major: the cells in order
        active, copies = context.active, context.first_copies()
        prediction = transfer_labels(Candidates.cat(chunks), context.labels[:active], copies,
                                     grid.inradius, self.preset.topk, self.preset.temperature)
        context.push(query, prediction, scored_query if self.screen else None)
        _, height, width = grid.shape
        return prediction.T.reshape(-1, width, height).transpose(1, 2)

    def _chunk_scorer(self, context: ContextBuffer, query: torch.Tensor,
                      scored_query: torch.Tensor) -> Callable[[Band], Candidates]:
        """The function giving one band's candidates, for this propagator's affinity mode.

        Args:
            context: The video's buffer.
            query: (M, D) features of the frame, column-major cells.
            scored_query: ``query`` itself, or its (M, D + 1) screening copy.
        """
        active, free, topk = context.active, context.first_copies().free, self.preset.topk
        keys = context.keys[:active]
        if self.affinity == "exact" or (self.affinity == "certified"
                                         and active < CERTIFY_MIN_SLOTS):
            return lambda band: band_candidates(query[band.queries], keys, free, band.cells,
                                                band.bias, topk)
        screen_keys = context.screen_keys[:active]
        if self.affinity == "certified":
            bound = query_bound(query, scored_query, context.norms[:active])  # (M,)
            return lambda band: certified_candidates(
                query[band.queries], scored_query[band.queries], keys, screen_keys, free,
                band.cells, band.bias, topk, bound[band.queries])
        count = max(self.candidates, topk)
        return lambda band: band_candidates(
            scored_query[band.queries], screen_keys, free, band.cells, band.bias, count,
            rescore=Rescore(query[band.queries], keys, topk))

    def run(
        self, features: Iterable[torch.Tensor], first_labels: torch.Tensor
    ) -> Iterator[torch.Tensor]:
        """Propagate labels through a stream of frame features.

        Args:
            features: Iterable of (D, h, w) L2-normalised feature maps, one per frame, frame 0
                first. It is consumed lazily, one frame at a time.
            first_labels: (C, h, w) soft labels of frame 0 on the feature grid.

        Yields:
            (C, h, w) float32 soft labels per frame; frame 0 yields ``first_labels`` itself.
        """
        stream = iter(features)
        try:
            first = next(stream)  # (D, h, w)
        except StopIteration:
            return
        context = self.start(first, first_labels)
        grid = self.grid(first)
        yield first_labels.to(torch.float32)
        for feature in stream:
            with stage("propagation", first.device):
                prediction = self.step(context, grid, feature)
            yield prediction


def column_major(grid: torch.Tensor) -> torch.Tensor:
    """(X, h, w) map -> (w * h, X) rows in column-major cell order."""
    return grid.permute(2, 1, 0).reshape(-1, grid.shape[0])
