"""One output flag name (``--out``) across commands; old names stay as hidden aliases."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from vprop.cli.main import main

from .test_pretrain_cli import TINY

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pretrain(data, *flags):
    return CliRunner().invoke(main, ["pretrain", "--data", str(data), "--subset", "4",
                                     "--seed", "3", *flags, *TINY])


def test_pretrain_out_and_its_hidden_alias_write_the_same_run(tmp_path, shared_data):
    data = shared_data / "images-mini"
    runs = {flag: tmp_path / flag.strip("-") for flag in ("--out", "--output-dir")}
    for flag, folder in runs.items():
        result = _pretrain(data, flag, str(folder))
        assert result.exit_code == 0, result.output
    new, old = (sorted(p.name for p in folder.iterdir()) for folder in runs.values())
    assert new == old and "checkpoint-last.pth" in new and "config.json" in new
    configs = [json.load(open(folder / "config.json")) for folder in runs.values()]
    assert [c["output_dir"] for c in configs] == [str(folder) for folder in runs.values()]
    weights = [torch.load(folder / "checkpoint-last.pth", weights_only=True)["model"]
               for folder in runs.values()]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_the_same_folder_under_both_names_is_accepted_and_different_ones_refused(tmp_path,
                                                                                 shared_data):
    data = shared_data / "images-mini"
    same = _pretrain(data, "--out", str(tmp_path / "a"), "--output-dir", str(tmp_path / "a"))
    assert same.exit_code == 0, same.output
    assert (tmp_path / "a" / "checkpoint-last.pth").is_file()
    both = _pretrain(data, "--out", str(tmp_path / "b"), "--output-dir", str(tmp_path / "c"))
    assert both.exit_code == 2
    assert both.output.strip().splitlines() == [
        f"error: --out: given twice with different values ({tmp_path / 'c'} as --output-dir, "
        f"{tmp_path / 'b'}); use --out alone"]
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize("command, alias", [("pretrain", "--output-dir"),
                                            ("bench pretrain", "--json")])
def test_help_shows_out_and_hides_the_old_name(command, alias):
    result = CliRunner().invoke(main, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "--out " in result.output and alias not in result.output
    assert "--precision [auto|bf16|fp16|fp32]" in result.output


def test_errors_name_the_flag_the_user_typed(tmp_path, shared_data):
    data = shared_data / "images-mini"
    for flag in ("--out", "--output-dir"):
        result = _pretrain(data, flag, str(data / "run"))
        assert result.exit_code == 2
        assert result.output.startswith(f"error: {flag}: the run folder overlaps the dataset")


def test_one_torch_free_precision_list_for_every_command():
    code = ("import sys; from vprop.benchmarks.settings import PRECISIONS; "
            "import vprop.cropmae.config as c; assert c.PRECISIONS is PRECISIONS; "
            "print(PRECISIONS, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["('auto',", "'bf16',", "'fp16',", "'fp32')", "False"]
