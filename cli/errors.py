"""The one place where exceptions become the user's one line ``error: <where>: <what>``."""

from __future__ import annotations

import re

import click

from vprop.errors import VpropError
from vprop.safety import describe_os_error

_ALLOCATION_MARKS = ("can't allocate memory", "not enough memory", "out of memory",
                     "insufficient memory", "failed to allocate")
_ASKED = re.compile(r"(?:tried to allocate|failed to allocate) ([\d.]+ ?\w+)", re.IGNORECASE)


def user_error_message(error: BaseException) -> str | None:
    """The text after ``error: `` for an error caused by the user's input or environment.

    Handled: :class:`VpropError` (bad input), click usage errors (named by their option),
    ``OSError`` (``<path>: <strerror>``: no space, read-only, exists, permission, not a
    folder, ...) and failed memory allocations (``MemoryError``, torch's and OpenCV's).
    Anything else is a bug: ``None``, so the caller re-raises it with its traceback.
    """
    if isinstance(error, VpropError):
        return str(error)
    if isinstance(error, click.MissingParameter):
        return _one_line(error.format_message())
    if isinstance(error, click.BadParameter) and error.param is not None:
        option = (error.param.opts or [error.param.name or "argument"])[0]
        if error.param.param_type_name == "argument":
            option = (error.param.name or "argument").upper()
        return f"{option}: {_one_line(error.message)}"
    if isinstance(error, click.ClickException):
        return _one_line(error.format_message())
    if isinstance(error, OSError):
        return _one_line(describe_os_error(error))
    if isinstance(error, MemoryError) or (
        (isinstance(error, RuntimeError) or type(error).__module__ == "cv2")  # cv2.error
        and any(mark in str(error).lower() for mark in _ALLOCATION_MARKS)
    ):
        asked = _ASKED.search(str(error))
        detail = f"tried to allocate {asked.group(1)}" if asked else _one_line(str(error))[:120]
        return (f"--size / --batch-size: not enough memory for this input ({detail}); use a "
                "smaller --size or --batch-size")
    return None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
