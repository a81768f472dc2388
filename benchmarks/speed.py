"""Speed and memory of `vprop eval`: frames/s, backbone vs the rest, peak memory vs video length.

Each measurement runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``)
or peak CUDA memory belongs to that run alone. The backbone's share of wall time is measured by
timing the extractor's forward passes (synchronised on CUDA) inside the real DAVIS task.
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

from vprop.benchmarks.papers import get_preset
from vprop.benchmarks.pipeline import EngineSettings
from vprop.benchmarks.sizes import feature_stride, pads_input
from vprop.benchmarks.tasks import EvalRequest, get_task, run_task


class TimedExtractor(torch.nn.Module):
    """Wraps a feature extractor and accumulates the time spent in its forward passes."""

    def __init__(self, extractor: torch.nn.Module) -> None:
        super().__init__()
        self.extractor = extractor
        self.stride = feature_stride(extractor)
        self.patch_size = self.stride  # older name of the stride
        self.pads_input = pads_input(extractor)  # probed here, outside the timed forward
        self.seconds = 0.0
        self.frames = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, D, h, w)
        """Run the wrapped extractor, timing it (CUDA-synchronised)."""
        if images.is_cuda:
            torch.cuda.synchronize(images.device)
        start = time.perf_counter()
        features = self.extractor(images)
        if features.is_cuda:
            torch.cuda.synchronize(features.device)
        self.seconds += time.perf_counter() - start
        self.frames += images.shape[0]
        return features


def measure_run(
    data_root: Path, sequences: list[str] | None, arch: str, ckpt: str | None, device: str,
    batch_size: int, amp: str | None, feature_dtype: str, affinity: str = "exact",
) -> dict[str, Any]:
    """Run the DAVIS task once in this process and return its timing and peak memory."""
    # Module imports stay outside the timed window (torch and timm are already loaded): the
    # window measures per-frame work, not interpreter start-up.
    import vprop.benchmarks.davis.scoring  # noqa: F401
    from vprop.checkpoints import load_backbone

    settings = EngineSettings(device=device, batch_size=batch_size, autocast=amp,
                              feature_dtype=feature_dtype, affinity=affinity, progress=False)
    extractor = load_backbone(arch=arch, ckpt=ckpt).to(settings.torch_device())
    timed = TimedExtractor(extractor)
    with tempfile.TemporaryDirectory() as out:
        request = EvalRequest(data_root=data_root, out_dir=Path(out), preset=get_preset("cropmae"),
                              sequences=sequences, settings=settings)
        if settings.torch_device().type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = run_task(get_task("davis"), timed, request)
        wall = time.perf_counter() - start
    report = {
        "arch": arch, "device": str(settings.torch_device()), "affinity": affinity,
        "frames": timed.frames,
        "wall_seconds": wall, "frames_per_second": timed.frames / wall,
        "backbone_seconds": timed.seconds, "backbone_share": timed.seconds / wall,
        "non_backbone_share": 1 - timed.seconds / wall,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "J&F-Mean": result["global"]["J&F-Mean"],
    }
    if settings.torch_device().type == "cuda":
        report["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return report


def measure_in_subprocess(**kwargs: Any) -> dict[str, Any]:
    """Run :func:`measure_run` in a fresh Python process and return its report."""
    kwargs = {key: (str(value) if isinstance(value, Path) else value)
              for key, value in kwargs.items()}
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
