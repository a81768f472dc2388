"""Placeholder until this command lands (replaced by its owner)."""

import click

from vprop.errors import VpropError


@click.command(name="eval", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    """Not available yet."""
    raise VpropError("this command is not implemented yet")
