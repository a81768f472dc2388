"""`vprop bench`: speed and memory benchmarks (never timed asserts in tests)."""

from __future__ import annotations

import click

from vprop.cli.main import LazyGroup

# name -> module of vprop.cli holding a click command called ``command``.
_BENCHES = {"eval": "bench_eval", "pretrain": "bench_pretrain", "features": "bench_features",
            "score": "bench_score"}


class _BenchGroup(LazyGroup):
    modules = _BENCHES


@click.group(name="bench", cls=_BenchGroup)
def command() -> None:
    """Measure throughput and peak memory of evaluation and pretraining."""
