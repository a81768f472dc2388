"""Engine tests on hand-made inputs and against a brute-force CRW-style reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vprop.benchmarks.papers import get_preset
from vprop.propagation import LabelPropagator


def _run(preset, features, first):
    return list(LabelPropagator(preset, band_columns=2).run(iter(features), first))


def test_matches_brute_force_reference_cropmae_style(make_features, make_labels, brute_force):
    preset = get_preset("cropmae").override(context=4, radius=3, topk=6)
    features = make_features(12, 8, 6, 7)
    first = make_labels(3, 6, 7)
    ours, reference = _run(preset, features, first), brute_force(features, first, preset)
    assert len(ours) == 12
    for mine, theirs in zip(ours, reference):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_matches_brute_force_reference_dino_style(make_features, make_labels, brute_force):
    preset = get_preset("dino").override(context=3, radius=2, topk=5)
    features = make_features(10, 8, 5, 6, seed=3)
    first = make_labels(4, 5, 6, seed=4)
    for mine, theirs in zip(_run(preset, features, first), brute_force(features, first, preset)):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_identical_frames_reproduce_the_first_mask(make_features, make_labels):
    features = make_features(1, 16, 5, 5).repeat(8, 1, 1, 1)
    first = make_labels(3, 5, 5)
    # cropmae: every top-k candidate is a copy of the query's own cell -> exact copy.
    for soft in _run(get_preset("cropmae"), features, first)[1:]:
        torch.testing.assert_close(soft, first)
    # dino: own cell dominates the softmax -> same argmax.
    for soft in _run(get_preset("dino"), features, first)[1:]:
        assert torch.equal(soft.argmax(0), first.argmax(0))


def test_top1_copies_the_nearest_patch_label(make_features):
    # Frame 1's cell i is frame 0's cell perm[i] (plus tiny noise): top-1 copies that label.
    height, width, classes = 4, 5, 20
    base = make_features(1, 32, height, width)[0].reshape(32, -1)
    perm = torch.randperm(height * width, generator=torch.Generator().manual_seed(5))
    moved = F.normalize(base[:, perm] + 1e-3 * torch.randn(32, height * width), dim=0)
    features = torch.stack([base, moved]).reshape(2, 32, height, width)
    first = F.one_hot(torch.arange(height * width), classes).T.float().reshape(-1, height, width)
    preset = get_preset("cropmae").override(topk=1, radius=0)
    soft = _run(preset, features, first)[1]
    assert torch.equal(soft.reshape(classes, -1).argmax(0), perm)
    assert torch.allclose(soft.sum(0), torch.ones(height, width))


def test_radius_excludes_far_patches():
    # Frame 2's cell (0, 0) matches cell (0, 4) of frames 0 and 1 perfectly (4 cells away,
    # class 0) and frame 0's cell (0, 1) weakly (1 cell away, class 1). Radius 2 must ignore the
    # far perfect matches.
    dim, height, width = 4, 1, 5
    e = torch.eye(dim)
    weak = F.normalize(e[0] + e[1], dim=0)
    frame0 = torch.stack([e[2], weak, e[3], e[3], e[0]], dim=1).reshape(dim, height, width)
    frame1 = torch.stack([e[2], e[3], e[3], e[3], e[0]], dim=1).reshape(dim, height, width)
    frame2 = torch.stack([e[0]] * width, dim=1).reshape(dim, height, width)
    first = torch.zeros(2, height, width)
    first[0] = 1
    first[:, 0, 1] = torch.tensor([0.0, 1.0])  # only cell (0, 1) of frame 0 is class 1
    preset = get_preset("dino").override(topk=1, radius=2, context=1, shape="square")
    features = torch.stack([frame0, frame1, frame2])
    outputs = _run(preset, features, first)
    assert torch.equal(outputs[2][:, 0, 0], torch.tensor([0.0, 1.0]))
    # With a wide radius the perfect matches win.
    wide = _run(preset.override(radius=10), features, first)
    assert torch.equal(wide[2][:, 0, 0], torch.tensor([1.0, 0.0]))


def test_stream_is_consumed_lazily_with_bounded_state(make_features, make_labels):
    pulled = []

    def frames():
        for index in range(1000):
            pulled.append(index)
            yield make_features(1, 8, 3, 3, seed=index)[0]

    first = make_labels(2, 3, 3)
    outputs = LabelPropagator(get_preset("cropmae").override(context=3)).run(frames(), first)
    for step, _ in zip(range(50), outputs):
        assert len(pulled) == step + 1  # never reads ahead of the frame it predicts
