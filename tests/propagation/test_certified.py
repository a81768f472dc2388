"""Certified screening: the bound holds on adversarial inputs; candidates equal exact ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vprop.benchmarks.papers import get_preset
from vprop.errors import VpropError
from vprop.propagation import LabelPropagator, certified, propagator
from vprop.propagation.affinity import band_bias, band_candidates, screen_features
from vprop.propagation.certified import (
    OUTPUT_ROUNDING,
    certified_candidates,
    context_norms,
    query_bound,
    screen_threshold,
)


def _near_duplicates(count: int, dim: int, spread: float, seed: int) -> torch.Tensor:
    """Unit vectors within ~``spread`` of one direction: cosines far closer than bf16's step."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(1, dim, generator=generator)
    return F.normalize(base + spread * torch.randn(count, dim, generator=generator), dim=1)


def _coherent(count: int, dim: int, seed: int) -> torch.Tensor:
    """Unit vectors whose bfloat16 rounding errors all point the same way as the vector.

    Every coordinate sits 0.49 bfloat16 steps above a representable value, so rounding moves
    each one down by almost half a step, in the direction of its sign: the error vector is
    nearly parallel to the vector and Cauchy-Schwarz is nearly tight.
    """
    generator = torch.Generator().manual_seed(seed)
    grid = torch.rand(count, dim, generator=generator).add(0.5).to(torch.bfloat16).float()
    step = torch.nextafter(grid.to(torch.bfloat16), torch.tensor(9.0, dtype=torch.bfloat16))
    vectors = grid + 0.49 * (step.float() - grid)
    return vectors / vectors.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("make", ["near", "coherent", "random"])
def test_screen_error_never_exceeds_the_bound(make):
    dim = 384
    if make == "near":
        query, keys = _near_duplicates(64, dim, 0.05, 1), _near_duplicates(512, dim, 0.05, 1)
    elif make == "coherent":
        query, keys = _coherent(64, dim, 2), _coherent(512, dim, 3)
    else:
        generator = torch.Generator().manual_seed(4)
        query = F.normalize(torch.randn(64, dim, generator=generator), dim=1)
        keys = F.normalize(torch.randn(512, dim, generator=generator), dim=1)
    screen_query, screen_keys = screen_features(query, 1.0), screen_features(keys, -1.0)
    screened = (screen_query @ screen_keys.T).float()  # the bfloat16 kernel, S = q~.k~ - 1
    exact = query.double() @ keys.double().T  # the real dot products
    bound = query_bound(query, screen_query, context_norms(keys, screen_keys)[None])
    error = (screened.double() + 1 - exact).abs()
    allowed = bound.double()[:, None] + OUTPUT_ROUNDING * screened.double().abs()
    assert bool((error <= allowed).all()), f"worst excess {(error - allowed).max().item()}"
    if make == "coherent":  # the bound is not loose by orders of magnitude where it is tight
        assert error.max() > 0.1 * bound.min()


def test_threshold_is_rounded_down_to_bfloat16():
    generator = torch.Generator().manual_seed(0)
    kth = -torch.rand(10_000, generator=generator) * 0.3  # S_k in [-0.3, 0]
    bound = torch.rand(10_000, generator=generator) * 0.01
    tau = screen_threshold(kth, bound)
    x = (kth - OUTPUT_ROUNDING * kth.abs() - 2 * bound).double()
    exact_tau = x / (1 - OUTPUT_ROUNDING)  # x <= 0 here
    assert tau.dtype == torch.bfloat16
    assert bool((tau.double() <= exact_tau).all())
    below = torch.nextafter(tau, torch.full_like(tau, 1.0))  # one bf16 step up
    assert bool((below.double() > exact_tau * (1 + 1e-5)).float().mean() > 0.99)  # not too low


def test_threshold_of_a_row_with_too_few_candidates_keeps_everything():
    tau = screen_threshold(torch.tensor([float("-inf")]), torch.tensor([0.01]))
    assert tau.item() == float("-inf")


def _band_inputs(query, keys, radius_cells):
    """Queries and E context slots over M cells on a line; ``band`` = all cells."""
    cells = keys.shape[1]
    positions = torch.arange(cells)
    inradius = (positions[:, None] - positions[None, :]).abs() < radius_cells  # (M, M)
    band = slice(0, cells)
    return inradius[: query.shape[0]], band


