"""User-facing errors.

Every problem caused by the user's input (a missing frame, a corrupt image, an unknown
checkpoint format, ...) is raised as a :class:`VpropError` whose message is one line that
names the offending file. The CLI prints it as ``error: <message>`` and exits non-zero,
without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class VpropError(Exception):
    """An error caused by bad input, reported to the user as one line."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        """Build the error.

        Args:
            message: What is wrong, in one line.
            path: The offending file or folder, prepended to the message when given.
        """
        text = " ".join(_from_worker(str(message)).split())
        if path is not None:
            text = f"{path}: {text}"
        super().__init__(text)
        self.path = None if path is None else Path(path)


_WORKER_MARK = "Original Traceback (most recent call last):"


def _from_worker(message: str) -> str:
    """The message of an error re-raised by a DataLoader worker, without its traceback.

    PyTorch re-raises a worker's exception as ``type("Caught X in DataLoader worker process
    N. Original Traceback ... <module>.X: <message>")`` over several lines; only
    ``<message>`` is kept.
    """
    if _WORKER_MARK not in message:
        return message
    last = message.rstrip().splitlines()[-1]
    _, found, text = last.partition("VpropError: ")
    return text if found else last
