"""Feature-extraction throughput of backbones at a benchmark's input size (`vprop bench features`).

Measures only the backbone forward (frames/s) on random input of the DAVIS cropmae input size
(480x880, floored to whole cells of the backbone's stride), after warm-up passes. Nothing here
is asserted in tests; figures go to the README / closing notes.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from vprop.benchmarks.sizes import fit_to_stride


def feature_throughput(arch: str, size: tuple[int, int] = (480, 880), frames: int = 8,
                       batch_size: int = 1, device: str = "cpu", warmup: int = 1,
                       amp: str | None = None) -> dict[str, Any]:
    """Frames per second of one randomly initialised backbone's dense features.

    Args:
        arch: vprop alias or timm name.
        size: Protocol input size; floored to the backbone's stride.
        frames: Frames timed (after ``warmup`` batches).
        batch_size: Frames per forward.
        device: Torch device.
        warmup: Untimed batches first.
        amp: ``'bfloat16'``/``'float16'`` autocast, or ``None`` (float32).

    Returns:
        arch, stride, input size, feature grid and width, seconds, frames/s.
    """
    from vprop.checkpoints import load_backbone

    extractor = load_backbone(arch).to(device)
    height, width = fit_to_stride(size, extractor.stride)
    images = torch.randn(batch_size, 3, height, width, device=device)
    dtype = getattr(torch, amp) if amp else None

    def run() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=dtype,
                                                    enabled=dtype is not None):
            out = extractor(images)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        return out

    for _ in range(warmup):
        out = run()
    batches = max(1, frames // batch_size)
    start = time.perf_counter()
    for _ in range(batches):
        out = run()
    seconds = time.perf_counter() - start
    return {"arch": arch, "stride": extractor.stride, "input_size": [height, width],
            "grid": list(out.shape[-2:]), "dim": int(out.shape[1]), "device": device,
            "amp": amp, "frames": batches * batch_size, "seconds": seconds,
            "frames_per_second": batches * batch_size / seconds,
            "threads": torch.get_num_threads()}
