"""Strict loading of a checkpoint into any timm backbone.

* The file is read safely by :func:`vprop.checkpoints.reading.read_checkpoint` and converted
  to timm key names by :func:`vprop.checkpoints.formats.adapt` (pure per-format functions).
* The backbone is any timm model (:mod:`vprop.checkpoints.registry`): the ``--arch`` name,
  the arch stored in vprop metadata or in a zoo entry, or the vprop alias whose tensors match.
* A ViT is built at the checkpoint's own position-embedding grid (``img_size = grid *
  patch``), so a ViT trained at 518 keeps its 37x37 embedding untouched; it is resampled once,
  from that grid to each input's grid, by the feature extractor.
* Pooling norms and classifier heads (``fc_norm``, ``head``, ``fc``) are never used by
  dense features: they keep their initial values when a checkpoint lacks them.
* A missing encoder weight, a shape mismatch or extra transformer blocks is a
  :class:`VpropError`; other unexpected keys are logged and reported. Everything ends in
  float32.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from vprop.checkpoints.formats import AdaptedCheckpoint, adapt
from vprop.checkpoints.formats_base import is_classifier
from vprop.checkpoints.reading import read_checkpoint
from vprop.checkpoints.registry import ALIASES, arch_info, create_backbone, meta_state_shapes
from vprop.errors import VpropError
from vprop.utils import sha256_file

logger = logging.getLogger(__name__)

DEFAULT_ARCH = "vit_small_patch16_224"
RANDOM_INIT_SEED = 0  # seed of randomly initialised backbones (no --ckpt)

__all__ = ["DEFAULT_ARCH", "LoadReport", "build_encoder", "build_encoder_from_state",
           "infer_arch", "read_checkpoint"]


@dataclass
class LoadReport:
    """What a load did; returned by :func:`build_encoder`, exposed by ``describe()``.

    There is no list of missing keys: a checkpoint missing an encoder weight is an error.
    """

    arch: str
    timm_name: str = ""
    family: str = "vit"
    ckpt: str | None = None
    sha256: str | None = None
    format: str | None = None
    unexpected_keys: list[str] = field(default_factory=list)
    dropped_keys: list[str] = field(default_factory=list)
    stored_dtypes: list[str] = field(default_factory=list)
    pos_embed_grid: tuple[int, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    random_init_seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-friendly dict."""
        out = asdict(self)
        if self.pos_embed_grid is not None:
            out["pos_embed_grid"] = list(self.pos_embed_grid)
        return out


@functools.lru_cache(maxsize=64)
def _meta_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a backbone's state dict (meta device), built once per name."""
    return meta_state_shapes(name)


def infer_arch(state: dict[str, torch.Tensor]) -> str | None:
    """The first vprop alias whose tensors (names and shapes; pos_embed grid aside) match."""
    shapes = {k: tuple(v.shape) for k, v in state.items() if k != "pos_embed"}
    for name in ALIASES:
        expected = {k: v for k, v in _meta_shapes(name).items() if k != "pos_embed"}
        if expected == shapes:
            return name
    return None


def _check_patch_embed(state: dict[str, torch.Tensor], arch: str) -> None:
    info = arch_info(arch)
    kernel = state.get("patch_embed.proj.weight")
    if info.family != "vit" or kernel is None:
        return  # CNNs and missing keys are checked by _match_state
    if kernel.ndim != 4 or kernel.shape[-1] != kernel.shape[-2]:
        raise VpropError(f"patch_embed.proj.weight has shape {tuple(kernel.shape)}, "
                         "expected [D, 3, p, p]")
    if kernel.shape[-1] != info.patch_size:
        raise VpropError(f"checkpoint patch size {kernel.shape[-1]} does not match arch "
                         f"{arch} (patch size {info.patch_size})")
    if kernel.shape[0] != info.embed_dim:
        raise VpropError(f"checkpoint embed dim {kernel.shape[0]} does not match arch {arch} "
                         f"(embed dim {info.embed_dim})")


