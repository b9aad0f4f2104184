"""Where the ledger file lives, and making its folder and file safely.

Where: ``<state dir>/ledger.sqlite3``; with ``--sandbox``, a ledger of its own in
``<state dir>/sandbox/ledger.sqlite3`` (:func:`sandbox_ledger_path`), never mixed with the
real one. State dir: ``$GSEP_STATE_DIR``, else ``$XDG_STATE_HOME/gsep`` when that is set,
else platformdirs' user state dir for ``gsep``. A folder gsep creates is made 0700 and
the file 0600.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ..config import user_dir
from ..errors import LedgerError

LEDGER_FILE = "ledger.sqlite3"
#: The folder, inside the state folder, of the ``--sandbox`` runs' own ledger.
SANDBOX_FOLDER = "sandbox"


def state_dir() -> Path:
    """The folder holding the ledger (see the module docstring for the order)."""
    return user_dir("state")


def sandbox_ledger_path() -> Path:
    """``<state dir>/sandbox/ledger.sqlite3``: what ``--sandbox`` runs paid for in their
    emulators, kept apart from the real ledger so that no sandbox job is ever taken for a
    real one (and the other way round)."""
    return state_dir() / SANDBOX_FOLDER / LEDGER_FILE


def ledger_problem(path: Path, what: str) -> LedgerError:
    """The error for a ledger file at ``path`` that cannot be used: ``what`` is wrong with it;
    the hint says how to start afresh."""
    return LedgerError(
        f"the job ledger at {path} {what}",
        f"Move it away (e.g. mv '{path}' '{path}.broken'); "
        "gsep will start a new one (it only forgets which jobs it already paid for)",
    )


def prepare_file(path: Path) -> list[str]:
    """Create the ledger's folder (0700) and file (0600) at ``path`` when gsep makes them.

    A folder or file that already exists keeps its mode (gsep changes modes only of
    what it creates, and never through a symbolic link); one that others can read
    gets a warning instead. Returns those warnings (sentences for the user). Raises
    :class:`~gsep_cli.errors.LedgerError` when the folder or file cannot be created, the
    path is a folder, or the file cannot be read and written.
    """
    warnings: list[str] = []
    folder = path.parent
    if not os.path.isdir(folder):
        created = [folder, *(p for p in folder.parents if not os.path.lexists(p))]
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.name == "posix":  # mkdir's mode is reduced by the umask; the state
                for made in created:  # folder above the sandbox's is one of ours too
                    os.chmod(made, 0o700)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the state folder {folder}: {exc.strerror or exc}",
                "Point GSEP_STATE_DIR at a folder you can write to",
            ) from None
    elif os.name == "posix" and not os.path.islink(folder):
        _warn_if_open(folder, "folder", warnings)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        os.close(os.open(path, flags, 0o600))  # ours: 0600 from the start
        return warnings
    except FileExistsError:
        pass
    except OSError as exc:
        if not os.path.lexists(path):
            raise LedgerError(
                f"cannot create the job ledger in {folder}: {exc.strerror or exc}",
                "Point GSEP_STATE_DIR at a folder you can write to",
            ) from None
    if os.path.exists(path) and not os.path.isfile(path):  # a folder, a device, a FIFO
        what = "a folder" if os.path.isdir(path) else "not a regular file"
        raise LedgerError(
            f"the job ledger's path {path} is {what}",
            "Give the path of a file (a new one is made there), e.g. "
            "sqlite:///srv/gsep/ledger.sqlite3",
        )
    if os.name == "posix" and not os.path.islink(path):
        _warn_if_open(path, "file", warnings)
    if not os.access(path, os.R_OK | os.W_OK):  # moving it away would forget what was paid
        raise LedgerError(
            f"the job ledger at {path} cannot be opened (permission denied, or a read-only "
            "file system)",
            f"Make it readable and writable for you (chmod u+rw '{path}'), or run where it "
            "is; moving it away makes gsep forget which jobs it already paid for",
        )
    return warnings


def _warn_if_open(path: Path, what: str, warnings: list[str]) -> None:
    """Add to ``warnings`` when others can read ``path`` (``what``: "folder" or "file")."""
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            fix = "chmod 700" if what == "folder" else "chmod 600"
            warnings.append(
                f"the job ledger's {what} {path} can be read by other users "
                f"(mode {mode:o}); it lists your files and jobs: {fix} '{path}'"
            )
