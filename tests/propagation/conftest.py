"""Shared engine-test helpers: random features, hard labels and a brute-force reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vprop.propagation.neighbourhood import neighbourhood_mask


def _random_features(frames: int, dim: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(frames, dim, height, width, generator=generator), dim=1)


def _hard_labels(classes: int, height: int, width: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, classes, (height, width), generator=generator)
    return F.one_hot(ids, classes).permute(2, 0, 1).float()


def _brute_force(features, first, preset):
    """PROTOCOLS.md section 1 literally: expanded copies, additive -inf mask, joint top-k."""
    frames, dim, height, width = features.shape
    cells = height * width
    feats = features.reshape(frames, dim, cells).transpose(1, 2)  # (T, M, D)
    preds = [first.reshape(first.shape[0], cells).T]  # (M, C)
    inside = neighbourhood_mask(height, width, preset.radius, preset.shape)
    penalty = torch.where(inside, 0.0, float("-inf"))  # (M, M)
    if preset.pad_start:  # padded sequence: `context` copies of frame 0 before the video
        bank = [0] * preset.context + list(range(frames))
    for t in range(1, frames):
        if preset.pad_start:
            position = t + preset.context
            queue = bank[position - preset.context : position]
        else:
            queue = list(range(max(1, t - preset.context), t))
        keys = [feats[0]] + [feats[j] for j in queue]
        labels = [preds[0]] + [preds[j] for j in queue]
        scores = []
        for index, key in enumerate(keys):
            affinity = feats[t] @ key.T  # (M, M)
            restricted = index > 0 or preset.restrict_first
            scores.append(affinity + penalty if restricted else affinity)
        scores = torch.cat(scores, dim=1) / preset.temperature  # (M, K*M)
        values, index = scores.topk(preset.topk, dim=1)
        weights = values.softmax(dim=1)
        stacked = torch.cat(labels, dim=0)  # (K*M, C)
        preds.append((weights.unsqueeze(-1) * stacked[index]).sum(dim=1))
    return [p.T.reshape(-1, height, width) for p in preds]



@pytest.fixture
def make_features():
    """(frames, dim, height, width, seed=0) -> L2-normalised random feature maps."""
    return _random_features


@pytest.fixture
def make_labels():
    """(classes, height, width, seed=1) -> random one-hot label maps."""
    return _hard_labels


@pytest.fixture
def brute_force():
    """(features, first, preset) -> PROTOCOLS.md section 1 computed literally."""
    return _brute_force