def _pos_embed_grid(state: dict[str, torch.Tensor], arch: str) -> tuple[int, int] | None:
    """Grid of the checkpoint's position embedding; ``None`` when the arch has none."""
    info = arch_info(arch)
    expected = _meta_shapes(arch).get("pos_embed")
    if expected is None:
        return None
    prefix = expected[1] - info.grid_size ** 2  # class/register tokens inside pos_embed
    pos = state.get("pos_embed")
    if pos is None:
        return info.grid_size, info.grid_size
    cells = pos.shape[1] - prefix if pos.ndim == 3 else -1
    side = math.isqrt(cells) if cells > 0 else 0
    if pos.ndim != 3 or side * side != cells:
        raise VpropError(f"pos_embed has shape {tuple(pos.shape)}; expected [1, {prefix} + g*g,"
                         " D] (a square grid)")
    return side, side


def _match_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Check keys and shapes; return the unexpected keys. Raise on anything unsafe."""
    expected = {k: v for k, v in model.state_dict().items() if not is_classifier(k)}
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
    return unexpected


def _load_adapted(path: Path, ckpt_format: str, unsafe_load: bool) -> AdaptedCheckpoint:
    raw, from_safetensors = read_checkpoint(path, unsafe_load)
    try:
        return adapt(raw, ckpt_format, from_safetensors)
    except VpropError as err:
        raise VpropError(str(err), path) from None


def _choose_arch(arch: str | None, adapted: AdaptedCheckpoint, where: str) -> str:
    meta_arch = adapted.meta.get("arch")
    if arch is not None:
        arch_info(arch)
        if meta_arch and str(meta_arch) != arch:
            logger.warning("%s: checkpoint was trained as %s, loading it as %s",
                           where, meta_arch, arch)
        return arch
    if meta_arch:
        arch_info(str(meta_arch))
        return str(meta_arch)
    return infer_arch(adapted.state_dict) or DEFAULT_ARCH


def _build_for_state(name: str, state: dict[str, torch.Tensor], **arch_kwargs: Any
                     ) -> tuple[torch.nn.Module, tuple[int, int] | None, list[str]]:
    _check_patch_embed(state, name)
    info = arch_info(name)
    grid = _pos_embed_grid(state, name) if info.family == "vit" else None
    if grid is not None:
        arch_kwargs.setdefault("img_size", (grid[0] * info.patch_size, grid[1] * info.patch_size))
    model = create_backbone(name, dynamic_img_size=True, **arch_kwargs)
    return model, grid, _match_state(model, state)


def build_encoder(
    arch: str | None = None,
    ckpt: str | Path | None = None,
    ckpt_format: str = "auto",
    unsafe_load: bool = False,
    **arch_kwargs: Any,
) -> tuple[torch.nn.Module, LoadReport]:
    """Build a timm backbone: seeded random weights, or a checkpoint file loaded strictly.

    Args:
        arch: vprop alias or timm name. ``None``: the arch stored in the checkpoint (vprop
            metadata, zoo entry), else the alias whose tensors match, else
            ``vit_small_patch16_224``.
        ckpt: Checkpoint file or ``zoo:NAME``; ``None`` keeps a seeded random initialisation.
        ckpt_format: ``'auto'`` or a format of :mod:`vprop.checkpoints.formats`.
        unsafe_load: Allow arbitrary pickles (warns).
        **arch_kwargs: Extra ``timm.create_model`` arguments.

    Returns:
        (model in eval mode, float32; the load report).

    Raises:
        VpropError: Bad file, unknown format, or weights that do not fit the arch.
    """
    if ckpt is None:
        return _random_encoder(arch, **arch_kwargs)
    return _encoder_from_file(ckpt, arch, ckpt_format, unsafe_load, **arch_kwargs)


def _random_encoder(arch: str | None = None, **arch_kwargs: Any
                    ) -> tuple[torch.nn.Module, LoadReport]:
    """A backbone with seeded random weights (reproducible baselines; global RNG untouched)."""
    name = arch or DEFAULT_ARCH
    info = arch_info(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = create_backbone(name, dynamic_img_size=True, **arch_kwargs)
    grid = (info.grid_size, info.grid_size) if info.grid_size else None
    report = LoadReport(arch=name, timm_name=info.timm_name, family=info.family,
                        pos_embed_grid=grid, random_init_seed=RANDOM_INIT_SEED)
    return model.float().eval(), report


def _encoder_from_file(
    ckpt: str | Path,
    arch: str | None = None,
    ckpt_format: str = "auto",
    unsafe_load: bool = False,
    **arch_kwargs: Any,
) -> tuple[torch.nn.Module, LoadReport]:
    """Read a checkpoint file (or ``zoo:NAME``) safely and load it into a backbone, strictly.

    Arguments as :func:`build_encoder`; the report names the file and its SHA-256, and every
    error names the file.
    """
    if str(ckpt).startswith("zoo:"):
        from vprop.checkpoints.zoo import resolve_zoo

        entry, ckpt = resolve_zoo(str(ckpt))
        arch = arch or entry.arch
        ckpt_format = entry.format if ckpt_format == "auto" else ckpt_format
    path = Path(ckpt)
    adapted = _load_adapted(path, ckpt_format, unsafe_load)
    try:
        return _encoder_from_adapted(adapted, arch, path, **arch_kwargs)
    except VpropError as err:
        raise VpropError(str(err), path) from None


def build_encoder_from_state(
    state_dict: Mapping[str, Any],
    arch: str | None = None,
    ckpt_format: str = "plain",
    **arch_kwargs: Any,
) -> tuple[torch.nn.Module, LoadReport]:
    """Load in-memory weights into a backbone, strictly, as a checkpoint file would be loaded.

    Nothing is written to disk: this is the entry point for weights that live in memory (the
    encoder during pretraining, a model built in a notebook).

    Args:
        state_dict: Encoder weights under timm names (``ckpt_format='plain'``), or any
            checkpoint content :func:`vprop.checkpoints.formats.adapt` reads (e.g. a whole
            ``vprop-pretrain`` payload with ``ckpt_format='auto'``).
        arch: As for :func:`build_encoder`.
        ckpt_format: ``'plain'`` (default), ``'auto'`` or a format of
            :mod:`vprop.checkpoints.formats`.
        **arch_kwargs: Extra ``timm.create_model`` arguments.

    Returns:
        (model in eval mode, float32; the load report, with ``ckpt`` and ``sha256`` unset).

    Raises:
        VpropError: Unknown format, or weights that do not fit the arch.
    """
    adapted = adapt(state_dict, ckpt_format)
    return _encoder_from_adapted(adapted, arch, None, **arch_kwargs)


def _encoder_from_adapted(adapted: AdaptedCheckpoint, arch: str | None, path: Path | None,
                          **arch_kwargs: Any) -> tuple[torch.nn.Module, LoadReport]:
    """Build the arch for ``adapted`` and load its weights (``path`` only for the report)."""
    state = adapted.state_dict
    where = "in-memory weights" if path is None else str(path)
    name = _choose_arch(arch, adapted, where)
    model, grid, unexpected = _build_for_state(name, state, **arch_kwargs)
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values()})
    weights = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()
               if k not in unexpected}
    _, unloaded = model.load_state_dict(weights, strict=False)
    if any(not is_classifier(k) for k in unloaded):  # cannot happen after _match_state
        raise VpropError(f"unexpected keys reached the model: {unloaded}")
    info = arch_info(name)
    report = LoadReport(
        arch=name, timm_name=info.timm_name, family=info.family,
        ckpt=None if path is None else str(path),
        sha256=None if path is None else sha256_file(path), format=adapted.format,
        unexpected_keys=unexpected, dropped_keys=adapted.dropped_keys, stored_dtypes=dtypes,
        pos_embed_grid=grid, meta=adapted.meta,
    )
    logger.info("loaded %s as %s (format %s, %d tensors, dropped %d, stored %s)", where, name,
                adapted.format, len(weights), len(adapted.dropped_keys), ", ".join(dtypes))
    if unexpected:
        logger.warning("%s: unexpected keys ignored: %s", where, ", ".join(unexpected))
    return model.float().eval(), report
