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
from collections.abc import Iterable, Iterator

import torch

from vprop.errors import VpropError
from vprop.propagation.affinity import (
    band_bias,
    band_candidates,
    screen_features,
    transfer_labels,
)
from vprop.propagation.neighbourhood import neighbourhood_mask
from vprop.propagation.presets import Preset


class LabelPropagator:
    """Propagates first-frame labels through a video with a :class:`Preset`.

    Args:
        preset: Propagation parameters.
        band_columns: Feature-grid columns of query cells scored at once.
        screen: Rank candidates on bfloat16 copies of the features and re-score the best
            ``screen_factor * topk`` of them exactly (see :mod:`vprop.propagation.affinity`);
            ``False`` scores every candidate in float32.
        screen_factor: Candidates re-scored per query, as a multiple of ``topk``.
    """

    def __init__(
        self, preset: Preset, band_columns: int = 8, screen: bool = False, screen_factor: int = 3
    ) -> None:
        if screen_factor < 1:
            raise VpropError(f"screen_factor must be >= 1, got {screen_factor}")
        self.preset = preset
        self.band_columns = max(1, band_columns)
        self.screen = screen
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
        preset = self.preset
        stream = iter(features)
        try:
            first = next(stream)  # (D, h, w)
        except StopIteration:
            return
        dim, height, width = first.shape
        classes = first_labels.shape[0]
        if first_labels.shape[1:] != first.shape[1:]:
            raise VpropError(
                f"label grid {tuple(first_labels.shape[1:])} does not match the feature grid "
                f"{tuple(first.shape[1:])}"
            )
        device, cells = first.device, height * width
        slots = preset.context + 1
        # Ring buffer: slot 0 is frame 0 (ground truth), slots 1.. hold recent predictions.
        keys = torch.empty(slots, cells, dim, dtype=first.dtype, device=device)  # (S, M, D)
        labels = torch.zeros(slots, cells, classes, dtype=torch.float32, device=device)
        keys[0] = _column_major(first)
        labels[0] = _column_major(first_labels.to(device, torch.float32))
        screen_keys = None
        if self.screen:  # (S, M, D + 1) bfloat16 ranking copies
            screen_keys = screen_features(keys.new_zeros(slots, cells, dim).float(), -1.0)
            screen_keys[0] = screen_features(keys[0].float(), -1.0)
        # Column-major cells: the mask of the transposed grid (both shapes are symmetric).
        inradius = neighbourhood_mask(width, height, preset.radius, preset.shape, device)
        score_dtype = screen_keys.dtype if self.screen else keys.dtype
        bands = [
            (queries, band, band_bias(inradius[queries], band, score_dtype))
            for queries, band in self._bands(height, width)
        ]

        kept = max(self.candidates, preset.topk) if self.screen else preset.topk  # per query
        first_copies = preset.context if preset.pad_start else 0  # frame-0 copies in the queue
        filled = 0  # prediction slots in use
        write = 1  # next prediction slot to overwrite
        yield first_labels.to(torch.float32)
        for feature in stream:
            if feature.shape != first.shape:
                raise VpropError(
                    f"feature map shape {tuple(feature.shape)} differs from frame 0's "
                    f"{tuple(first.shape)}"
                )
            active = 1 + filled
            # Frame 0: the long-term memory copy plus its padded copies in the queue.
            first_free = 0 if preset.restrict_first else 1
            first_restricted = first_copies + (1 if preset.restrict_first else 0)
            query = _column_major(feature)  # (M, D)
            scored_query, scored_keys = query, keys[:active]
            if screen_keys is not None:
                scored_query = screen_features(query.float(), 1.0)  # (M, D + 1)
                scored_keys = screen_keys[:active]
            chunks = [
                band_candidates(
                    scored_query[queries], scored_keys, first_free, band, bias, kept,
                    rescore=(query[queries], keys[:active], preset.topk) if self.screen else None,
                )
                for queries, band, bias in bands
            ]  # column-major chunks cover the cells in order
            prediction = transfer_labels(
                query, keys[:active], labels[:active],
                torch.cat([values for values, _ in chunks]),
                torch.cat([candidate for _, candidate in chunks]),
                first_free, first_restricted, inradius, preset.topk, preset.temperature,
            )  # (M, C), column-major
            yield prediction.T.reshape(classes, width, height).transpose(1, 2)

            if preset.context == 0:
                continue
            # The new prediction joins the queue; the oldest entry (a frame-0 copy first) leaves.
            if first_copies > 0:
                first_copies -= 1
            if filled + first_copies < preset.context:
                filled += 1
            keys[write] = query
            labels[write] = prediction
            if screen_keys is not None:
                screen_keys[write, :, :-1] = scored_query[:, :-1]  # keep the -1 column
            write = write + 1 if write < preset.context else 1


def _column_major(grid: torch.Tensor) -> torch.Tensor:
    """(X, h, w) map -> (w * h, X) rows in column-major cell order."""
    return grid.permute(2, 1, 0).reshape(-1, grid.shape[0])
