"""Safe reading of checkpoint files and strict loading into a timm ViT encoder.

* Files are read with ``torch.load(weights_only=True)`` (tensors and plain containers only);
  ``unsafe_load=True`` allows arbitrary pickles after a warning. ``.safetensors`` files (or any
  file with a safetensors header) are read with ``safetensors.torch.load_file``.
* The content goes through :func:`vprop.checkpoints.formats.adapt`.
* Before loading, the patch size and width of ``patch_embed.proj.weight`` are checked against
  the arch, and every shape against the model. A missing encoder weight, a shape mismatch or
  extra transformer blocks is a :class:`VpropError`; other unexpected keys are logged and
  reported. Everything ends in float32.
* The model is built at the checkpoint's own position-embedding grid (``img_size = grid *
  patch``), so a ViT trained at 384 keeps its 24x24 embedding untouched; it is resampled once,
  from that grid to each input's grid, by the feature extractor.
"""

from __future__ import annotations

import logging
import math
import re
import struct
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer

from vprop.checkpoints.formats import AdaptedCheckpoint, adapt
from vprop.checkpoints.registry import arch_spec, canonical_name, create_vit, list_archs
from vprop.errors import VpropError
from vprop.utils import sha256_file

logger = logging.getLogger(__name__)

DEFAULT_ARCH = "vit_small_patch16_224"
RANDOM_INIT_SEED = 0  # seed of randomly initialised backbones (no --ckpt)


