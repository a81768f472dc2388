"""Click options shared by `vprop eval` and `vprop compare`, and the one function they call."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vprop.benchmarks.settings import AFFINITY_MODES, EngineSettings, bf16_warning
from vprop.benchmarks.sizes import parse_size
from vprop.benchmarks.summary import end_summary, start_summary
from vprop.benchmarks.tables import FORMATS, render, results_table, write_all
from vprop.benchmarks.tasks import TASK_MODULES, EvalRequest, get_task
from vprop.errors import VpropError
from vprop.propagation.presets import PRESETS, SCREEN_FACTOR, get_preset
from vprop.safety import (
    NON_NEGATIVE,
    POSITIVE,
    RunLock,
    check_outside_dataset,
    remove_stale_temporaries,
)
from vprop.utils import atomic_write_json, package_versions


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
    click.option("--feature-dtype", type=click.Choice(["float32", "float16", "bfloat16"]),
                 default="float32", show_default=True, help="Dtype of the stored features."),
    click.option("--amp", type=click.Choice(["bfloat16", "float16"]), default=None,
                 help="Run the backbone under autocast with this dtype."),
    click.option("--affinity", type=click.Choice(AFFINITY_MODES), default="exact",
                 show_default=True,
                 help="exact: score every candidate in float32. screened: rank candidates on "
                      f"bfloat16 copies, re-score the best {SCREEN_FACTOR} x top-k in float32 "
                      "(faster).",),
    click.option("--no-progress", is_flag=True, help="Hide progress bars."),
)


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


def _check_task_only(task_name: str, options: dict[str, Any]) -> None:
    for key, owner in {"score_size": "davis", "decode_topk": "jhmdb"}.items():
        if options.get(key) is not None and task_name != owner:
            raise VpropError(f"--{key.replace('_', '-')}: only used by --task {owner}")


def _resolved_preset(options: dict[str, Any]) -> Any:
    """The named preset with the user's overrides (task rules are applied later)."""
    return get_preset(options["preset"]).override(
        topk=options["topk"], temperature=options["temperature"], radius=options["radius"],
        context=options["context"], pos_embed=options["pos_embed"],
    ).override_text(options.get("preset_set") or ())


def check_options(ckpt: Path | None, options: dict[str, Any],
                  task_name: str | None = None) -> tuple[int, int] | None:
    """Check the arguments and files before anything heavy is imported.

    Returns:
        The parsed ``--size``.

    Raises:
        VpropError: A bad value or a missing file, naming the option or the file.
    """
    size = parse_size(options["size"])
    if task_name is not None:
        _check_task_only(task_name, options)
    parse_score_size(options.get("score_size"))
    if ckpt is not None and not str(ckpt).startswith("zoo:") and not Path(ckpt).is_file():
        raise VpropError("checkpoint not found", ckpt)
    if options["data_root"] is not None and not Path(options["data_root"]).is_dir():
        raise VpropError("dataset folder not found (--data-root)", options["data_root"])
    if options["split"] is not None and not Path(options["split"]).is_file():
        raise VpropError("split file not found (--split)", options["split"])
    _resolved_preset(options)
    engine_settings(options)
    return size


def engine_settings(options: dict[str, Any]) -> EngineSettings:
    """The engine settings of the options (no torch import)."""
    return EngineSettings(
        device=options["device"], batch_size=options["batch_size"],
        feature_dtype=options["feature_dtype"], autocast=options["amp"],
        affinity=options["affinity"], progress=not options["no_progress"],
    )


def build_request(task_name: str, out_dir: Path, options: dict[str, Any]) -> EvalRequest:
    """Resolve the preset (paper, task, user overrides), the data root and engine settings.

    Without ``--data-root`` the synthetic sample is written under ``out_dir``.
    """
    _check_task_only(task_name, options)
    score_size = parse_score_size(options.get("score_size"))
    task = get_task(task_name)
    preset = get_preset(options["preset"]).override(**task.preset_overrides(options["preset"]))
    preset = preset.override(
        topk=options["topk"], temperature=options["temperature"], radius=options["radius"],
        context=options["context"], pos_embed=options["pos_embed"],
    ).override_text(options.get("preset_set") or ())
    data_root, synthetic = options["data_root"], options["data_root"] is None
    if synthetic:
        data_root = task.make_sample(out_dir / "synthetic-sample")
        click.secho(
            f"NOTE: no --data-root given: running on a SYNTHETIC {task_name} sample generated at "
            f"{data_root}. Figures are a smoke test, not benchmark results.",
            fg="yellow", err=True,
        )
    sequences = options["sequences"]
    return EvalRequest(
        data_root=Path(data_root),
        out_dir=out_dir,
        preset=preset,
        sequences=[name.strip() for name in sequences.split(",") if name.strip()]
        if sequences else None,
        size=parse_size(options["size"]),
        split=options["split"],
        overwrite=options["overwrite"],
        settings=engine_settings(options),
        synthetic=synthetic,
        score_size=score_size,
        decode_topk=options.get("decode_topk"),
    )


