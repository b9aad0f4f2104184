"""``<out>/manifest.json``: which input, model, stems and job produced each file there.

Several gsep threads and processes may write into one output folder at once, so every
update takes a lock and rewrites the file atomically (temporary file + rename). The lock
is an ``flock`` on the output folder itself: no lock file is left anywhere (an earlier
version left one per folder in the system's temporary folder, forever).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["Manifest"]


class Manifest:
    """The manifest of one output folder; safe to share between threads."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / "manifest.json"
        self._lock = threading.Lock()

    def check(self) -> None:
        """Refuse, before anything is paid for, a manifest path that is not a file (a
        folder, a broken link): the results would land but could not be recorded."""
        if os.path.lexists(self.path) and not os.path.isfile(self.path):
            raise UsageError(
                f"{self.path} is not a file (gsep keeps the folder's manifest there)",
                "Move it away, or choose another -o DIR",
            )

    def add(self, entries: dict[str, dict[str, Any]], *, keep_existing: bool = False) -> None:
        """Record (or replace) entries keyed by path relative to the output folder; with
        ``keep_existing``, only those not there yet (a re-run that wrote nothing).

        Raises :class:`~gsep_cli.errors.UsageError` when the manifest cannot be written.
        """
        try:
            self._add(entries, keep_existing)
        except OSError as exc:
            raise UsageError(
                f"cannot write {self.path}: {exc.strerror or exc}",
                "Check that path (it must be a writable file), then run the same command "
                "again: the results are kept",
            ) from None

    def _add(self, entries: dict[str, dict[str, Any]], keep_existing: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, _folder_lock(self.path.parent):
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
                data = {"version": 1, "files": {}}
            if keep_existing:
                entries = {k: v for k, v in entries.items() if k not in data["files"]}
                if not entries:
                    return  # nothing to write
            data["files"].update(entries)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifest-")
            try:
                # a file name that is not UTF-8 (lone surrogates) is written as a \\u
                # escape: the JSON stays valid and reads back to the same name
                with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
                    json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=True)
                    fh.write("\n")
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on a folder (Linux and macOS lock a directory's descriptor
    like a file's); where there is none, the thread lock alone applies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