def _clustered_keys(query, slots, cells, seed):
    """Keys of which a fifth are near-duplicates of the queries' direction, the rest random."""
    generator = torch.Generator().manual_seed(seed)
    dim = query.shape[1]
    keys = F.normalize(torch.randn(slots * cells, dim, generator=generator), dim=1)
    close = torch.randperm(slots * cells, generator=generator)[: slots * cells // 5]
    noise = torch.randn(len(close), dim, generator=generator)
    keys[close] = F.normalize(query.mean(0, keepdim=True) + 0.01 * noise, dim=1)
    return keys.view(slots, cells, dim)


@pytest.mark.parametrize("first_free", [0, 1])
@pytest.mark.parametrize("spread", [0.005, 0.05])
def test_certified_candidates_equal_exact_ones(first_free, spread, monkeypatch):
    dim, cells, slots = 64, 200, 6
    query = _near_duplicates(4, dim, spread, 5)
    keys = _clustered_keys(query, slots, cells, 6)
    inradius, band = _band_inputs(query, keys, radius_cells=150)
    exact = band_candidates(query, keys, first_free, band, band_bias(inradius, band,
                                                                      torch.float32), 7)
    screen_keys = screen_features(keys, -1.0)
    norms = torch.stack([context_norms(keys[e], screen_keys[e]) for e in range(slots)])
    screen_query = screen_features(query, 1.0)
    rescored = []  # rows of keys gathered for float32 scoring
    gather = certified.F.embedding
    monkeypatch.setattr(certified.F, "embedding",
                        lambda ids, weight: rescored.append(len(ids)) or gather(ids, weight))
    mine = certified_candidates(query, screen_query, keys, screen_keys, first_free, band,
                                band_bias(inradius, band, torch.bfloat16), 7,
                                query_bound(query, screen_query, norms))
    # The screen both kept many near-ties (beyond bfloat16's resolution) and dropped most.
    assert 7 * 4 < rescored[0] < slots * cells // 2
    screen_only = band_candidates(screen_query, screen_keys, first_free, band,
                                  band_bias(inradius, band, torch.bfloat16), 7)
    assert not torch.equal(screen_only.ids.sort(1).values, exact.ids.sort(1).values)
    assert torch.equal(mine.values, exact.values)
    # Where ids differ, the values tie exactly (topk may order equal values either way).
    assert torch.equal(mine.ids.sort(dim=1).values, exact.ids.sort(dim=1).values)


def test_certified_pads_tiny_candidate_sets_like_exact():
    query = _near_duplicates(3, 16, 0.1, 7)
    keys = _near_duplicates(4, 16, 0.1, 8).view(1, 4, 16)
    inradius = torch.tensor([[True, True, False, False]] * 3)
    band = slice(0, 4)
    screen_query, screen_keys = screen_features(query, 1.0), screen_features(keys, -1.0)
    mine = certified_candidates(query, screen_query, keys, screen_keys, 0, band,
                                band_bias(inradius, band, torch.bfloat16), 7,
                                query_bound(query, screen_query,
                                            context_norms(keys[0], screen_keys[0])[None]))
    exact = band_candidates(query, keys, 0, band, band_bias(inradius, band, torch.float32), 7)
    assert mine.values.shape == (3, 7)
    assert torch.equal(mine.values, exact.values)  # two finite values, five -inf
    assert torch.equal(mine.ids[:, :2].sort(1).values, exact.ids[:, :2].sort(1).values)


@pytest.mark.parametrize("name", ["cropmae", "crw", "dino"])
def test_certified_propagation_matches_brute_force(name, make_labels, brute_force, monkeypatch):
    monkeypatch.setattr(propagator, "CERTIFY_MIN_SLOTS", 1)  # certify from the first frame
    preset = get_preset(name).override(context=4, radius=3, topk=5)
    frames = torch.stack([_near_duplicates(6 * 7, 32, 0.03, seed).T.reshape(32, 6, 7)
                          for seed in range(10)])
    first = make_labels(3, 6, 7, seed=8)
    mine = LabelPropagator(preset, band_columns=2, affinity="certified").run(iter(frames), first)
    for ours, theirs in zip(mine, brute_force(frames, first, preset)):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_certified_equals_exact_below_and_above_the_slot_threshold(make_labels):
    preset = get_preset("cropmae").override(context=propagator.CERTIFY_MIN_SLOTS + 2,
                                            radius=4, topk=7)
    frames = torch.stack([_near_duplicates(8 * 9, 48, 0.02, seed).T.reshape(48, 8, 9)
                          for seed in range(propagator.CERTIFY_MIN_SLOTS + 6)])
    first = make_labels(4, 8, 9, seed=3)
    exact = list(LabelPropagator(preset).run(iter(frames), first))
    certified = list(LabelPropagator(preset, affinity="certified").run(iter(frames), first))
    for ours, theirs in zip(certified, exact):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
        assert torch.equal(ours.argmax(0), theirs.argmax(0))


def test_certified_needs_float32_features(make_labels):
    features = torch.zeros(8, 4, 5, dtype=torch.bfloat16)
    with pytest.raises(VpropError, match="float32"):
        LabelPropagator(get_preset("cropmae"), affinity="certified").start(
            features, make_labels(2, 4, 5))


def test_unknown_affinity_is_refused():
    with pytest.raises(VpropError, match="unknown affinity"):
        LabelPropagator(get_preset("cropmae"), affinity="fast")