def _config(request: EvalRequest, task: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The resolved configuration recorded in ``results.json`` (size filled in at the end)."""
    return {
        "data_root": str(request.data_root),
        "out_dir": str(request.out_dir),
        "preset": request.preset.to_dict(),
        "sequences": request.sequences,
        "size_requested": None if request.size is None else list(request.size),
        "size_rule": task.input_size_rule(request.preset.name, request.size),
        "size": None,
        "score_size": request.score_size,
        "decode_topk": request.decode_topk,
        "split": None if request.split is None else str(request.split),
        "device": str(request.settings.torch_device()),
        "batch_size": request.settings.batch_size,
        "feature_dtype": request.settings.feature_dtype,
        "amp": request.settings.autocast,
        "affinity": request.settings.affinity,
        "overwrite": request.overwrite,
        "arch_requested": options["arch"],
        "ckpt_format_requested": options["ckpt_format"],
        "layer": options["layer"],
        "pos_embed": request.preset.pos_embed,
        "unsafe_load": options["unsafe_load"],
    }


def resolved_size(result: dict[str, Any]) -> list[int] | list[list[int]] | None:
    """The input size(s) a task used: ``[H, W]``, or the distinct sizes when they differ."""
    if "input_size" in result:
        return list(result["input_size"])
    distinct = sorted({tuple(size) for size in result.get("input_sizes", {}).values()})
    if not distinct:
        return None
    return list(distinct[0]) if len(distinct) == 1 else [list(size) for size in distinct]


def run_evaluation(
    task_name: str, ckpt: Path | None, out_dir: Path, options: dict[str, Any],
    table_format: str | None = "md", name: str | None = None,
) -> dict[str, Any]:
    """Check the options, build the backbone, run the task and write ``out_dir/results.json``.

    Prints a start-of-run summary, the results table (stdout, ``table_format``; ``None``:
    not printed) and an end-of-run summary; writes ``results_table.{md,csv,tex}``. Nothing but
    the run-folder lock is written to ``out_dir`` before the backbone has loaded; a folder
    inside the dataset, or one another live run holds, is refused.

    Returns:
        The results payload (also written to ``results.json``).
    """
    check_options(ckpt, options, task_name)
    if options["data_root"] is not None:
        check_outside_dataset(out_dir, options["data_root"])
    with RunLock(out_dir):  # one live run per folder: concurrent runs cannot mix outputs
        remove_stale_temporaries(out_dir)
        return _evaluate(task_name, ckpt, out_dir, options, table_format, name)


def _evaluate(
    task_name: str, ckpt: Path | None, out_dir: Path, options: dict[str, Any],
    table_format: str | None, name: str | None,
) -> dict[str, Any]:
    from vprop.checkpoints import load_backbone

    settings = engine_settings(options)
    device = settings.torch_device()
    warning = bf16_warning(settings, device.type)
    if warning:
        click.secho(warning, fg="yellow", err=True)
    if ckpt is None:
        click.secho(
            "WARNING: no checkpoint given: the backbone is RANDOMLY INITIALISED. Its figures say "
            "nothing about any pretrained model.", fg="red", bold=True, err=True,
        )
    task = get_task(task_name)
    extractor = load_backbone(
        arch=options["arch"], ckpt=ckpt, ckpt_format=options["ckpt_format"],
        pos_embed=options["pos_embed"] or _resolved_preset(options).pos_embed,
        layer=options["layer"], unsafe_load=options["unsafe_load"],
    ).to(device)
    request = build_request(task_name, out_dir, options)
    payload: dict[str, Any] = {
        "task": task_name, "synthetic": request.synthetic, "random_init": ckpt is None,
        "config": _config(request, task, options), "backbone": extractor.describe(),
    }
    click.echo(start_summary(payload), err=True)
    start = time.perf_counter()
    result = task.run(extractor, request)
    warnings = result.pop("warnings", [])
    payload = {key: payload[key] for key in ("task", "synthetic", "random_init")} | {
        **result, "config": payload["config"], "backbone": payload["backbone"],
        "versions": package_versions(), "wall_seconds": time.perf_counter() - start,
    }
    payload["config"]["size"] = resolved_size(result)
    atomic_write_json(out_dir / "results.json", payload)
    for line in warnings:
        click.secho(f"warning: {line}", fg="yellow", err=True)
    table = results_table([name or _run_name(ckpt)], [payload])
    written = [str(path) for path in write_all(table, out_dir / "results_table")]
    if table_format is not None:
        click.echo(render(table, table_format))
    click.echo(end_summary(payload, written), err=True)
    return payload


def _run_name(ckpt: Path | None) -> str:
    return "random-init" if ckpt is None else Path(ckpt).name
