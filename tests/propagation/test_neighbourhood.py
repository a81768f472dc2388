"""Neighbourhood shapes at their edges, checked by hand."""

from __future__ import annotations

from vprop.propagation.neighbourhood import neighbourhood_mask


def test_circle_excludes_cells_exactly_at_the_radius():
    # 1 x 7 row, radius 3: cells at distance 0, 1, 2 are in (d < r), distance 3 is out.
    mask = neighbourhood_mask(1, 7, radius=3, shape="circle")
    assert mask[3].tolist() == [False, True, True, True, True, True, False]


def test_circle_uses_euclidean_distance():
    # 3 x 3 grid: diagonal cells lie at sqrt(2) ~ 1.414 from the centre, so radius 1.5 keeps
    # all 9 cells and radius 1.4 keeps the centre and its 4 direct neighbours.
    centre = 4
    assert neighbourhood_mask(3, 3, radius=1.5, shape="circle")[centre].sum() == 9
    assert neighbourhood_mask(3, 3, radius=1.4, shape="circle")[centre].sum() == 5


def test_square_includes_chebyshev_distance_equal_to_the_radius():
    mask = neighbourhood_mask(5, 5, radius=1, shape="square")
    centre = 12
    expected = [r * 5 + c for r in (1, 2, 3) for c in (1, 2, 3)]
    assert mask[centre].nonzero().flatten().tolist() == expected


def test_radius_zero_disables_the_restriction():
    assert bool(neighbourhood_mask(2, 3, radius=0, shape="circle").all())
