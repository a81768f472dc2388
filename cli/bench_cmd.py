"""`vprop bench`: speed and memory benchmarks (never timed asserts in tests)."""

from __future__ import annotations

import importlib

import click

# name -> module of vprop.cli holding a click command called ``command``.
_BENCHES = {"eval": "bench_eval", "pretrain": "bench_pretrain"}


class _LazyBenchGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_BENCHES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _BENCHES:
            return None
        return importlib.import_module(f"vprop.cli.{_BENCHES[cmd_name]}").command


@click.group(name="bench", cls=_LazyBenchGroup)
def command() -> None:
    """Measure throughput and peak memory of evaluation and pretraining."""
