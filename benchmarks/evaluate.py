"""The one evaluation service: ``vprop eval``, ``compare``, ``bench`` and the pretraining hook.

:class:`EvalSpec` is what a user asks for (parsed by the CLI, or built in code);
:func:`check_spec` validates it without importing torch; :func:`evaluate` resolves the preset
and protocol, loads the backbone, runs the task (sharded across torchrun ranks), writes
``results.json`` with the full resolved configuration and the tables, and prints the start and
end summaries.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from vprop.benchmarks.papers import get_preset, protocol
from vprop.benchmarks.settings import EngineSettings, bf16_warning
from vprop.benchmarks.summary import end_summary, start_summary
from vprop.benchmarks.tables import render, results_table, write_all
from vprop.benchmarks.tasks import TASK_MODULES, EvalRequest
from vprop.errors import VpropError
from vprop.propagation.presets import Preset
from vprop.safety import RunLock, check_outside_dataset, remove_stale_temporaries
from vprop.utils import atomic_write_json, package_versions

TASK_ONLY_OPTIONS = {"score_size": "davis", "decode_topk": "jhmdb"}


@dataclass
class EvalSpec:
    """One evaluation, as asked for (before the preset and protocol are resolved).

    Attributes:
        task: ``davis``, ``jhmdb`` or ``vip``.
        out_dir: Run folder.
        ckpt: Checkpoint file or ``zoo:NAME``; ``None``: random initialisation.
        data_root: Dataset root; ``None``: the embedded synthetic sample.
        preset: Paper preset name (:data:`vprop.benchmarks.papers.PAPERS`).
        preset_changes: Field -> value overrides (``--topk``, ``--temperature``, ...).
        preset_set: ``FIELD=VALUE`` overrides (``--preset-set``).
        sequences: Subset of sequences / clips / videos.
        size: Backbone input (height, width) override.
        score_size: DAVIS score size override (``(h, w)`` or ``"native"``).
        decode_topk: JHMDB decode top-k override.
        split: List file override (JHMDB, VIP).
        overwrite: Recompute finished units.
        settings: Engine settings (device, batch size, dtypes, affinity, progress).
        arch: Backbone name (timm or alias); ``None``: from the checkpoint.
        ckpt_format: Checkpoint format or ``auto``.
        layer: ViT block / CNN stage.
        pos_embed: Position-embedding resampling; ``None``: the preset's.
        unsafe_load: Accept arbitrary pickles.
        workers: Scoring processes (``None``: one per CPU).
    """

    task: str
    out_dir: Path
    ckpt: Path | str | None = None
    data_root: Path | None = None
    preset: str = "cropmae"
    preset_changes: dict[str, Any] = field(default_factory=dict)
    preset_set: tuple[str, ...] = ()
    sequences: list[str] | None = None
    size: tuple[int, int] | None = None
    score_size: tuple[int, int] | str | None = None
    decode_topk: int | None = None
    split: Path | None = None
    overwrite: bool = False
    settings: EngineSettings = field(default_factory=EngineSettings)
    arch: str | None = None
    ckpt_format: str = "auto"
    layer: int | None = None
    pos_embed: str | None = None
    unsafe_load: bool = False
    workers: int | None = 1


def resolve_preset(spec: EvalSpec, with_task: bool = True) -> Preset:
    """The paper's preset with the task protocol's overrides, then the user's."""
    preset = get_preset(spec.preset)
    if with_task:
        preset = preset.override(**protocol(spec.task, spec.preset).overrides())
    changes = {**spec.preset_changes, "pos_embed": spec.pos_embed}
    return preset.override(**changes).override_text(spec.preset_set)


def check_spec(spec: EvalSpec) -> None:
    """Check the arguments and files before anything heavy is imported.

    Raises:
        VpropError: A bad value or a missing file, naming the option or the file.
    """
    if spec.task not in TASK_MODULES:
        raise VpropError(f"--task: unknown task {spec.task!r}; choose one of "
                         f"{sorted(TASK_MODULES)}")
    for key, owner in TASK_ONLY_OPTIONS.items():
        if getattr(spec, key) is not None and spec.task != owner:
            raise VpropError(f"--{key.replace('_', '-')}: only used by --task {owner}")
    ckpt = spec.ckpt
    if ckpt is not None and not str(ckpt).startswith("zoo:") and not Path(ckpt).is_file():
        raise VpropError("checkpoint not found", ckpt)
    if spec.data_root is not None and not Path(spec.data_root).is_dir():
        raise VpropError("dataset folder not found (--data-root)", spec.data_root)
    if spec.split is not None and not Path(spec.split).is_file():
        raise VpropError("split file not found (--split)", spec.split)
    if spec.workers is not None and spec.workers < 1:
        raise VpropError(f"--workers: must be >= 1, got {spec.workers}")
    resolve_preset(spec, with_task=False)


