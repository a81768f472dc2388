"""torchrun: 2 gloo processes on CPU give what 1 process gives, and a killed rank resumes.

Real processes over the real DAVIS sample (3 sequences, shortened): ``python -m
torch.distributed.run --nproc_per_node 2 -m vprop.cli.main eval ...`` must write byte-identical
PNGs and the same ``results.json`` scores as a plain one-process ``vprop eval``; a 2-process run
whose rank is SIGKILLed mid-run is resumed by a 1-process run (another world size) to the same
PNGs and scores, reusing what finished before the kill.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import TINY_EVAL, copy_davis

from vprop.benchmarks.distributed import shard_longest_first

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
FRAMES = {"blackswan": 6, "car-shadow": 5, "train": 4}


class Unit:
    def __init__(self, name: str, frames: int) -> None:
        self.name, self.frames = name, frames


def test_longest_first_sharding_is_a_partition_balanced_by_frames():
    units = [Unit(name, frames) for name, frames in
             [("a", 50), ("b", 40), ("c", 30), ("d", 20), ("e", 10), ("f", 10)]]
    shards = [shard_longest_first(units, rank, 2) for rank in range(2)]
    # by hand: a->0 (50), b->1 (40), c->1 (70), d->0 (70), e->0 (80), f->1 (80)
    assert [[u.name for u in shard] for shard in shards] == [["a", "d", "e"], ["b", "c", "f"]]
    three = [shard_longest_first(units, rank, 3) for rank in range(3)]
    names = sorted(u.name for shard in three for u in shard)
    assert names == sorted(u.name for u in units)  # every unit exactly once
    assert shard_longest_first(units, 0, 1) == units  # one process: dataset order


def _args(davis: Path, out: Path) -> list[str]:
    return ["eval", "--task", "davis", *TINY_EVAL, "--size", "240x432", "--data-root",
            str(davis), "--out", str(out)]


def _command(nproc: int, davis: Path, out: Path) -> list[str]:
    if nproc == 1:
        return [sys.executable, "-m", "vprop.cli.main", *_args(davis, out)]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "vprop.cli.main", *_args(davis, out)]


def _run(nproc: int, davis: Path, out: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(_command(nproc, davis, out), env=ENV, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _pngs(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.glob("results/*/*.png"))}


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def davis(tmp_path_factory, shared_data):
    return copy_davis(shared_data / "davis-mini" / "DAVIS", tmp_path_factory.mktemp("tr"),
                      FRAMES)


@pytest.fixture(scope="module")
def single(davis, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    _run(1, davis, out)
    return out


def test_two_gloo_ranks_equal_one_process(davis, single, tmp_path):
    out = tmp_path / "two"
    done = _run(2, davis, out)
    assert _pngs(out) == _pngs(single), done.stderr[-3000:]
    assert len(_pngs(out)) == sum(FRAMES.values())
    two, one = _results(out), _results(single)
    assert two["global"] == one["global"] and two["per_object"] == one["per_object"]
    assert two["ranks"] == 2 and one["ranks"] == 1
    assert two["sequences"] == one["sequences"] == sorted(FRAMES)
    assert done.stdout.count("J&F-Mean") == 1, done.stdout  # rank 0 alone prints the table


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_killed_rank_resumes_under_another_world_size(davis, single, tmp_path):
    out = tmp_path / "killed"
    process = subprocess.Popen(_command(2, davis, out), env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline, killed = time.monotonic() + 300, False
    while process.poll() is None and time.monotonic() < deadline:
        markers = list(out.glob(".vprop-done/*.json"))
        if 1 <= len(markers) < len(FRAMES):
            ranks = _children(process.pid)
            if ranks:
                os.kill(ranks[-1], signal.SIGKILL)
                killed = True
                break
        time.sleep(0.01)
    process.communicate(timeout=300)
    assert killed, "the run finished before the kill point"
    assert process.returncode != 0  # torchrun reports the killed rank
    finished = {p.stem for p in out.glob(".vprop-done/*.json")}
    _run(1, davis, out)  # resumed by one process
    assert _pngs(out) == _pngs(single)
    resumed = _results(out)
    assert resumed["global"] == _results(single)["global"]
    assert set(resumed["skipped_finished"]) == finished and finished  # reused, not redone
