"""Non-finite numbers stop propagation with an error naming the sequence and the frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vprop.benchmarks.papers import get_preset
from vprop.benchmarks.pipeline import EngineSettings, propagate_grid_labels
from vprop.errors import VpropError

SIZE = (32, 48)  # input (height, width): a 2 x 3 grid at patch 16
SETTINGS = EngineSettings(device="cpu", batch_size=2, progress=False)


class _Extractor:
    """Random L2-normalisable features; frame ``bad`` (counted across calls) becomes NaN."""

    def __init__(self, bad: int | None) -> None:
        self.bad, self.seen = bad, 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seen)
        feats = torch.randn(images.shape[0], 8, 2, 3, generator=generator)
        for offset in range(images.shape[0]):
            if self.seen + offset == self.bad:
                feats[offset, 0, 1, 1] = float("nan")
        self.seen += images.shape[0]
        return feats


def _run(extractor, first: torch.Tensor, frames: int = 6) -> list[torch.Tensor]:
    paths = [Path(f"/data/seq/{i:05d}.jpg") for i in range(frames)]
    rgb = (np.zeros((*SIZE, 3), np.uint8) for _ in range(frames))
    return list(propagate_grid_labels(extractor, rgb, first, get_preset("cropmae"), SIZE,
                                      SETTINGS, paths, "seq"))


def _labels() -> torch.Tensor:
    labels = torch.zeros(2, 2, 3)
    labels[0, 0], labels[1, 1] = 1.0, 1.0
    return labels


def test_finite_input_propagates_every_frame():
    maps = _run(_Extractor(bad=None), _labels())
    assert len(maps) == 6 and all(bool(torch.isfinite(m).all()) for m in maps)


@pytest.mark.parametrize("bad", [0, 3, 5])
def test_nan_features_name_their_frame(bad):
    with pytest.raises(VpropError, match=rf"^/data/seq/{bad:05d}\.jpg: seq: the backbone's "
                                         "features"):
        _run(_Extractor(bad=bad), _labels())


def test_nan_soft_labels_name_the_frame():
    labels = _labels()
    labels[1, 0, 0] = float("nan")
    with pytest.raises(VpropError, match=r"^/data/seq/00000\.jpg: seq: soft labels of frame "
                                         r"00000\.jpg are not finite"):
        _run(_Extractor(bad=None), labels)


def test_deferred_checks_raise_the_first_failure_in_order_lag_checks_late(monkeypatch):
    from vprop.benchmarks import pipeline

    monkeypatch.setattr(pipeline._Finished, "query", lambda self: False)  # device still busy
    seen = []

    def error(index):
        def check(flag):
            seen.append(index)
            return None if bool(flag) else ValueError(f"frame {index}")
        return check

    checks = pipeline.DeferredChecks(lag=2, deferred=True)  # the CUDA bookkeeping, on the CPU
    checks.add(torch.tensor(True), error(0))
    checks.add(torch.tensor(False), error(1))
    assert seen == []  # nothing read back yet: the host did not wait
    checks.add(torch.tensor(True), error(2))  # over the lag: the oldest is waited for
    assert seen == [0]
    with pytest.raises(ValueError, match="frame 1"):
        checks.add(torch.tensor(True), error(3))
    assert seen == [0, 1]
    tail = pipeline.DeferredChecks(lag=8, deferred=True)
    tail.add(torch.tensor(False), error(5))
    with pytest.raises(ValueError, match="frame 5"):
        tail.flush()
    immediate = pipeline.DeferredChecks()  # CPU flags: checked at once, as before
    with pytest.raises(ValueError, match="frame 7"):
        immediate.add(torch.tensor(False), error(7))
