"""Job ids the API answered with while the ledger could not record them.

A job creation is recorded as *unconfirmed* before it is sent, and confirmed with the
job id the answer carries. If the ledger cannot take the confirmation (locked by another
program past its wait, a full disk), the id must still not be lost: it is written here,
one small file per unconfirmed record, beside the ledger, and the next run that meets the
unconfirmed record confirms it from this file instead of refusing to go on.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from .errors import UsageError
from .inputfile import open_input

FOLDER = "answers"
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,200}")
_MOST_BYTES = 200  # a job id is short (GSEP_API.md 2.4: an opaque string)


def _path(state_dir: Path, placeholder: str) -> Path | None:
    return state_dir / FOLDER / placeholder if _SAFE.fullmatch(placeholder) else None


def save(state_dir: Path, placeholder: str, job_id: str) -> bool:
    """Keep ``job_id`` as the answer for the unconfirmed record ``placeholder``
    (written atomically). False when even that cannot be written."""
    target = _path(state_dir, placeholder)
    if target is None:
        return False
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".answer-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(job_id)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except OSError:
        return False
    return True


def find(state_dir: Path, placeholder: str) -> str | None:
    """The job id kept for ``placeholder``, if any."""
    target = _path(state_dir, placeholder)
    if target is None or not os.path.exists(target):
        return None
    try:  # a regular file only (a FIFO would block), and only what an id can be
        with open_input(target) as fh:
            text = fh.read(_MOST_BYTES + 1).decode("utf-8").strip()
    except (OSError, UsageError, UnicodeDecodeError):
        return None
    if not text or len(text) > _MOST_BYTES or text in (".", "..") or not text.isprintable():
        return None  # not an answer gsep wrote: ignored, never recorded as a job
    return text


def forget(state_dir: Path, placeholder: str) -> None:
    """Remove the kept answer once the ledger holds it."""
    target = _path(state_dir, placeholder)
    if target is not None:
        with contextlib.suppress(OSError):
            target.unlink()
