"""Engine settings (device, batch size, dtypes, affinity mode), importable without torch.

The CLI builds an :class:`EngineSettings` while it checks the arguments, before any heavy
import; torch is imported only when a method needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vprop.errors import VpropError
from vprop.propagation.presets import SCREEN_FACTOR

DTYPE_NAMES = ("float32", "float16", "bfloat16")
AFFINITY_MODES = ("exact", "certified", "screened")
# ``--precision`` (every command): backbone autocast dtype; ``auto`` is bf16 on CUDA, fp32
# elsewhere (the CPU default stays exact float32).
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
PRECISION_AUTOCAST = {"auto": "auto", "bf16": "bfloat16", "fp16": "float16", "fp32": None}


@dataclass
class EngineSettings:
    """How the engine runs (not what it computes).

    Attributes:
        device: ``cpu``, ``cuda``, ``cuda:1``, ... (``auto`` picks CUDA when present).
        batch_size: Frames per backbone forward pass.
        feature_dtype: Dtype of stored features (``float32``, ``float16``, ``bfloat16``).
        autocast: Backbone autocast dtype name or ``None`` for full precision.
        affinity: ``exact`` scores every candidate in the feature dtype; ``certified``
            screens them in bfloat16 and scores in float32 every one that may reach the top-k
            (same candidates as ``exact``; float32 features; see
            :mod:`vprop.propagation.certified`); ``screened`` re-scores the best
            :data:`~vprop.propagation.presets.SCREEN_FACTOR` x top-k of the screen in float32
            (may miss one; see :mod:`vprop.propagation.affinity`).
        progress: Show per-frame progress bars.
        cpu_workers: On a CPU, threads sharing the cores between the frames of a batch and the
            bands of a frame, each torch op single-threaded (``None``: torch's intra-op thread
            count; ``1``: torch's own intra-op threads). Results do not depend on it.
    """

    device: str = "auto"
    batch_size: int = 4
    feature_dtype: str = "float32"
    autocast: str | None = None
    affinity: str = "exact"
    progress: bool = True
    cpu_workers: int | None = None

    def __post_init__(self) -> None:
        if self.affinity not in AFFINITY_MODES:
            raise VpropError(
                f"unknown affinity mode {self.affinity!r}; choose one of {list(AFFINITY_MODES)}"
            )
        if self.affinity == "certified" and self.feature_dtype != "float32":
            raise VpropError(f"certified needs --feature-dtype float32 (got "
                             f"{self.feature_dtype}); use --affinity exact", "--affinity")

    def signature(self) -> dict[str, str | int | None]:
        """The settings that can change predictions (for resume signatures).

        ``screen_factor`` is recorded for screened affinities only: exact ones do not use it.
        Certified affinities count as exact: they select the same candidates and score them
        with the same float32 products, so a run may mix them (one machine with native
        bfloat16, one without).
        """
        affinity = "exact" if self.affinity == "certified" else self.affinity
        signature: dict[str, str | int | None] = {
            "feature_dtype": self.feature_dtype, "autocast": self.autocast,
            "affinity": affinity}
        if self.affinity == "screened":
            signature["screen_factor"] = SCREEN_FACTOR
        return signature

    def resolve_precision(self, device_type: str) -> None:
        """Turn ``autocast="auto"`` into bfloat16 on CUDA and no autocast elsewhere."""
        self.autocast = resolve_autocast(self.autocast, device_type)

    def torch_device(self) -> Any:
        """Resolve ``auto`` to CUDA when available, else CPU; reject unusable devices."""
        from vprop.utils import resolve_device

        return resolve_device(self.device)

    def dtype(self, name: str | None) -> Any:
        """Map a dtype name to a torch dtype (``None`` stays ``None``)."""
        if name is None:
            return None
        if name not in DTYPE_NAMES:
            raise VpropError(f"unknown dtype {name!r}; choose one of {list(DTYPE_NAMES)}")
        import torch

        return getattr(torch, name)


def resolve_autocast(autocast: str | None, device: str) -> str | None:
    """``auto`` -> ``bfloat16`` on a CUDA device, else ``None``; other values unchanged.

    ``device`` ``auto`` counts as CUDA when CUDA is present.
    """
    if autocast != "auto":
        return autocast
    if device == "auto":
        import torch

        return "bfloat16" if torch.cuda.is_available() else None
    return "bfloat16" if device.startswith("cuda") else None


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 / AMX on x86, BF16 on Arm).

    Reads ``/proc/cpuinfo`` flags (Linux); answers True where it cannot tell, so that no
    warning is printed on a platform this function does not understand.
    """
    try:
        with open(cpuinfo) as handle:
            text = handle.read()
    except OSError:
        return True
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    if not flags:
        return True
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def bf16_warning(settings: EngineSettings, device_type: str) -> str | None:
    """A warning when bfloat16 work is asked of a CPU without native bfloat16, else None."""
    if device_type != "cpu" or os.environ.get("VPROP_NO_BF16_WARNING"):
        return None
    wanted = [text for text, used in (
        ("--precision bf16", settings.autocast == "bfloat16"),
        ("--feature-dtype bfloat16", settings.feature_dtype == "bfloat16"),
        (f"--affinity {settings.affinity}", settings.affinity in ("certified", "screened")),
    ) if used]
    if not wanted or cpu_has_native_bf16():
        return None
    return (f"warning: {' and '.join(wanted)} on a CPU without native bfloat16 "
            "instructions is emulated (several times slower than float32)")
