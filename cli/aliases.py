"""Renamed flags: the current name is shown in ``--help``, the old one is hidden and still works.

Every command names its output ``--out``; ``vprop pretrain --output-dir`` and ``vprop bench
pretrain --json`` are the old names, kept as hidden aliases so existing scripts keep running.
Errors name the flag the user typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from vprop.errors import VpropError

_SUFFIX = "__alias"


def option_with_alias(flag: str, alias: str, dest: str, **kwargs: Any) -> Callable:
    """A click option ``flag`` plus a hidden ``alias`` of it (read both with :func:`take`).

    Args:
        flag: The current name (``--out``), shown in ``--help``.
        alias: The old name (``--output-dir``), hidden.
        dest: The parameter name the command reads (e.g. ``output_dir``).
        **kwargs: Other ``click.option`` arguments of ``flag`` (no ``default``: :func:`take`
            applies it, so that an explicit value is told apart from none).
    """
    def decorate(function: Callable) -> Callable:
        function = click.option(alias, dest + _SUFFIX, type=kwargs.get("type"), default=None,
                                hidden=True)(function)
        return click.option(flag, dest, default=None, **kwargs)(function)

    return decorate


def take(options: dict[str, Any], dest: str, flag: str, alias: str,
         default: Any = None) -> tuple[Any, str]:
    """Pop an aliased option from a command's keyword arguments.

    Returns:
        (the value, the flag that gave it: ``flag`` unless only ``alias`` was used).

    Raises:
        VpropError: Both names given with different values.
    """
    value, old = options.pop(dest), options.pop(dest + _SUFFIX)
    if old is None:
        return (default if value is None else value), flag
    if value is not None and value != old:
        raise VpropError(f"given twice with different values ({old} as {alias}, {value}); "
                         f"use {flag} alone", flag)
    return old, (flag if value is not None else alias)
