"""Output folders, made ready before anything is paid for.

A job costs credits; a result that cannot be written is paid for nothing. So before the
first request, every folder that will receive a result is created (or, for a dry run,
checked without creating anything): a file or a broken symbolic link in the way, or a
folder that cannot be written to, is refused with one line naming it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import UsageError

__all__ = ["check_the_way", "prepare_folders"]

_HINT = "Choose another -o DIR, or fix the folder's permissions"


def prepare_folders(paths: Iterable[Path], *, create: bool) -> None:
    """Make sure the folder of every path in ``paths`` can receive a new file.

    With ``create``, missing folders are created (parents too) and each folder is proven
    writable by creating and removing a temporary file in it (``os.access`` is not enough:
    ACLs, read-only mounts, ``/proc`` and root's privileges fool it). Without ``create``
    (before the first request, and for a dry run) no folder is made: every folder on the
    way must be a folder (not a file, not a broken link) and the deepest existing one is
    proven writable the same way (the temporary file is removed at once).

    Raises :class:`~gsep_cli.errors.UsageError` naming the folder and what is wrong.
    """
    for folder in sorted({Path(p).parent for p in paths}, key=str):
        check_the_way(folder)
        if create:
            _create(folder)
            _probe(folder)
        else:
            _probe(_deepest_existing(folder))


def prove_writable(folder: Path, *, probe: bool) -> None:
    """Make sure a file can be written in ``folder`` or, when it does not exist yet, that
    it can be made (a file's folder other than the outputs', e.g. ``--manifest``'s),
    without creating it: the way must be clear, and the deepest existing folder writable —
    with ``probe``, proven by creating and removing a temporary file in it (``os.access``
    alone is fooled by read-only mounts, ``/proc`` and root). Raises
    :class:`~gsep_cli.errors.UsageError` naming the folder."""
    check_the_way(folder)
    existing = _deepest_existing(folder)
    if probe:
        _probe(existing, "the folder")
    elif not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"the folder {existing} is not writable", _HINT)


def check_the_way(folder: Path) -> None:
    """Refuse a file or a broken symbolic link where a folder must be (or be created)."""
    for step in [folder, *folder.parents]:
        if not os.path.lexists(step):
            continue
        if os.path.isdir(step):
            return  # everything above an existing folder is a folder
        if os.path.islink(step) and not os.path.exists(step):
            target = os.readlink(step)
            raise UsageError(
                f"cannot use the output folder {folder}: {step} is a broken symbolic link "
                f"(to {target})",
                "Create its target, remove the link, or choose another -o DIR",
            )
        raise UsageError(
            f"cannot use the output folder {folder}: {step} is a file",
            "Move the file away, or choose another -o DIR or --name-template",
        )


def _deepest_existing(folder: Path) -> Path:
    # os.path.isdir: a folder that cannot even be looked into is "not there", no crash
    return next(
        (p for p in [folder, *folder.parents] if os.path.isdir(p)), Path(folder.anchor or ".")
    )


def _create(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the output folder {folder}: {exc.strerror or exc}", _HINT
        ) from None


def _probe(folder: Path, what: str = "the output folder") -> None:
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".gsep-probe-")
    except OSError as exc:
        raise UsageError(f"cannot write in {what} {folder}: {exc.strerror or exc}", _HINT) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
