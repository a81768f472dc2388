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
    "report": "report_cmd",
    "convert": "convert_cmd",
    "bench": "bench_cmd",
    "models": "models_cmd",
    "presets": "presets_cmd",
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


def usage_error_line(error: click.UsageError) -> str:
    """One ``error: <option>: <what is wrong>`` line for a click usage error."""
    message = error.format_message()
    if isinstance(error, click.BadParameter) and error.param is not None:
        hint = error.param_hint or "/".join(getattr(error.param, "opts", []) or [])
        if hint and not isinstance(error, click.MissingParameter):
            message = f"{hint}: {error.message}"
    command = error.ctx.command_path if error.ctx is not None else "vprop"
    return f"error: {message.rstrip('.')} (see '{command} --help')"


class _MainGroup(LazyGroup):
    modules = _COMMANDS

    def main(self, *args, **kwargs):
        """Run the app; every user-caused error becomes one ``error:`` line (exit 2).

        Usage errors name their option (:func:`usage_error_line`); bad input
        (:class:`~vprop.errors.VpropError`), ``OSError`` and failed allocations go through
        :func:`vprop.cli.errors.user_error_message`; anything else is a bug and keeps its
        traceback.
        """
        kwargs["standalone_mode"] = False
        try:
            value = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.format_message())
            sys.exit(0)
        except click.UsageError as error:
            click.echo(usage_error_line(error), err=True)
            sys.exit(2)
        except click.ClickException as error:
            click.echo(f"error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        except Exception as error:  # noqa: BLE001 - mapped to one line, or re-raised (a bug)
            message = user_error_message(error)
            if message is None:
                raise
            click.echo(f"error: {message}", err=True)
            sys.exit(2)
        sys.exit(value if isinstance(value, int) else 0)


@click.group(cls=_MainGroup)
@click.version_option(package_name="vprop")
def main() -> None:
    """Vprop: evaluate ViT backbones by label propagation and pretrain CropMAE/SiamMAE."""


if __name__ == "__main__":
    main()
