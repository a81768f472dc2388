"""Start-of-run and end-of-run summaries of an evaluation, built from its ``results.json`` data.

Both blocks are ``key  value`` lines, so what the terminal says is what ``results.json``
holds (the CLI tests compare them). Pure Python: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vprop.benchmarks.tables import TASK_METRICS, percent, protocol_text, size_text

KEY_WIDTH = 12


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 sequence``, ``2 sequences`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def block(title: str, items: Sequence[tuple[str, str]]) -> str:
    """A title line and indented ``key  value`` lines."""
    return "\n".join([title, *(f"  {key:<{KEY_WIDTH - 1}} {value}" for key, value in items)])


def checkpoint_text(backbone: Mapping[str, Any]) -> str:
    """``name (format F, sha256 0123456789ab)`` or the random-init warning."""
    if not backbone.get("ckpt"):
        return "none: RANDOMLY INITIALISED backbone"
    name = str(backbone["ckpt"]).replace("\\", "/").rsplit("/", 1)[-1]
    return f"{name} (format {backbone.get('format')}, sha256 {str(backbone.get('sha256'))[:12]})"


def backbone_text(backbone: Mapping[str, Any]) -> str:
    """``arch, stride 16, layer last + norm, pos-embed dino`` (the parts the backbone has)."""
    parts = [str(backbone.get("arch"))]
    stride = backbone.get("stride", backbone.get("patch_size"))
    if stride is not None:
        parts.append(f"stride {stride}")
    if "layer" in backbone:
        parts.append(f"layer {'last + norm' if backbone['layer'] is None else backbone['layer']}")
    if backbone.get("pos_embed"):
        parts.append(f"pos-embed {backbone['pos_embed']}")
    return ", ".join(parts)


def engine_text(config: Mapping[str, Any]) -> str:
    """Device and dtypes in one line."""
    return (f"{config['device']}, features {config['feature_dtype']}, autocast "
            f"{config['amp'] or 'off'}, affinity {config['affinity']}, batch "
            f"{config['batch_size']}")


def data_text(payload: Mapping[str, Any]) -> str:
    """Dataset root, marked when synthetic."""
    root = payload["config"]["data_root"]
    return f"{root} (SYNTHETIC sample)" if payload.get("synthetic") else str(root)


def start_summary(payload: Mapping[str, Any]) -> str:
    """The block printed before any frame is processed.

    Args:
        payload: The run's ``results.json`` fields known before it runs: ``task``,
            ``synthetic``, ``config`` (``preset``, ``size_rule``, ``sequences``, device and
            dtypes, ``out_dir``) and ``backbone``.
    """
    config, backbone = payload["config"], payload["backbone"]
    preset = config["preset"]
    sequences = config.get("sequences")
    items = [
        ("data", data_text(payload)),
        ("sequences", ", ".join(sequences) if sequences else "all of the split"),
        ("preset", f"{preset['name']}: {protocol_text(preset)}"),
        ("input size", config["size_rule"]),
    ]
    if config.get("score_size"):
        items.append(("score size", str(config["score_size"])))
    items += [
        ("checkpoint", checkpoint_text(backbone)),
        ("backbone", backbone_text(backbone)),
        ("device", engine_text(config)),
        ("output", str(config["out_dir"])),
    ]
    return block(f"vprop eval: {payload['task']}", items)


def headline_text(payload: Mapping[str, Any], metrics: Sequence[str] | None = None) -> str:
    """``J&F-Mean 60.4  J-Mean 58.1  F-Mean 62.7`` (percent, one decimal)."""
    spec = TASK_METRICS[payload["task"]]
    parts = []
    for metric in metrics or spec.metrics:
        value = percent(payload, metric)
        parts.append(f"{metric} {'n/a' if value is None else f'{value:.1f}'}")
    return "  ".join(parts)


def _names(names: Sequence[str], shown: int = 6) -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more)"
                                        if len(names) > shown else "")


def end_summary(payload: Mapping[str, Any], written: Sequence[str]) -> str:
    """The block printed when a run has finished.

    Args:
        payload: The run's ``results.json`` payload.
        written: Paths of the tables and files this run wrote (besides ``results.json``).
    """
    timing = payload["timing"]
    this_run = timing["this_run"]
    items = [("results", headline_text(payload)),
             ("sequences", plural(len(payload["sequences"]), "sequence")),
             ("input size", size_text(payload["config"]["size"]))]
    skipped, recomputed = payload["skipped_finished"], payload["recomputed"]
    items.append(("reused", f"{len(skipped)} finished earlier with the same settings"
                  + (f": {_names(skipped)}" if skipped else "")))
    items.append(("recomputed", f"{len(recomputed)}" + "".join(
        f"\n  {'':<{KEY_WIDTH}}{name}: {reason}" for name, reason in recomputed.items())))
    rate = this_run["frames_per_second"]
    items.append(("this run", f"{plural(this_run['frames_predicted'], 'frame')} predicted in "
                  f"{this_run['seconds']:.1f} s" + (f" ({rate:.3g} frames/s)" if rate else "")))
    items.append(("all frames", f"{plural(timing['frames_predicted'], 'frame')}, "
                  f"{timing['seconds']:.1f} s of prediction over all runs"))
    outputs = payload["outputs"]
    items.append(("predictions", str(outputs["predictions"])))
    items.append(("written", ", ".join([str(payload["config"]["out_dir"]) + "/results.json",
                                        *outputs.get("csv", []), *written])))
    if payload.get("synthetic"):
        items.append(("NOTE", "SYNTHETIC sample: a smoke test, not a benchmark result"))
    if payload.get("random_init"):
        items.append(("NOTE", "randomly initialised backbone: says nothing about a model"))
    return block(f"vprop eval: {payload['task']} finished", items)