def build_request(spec: EvalSpec, ranks: Any = None, quiet: bool = False) -> EvalRequest:
    """Resolve the preset (paper, task, user) and the data root; settings as given.

    Without ``data_root`` the synthetic sample is written under ``out_dir`` (by rank 0;
    the other ranks wait for it).
    """
    from vprop.benchmarks.tasks import get_task

    data_root, synthetic = spec.data_root, spec.data_root is None
    if synthetic:
        main = ranks is None or ranks.is_main
        with ranks.guard("synthetic sample") if ranks else contextlib.nullcontext():
            if main:
                data_root = get_task(spec.task).make_sample(spec.out_dir / "synthetic-sample")
        data_root = ranks.share(data_root) if ranks else data_root
        if main and not quiet:
            click.secho(
                f"NOTE: no --data-root given: running on a SYNTHETIC {spec.task} sample "
                f"generated at {data_root}. Figures are a smoke test, not benchmark results.",
                fg="yellow", err=True)
    return EvalRequest(
        data_root=Path(data_root), out_dir=spec.out_dir, preset=resolve_preset(spec),
        sequences=spec.sequences, size=spec.size, split=spec.split, overwrite=spec.overwrite,
        settings=spec.settings, synthetic=synthetic, score_size=spec.score_size,
        decode_topk=spec.decode_topk, workers=spec.workers,
    )


def config_record(spec: EvalSpec, request: EvalRequest) -> dict[str, Any]:
    """The resolved configuration recorded in ``results.json`` (size filled in at the end)."""
    settings = request.settings
    task_protocol = protocol(spec.task, request.preset.name)
    return {
        "data_root": str(request.data_root),
        "out_dir": str(request.out_dir),
        "preset": request.preset.to_dict(),
        "protocol": task_protocol.to_dict(),
        "sequences": request.sequences,
        "size_requested": None if request.size is None else list(request.size),
        "size_rule": task_protocol.size_rule_text(request.size),
        "size": None,
        "score_size": request.score_size,
        "decode_topk": request.decode_topk,
        "split": None if request.split is None else str(request.split),
        "device": str(settings.torch_device()),
        "batch_size": settings.batch_size,
        "feature_dtype": settings.feature_dtype,
        "amp": settings.autocast,
        "affinity": settings.affinity,
        "overwrite": request.overwrite,
        "arch_requested": spec.arch,
        "ckpt_format_requested": spec.ckpt_format,
        "layer": spec.layer,
        "pos_embed": request.preset.pos_embed,
        "unsafe_load": spec.unsafe_load,
        "workers": spec.workers,
    }


def resolved_size(result: dict[str, Any]) -> list[int] | list[list[int]] | None:
    """The input size(s) a task used: ``[H, W]``, or the distinct sizes when they differ."""
    if "input_size" in result:
        return list(result["input_size"])
    distinct = sorted({tuple(size) for size in result.get("input_sizes", {}).values()})
    if not distinct:
        return None
    return list(distinct[0]) if len(distinct) == 1 else [list(size) for size in distinct]


