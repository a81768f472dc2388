"""The `vprop` command-line application: thin click commands that wire the rooms together."""

from __future__ import annotations

import importlib
import sys

import click

from vprop.errors import VpropError

# name -> module of vprop.cli holding a click command called ``command``.
_COMMANDS = {
    "eval": "eval_cmd",
    "score": "score_cmd",
    "compare": "compare_cmd",
    "pretrain": "pretrain_cmd",
    "viz": "viz_cmd",
    "convert": "convert_cmd",
    "bench": "bench_cmd",
    "models": "models_cmd",
    "prepare": "prepare_cmd",
}


class LazyGroup(click.Group):
    """A group whose commands live in ``vprop.cli.<module>.command``, imported on use.

    Subclasses set ``modules``: command name -> module name under ``vprop.cli``.
    """

    modules: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Names of the commands, without importing them."""
        return sorted(self.modules)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module and return its ``command``."""
        module_name = self.modules.get(cmd_name)
        if module_name is None:
            return None
        return importlib.import_module(f"vprop.cli.{module_name}").command


class _MainGroup(LazyGroup):
    modules = _COMMANDS

    def invoke(self, ctx: click.Context):  # noqa: D102 - click API
        try:
            return super().invoke(ctx)
        except VpropError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=_MainGroup)
@click.version_option(package_name="vprop")
def main() -> None:
    """Vprop: evaluate ViT backbones by label propagation and pretrain CropMAE/SiamMAE."""


if __name__ == "__main__":
    main()
