"""The streaming label propagator: context queue + top-k affinity, frame after frame.

Memory is bounded by the context size, never by the video length: the propagator keeps a ring
buffer of ``context + 1`` feature maps and soft label maps (frame 0 + the last ``context``
predictions) and consumes the features of one frame at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from vprop.errors import VpropError
from vprop.propagation.affinity import topk_label_transfer
from vprop.propagation.neighbourhood import neighbourhood_mask
from vprop.propagation.presets import Preset


class LabelPropagator:
    """Propagates first-frame labels through a video with a :class:`Preset`.

    Args:
        preset: Propagation parameters.
        query_chunk: Query cells scored at once; bounds the (chunk, E*M) affinity matrix.
    """

    def __init__(self, preset: Preset, query_chunk: int = 2048) -> None:
        self.preset = preset
        self.query_chunk = query_chunk

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
        keys[0] = first.reshape(dim, cells).T
        labels[0] = first_labels.to(device, torch.float32).reshape(classes, cells).T
        inradius = neighbourhood_mask(height, width, preset.radius, preset.shape, device)

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
            free = torch.zeros(active, dtype=torch.long, device=device)
            restricted = torch.ones(active, dtype=torch.long, device=device)
            # Frame 0: the long-term memory copy plus its padded copies in the queue.
            free[0] = 0 if preset.restrict_first else 1
            restricted[0] = first_copies + (1 if preset.restrict_first else 0)
            query = feature.reshape(dim, cells).T  # (M, D)
            prediction = torch.cat(
                [
                    topk_label_transfer(
                        query[start : start + self.query_chunk],
                        keys[:active],
                        labels[:active],
                        free,
                        restricted,
                        inradius[start : start + self.query_chunk],
                        preset.topk,
                        preset.temperature,
                    )
                    for start in range(0, cells, self.query_chunk)
                ]
            )  # (M, C)
            yield prediction.T.reshape(classes, height, width)

            if preset.context == 0:
                continue
            # The new prediction joins the queue; the oldest entry (a frame-0 copy first) leaves.
            if first_copies > 0:
                first_copies -= 1
            if filled + first_copies < preset.context:
                filled += 1
            keys[write] = query
            labels[write] = prediction
            write = write + 1 if write < preset.context else 1
