"""`vprop bench pretrain`: FLOPs against a hand count, and the data-only figures on real data."""

import json

import pytest
from click.testing import CliRunner

from vprop.cli.main import main
from vprop.cropmae.bench import flops_per_pair
from vprop.cropmae.config import TrainConfig, resolve
from vprop.cropmae.masking import num_visible_patches


def hand_count_gmacs(mask_ratio, dim=384, depth=12, d=256, decoder_depth=4, ffn=2048):
    """Multiply-accumulates of one ViT-S/16 pair at 224 px, written out by hand."""
    patches, tokens = 196, 197
    visible = num_visible_patches(patches, mask_ratio)

    def encoder(n):  # qkv + proj + 4x MLP = 12 D^2 per token; QK^T and AV = 2 n^2 D
        return depth * (12 * dim * dim * n + 2 * n * n * dim)

    embed = 2 * patches * 3 * 16 * 16 * dim  # both views are patch-embedded before masking
    to_decoder = dim * d * (tokens + 1 + visible)
    block = (8 * d * d * tokens + 4 * tokens * tokens * d  # cross- and self-attention
             + 2 * d * ffn * tokens)
    head = tokens * d * 16 * 16 * 3
    total = embed + encoder(tokens) + encoder(1 + visible) + to_decoder
    return (total + decoder_depth * block + head) / 1e9


@pytest.mark.parametrize(("method", "fmt"), [("cropmae", "images"), ("siammae", "videos")])
def test_flops_per_pair_equal_the_hand_count(method, fmt):
    config = resolve(TrainConfig(method=method, arch="vits16"), fmt)
    flops = flops_per_pair(config)
    assert flops["forward_gmacs"] == pytest.approx(hand_count_gmacs(config.mask_ratio),
                                                   rel=1e-9)
    assert flops["backward_gflops"] > flops["forward_gflops"]


def test_data_only_bench_on_the_real_images(shared_data, tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, [
        "bench", "pretrain", "--arch", "vit_test_patch16", "--img-size", "64",
        "--data", str(shared_data / "images-mini"), "--no-model", "--workers", "0",
        "--batch-size", "8", "--data-batches", "2", "--warmup", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())["results"][0]["data"]
    assert data["images_per_s"] > 0 and data["reduced_decode"] is True
    assert "per worker" in result.output
