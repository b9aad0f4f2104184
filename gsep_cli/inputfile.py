"""Open a local input for reading without ever blocking on it.

gsep reads every input more than once (the checks, the ledger's hash, the upload), so an
input must be a regular file. Anything else is refused before it is opened: a FIFO would
block ``open()`` until a writer appears (and its data could be read only once), a device
may act on being opened, a socket cannot be opened at all. :func:`input_stat` refuses from
``stat``; :func:`open_input` then opens with ``O_NONBLOCK`` and checks ``fstat`` again, so a
path swapped for a FIFO between the two calls still cannot hang the process.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import UsageError

__all__ = ["input_stat", "open_input"]

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_HINT = "Give the path of an audio file"


def input_stat(path: Path) -> os.stat_result:
    """``stat`` of an input (symbolic links followed) that must be a regular file.

    Raises :class:`~gsep_cli.errors.UsageError` when the path does not exist, cannot be
    examined, or is not a regular file (naming what it is: a directory, a FIFO, ...).
    Nothing is opened.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(
            f"file not found: {path}", "Check the path (relative to the current folder)"
        ) from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    _refuse_non_regular(path, info.st_mode)
    return info


def open_input(path: Path) -> BinaryIO:
    """Open a regular file for binary reading, never blocking on a FIFO or a device.

    Checks :func:`input_stat` first, then opens with ``O_NONBLOCK`` (where the platform has
    it), checks ``fstat`` on what was actually opened, and clears ``O_NONBLOCK`` so reads
    behave normally. Returns a buffered binary file object (the caller closes it). Raises
    :class:`~gsep_cli.errors.UsageError` for a missing, unreadable or non-regular path.
    """
    input_stat(path)
    nonblock = getattr(os, "O_NONBLOCK", 0)
    flags = os.O_RDONLY | nonblock | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UsageError(
            f"file not found: {path}", "Check the path (relative to the current folder)"
        ) from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        _refuse_non_regular(path, os.fstat(fd).st_mode)
        if nonblock:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _refuse_non_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):  # the message gsep has always given for folders
        raise UsageError(f"{path} is a directory, not an audio file", _HINT)
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "something else")
    raise UsageError(
        f"{path} is {what}, not a regular file",
        _HINT + " (gsep reads each input more than once)",
    )


def _unreadable(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot read {path}: {exc.strerror}", "Check the file's permissions")
