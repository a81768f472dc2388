"""The `vprop` command-line application: thin click commands that wire the rooms together."""

from __future__ import annotations

import importlib
import sys

import click

from vprop.cli.errors import user_error_message

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

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # noqa: D102 - click API
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except Exception as error:  # noqa: BLE001 - mapped to one line, or re-raised (a bug)
            message = user_error_message(error)
            if message is None:
                raise
            click.echo(f"error: {message}", err=True)
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_MainGroup)
@click.version_option(package_name="vprop")
def main() -> None:
    """Vprop: evaluate ViT backbones by label propagation and pretrain CropMAE/SiamMAE."""


if __name__ == "__main__":
    main()
