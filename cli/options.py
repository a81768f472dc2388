"""Click options shared by `vprop eval` and `vprop compare`, parsed into an EvalSpec (no logic)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vprop.benchmarks.papers import PRESETS
from vprop.benchmarks.settings import (
    AFFINITY_MODES,
    DTYPE_NAMES,
    PRECISION_AUTOCAST,
    PRECISIONS,
    EngineSettings,
)
from vprop.benchmarks.sizes import parse_size
from vprop.benchmarks.tables import FORMATS
from vprop.benchmarks.tasks import TASK_MODULES
from vprop.errors import VpropError
from vprop.propagation.presets import SCREEN_FACTOR
from vprop.safety import NON_NEGATIVE, POSITIVE

PRECISION_OPTIONS = (
    click.option("--precision", type=click.Choice(PRECISIONS), default=None,
                 help="Backbone autocast: bf16, fp16, fp32 (default), or auto (bf16 on CUDA, "
                      "fp32 elsewhere)."),
    click.option("--amp", type=click.Choice(["bfloat16", "float16"]), default=None, hidden=True,
                 help="Older name of --precision bf16 / fp16."),
)


def _compose(*decorators: Callable) -> Callable:
    def apply(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


backbone_options = _compose(
    click.option("--arch", default=None,
                 help="Backbone: any timm model name or a vprop alias (default: from the "
                      "checkpoint, else vit_small_patch16_224); `vprop models` lists them."),
    click.option("--ckpt-format", default="auto", show_default=True,
                 help="Checkpoint format; `vprop models --formats` lists them."),
    click.option("--layer", type=int, default=None,
                 help="ViT block (negative counts from the end) or CNN feature stage; "
                      "default: last block + norm (ViT), res4 at stride 8 (ResNet)."),
    click.option("--pos-embed", type=click.Choice(["dino", "exact"]), default=None,
                 help="Position-embedding resampling (default: the preset's)."),
    click.option("--unsafe-load", is_flag=True,
                 help="Accept arbitrary pickles in checkpoints (runs code from the file!)."),
)

propagation_options = _compose(
    click.option("--task", type=click.Choice(sorted(TASK_MODULES)), default="davis",
                 show_default=True, help="Benchmark."),
    click.option("--data-root", type=click.Path(path_type=Path), default=None,
                 help="Dataset root in the official layout; default: a generated "
                      "SYNTHETIC sample."),
    click.option("--preset", type=click.Choice(sorted(PRESETS)), default="cropmae",
                 show_default=True, help="Propagation preset (paper settings)."),
    click.option("--topk", type=click.IntRange(min=1), default=None,
                 help="Override the preset's top-k."),
    click.option("--temperature", type=POSITIVE, default=None, help="Override the temperature."),
    click.option("--radius", type=NON_NEGATIVE, default=None,
                 help="Override the neighbourhood radius (0 disables it)."),
    click.option("--context", type=click.IntRange(min=0), default=None,
                 help="Override the number of context frames."),
    click.option("--preset-set", multiple=True, metavar="FIELD=VALUE",
                 help="Override any preset field, e.g. std=0.229,0.224,0.225, nearest=pil, "
                      "first_frame_output=ground-truth, restrict_first=true (repeatable)."),
    click.option("--size", default=None,
                 help="Override the backbone input size, HxW (e.g. 480x880; a square is "
                      "480x480)."),
    click.option("--score-size", default=None,
                 help="DAVIS: write and score predictions at HxW against ground truth "
                      "nearest-resized to it (480x880: the CropMAE/SiamMAE paper protocol), or "
                      "'native' (default: the preset's protocol, native for every preset)."),
    click.option("--decode-topk", type=click.IntRange(min=1), default=None,
                 help="JHMDB: cells averaged per joint when decoding keypoints (default: the "
                      "preset's, 3 for crw, 5 otherwise)."),
    click.option("--sequences", default=None,
                 help="Comma-separated subset of sequences / clips / videos."),
    click.option("--split", type=click.Path(path_type=Path), default=None,
                 help="Split/list file (JHMDB, VIP); default: the task's."),
    click.option("--overwrite", is_flag=True, help="Recompute finished sequences."),
    click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto."),
    click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
                 help="Frames per backbone forward pass."),
    click.option("--feature-dtype", type=click.Choice(DTYPE_NAMES),
                 default="float32", show_default=True, help="Dtype of the stored features."),
    *PRECISION_OPTIONS,
    click.option("--workers", type=int, default=None,
                 help="Processes scoring the predictions (default: one per CPU)."),
    click.option("--affinity", type=click.Choice(AFFINITY_MODES), default="exact",
                 show_default=True,
                 help="exact: score every candidate in float32. certified: screen them in "
                      "bfloat16, score in float32 all that can reach the top-k (same result; "
                      "faster only on CPUs with native bfloat16 and varied features). screened: "
                      f"re-score only the best {SCREEN_FACTOR} x top-k of the screen (may miss "
                      "one).",),
    click.option("--no-progress", is_flag=True, help="Hide progress bars."),
)


precision_options = _compose(*PRECISION_OPTIONS)


def table_format_option(function: Callable) -> Callable:
    """``--format md|csv|latex``: how the results table is printed (all three are written)."""
    return click.option("--format", "table_format", type=click.Choice(FORMATS), default="md",
                        show_default=True,
                        help="Results table printed on stdout: Markdown, CSV or LaTeX "
                             "(booktabs); all three are written to the run folder.")(function)


def parse_score_size(text: str | None) -> tuple[int, int] | str | None:
    """``--score-size``: ``None`` (the preset's protocol), ``native``, or an ``HxW`` size."""
    if text is None or text.strip().lower() == "native":
        return None if text is None else "native"
    return parse_size(text, "--score-size")


def parse_autocast(precision: str | None, amp: str | None) -> str | None:
    """``--precision`` (or its older name ``--amp``) -> the autocast dtype name or ``auto``.

    Raises:
        VpropError: Both given and different.
    """
    from_amp = {"bfloat16": "bf16", "float16": "fp16"}.get(amp) if amp else None
    if precision and from_amp and precision != from_amp:
        raise VpropError(f"--amp: {amp} contradicts --precision {precision}; "
                         "use --precision only")
    return PRECISION_AUTOCAST[precision or from_amp or "fp32"]


def engine_settings(options: dict[str, Any]) -> EngineSettings:
    """The engine settings of the options (no torch import)."""
    return EngineSettings(
        device=options["device"], batch_size=options["batch_size"],
        feature_dtype=options["feature_dtype"],
        autocast=parse_autocast(options.get("precision"), options.get("amp")),
        affinity=options["affinity"], progress=not options["no_progress"],
    )


def parse_spec(task: str, ckpt: Path | str | None, out: Path, options: dict[str, Any]) -> Any:
    """The click options of ``eval`` / ``compare`` as an :class:`EvalSpec` (parsing only)."""
    from vprop.benchmarks.evaluate import EvalSpec

    sequences = options["sequences"]
    return EvalSpec(
        task=task, out_dir=Path(out), ckpt=ckpt, data_root=options["data_root"],
        preset=options["preset"],
        preset_changes={key: options[key] for key in ("topk", "temperature", "radius",
                                                      "context")},
        preset_set=tuple(options.get("preset_set") or ()),
        sequences=[name.strip() for name in sequences.split(",") if name.strip()]
        if sequences else None,
        size=parse_size(options["size"]), score_size=parse_score_size(options["score_size"]),
        decode_topk=options["decode_topk"], split=options["split"],
        overwrite=options["overwrite"], settings=engine_settings(options),
        arch=options["arch"], ckpt_format=options["ckpt_format"], layer=options["layer"],
        pos_embed=options["pos_embed"], unsafe_load=options["unsafe_load"],
        workers=options.get("workers"),
    )
