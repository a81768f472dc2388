"""The context ring buffer: frame 0 and the last ``context`` predictions of a video.

Slot 0 holds frame 0 (features and ground-truth soft labels) for the whole video; slots
``1..context`` are overwritten in turn by the newest predictions. Reference implementations
(CRW, CropMAE) pad the start of a video with ``context`` copies of frame 0 in the queue
(``pad_start``); those copies are not stored: they are counted as extra multiplicity of slot 0
(:class:`~vprop.propagation.affinity.FirstFrameCopies`) and leave the queue one per frame as
predictions arrive. Memory is ``context + 1`` feature and label maps, whatever the video length.
"""

from __future__ import annotations

import torch

from vprop.propagation.affinity import FirstFrameCopies, screen_features
from vprop.propagation.certified import context_norms


class ContextBuffer:
    """Features, soft labels and (optionally) screening copies of the context frames.

    Cells are rows in column-major order (cell = column * height + row).

    Args:
        first_keys: (M, D) features of frame 0.
        first_labels: (M, C) soft labels of frame 0.
        context: Number of previous predictions kept (the preset's ``context``).
        pad_start: Whether the queue starts as ``context`` copies of frame 0.
        restrict_first: Whether the long-term copy of frame 0 is limited to the radius.
        screen: Keep bfloat16 screening copies of the keys as well.
        certify: Keep the norms of every slot that certified screening's error bound needs
            (:func:`~vprop.propagation.certified.context_norms`); implies ``screen``.
    """

    def __init__(self, first_keys: torch.Tensor, first_labels: torch.Tensor, context: int,
                 pad_start: bool, restrict_first: bool, screen: bool = False,
                 certify: bool = False) -> None:
        screen = screen or certify
        slots, (cells, dim), classes = context + 1, first_keys.shape, first_labels.shape[1]
        device = first_keys.device
        self.context, self.restrict_first = context, restrict_first
        self.keys = torch.empty(slots, cells, dim, dtype=first_keys.dtype, device=device)
        self.labels = torch.zeros(slots, cells, classes, dtype=torch.float32, device=device)
        self.keys[0] = first_keys
        self.labels[0] = first_labels.to(torch.float32)
        self.screen_keys: torch.Tensor | None = None
        if screen:  # (S, M, D + 1) bfloat16 ranking copies, keys carry a -1 column
            self.screen_keys = screen_features(
                torch.zeros(slots, cells, dim, dtype=torch.float32, device=device), -1.0)
            self.screen_keys[0] = screen_features(first_keys.float(), -1.0)
        self.norms: torch.Tensor | None = None  # (S, 3) certified screening's key norms
        if certify:
            self.norms = torch.zeros(slots, 3, dtype=torch.float32, device=device)
            self.norms[0] = context_norms(first_keys, self.screen_keys[0])
        self.padding = context if pad_start else 0  # frame-0 copies still in the queue
        self.filled = 0  # prediction slots in use
        self.write = 1  # next prediction slot to overwrite

    @property
    def active(self) -> int:
        """Distinct frames in the context: frame 0 plus the stored predictions."""
        return 1 + self.filled

    def first_copies(self) -> FirstFrameCopies:
        """Multiplicity of frame 0 in the queue now (long-term copy plus padding)."""
        return FirstFrameCopies(free=0 if self.restrict_first else 1,
                                restricted=self.padding + (1 if self.restrict_first else 0))

    def push(self, keys: torch.Tensor, labels: torch.Tensor,
             screen_query: torch.Tensor | None = None) -> None:
        """Add a prediction; the oldest queue entry (a padding copy of frame 0 first) leaves.

        Args:
            keys: (M, D) features of the predicted frame.
            labels: (M, C) its predicted soft labels.
            screen_query: (M, D + 1) its screening copy as a query (+1 column), when screening.
        """
        if self.context == 0:
            return
        if self.padding > 0:
            self.padding -= 1
        if self.filled + self.padding < self.context:
            self.filled += 1
        self.keys[self.write] = keys
        self.labels[self.write] = labels
        if self.screen_keys is not None and screen_query is not None:
            self.screen_keys[self.write, :, :-1] = screen_query[:, :-1]  # keep the -1 column
            if self.norms is not None:
                self.norms[self.write] = context_norms(keys, screen_query)
        self.write = self.write + 1 if self.write < self.context else 1
