import math

import pytest
import torch

from vprop.cropmae.masking import (
    normalize_patches,
    num_visible_patches,
    patchify,
    random_masking,
    unpatchify,
)


@pytest.mark.parametrize(
    ("ratio", "visible"),
    # paper Table 3b: mask ratio -> visible patches of a ViT/16 at 224 (196 patches)
    [(0.75, 49), (0.90, 19), (0.95, 9), (0.985, 2), (0.99, 1)],
)
def test_visible_counts_match_the_paper(ratio, visible):
    assert num_visible_patches(196, ratio) == visible


def test_masking_keeps_the_lowest_noise_tokens_and_restores_order():
    n, length, dim = 3, 196, 5
    tokens = torch.randn(n, length, dim)
    noise = torch.rand(n, length)
    out = random_masking(tokens, 0.985, noise)
    assert out.visible.shape == (n, 2, dim)
    assert out.mask.shape == (n, length)
    assert torch.equal(out.mask.sum(dim=1), torch.full((n,), 194.0))
    for i in range(n):
        expected = set(torch.topk(noise[i], 2, largest=False).indices.tolist())
        assert set(out.ids_keep[i].tolist()) == expected
        assert set(torch.nonzero(out.mask[i] == 0).flatten().tolist()) == expected
        assert torch.equal(out.visible[i], tokens[i, out.ids_keep[i]])
    # visible tokens followed by placeholders, gathered with ids_restore, land back in place
    filler = torch.zeros(n, length - 2, dim)
    restored = torch.gather(torch.cat([out.visible, filler], 1), 1,
                            out.ids_restore.unsqueeze(-1).expand(-1, -1, dim))
    keep = (out.mask == 0).unsqueeze(-1)
    assert torch.equal(restored * keep, tokens * keep)


def test_same_noise_same_mask_different_noise_different_mask():
    tokens = torch.randn(2, 196, 4)
    noise = torch.rand(2, 196)
    a = random_masking(tokens, 0.95, noise)
    b = random_masking(tokens, 0.95, noise.clone())
    c = random_masking(tokens, 0.95, torch.rand(2, 196))
    assert torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, c.mask)


def test_patchify_layout_and_round_trip():
    images = torch.arange(2 * 3 * 32 * 48, dtype=torch.float32).reshape(2, 3, 32, 48)
    patches = patchify(images, 16)
    assert patches.shape == (2, 2 * 3, 16 * 16 * 3)
    # patch (row 1, col 2) of image 1, flattened as (p, q, c)
    expected = images[1, :, 16:32, 32:48].permute(1, 2, 0).reshape(-1)
    assert torch.equal(patches[1, 1 * 3 + 2], expected)
    assert torch.equal(unpatchify(patches, 16, (2, 3)), images)


def test_normalized_patches_by_hand():
    patch = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
    mean, var = 3.0, (4 + 1 + 0 + 9) / 3  # unbiased variance, as MAE
    expected = (patch - mean) / math.sqrt(var + 1e-6)
    assert torch.allclose(normalize_patches(patch), expected)
