"""Scale-out benchmarks: `vprop eval` under torchrun, and parallel vs one-process scoring.

:func:`measure_torchrun` runs the real CLI under ``python -m torch.distributed.run`` (what a
user types) and reads the run folder it leaves; each rank runs through this module's
``__main__``, which runs ``vprop.cli.main`` in-process and records the rank's own peak
resident memory (``ru_maxrss``) in ``$VPROP_RANK_RSS_DIR/rank-<RANK>.json`` when it exits.
:func:`measure_scoring` times :func:`~vprop.benchmarks.davis.scoring.score_davis` for several
worker counts on the same predictions and checks the results are identical.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from vprop.errors import VpropError

RSS_DIR_ENV = "VPROP_RANK_RSS_DIR"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work competing for the CPUs)."""
    return [round(value, 2) for value in os.getloadavg()]


def measure_torchrun(
    data_root: Path, out_dir: Path, nproc: int, eval_args: list[str], frames: int,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Time ``torchrun --nproc_per_node nproc -m vprop.cli.main eval --task davis ...``.

    Args:
        data_root: DAVIS root.
        out_dir: Run folder (``--out``); ``results.json`` is read from it afterwards.
        nproc: Processes (ranks) on this machine.
        eval_args: Further ``vprop eval`` options (``--arch``, ``--device``, ...).
        frames: Frames in the evaluated sequences (for frames/s).
        timeout: Seconds before the run is killed.

    Returns:
        {"nproc", "wall_seconds", "frames", "frames_per_second", "peak_rss_mib_per_rank",
        "J&F-Mean", "load_average", "command"}.

    Raises:
        VpropError: The run failed (the ranks' ``error:`` lines are in the message).
    """
    rss_dir = Path(out_dir) / "rank-rss"
    rss_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(nproc), "-m", "vprop.benchmarks.scaling",
               "eval", "--task", "davis", "--data-root", str(data_root), "--out", str(out_dir),
               "--no-progress", *eval_args]
    before = load_average()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, RSS_DIR_ENV: str(rss_dir)})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        errors = sorted({line for line in lines if line.startswith("error: ")}) or lines[-1:]
        raise VpropError(f"--nproc: torchrun eval failed (exit {done.returncode}): "
                         + " | ".join(errors))
    results = json.loads((Path(out_dir) / "results.json").read_text())
    ranks = {path.stem: json.loads(path.read_text())["peak_rss_mib"]
             for path in sorted(rss_dir.glob("rank-*.json"))}
    return {"nproc": nproc, "wall_seconds": wall, "frames": frames,
            "frames_per_second": frames / wall, "peak_rss_mib_per_rank": ranks,
            "J&F-Mean": results["global"]["J&F-Mean"], "load_average": [before, load_average()],
            "command": " ".join(command)}


def measure_torchrun_eval(
    data_root: Path, sequences: str | None, nproc: int, arch: str, ckpt: str | None,
    device: str, batch_size: int, amp: str | None, feature_dtype: str, affinity: str,
) -> dict[str, Any]:
    """:func:`measure_torchrun` of ``vprop eval`` at the cropmae preset, into a temporary run.

    ``sequences``: comma-separated names, or empty/``None`` for the imageset's.
    """
    import tempfile

    from vprop.benchmarks.davis.dataset import load_sequences

    names = [name for name in (sequences or "").split(",") if name] or None
    frames = sum(len(seq.frames) for seq in load_sequences(Path(data_root), names))
    args = ["--preset", "cropmae", "--arch", arch, "--device", device, "--batch-size",
            str(batch_size), "--feature-dtype", feature_dtype, "--affinity", affinity]
    args += ["--ckpt", ckpt] if ckpt else []
    args += ["--precision", {"bfloat16": "bf16", "float16": "fp16"}[amp]] if amp else []
    args += ["--sequences", ",".join(names)] if names else []
    with tempfile.TemporaryDirectory() as tmp:
        report = measure_torchrun(Path(data_root), Path(tmp) / "run", nproc, args, frames)
    return {"arch": arch, "device": device, "affinity": affinity, **report}


def measure_scoring(davis_root: Path, results: Path, workers: list[int],
                    score_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Time DAVIS scoring of the same predictions with each worker count.

    ``cpu_seconds`` (user + system, this process and its finished workers) does not depend
    on what else runs on the machine: the pool's overhead is its excess over one process's.

    Returns:
        {"runs": [{"workers", "seconds", "cpu_seconds", "load_average", "speedup": the first
        run's seconds / this run's}], "identical": whether every run's result equals the
        first's, "J&F-Mean"}.
    """
    from vprop.benchmarks.davis.scoring import score_davis

    runs, results_seen = [], []
    for count in workers:
        before, cpu = load_average(), _cpu_seconds()
        start = time.perf_counter()
        scores = score_davis(davis_root, results, progress=False, score_size=score_size,
                             workers=count)
        seconds = time.perf_counter() - start
        runs.append({"workers": count, "seconds": round(seconds, 3),
                     "cpu_seconds": round(_cpu_seconds() - cpu, 3),
                     "load_average": [before, load_average()]})
        results_seen.append(scores)
    for run in runs:
        run["speedup"] = round(runs[0]["seconds"] / run["seconds"], 3)
    return {"runs": runs, "identical": all(r == results_seen[0] for r in results_seen),
            "J&F-Mean": results_seen[0]["global"]["J&F-Mean"]}


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # pool workers, once joined
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def write_shifted_predictions(davis_root: Path, out: Path, shift: int = 6) -> Path:
    """Predictions for a scoring benchmark: every annotation shifted ``shift`` px right.

    A shifted mask has real errors on every boundary, so J and F are computed in full (a
    perfect prediction would take the same time but read as a suspicious 100%).
    """
    from vprop.benchmarks.io import read_indexed_png, write_indexed_png

    for path in sorted((Path(davis_root) / "Annotations" / "480p").glob("*/*.png")):
        ids, palette = read_indexed_png(path)
        shifted = ids.copy()
        shifted[:, shift:] = ids[:, :-shift]
        shifted[:, :shift] = 0
        shifted[shifted == 255] = 0
        write_indexed_png(Path(out) / path.parent.name / path.name, shifted, palette)
    return Path(out)


def _record_rank_rss() -> None:
    folder = os.environ.get(RSS_DIR_ENV)
    if not folder:
        return
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rank = os.environ.get("RANK", "0")
    Path(folder, f"rank-{rank}.json").write_text(json.dumps({"rank": int(rank),
                                                             "peak_rss_mib": peak}))


if __name__ == "__main__":  # one torchrun rank: `vprop ...` in-process, peak RSS at exit
    atexit.register(_record_rank_rss)
    sys.argv[0] = "vprop"
    runpy.run_module("vprop.cli.main", run_name="__main__", alter_sys=True)
