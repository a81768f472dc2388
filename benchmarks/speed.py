"""Speed and memory of `vprop eval`: where the time goes, and how far from the backbone alone.

Each measurement runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``)
or peak CUDA memory belongs to that run alone. Inside it:

* **backbone alone**: the run's frames are decoded and preprocessed first (untimed), then only
  the extractor's forward passes over them, batch by batch as the engine does, are timed;
* **end to end**: the real DAVIS task (decode, backbone, propagation, upsample/argmax, PNG
  write, scoring) with a :class:`~vprop.timing.StageTimer` installed, which reports the busy
  seconds of every stage (CUDA-synchronised per stage; stages running on background threads
  overlap, so they can add up to more than the wall time);
* ``ratio_to_backbone``: end-to-end wall time / backbone-alone time (1.0 is the limit);
  ``ratio_to_backbone_in_run`` divides by the backbone's busy time inside the run instead,
  which a shared machine's load changing between the two measurements cannot skew.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from vprop.benchmarks.background import SplitBatches, cpu_workers
from vprop.benchmarks.evaluate import EvalSpec, build_request, evaluate
from vprop.benchmarks.pipeline import EngineSettings, read_frames
from vprop.benchmarks.sizes import feature_stride, pads_input
from vprop.benchmarks.tasks import EvalRequest
from vprop.checkpoints import load_backbone
from vprop.propagation import to_model_input
from vprop.timing import StageTimer, recording


def backbone_alone(extractor: torch.nn.Module, request: EvalRequest) -> dict[str, Any]:
    """Time only the backbone's forward passes over the frames the DAVIS task would read.

    Each batch is decoded and resized outside the timed window (one batch in memory at a time);
    one untimed batch warms the backbone up. Forward passes use the run's batch size, device and
    autocast dtype.

    Returns:
        ``{"frames", "seconds"}``.
    """
    from vprop.benchmarks.davis.dataset import load_sequences
    from vprop.benchmarks.davis.task import input_size

    settings, preset = request.settings, request.preset
    device, autocast = settings.torch_device(), settings.dtype(settings.autocast)
    stride, pads = feature_stride(extractor), pads_input(extractor)

    def forward(images: torch.Tensor) -> float:
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast(device.type, dtype=autocast or torch.float32,
                                                    enabled=autocast is not None):
            run(images.to(device))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    frames, seconds, warm = 0, 0.0, False
    with cpu_workers(device, settings.cpu_workers) as workers:  # as the engine runs it
        run = extractor if workers is None else SplitBatches(extractor, *workers)
        for sequence in load_sequences(request.data_root, request.sequences):
            size = input_size(preset, sequence.size, stride, request.size, pads)
            paths = list(sequence.frames)
            for first in range(0, len(paths), settings.batch_size):
                chunk = paths[first:first + settings.batch_size]
                images = torch.stack([to_model_input(frame, size, preset.mean, preset.std,
                                                     preset.input_resize)
                                      for frame in read_frames(chunk, sequence.size)])
                if not warm:
                    forward(images)  # warm-up, untimed
                    warm = True
                seconds += forward(images)
                frames += len(chunk)
    return {"frames": frames, "seconds": seconds}


def measure_run(
    data_root: Path, sequences: list[str] | None, arch: str, ckpt: str | None, device: str,
    batch_size: int, amp: str | None, feature_dtype: str, affinity: str = "exact",
    compare_backbone: bool = True, launched_at: float | None = None,
    cpu_workers: int | None = None,
) -> dict[str, Any]:
    """Run the DAVIS task once in this process; its timing split, ratio and peak memory.

    Args:
        data_root: DAVIS root.
        sequences: Sequences to run (``None``: the whole split).
        arch: Backbone (vprop alias or timm name).
        ckpt: Checkpoint, or ``None`` for random weights (same speed).
        device: Torch device (``auto``, ``cpu``, ``cuda``, ...).
        batch_size: Frames per forward pass.
        amp: Autocast dtype name, or ``None``.
        feature_dtype: Dtype of the stored features.
        affinity: ``exact``, ``certified`` or ``screened``.
        compare_backbone: Also time the backbone alone over the same frames (for the ratio).
        launched_at: ``time.time()`` when the parent started this process, to report the
            start-up (interpreter, imports, backbone construction) separately.
        cpu_workers: See :class:`~vprop.benchmarks.settings.EngineSettings`.
    """
    import vprop.benchmarks.davis.scoring  # noqa: F401 - imported outside the timed window

    settings = EngineSettings(device=device, batch_size=batch_size, autocast=amp,
                              feature_dtype=feature_dtype, affinity=affinity, progress=False,
                              cpu_workers=cpu_workers)
    settings.resolve_precision(settings.torch_device().type)
    extractor = load_backbone(arch=arch, ckpt=ckpt).to(settings.torch_device())
    ready = time.time()
    timer = StageTimer()
    with tempfile.TemporaryDirectory() as out:
        spec = EvalSpec(task="davis", out_dir=Path(out) / "run", data_root=Path(data_root),
                        sequences=sequences, settings=settings, arch=arch, ckpt=ckpt)
        alone = backbone_alone(extractor, build_request(spec)) if compare_backbone else None
        if settings.torch_device().type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        with recording(timer):  # the evaluation service, as `vprop eval` runs it
            result = evaluate(spec, extractor=extractor, quiet=True, alone=True)
        wall = time.perf_counter() - start
    frames = result["timing"]["this_run"]["frames_predicted"]
    report = {
        "arch": arch, "device": str(settings.torch_device()), "affinity": settings.affinity,
        "threads": torch.get_num_threads(), "cpu_workers": cpu_workers, "frames": frames,
        "wall_seconds": wall, "frames_per_second": frames / wall,
        "backbone_alone_seconds": alone and alone["seconds"],
        "ratio_to_backbone": alone and wall / alone["seconds"],
        "stage_seconds": {name: round(entry["seconds"], 3)
                          for name, entry in timer.report().items()},
        "backbone_share": timer.seconds("backbone") / wall,
        "ratio_to_backbone_in_run": wall / max(timer.seconds("backbone"), 1e-9),
        "startup_seconds": None if launched_at is None else ready - launched_at,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "J&F-Mean": result["global"]["J&F-Mean"],
    }
    if settings.torch_device().type == "cuda":
        report["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return report


def format_split(report: dict[str, Any]) -> str:
    """One human line: wall, backbone alone, ratio and the per-stage busy seconds."""
    stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in report["stage_seconds"].items())
    line = f"{report['frames']} frames: end to end {report['wall_seconds']:.2f} s"
    if report.get("backbone_alone_seconds"):
        line += (f", backbone alone {report['backbone_alone_seconds']:.2f} s, ratio "
                 f"{report['ratio_to_backbone']:.3f} (to the backbone inside the run "
                 f"{report['ratio_to_backbone_in_run']:.3f})")
    return f"{line}; stage busy seconds: {stages}"


def measure_in_subprocess(**kwargs: Any) -> dict[str, Any]:
    """Run :func:`measure_run` in a fresh Python process and return its report."""
    kwargs = {key: (str(value) if isinstance(value, Path) else value)
              for key, value in kwargs.items()}
    kwargs["launched_at"] = time.time()
    code = (
        "import json, sys; from pathlib import Path; "
        "from vprop.benchmarks.speed import measure_run; "
        "kw = json.loads(sys.argv[1]); kw['data_root'] = Path(kw['data_root']); "
        "print('@@' + json.dumps(measure_run(**kw)))"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)],
                          capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("@@")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark subprocess failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][2:])
