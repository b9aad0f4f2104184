"""``--manifest FILE``: which input, model, stems and job produced each file gsep wrote.

Opt-in: the ledger already records every file gsep writes (``gsep ledger show``), so a run
leaves nothing but its outputs unless a manifest is asked for. Files are keyed by their
path relative to the manifest's folder (absolute when they are outside it).

Several gsep threads and processes may write into one output folder at once, so every
update takes a lock and rewrites the file atomically (temporary file + rename). The lock
is an ``flock`` on the output folder itself: no lock file is left anywhere (an earlier
version left one per folder in the system's temporary folder, forever). The lock is
waited for at most :data:`LOCK_WAIT` seconds: another program holding it cannot hang gsep.

A ``manifest.json`` that is not gsep's (not a JSON object with a ``files`` object) is
never overwritten: it is refused before anything is paid for.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import UsageError
from .folders import prove_writable

__all__ = ["LOCK_WAIT", "Manifest"]

#: Longest wait for another process's lock on the output folder, in seconds.
LOCK_WAIT = 30.0
_NOT_OURS_HINT = "Move it away, or choose another --manifest FILE"


class Manifest:
    """One manifest file (a JSON object whose ``files`` maps each written file to what
    produced it); safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def key(self, written: Path) -> str:
        """The entry name of a written file: its path relative to the manifest's folder
        (``/``-separated), or its absolute path when it is outside that folder."""
        target = written.resolve()
        try:
            return target.relative_to(self.path.parent.resolve()).as_posix()
        except ValueError:
            return str(target)

    def check(self, planned: Sequence[Path] = (), *, probe: bool = True) -> None:
        """Refuse, before anything is paid for, a manifest the results could not be listed
        in: a path that is one of the run's own ``planned`` outputs, a folder that cannot
        be written (``probe``: proven with a temporary file; a dry run writes nothing and
        asks the file system), not a file (a folder, a broken link), or a file that is not
        gsep's manifest. Raises :class:`~gsep_cli.errors.UsageError`."""
        target = self.path.resolve()
        if any(Path(p).resolve() == target for p in planned):
            raise UsageError(
                f"--manifest {self.path} is one of the files this run writes",
                "Choose another --manifest FILE, e.g. --manifest manifest.json",
            )
        if os.path.lexists(self.path) and not os.path.isfile(self.path):
            raise UsageError(
                f"{self.path} is not a file (--manifest names the file gsep lists its results in)",
                _NOT_OURS_HINT,
            )
        try:
            prove_writable(self.path.parent, probe=probe)
        except UsageError as exc:
            raise UsageError(f"--manifest {self.path}: {exc.message}", _NOT_OURS_HINT) from None
        if os.path.isfile(self.path):
            self._read()

    def _read(self) -> dict[str, Any]:
        """The manifest as it is on disk (a new one when there is none); UsageError for a
        file that is not gsep's manifest, which is never overwritten."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(64 * 1024 * 1024 + 1)
        except FileNotFoundError:
            return {"version": 1, "files": {}}
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise UsageError(f"{self.path} is not a gsep manifest", _NOT_OURS_HINT)
        return data

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
            data = self._read()
            mode = _mode_of(self.path)
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
                os.chmod(tmp, mode)  # as before, or as a new file of this user would be
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
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UsageError(
                        f"another program has held a lock on {folder} for {LOCK_WAIT:g} s, so "
                        "the manifest there cannot be updated",
                        "The files are written; run the same command again later to record them",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _mode_of(path: Path) -> int:
    """The mode to write ``path`` with: its own, else a new file's under the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _read_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (changing it,
    even for a moment, would race with threads creating files)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o022)  # elsewhere: read at import, before any worker thread
    os.umask(umask)
    return umask


_UMASK = _read_umask()
