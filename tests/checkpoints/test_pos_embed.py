"""Position-embedding resampling checked against the bicubic formula by hand."""

from __future__ import annotations

import math

import pytest
import torch

from vprop.checkpoints.pos_embed import check_pos_embed_mode, dino_resample, exact_resample
from vprop.errors import VpropError


def keys_cubic(t: float, a: float = -0.75) -> float:
    """Cubic-convolution kernel (Keys 1981) with PyTorch's a = -0.75."""
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t < 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def bicubic_1d(values: list[float], src: float, a: float = -0.75) -> float:
    """Sample a 1-D signal at ``src`` with clamped borders."""
    base = math.floor(src)
    total = 0.0
    for k in range(base - 1, base + 3):
        total += values[min(max(k, 0), len(values) - 1)] * keys_cubic(src - k, a)
    return total


def ramp_pos_embed(g: int) -> torch.Tensor:
    """[1, 1 + g*g, 2]: channel 0 = row index squared, channel 1 = column index; cls = (7, 7)."""
    rows = torch.arange(g, dtype=torch.float32).view(g, 1).expand(g, g) ** 2
    cols = torch.arange(g, dtype=torch.float32).view(1, g).expand(g, g)
    grid = torch.stack([rows, cols], dim=-1).reshape(1, g * g, 2)
    return torch.cat([torch.full((1, 1, 2), 7.0), grid], dim=1)


@pytest.mark.parametrize("h, w", [(30, 55), (20, 20), (6, 11)])
def test_dino_resample_uses_scale_factor_plus_point_one(h, w):
    g = 14
    out = dino_resample(ramp_pos_embed(g), (g, g), (h, w))
    assert out.shape == (1, 1 + h * w, 2)
    assert out[0, 0].tolist() == [7.0, 7.0]  # class embedding kept
    grid = out[0, 1:].reshape(h, w, 2)
    rows_in = [float(r * r) for r in range(g)]
    cols_in = [float(c) for c in range(g)]
    for i in range(h):  # sampling position of output row i: (i + 0.5) * g / (h + 0.1) - 0.5
        expected = bicubic_1d(rows_in, (i + 0.5) * g / (h + 0.1) - 0.5)
        assert grid[i, 0, 0].item() == pytest.approx(expected, abs=1e-4)
    for j in range(w):
        expected = bicubic_1d(cols_in, (j + 0.5) * g / (w + 0.1) - 0.5)
        assert grid[0, j, 1].item() == pytest.approx(expected, abs=1e-4)


def test_exact_resample_uses_the_exact_size_ratio():
    """timm resamples with antialias=True: PyTorch then uses Keys' a = -0.5 kernel."""
    g, h, w = 14, 30, 55
    grid = exact_resample(ramp_pos_embed(g), (g, g), (h, w))[0, 1:].reshape(h, w, 2)
    rows_in = [float(r * r) for r in range(g)]
    checked = 0
    for i in range(h):
        src = (i + 0.5) * g / h - 0.5
        if math.floor(src) - 1 < 0 or math.floor(src) + 2 > g - 1:
            continue  # border rows: the antialiased kernel renormalises instead of clamping
        expected = bicubic_1d(rows_in, src, a=-0.5)
        assert grid[i, 0, 0].item() == pytest.approx(expected, abs=1e-3)
        checked += 1
    assert checked > 20


def test_dino_keeps_native_square_grid_only_for_square_images():
    pos = torch.randn(1, 1 + 14 * 14, 8)
    torch.testing.assert_close(dino_resample(pos, (14, 14), (14, 14), square_input=True), pos)
    # Same 14x14 grid from a non-square image (e.g. 224x230): the reference still resizes.
    moved = dino_resample(pos, (14, 14), (14, 14), square_input=False)
    assert moved.shape == pos.shape and (moved - pos).abs().max() > 1e-3


def test_unknown_mode():
    with pytest.raises(VpropError, match="dino, exact"):
        check_pos_embed_mode("bilinear")
