"""VIP class ids <-> propagation channels.

Like the reference, only the classes present in the first annotation get a channel (a class
absent there can never be predicted); channels are ordered by class id. Pixels marked 255
(ignored) in the first annotation carry no class, and the one-hot label maps have no room for
"no label", so they join the background channel (class 0), as DAVIS treats void as
background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vprop.benchmarks.vip.metrics import IGNORE_LABEL, NUM_CLASSES
from vprop.errors import VpropError


def check_class_ids(ids: np.ndarray, path: Path | str) -> None:
    """Raise unless every pixel is a VIP class id (0..19) or 255 (ignored).

    Raises:
        VpropError: Naming the file and the first offending id.
    """
    bad = ids[(ids >= NUM_CLASSES) & (ids != IGNORE_LABEL)]
    if bad.size:
        raise VpropError(
            f"class id {int(bad.min())} is not a VIP class (0-{NUM_CLASSES - 1}) "
            f"or {IGNORE_LABEL} (ignored)",
            path,
        )


def first_frame_channels(ids: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Map the first annotation's class ids to channel indices.

    Args:
        ids: (H, W) uint8 class ids (0..19, 255 = ignored), already checked.

    Returns:
        (channels, classes): (H, W) long channel index per pixel, and (C,) the class id of
        every channel in ascending order (class 0 included whenever 255 occurs).
    """
    present = set(np.unique(ids).tolist())
    if IGNORE_LABEL in present:
        present.discard(IGNORE_LABEL)
        present.add(0)
    classes = np.array(sorted(present), dtype=np.int64)  # (C,)
    lookup = np.zeros(256, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    lookup[IGNORE_LABEL] = lookup[0]
    return torch.from_numpy(lookup[ids.astype(np.int64)]), classes


def channels_to_ids(channels: torch.Tensor, classes: np.ndarray) -> np.ndarray:
    """Turn an argmax channel map back into class ids.

    Args:
        channels: (H, W) channel indices.
        classes: (C,) class id per channel.

    Returns:
        (H, W) uint8 class ids.
    """
    return classes.astype(np.uint8)[channels.cpu().numpy()]
