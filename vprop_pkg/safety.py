"""Validation of names, paths and numbers from the user, and the run-folder lock.

Torch-free on purpose: the CLI can run every check here before importing the heavy modules.

* :func:`check_name`: a sequence / clip / video name is one path component (no ``/``, no
  ``..``, not absolute), so ``<out>/results/<name>`` can never leave the run folder;
* :func:`check_inside`: an output path (symlinks resolved) lies inside its run folder;
* :func:`check_outside_dataset`: a run folder never lies inside the dataset it reads;
* :func:`ordered_frames`: frame files in natural order (``2.jpg`` before ``10.jpg``), with a
  gap in the numbering reported as the missing file;
* :class:`FiniteFloat` (``FINITE``): a click float type refusing ``nan`` / ``inf``;
* :class:`RunLock`: an advisory ``fcntl`` lock on a run folder, refused while another live
  process holds it;
* :func:`describe_os_error`: ``<path>: <strerror>`` for an ``OSError``.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

import click

from vprop.errors import VpropError

LOCK_FILE = ".vprop.lock"
_DIGITS = re.compile(r"^\d+$")


def check_name(name: str, what: str, source: str | Path) -> str:
    """Return ``name`` if it is a single, harmless path component.

    Args:
        name: A sequence, clip or video name as the user or a list file gave it.
        what: What the name denotes (``sequence``, ``clip``, ``video``), for the message.
        source: Where it came from (``--sequences`` or a list file), named in the error.

    Raises:
        VpropError: Empty, ``.`` or ``..``, absolute, holding a path separator, a NUL byte or
            a control character.
    """
    bad = (
        not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
        or os.path.isabs(name) or any(ord(char) < 32 for char in name)
    )
    if bad:
        raise VpropError(f"{what} name {name!r} is not a single folder name (no '/', '..' or "
                         "absolute paths)", source)
    return name


def check_names(names: Iterable[str], what: str, source: str | Path) -> list[str]:
    """Check every name with :func:`check_name`; return them as a list."""
    return [check_name(name, what, source) for name in names]


def check_inside(path: str | Path, root: str | Path, option: str = "--out") -> Path:
    """Return ``path`` after checking that it resolves (symlinks followed) inside ``root``.

    Raises:
        VpropError: The path escapes the run folder (``..``, absolute part or a symlink).
    """
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise VpropError(f"resolves to {resolved}, outside {base} ({option}); refusing to use it",
                         path)
    return Path(path)


def check_outside_dataset(out: str | Path, data_root: str | Path, option: str = "--out") -> None:
    """Refuse a run folder that is, or lies inside, or contains the dataset root.

    Raises:
        VpropError: ``out`` and ``data_root`` overlap (datasets are never written to).
    """
    out_path, data = Path(out).resolve(), Path(data_root).resolve()
    if out_path == data or data in out_path.parents or out_path in data.parents:
        raise VpropError(f"the run folder overlaps the dataset {data}; datasets are never "
                         "written to, choose a folder outside it", option)


def ordered_frames(paths: Iterable[Path], folder: Path, suffix: str,
                   contiguous: bool = True) -> tuple[Path, ...]:
    """Sort frame files naturally and check that their numbering has no gap.

    Numeric stems (``00000``, ``7``, ``10``) are ordered by value; a mix of numeric and other
    stems cannot be ordered safely and is refused. A gap (``00001``, ``00003``) names the
    missing file, written with the zero padding of its neighbours.

    Args:
        paths: Frame files of one sequence.
        folder: The sequence folder (for messages).
        suffix: Frame file suffix with its dot (``.jpg``), for the missing file's name.
        contiguous: Whether the numbers must follow each other (DAVIS, JHMDB); ``False``
            allows gaps (datasets whose frames are sampled).

    Raises:
        VpropError: Mixed numeric and non-numeric names, two files with the same number
            (``1.jpg`` and ``01.jpg``), or a missing frame in the middle.
    """
    paths = list(paths)
    numeric = [path for path in paths if _DIGITS.match(path.stem)]
    if not numeric:
        return tuple(sorted(paths))
    if len(numeric) != len(paths):
        odd = sorted(path.name for path in paths if not _DIGITS.match(path.stem))[0]
        raise VpropError(f"frame {odd} is not numbered like the other frames; cannot order "
                         "the sequence", folder)
    ordered = sorted(paths, key=lambda path: (int(path.stem), path.stem))
    for before, after in zip(ordered, ordered[1:]):
        low, high = int(before.stem), int(after.stem)
        if low == high:
            raise VpropError(f"frames {before.name} and {after.name} have the same number",
                             folder)
        if contiguous and high != low + 1:
            width = len(before.stem) if before.stem.startswith("0") else 0
            missing = folder / f"{str(low + 1).zfill(width)}{suffix}"
            raise VpropError(f"frame missing between {before.name} and {after.name}", missing)
    return tuple(ordered)


class FiniteFloat(click.ParamType):
    """A click float that must be finite (``nan``/``inf`` refused), optionally above a bound.

    Args:
        above: Exclusive lower bound (e.g. 0 for a temperature), or ``None``.
        at_least: Inclusive lower bound, or ``None``.
    """

    name = "float"

    def __init__(self, above: float | None = None, at_least: float | None = None) -> None:
        self.above, self.at_least = above, at_least

    def convert(self, value, param, ctx):  # noqa: D102 - click API
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"must be a finite number, got {value}", param, ctx)
        if self.above is not None and not number > self.above:
            self.fail(f"must be > {self.above:g}, got {value}", param, ctx)
        if self.at_least is not None and not number >= self.at_least:
            self.fail(f"must be >= {self.at_least:g}, got {value}", param, ctx)
        return number


FINITE = FiniteFloat()
POSITIVE = FiniteFloat(above=0)
NON_NEGATIVE = FiniteFloat(at_least=0)


def describe_os_error(error: OSError) -> str:
    """``<path>: <strerror>`` for an OSError (falls back to the error text)."""
    reason = error.strerror or (os.strerror(error.errno) if error.errno else str(error))
    path = error.filename
    if path is None:
        return reason or str(error)
    if error.filename2 is not None:
        return f"{path} -> {error.filename2}: {reason}"
    return f"{path}: {reason}"


class RunLock:
    """Exclusive advisory lock on a run folder (``<folder>/.vprop.lock``), held until closed.

    A second vprop process asking for the same folder is refused immediately with a message
    naming the holder's pid. The lock disappears with its process, even after ``kill -9``.
    """

    def __init__(self, folder: str | Path, option: str = "--out") -> None:
        """Create the folder if needed and take the lock.

        Raises:
            VpropError: Another live process holds the lock, or the folder is a file.
        """
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise VpropError("exists and is not a folder", self.folder)
        self._created = _missing_parents(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / LOCK_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise VpropError(f"another vprop run (pid {holder}) is using this folder; wait "
                                 f"for it to finish or choose another {option}",
                                 self.folder) from None
            raise
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Release the lock (also released when the process exits).

        Folders the lock created are removed again when nothing but the lock file was put in
        them (a run refused before writing anything leaves no trace).
        """
        if self._fd is None:
            return
        if self._created and [p.name for p in self.folder.iterdir()] == [LOCK_FILE]:
            self.path.unlink(missing_ok=True)
            for folder in self._created:  # deepest first; stops at the first non-empty one
                try:
                    folder.rmdir()
                except OSError:
                    break
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _missing_parents(folder: Path) -> list[Path]:
    """``folder`` and its missing ancestors, deepest first (what ``mkdir -p`` would create)."""
    missing = []
    for path in [folder, *folder.parents]:
        if path.exists():
            break
        missing.append(path)
    return missing


STALE_PATTERNS = (".*.tmp", "results/**/.*.tmp", ".vprop-done/.*.tmp", "reconstructions/.*.tmp")


def remove_stale_temporaries(folder: str | Path,
                             patterns: tuple[str, ...] = STALE_PATTERNS) -> list[Path]:
    """Delete temporary files left by an interrupted atomic write (call under the lock).

    Only vprop's own output locations are searched (the run folder itself, ``results/``, the
    done markers and reconstructions), never the whole tree below a run folder.

    Returns:
        The removed files.
    """
    removed = []
    for pattern in patterns:
        for path in Path(folder).glob(pattern):
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(fd_or_path: int | str | Path) -> None:
    """Give a file created by ``mkstemp`` (mode 0600) the mode ``open()`` would: 0666 & ~umask."""
    mode = 0o666 & ~current_umask()
    if isinstance(fd_or_path, int):
        os.fchmod(fd_or_path, mode)
    else:
        os.chmod(fd_or_path, mode)
