"""`vprop models`: the model zoo, timm's backbone names and the checkpoint formats."""

from __future__ import annotations

import click


@click.command(name="models")
@click.option("--timm", "pattern", default=None,
              help="List timm backbone names matching a wildcard instead (e.g. '*dinov2*').")
@click.option("--formats", is_flag=True, help="List the checkpoint formats instead.")
def command(pattern: str | None, formats: bool) -> None:
    """List published checkpoints usable as `--ckpt zoo:NAME` (url, hash, arch, paper figures).

    Any timm model name works as `--arch`; `--timm PATTERN` lists them.
    """
    if formats:
        from vprop.checkpoints.formats import FORMATS

        click.echo("auto (default), " + ", ".join(FORMATS))
        return
    if pattern is not None:
        from vprop.checkpoints.registry import list_archs

        click.echo("\n".join(list_archs(include_aliases=False, pattern=pattern)))
        return
    from vprop.checkpoints.registry import ALIASES
    from vprop.checkpoints.zoo import cache_dir, zoo_table

    for row in zoo_table():
        click.secho(row.pop("name"), bold=True)
        for key, value in row.items():
            click.echo(f"  {key:<9} {value}")
    click.echo(f"\ncache: {cache_dir()}  (set $TORCH_HOME to move it)")
    click.echo("aliases: " + ", ".join(f"{a}={t}" for a, (t, _) in ALIASES.items()))
