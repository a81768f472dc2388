"""Screened affinities: bfloat16 picks the candidates to re-score, float32 ranks them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vprop.benchmarks.papers import get_preset
from vprop.errors import VpropError
from vprop.propagation import LabelPropagator
from vprop.propagation.affinity import (
    Candidates,
    FirstFrameCopies,
    band_bias,
    band_candidates,
    screen_features,
    transfer_labels,
)


def _screened(preset, features, first, factor=3):
    propagator = LabelPropagator(preset, band_columns=2, affinity="screened", screen_factor=factor)
    return list(propagator.run(iter(features), first))


@pytest.mark.parametrize("name", ["cropmae", "crw", "dino"])
def test_screened_matches_brute_force(name, make_features, make_labels, brute_force):
    preset = get_preset(name).override(context=4, radius=3, topk=5)
    features = make_features(10, 32, 6, 7, seed=7)
    first = make_labels(3, 6, 7, seed=8)
    for mine, theirs in zip(_screened(preset, features, first),
                            brute_force(features, first, preset)):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_screen_features_offset_column():
    features = F.normalize(torch.randn(5, 16), dim=1)
    query, keys = screen_features(features, 1.0), screen_features(features, -1.0)
    assert query.dtype == keys.dtype == torch.bfloat16 and query.shape == (5, 17)
    # q . k - 1 for unit vectors: the diagonal (self-similarity) is ~0.
    assert torch.allclose((query.float() @ keys.float().T).diagonal(), torch.zeros(5), atol=1e-2)


def test_rescoring_fixes_orderings_that_bfloat16_gets_wrong():
    # 300 keys whose cosines with the query differ by ~1e-6, far below bfloat16's input
    # rounding: the screen orders them wrongly, the float32 re-scoring must not.
    generator = torch.Generator().manual_seed(0)
    dim, cells = 64, 300
    query = F.normalize(torch.randn(1, dim, generator=generator), dim=1)
    noise = F.normalize(torch.randn(cells, dim, generator=generator), dim=1)
    keys = F.normalize(query + 0.003 * noise, dim=1)[None]  # (1, M, D)
    exact = (keys[0] @ query[0]).double()
    labels = torch.eye(cells)[None]  # (1, M, C=M): the output names the chosen key
    inradius = torch.ones(1, cells, dtype=torch.bool)
    band = slice(0, cells)
    values, candidate = band_candidates(
        screen_features(query, 1.0), screen_features(keys, -1.0), first_free=1, band=band,
        bias=band_bias(inradius, band, torch.bfloat16), count=cells,
    )
    assert candidate[0, 0] != exact.argmax()  # the screen's own ranking is wrong
    values, candidate = band_candidates(
        screen_features(query, 1.0), screen_features(keys, -1.0), first_free=1, band=band,
        bias=band_bias(inradius, band, torch.bfloat16), count=cells, rescore=(query, keys, 1),
    )
    out = transfer_labels(Candidates(values, candidate), labels,
                          FirstFrameCopies(free=1, restricted=0), inradius=inradius, topk=1,
                          temperature=0.7)
    assert out[0].argmax() == exact.argmax()
    assert out[0].max() == 1.0


def test_screen_factor_must_be_positive():
    with pytest.raises(VpropError, match="screen_factor"):
        LabelPropagator(get_preset("cropmae"), affinity="screened", screen_factor=0)