@dataclass
class LoadReport:
    """What a load did; returned by :func:`build_encoder`, exposed by ``describe()``."""

    arch: str
    ckpt: str | None = None
    sha256: str | None = None
    format: str | None = None
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    dropped_keys: list[str] = field(default_factory=list)
    stored_dtypes: list[str] = field(default_factory=list)
    pos_embed_grid: tuple[int, int] = (14, 14)
    meta: dict[str, Any] = field(default_factory=dict)
    random_init_seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-friendly dict."""
        out = asdict(self)
        out["pos_embed_grid"] = list(self.pos_embed_grid)
        return out


def _is_safetensors(path: Path) -> bool:
    """True for a ``.safetensors`` name or a file starting with a safetensors header."""
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 0 < header_len < path.stat().st_size


def read_checkpoint(path: str | Path, unsafe_load: bool = False) -> tuple[Any, bool]:
    """Read a checkpoint file without executing code from it (unless ``unsafe_load``).

    Args:
        path: A ``torch.save`` file or a ``.safetensors`` file.
        unsafe_load: Allow arbitrary pickled objects (can run code from the file); warns.

    Returns:
        (content, read_from_safetensors).

    Raises:
        VpropError: Missing, unreadable or corrupt file, or a pickle that ``weights_only``
            refuses (the message suggests ``--unsafe-load``).
    """
    path = Path(path)
    if not path.is_file():
        raise VpropError("checkpoint file not found", path)
    if _is_safetensors(path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu"), True
        except (SafetensorError, OSError, ValueError) as err:
            raise VpropError(f"cannot read safetensors file: {_first_line(err)}", path) from None
    if unsafe_load:
        message = f"unsafe_load: unpickling {path} may run arbitrary code from the file"
        warnings.warn(message, UserWarning, stacklevel=2)
        logger.warning(message)
    try:
        return torch.load(path, map_location="cpu", weights_only=not unsafe_load), False
    except Exception as err:  # torch raises many types for bad files
        text = _first_line(err)
        if not unsafe_load and "weights only load failed" in str(err).lower():
            raise VpropError(_weights_only_message(str(err)), path) from None
        raise VpropError(f"cannot read checkpoint (corrupt or not a checkpoint): {text}",
                         path) from None


def _weights_only_message(text: str) -> str:
    """Explain a ``weights_only`` refusal: a non-tensor object, or not a pickle at all."""
    found = re.search(r"GLOBAL (\S+)", text)
    if found:
        return (f"refusing to unpickle a non-tensor object ({found.group(1)}); if you trust "
                "this file, pass --unsafe-load (unsafe_load=True)")
    found = re.search(r"WeightsUnpickler error:\s*(.+?)\n", text)
    detail = found.group(1).strip() if found else "unknown pickle content"
    return (f"cannot read checkpoint safely (corrupt, or not a tensor-only pickle: {detail}); "
            "if it is a trusted pickle, --unsafe-load (unsafe_load=True) may read it")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def infer_arch(state: dict[str, torch.Tensor]) -> str | None:
    """Find the registry arch whose patch size, width and depth match an encoder state dict."""
    kernel = state.get("patch_embed.proj.weight")
    if kernel is None or kernel.ndim != 4:
        return None
    depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    for name in list_archs(include_aliases=False):
        spec = arch_spec(name)
        if (spec.patch_size, spec.embed_dim, spec.depth) == (kernel.shape[-1], kernel.shape[0],
                                                             depth):
            return name
    return None


def _check_patch_embed(state: dict[str, torch.Tensor], arch: str) -> None:
    spec = arch_spec(arch)
    kernel = state.get("patch_embed.proj.weight")
    if kernel is None:
        return  # reported as a missing key
    if kernel.ndim != 4 or kernel.shape[-1] != kernel.shape[-2]:
        raise VpropError(f"patch_embed.proj.weight has shape {tuple(kernel.shape)}, "
                         "expected [D, 3, p, p]")
    if kernel.shape[-1] != spec.patch_size:
        raise VpropError(f"checkpoint patch size {kernel.shape[-1]} does not match arch "
                         f"{arch} (patch size {spec.patch_size})")
    if kernel.shape[0] != spec.embed_dim:
        raise VpropError(f"checkpoint embed dim {kernel.shape[0]} does not match arch {arch} "
                         f"(embed dim {spec.embed_dim})")


def _pos_embed_grid(state: dict[str, torch.Tensor], arch: str) -> tuple[int, int]:
    """Grid of the checkpoint's position embedding (class token first), default the arch's."""
    pos = state.get("pos_embed")
    spec = arch_spec(arch)
    if pos is None:
        return spec.grid_size, spec.grid_size
    cells = pos.shape[1] - 1 if pos.ndim == 3 else -1
    side = math.isqrt(cells) if cells > 0 else 0
    if pos.ndim != 3 or side * side != cells:
        raise VpropError(f"pos_embed has shape {tuple(pos.shape)}; expected [1, 1 + g*g, D] "
                         "(one class token and a square grid)")
    return side, side


def _match_state(model: VisionTransformer, state: dict[str, torch.Tensor]
                 ) -> tuple[list[str], list[str]]:
    """Check keys and shapes; return (missing, unexpected). Raise on anything unsafe."""
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in expected)
    if missing:
        shown = ", ".join(missing[:8]) + (f", ... ({len(missing)} in all)"
                                          if len(missing) > 8 else "")
        raise VpropError(f"checkpoint lacks encoder weights: {shown}")
    extra_blocks = [k for k in unexpected if k.startswith("blocks.")]
    if extra_blocks:
        raise VpropError(f"checkpoint has more transformer blocks than the arch "
                         f"({len(model.blocks)}): {', '.join(extra_blocks[:4])}")
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
             for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise VpropError(f"checkpoint shapes do not match the arch: {'; '.join(wrong[:4])}")
    return missing, unexpected


def _canonical_or_raw(name: str) -> str:
    """Canonical name of a (possibly unknown) arch stored in metadata; unknown stays as is."""
    try:
        return canonical_name(str(name))
    except VpropError:
        return str(name)


def _load_adapted(path: Path, ckpt_format: str, unsafe_load: bool) -> AdaptedCheckpoint:
    raw, from_safetensors = read_checkpoint(path, unsafe_load)
    try:
        return adapt(raw, ckpt_format, from_safetensors)
    except VpropError as err:
        raise VpropError(str(err), path) from None


def build_encoder(
    arch: str | None = None,
    ckpt: str | Path | None = None,
    ckpt_format: str = "auto",
    unsafe_load: bool = False,
) -> tuple[VisionTransformer, LoadReport]:
    """Build a timm ViT encoder and load a checkpoint into it, strictly.

    Args:
        arch: Registry name. ``None``: the arch stored in a vprop checkpoint, else the registry
            arch matching the checkpoint's patch size / width / depth, else
            ``vit_small_patch16_224``.
        ckpt: Checkpoint file; ``None`` keeps the random initialisation.
        ckpt_format: ``'auto'`` or a format of :mod:`vprop.checkpoints.formats`.
        unsafe_load: Allow arbitrary pickles (warns).

    Returns:
        (model in eval mode, float32, ``dynamic_img_size=True``; the load report).

    Raises:
        VpropError: Bad file, unknown format, or weights that do not fit the arch.
    """
    if ckpt is None:
        name = canonical_name(arch or DEFAULT_ARCH)
        spec = arch_spec(name)
        # A fixed seed makes random-init baselines reproducible, without touching global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            model = create_vit(name, img_size=spec.img_size, dynamic_img_size=True)
        grid = (spec.grid_size, spec.grid_size)
        report = LoadReport(arch=name, pos_embed_grid=grid, random_init_seed=RANDOM_INIT_SEED)
        return model.float().eval(), report

    path = Path(ckpt)
    adapted = _load_adapted(path, ckpt_format, unsafe_load)
    state = adapted.state_dict
    meta_arch = adapted.meta.get("arch")
    name = canonical_name(arch) if arch is not None else None
    if name and meta_arch and _canonical_or_raw(meta_arch) != name:
        logger.warning("%s: checkpoint was trained as %s, loading it as %s",
                       path, meta_arch, name)
    try:
        if name is None:
            name = (canonical_name(str(meta_arch)) if meta_arch
                    else infer_arch(state) or DEFAULT_ARCH)
        _check_patch_embed(state, name)
        grid = _pos_embed_grid(state, name)
        model = create_vit(name, img_size=(grid[0] * arch_spec(name).patch_size,
                                           grid[1] * arch_spec(name).patch_size),
                           dynamic_img_size=True)
        missing, unexpected = _match_state(model, state)
    except VpropError as err:
        raise VpropError(str(err), path) from None

    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values()})
    weights = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()
               if k not in unexpected}
    model.load_state_dict(weights, strict=True)
    report = LoadReport(
        arch=name, ckpt=str(path), sha256=sha256_file(path), format=adapted.format,
        missing_keys=missing, unexpected_keys=unexpected, dropped_keys=adapted.dropped_keys,
        stored_dtypes=dtypes, pos_embed_grid=grid, meta=adapted.meta,
    )
    logger.info("loaded %s as %s (format %s, %d tensors, dropped %d, stored %s)", path, name,
                adapted.format, len(weights), len(adapted.dropped_keys), ", ".join(dtypes))
    if unexpected:
        logger.warning("%s: unexpected keys ignored: %s", path, ", ".join(unexpected))
    return model.float().eval(), report
