"""Real processes: two runs into one folder, and runs killed at random points then resumed.

* Two `vprop eval` processes with two checkpoints start together on one ``--out``: the one
  that does not get the run-folder lock is refused with one line; every score printed equals
  the solo run of the same checkpoint, and the folder ends up with the winner's outputs.
* `vprop eval` and `vprop pretrain` are SIGKILLed at points drawn from a seed (after k output
  files / k log lines), then resumed: outputs, scores, ``log.jsonl`` and final weights equal
  an uninterrupted run's. ``VPROP_KILL_SEEDS`` (default 2) sets how many seeds each test uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hostile import TINY_EVAL, TINY_PRETRAIN, copy_davis, invoke

from vprop.checkpoints.registry import create_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SEEDS = range(int(os.environ.get("VPROP_KILL_SEEDS", "2")))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
VOLATILE = ("time", "images_per_s", "data_wait_frac", "seconds")  # wall-clock fields


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vprop.cli.main", *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _printed(stdout: str, out: Path) -> list[str]:
    """The printed lines that carry figures (those naming the run folder left out)."""
    return [line for line in stdout.splitlines() if str(out) not in line]


def _files(root: Path, pattern: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob(pattern))}


def _wait_then_kill(process: subprocess.Popen, ready, timeout: float = 120.0) -> bool:
    """SIGKILL ``process`` once ``ready()`` holds; False when it finished first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.01)
    process.communicate()
    return False


@pytest.fixture(scope="module")
def davis(tmp_path_factory, shared_data):
    base = tmp_path_factory.mktemp("kill-davis")
    return copy_davis(shared_data / "davis-mini" / "DAVIS", base, {"train": 4, "blackswan": 6})


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    base = tmp_path_factory.mktemp("kill-ckpts")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        path = base / f"seed{seed}.pth"
        torch.save({"model": create_vit("vit_test_patch16").state_dict()}, path)
        paths.append(path)
    return paths


def _eval_args(davis: Path, ckpt: Path, out: Path) -> list[str]:
    return ["eval", "--task", "davis", *TINY_EVAL, "--size", "240x432", "--data-root", str(davis),
            "--ckpt", str(ckpt), "--out", str(out)]


@pytest.fixture(scope="module")
def solo(davis, checkpoints, tmp_path_factory, single_thread):
    """Uninterrupted in-process runs: printed lines, results.json and PNG hashes per checkpoint."""
    runs = []
    for ckpt in checkpoints:
        out = tmp_path_factory.mktemp("solo") / "run"
        result = invoke(*_eval_args(davis, ckpt, out))
        assert result.exit_code == 0, result.output
        runs.append({"printed": _printed(result.stdout, out),
                     "global": json.loads((out / "results.json").read_text())["global"],
                     "pngs": _files(out, "results/*/*.png")})
    assert runs[0]["global"] != runs[1]["global"]  # the two checkpoints are told apart
    return runs


def test_two_runs_into_one_folder(davis, checkpoints, solo, tmp_path):
    out = tmp_path / "shared"
    processes = [_start(*_eval_args(davis, ckpt, out)) for ckpt in checkpoints]
    finished = [process.communicate(timeout=300) for process in processes]
    codes = [process.returncode for process in processes]
    print("exit codes of the two concurrent runs:", codes)
    assert sorted(codes) in ([0, 0], [0, 2]), (codes, finished)
    for index, ((stdout, stderr), code) in enumerate(zip(finished, codes)):
        assert "Traceback" not in stderr
        if code == 2:
            errors = [line for line in stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and "another vprop run" in errors[0] and str(out) in errors[0]
            assert stdout == ""
        else:
            assert _printed(stdout, out) == solo[index]["printed"]
    winner = codes.index(0) if codes.count(0) == 1 else None
    if winner is not None:  # the folder holds exactly the winner's outputs
        assert _files(out, "results/*/*.png") == solo[winner]["pngs"]
        assert json.loads((out / "results.json").read_text())["global"] == solo[winner]["global"]
        loser = 1 - winner  # and the refused run, repeated alone, prints its solo score
        again = invoke(*_eval_args(davis, checkpoints[loser], out))
        assert again.exit_code == 0 and _printed(again.stdout, out) == solo[loser]["printed"]


@pytest.mark.parametrize("seed", SEEDS)
def test_eval_killed_at_a_random_point_resumes_to_the_same_outputs(davis, checkpoints, solo,
                                                                   tmp_path, seed):
    out = tmp_path / "run"
    total = 10  # frames written by the run (4 + 6)
    k = random.Random(seed).randint(0, total - 1)
    process = _start(*_eval_args(davis, checkpoints[0], out))
    killed = _wait_then_kill(process, lambda: len(list(out.glob("results/*/*.png"))) > k)
    assert killed, "the run finished before the kill point"
    result = invoke(*_eval_args(davis, checkpoints[0], out))
    assert result.exit_code == 0, result.output
    assert _printed(result.stdout, out) == solo[0]["printed"]
    assert _files(out, "results/*/*.png") == solo[0]["pngs"]
    assert json.loads((out / "results.json").read_text())["global"] == solo[0]["global"]
    assert not list(out.rglob(".*.tmp"))


def _pretrain_args(images: Path, out: Path, *extra: str) -> list[str]:
    return ["pretrain", "--data", str(images), "--output-dir", str(out), "--epochs", "2",
            *TINY_PRETRAIN, "--log-every", "1", "--save-every-steps", "1", *extra]


def _records(out: Path) -> list[dict]:
    lines = (out / "log.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return {**payload["model"], "step": torch.tensor(payload["step"])}


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread for the module-scoped reference runs, like the subprocesses."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pretrain_reference(tmp_path_factory, shared_data, single_thread):
    base = tmp_path_factory.mktemp("kill-pretrain")
    images = base / "images"
    images.mkdir()
    for path in sorted((shared_data / "images-mini").iterdir())[:6]:
        shutil.copy(path, images)
    out = base / "reference"
    result = invoke(*_pretrain_args(images, out))
    assert result.exit_code == 0, result.output
    return {"images": images, "records": _records(out),
            "weights": _weights(out / "checkpoint-last.pth")}


@pytest.mark.parametrize("seed", SEEDS)
def test_pretraining_killed_at_a_random_point_resumes_exactly(pretrain_reference, tmp_path, seed):
    reference = pretrain_reference
    steps = len([r for r in reference["records"] if "loss" in r])
    k = random.Random(100 + seed).randint(1, steps - 1)
    out = tmp_path / "run"
    process = _start(*_pretrain_args(reference["images"], out))

    def logged() -> bool:
        log = out / "log.jsonl"
        return log.is_file() and log.read_text().count("\n") >= k

    assert _wait_then_kill(process, logged), "the run finished before the kill point"
    result = invoke(*_pretrain_args(reference["images"], out, "--resume", "auto"))
    assert result.exit_code == 0, result.output
    assert _records(out) == reference["records"]
    final = _weights(out / "checkpoint-last.pth")
    assert final.keys() == reference["weights"].keys()
    for key, value in reference["weights"].items():
        assert torch.equal(final[key], value), key
    assert not list(out.glob(".*.tmp"))