def evaluate(spec: EvalSpec, table_format: str | None = "md", name: str | None = None,
             extractor: Any = None, quiet: bool = False, alone: bool = False
             ) -> dict[str, Any] | None:
    """Check the spec, build the backbone, run the task and write ``out_dir/results.json``.

    Prints a start-of-run summary, the results table (stdout, ``table_format``; ``None``:
    not printed) and an end-of-run summary; writes ``results_table.{md,csv,tex}``. Nothing but
    the run-folder lock is written to ``out_dir`` before the backbone has loaded; a folder
    inside the dataset, or one another live run holds, is refused. Under torchrun every rank
    calls this; rank 0 prints, scores and writes.

    Args:
        spec: What to evaluate.
        table_format: How the table is printed on stdout (``None``: not printed).
        name: The run's name in the table (default: the checkpoint's file name).
        extractor: An already built feature extractor (pretraining hook, benchmarks) instead
            of loading ``spec.ckpt``.
        quiet: Print nothing (summaries, notes, table); files are written all the same.
        alone: Run in this process only, even inside a torchrun job (the pretraining hook
            runs on rank 0 while the other ranks train).

    Returns:
        The results payload (also written to ``results.json``); ``None`` on ranks other than 0.
    """
    from vprop.benchmarks.distributed import Ranks, init_from_env, rank_device

    check_spec(spec)
    if spec.data_root is not None:
        check_outside_dataset(spec.out_dir, spec.data_root)
    ranks = Ranks() if alone else init_from_env(spec.settings.device)
    if not ranks.is_main:
        spec.settings.progress = False
    spec.settings.device = rank_device(spec.settings.device, ranks)
    with contextlib.ExitStack() as stack:
        with ranks.guard("start"):
            if ranks.is_main:  # one live run per folder: concurrent runs cannot mix outputs
                stack.enter_context(RunLock(spec.out_dir))
                remove_stale_temporaries(spec.out_dir)
        return _evaluate(spec, ranks, table_format if not quiet else None, name, extractor,
                         quiet)


def _load(spec: EvalSpec, device: Any) -> Any:
    from vprop.checkpoints import load_backbone

    return load_backbone(
        arch=spec.arch, ckpt=spec.ckpt, ckpt_format=spec.ckpt_format,
        pos_embed=spec.pos_embed or resolve_preset(spec, with_task=False).pos_embed,
        layer=spec.layer, unsafe_load=spec.unsafe_load,
    ).to(device)


def _evaluate(spec: EvalSpec, ranks: Any, table_format: str | None, name: str | None,
              extractor: Any, quiet: bool) -> dict[str, Any] | None:
    from vprop.benchmarks.tasks import get_task, run_task

    settings = spec.settings
    device = settings.torch_device()
    settings.resolve_precision(device.type)
    say = ranks.is_main and not quiet
    warning = bf16_warning(settings, device.type)
    if warning and say:
        click.secho(warning, fg="yellow", err=True)
    if spec.ckpt is None and extractor is None and say:
        click.secho(
            "WARNING: no checkpoint given: the backbone is RANDOMLY INITIALISED. Its figures say "
            "nothing about any pretrained model.", fg="red", bold=True, err=True,
        )
    extractor = _load(spec, device) if extractor is None else extractor.to(device)
    request = build_request(spec, ranks, quiet)
    payload: dict[str, Any] = {
        "task": spec.task, "synthetic": request.synthetic, "random_init": spec.ckpt is None,
        "config": config_record(spec, request), "backbone": extractor.describe(),
    }
    if say:
        click.echo(start_summary(payload), err=True)
    start = time.perf_counter()
    result = run_task(get_task(spec.task), extractor, request, ranks)
    if result is None:
        return None
    return _write_results(spec, payload, result, time.perf_counter() - start, table_format,
                          name, quiet)


def _write_results(spec: EvalSpec, payload: dict[str, Any], result: dict[str, Any],
                   seconds: float, table_format: str | None, name: str | None,
                   quiet: bool = False) -> dict[str, Any]:
    warnings = result.pop("warnings", [])
    payload = {key: payload[key] for key in ("task", "synthetic", "random_init")} | {
        **result, "config": payload["config"], "backbone": payload["backbone"],
        "versions": package_versions(), "wall_seconds": seconds,
    }
    payload["config"]["size"] = resolved_size(result)
    atomic_write_json(spec.out_dir / "results.json", payload)
    for line in [] if quiet else warnings:
        click.secho(f"warning: {line}", fg="yellow", err=True)
    table = results_table([name or run_name(spec.ckpt)], [payload])
    written = [str(path) for path in write_all(table, spec.out_dir / "results_table")]
    if table_format is not None:
        click.echo(render(table, table_format))
    if not quiet:
        click.echo(end_summary(payload, written), err=True)
    return payload


def run_name(ckpt: Path | str | None) -> str:
    """The name of a run in tables: the checkpoint's file name, or ``random-init``."""
    return "random-init" if ckpt is None else Path(ckpt).name
