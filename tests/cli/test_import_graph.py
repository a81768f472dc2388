"""The CLI's import graph: help, argument and file checks never import torch.

A property of the import graph, not a timing: each check runs in a fresh interpreter, once
listing what got imported, once with the heavy packages made unimportable (any import of them
would end in a traceback instead of the expected help or one-line error).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "timm", "numpy", "scipy", "cv2", "av", "skimage",
         "pycocotools", "PIL", "safetensors")

_LIST_IMPORTS = """
import json, sys
import click
from vprop.cli.main import main

def walk(group, ctx):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            walk(command, click.Context(command, parent=ctx))

walk(main, click.Context(main))
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in HEAVY)))
"""

_BLOCKED_CLI = """
import sys
for name in HEAVY:
    sys.modules[name] = None  # `import torch` now raises ImportError
from vprop.cli.main import main
main()
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    prelude = f"HEAVY = {HEAVY!r}\n"
    return subprocess.run([sys.executable, "-c", prelude + code, *args], capture_output=True,
                          text=True, timeout=120)


def test_importing_every_cli_command_imports_no_heavy_package():
    result = _python(_LIST_IMPORTS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("args", [
    ["--help"], ["eval", "--help"], ["compare", "--help"], ["pretrain", "--help"],
    ["score", "--help"], ["convert", "--help"], ["viz", "--help"], ["bench", "eval", "--help"],
    ["bench", "pretrain", "--help"], ["bench", "features", "--help"], ["models", "--help"],
])
def test_help_runs_without_heavy_packages(args):
    result = _python(_BLOCKED_CLI, *args)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["eval", "--size", "480"], "error: --size: '480' is one number"),
    (["eval", "--size", "48x"], "error: --size: must look like 480x880"),
    (["eval", "--ckpt", "{tmp}/missing.pth", "--out", "{tmp}/out"],
     "missing.pth: checkpoint not found"),
    (["eval", "--data-root", "{tmp}/nope", "--out", "{tmp}/out"],
     "nope: dataset folder not found (--data-root)"),
    (["eval", "--split", "{tmp}/nope.txt", "--out", "{tmp}/out"], "nope.txt: split file"),
    (["eval", "--topk", "0", "--out", "{tmp}/out"], "error: --topk: 0 is not in the range x>=1"),
    (["eval", "--preset", "nope"], "error: --preset: 'nope' is not one of"),
    (["eval", "--affinity", "fast"], "error: --affinity:"),
    (["compare", "{tmp}/a.pth", "random", "--out", "{tmp}/out"], "a.pth: checkpoint not found"),
    (["pretrain"], "error: Missing option '--data'"),
    (["score", "--data-root", "{tmp}", "--results", "{tmp}/none"], "none: results not found"),
    (["bench", "eval"], "error: --data-root: required for the throughput run"),
    (["nope"], "error: No such command 'nope'"),
])
def test_bad_arguments_fail_in_one_line_without_heavy_packages(tmp_path, args, expected):
    result = _python(_BLOCKED_CLI, *(arg.format(tmp=tmp_path) for arg in args))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()  # --out is not created by a run that did no work
