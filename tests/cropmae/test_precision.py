"""`--precision fp16` (the authors' autocast + loss scaling) resolves on CUDA, refuses on CPU."""

import pytest
import torch
from click.testing import CliRunner

from vprop.cli.main import main
from vprop.cropmae.factory import autocast_context, resolve_precision
from vprop.errors import VpropError


def test_fp16_is_the_cuda_autocast_dtype_and_refused_on_cpu():
    assert resolve_precision("fp16", torch.device("cuda")) == "fp16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(VpropError, match="fp16"):
        resolve_precision("fp16", torch.device("cpu"))
    with autocast_context("bf16", torch.device("cpu")):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_fp16_on_cpu_is_one_error_line(shared_data, tmp_path):
    result = CliRunner().invoke(main, [
        "pretrain", "--data", str(shared_data / "images-mini"), "--precision", "fp16",
        "--arch", "vit_test_patch16", "--workers", "0", "--output-dir", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: fp16 autocast needs a GPU; use --precision fp32 or bf16 on CPU"]
