"""Engine glue for first-frame labels that are already maps on the feature grid.

DAVIS and VIP start from an id map and use :func:`vprop.benchmarks.pipeline.propagate_video`.
JHMDB starts from Gaussian keypoint maps drawn directly on the grid, so this function takes
the (C, h, w) soft labels instead of an id map; everything else is the same pipeline pieces
(background prefetch, ``to_model_input``, ``stream_features``, ``LabelPropagator``), so there
is still a single propagation code path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from vprop.benchmarks.pipeline import EngineSettings, prefetch
from vprop.propagation import LabelPropagator, Preset, stream_features, to_model_input


def propagate_grid_labels(
    extractor: Callable[[torch.Tensor], torch.Tensor],
    frames: Iterable[np.ndarray],
    first_labels: torch.Tensor,
    preset: Preset,
    input_size: tuple[int, int],
    settings: EngineSettings,
) -> Iterator[torch.Tensor]:
    """Propagate soft labels given on frame 0's feature grid through a video.

    Args:
        extractor: (B, 3, H, W) -> (B, D, H/p, W/p) L2-normalised features.
        frames: RGB uint8 (H, W, 3) frames in order, frame 0 first (consumed lazily).
        first_labels: (C, h, w) soft labels of frame 0; (h, w) must be the feature grid of
            ``input_size``.
        preset: Propagation preset.
        input_size: Backbone input (height, width).
        settings: Device, batch size and dtypes.

    Yields:
        (C, h, w) soft labels per frame (frame 0's are ``first_labels``).
    """
    device = settings.torch_device()
    inputs = prefetch(to_model_input(frame, input_size) for frame in frames)
    features = stream_features(
        extractor,
        inputs,
        batch_size=settings.batch_size,
        device=device,
        dtype=settings.dtype(settings.feature_dtype),
        autocast_dtype=settings.dtype(settings.autocast),
    )
    yield from LabelPropagator(preset).run(features, first_labels.to(device))
