"""Safe downloads of result files.

Into a file: streamed into a hidden temporary file in the target folder (locked while it
downloads, so a later run can tell a live one from a leftover), checked, then put in
place atomically (never clobbering an existing file unless asked). The final name never
holds partial data. Into a pipe: streamed, never writing a byte twice. Getting the bytes
across the network (resuming, retries, size checks) is :mod:`gsep_cli.resume`'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import requests

from .errors import Interrupted, OutputClosed, UsageError
from .naming import leftover_temps, temp_path
from .progress import Listener, NullListener
from .resume import ResumableGet
from .retry import RetryPolicy
from .sessions import ThreadSessions, make_session
from .storage import DEFAULT_STALL
from .watchdog import Stall


@dataclass
class Downloader:
    """Downloads result files safely; one per run, safe to share between threads.

    ``timeout`` is (connect, read) seconds per request; ``attempts`` bounds the requests
    per file (default: ``policy.attempts``, GSEP_RETRIES); ``stall`` breaks off (and
    resumes) a transfer that moves too slowly. The wait before a retry (up to the policy's
    cap, a ``Retry-After`` included) ends at once on :meth:`cancel`, unless ``sleep``
    replaces it. :meth:`close` releases the connections.
    """

    listener: Listener = field(default_factory=NullListener)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: tuple[float, float] = (10.0, 60.0)
    attempts: int | None = None
    sleep: Callable[[float], None] | None = None  # None: a wait that cancel() ends
    log: Callable[[str], None] | None = None
    stall: Stall | None = DEFAULT_STALL

    def __post_init__(self) -> None:
        self._sessions = ThreadSessions(_result_session)
        self._cancelled = threading.Event()
        self._temps: set[Path] = set()
        self._temps_lock = threading.Lock()

    def _pause(self, seconds: float) -> None:
        """The wait before a retry: a stop (Ctrl-C in another thread, a cancelled MCP call)
        must not sit out a long ``Retry-After`` and then send one more request."""
        if self.sleep is not None:
            self.sleep(seconds)
        else:
            self._cancelled.wait(max(0.0, seconds))

    def cancel(self) -> None:
        """Stop every download (from any thread) and delete their temporary files, and
        the scratch folders (:meth:`scratch`), now."""
        self._cancelled.set()
        with self._temps_lock:
            temps = list(self._temps)
        for tmp in temps:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            with contextlib.suppress(OSError):
                tmp.unlink()

    @contextlib.contextmanager
    def scratch(self, folder: Path) -> Iterator[Path]:
        """``folder`` (made by the caller) removed with everything in it on the way out,
        or at once by :meth:`cancel`: a stop (Ctrl-C, SIGTERM) may end the process before
        the thread using it gets to clean up."""
        with self._temps_lock:
            self._temps.add(folder)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with self._temps_lock:
                self._temps.discard(folder)

    def close(self) -> None:
        """Close every thread's session (a download in flight keeps its connection)."""
        self._sessions.close()

    @property
    def cancelled(self) -> threading.Event:
        """Set by :meth:`cancel`: work that runs long between two writes (a conversion)
        checks it."""
        return self._cancelled

    def fetch(
        self,
        url: str,
        dest: Path,
        *,
        key: str,
        label: str,
        subject: str = "",
        force: bool = False,
        on_ready: Callable[[int, str], None] | None = None,
        finish: Callable[[Path], None] | None = None,
    ) -> int:
        """Download ``url`` to ``dest``; return the byte count. Never leaves partial files.

        ``finish(path)``, when given, may change the complete, checked download in its
        temporary file (e.g. write tags) before it is recorded and moved into place.
        ``on_ready(size, sha256)`` is called once every byte is in the temporary file and
        checked, just before it is moved into place: a record made there survives any
        crash that follows, and (size and hex SHA-256 in hand) a later run can tell this
        file from any other. If it raises, nothing is moved into place.

        Raises :class:`~gsep_cli.errors.UsageError` when ``dest`` exists (without
        ``force``) or cannot be written, :class:`~gsep_cli.errors.Interrupted` when
        cancelled or on Ctrl-C, and what :meth:`ResumableGet.run` raises.
        """

        def fill(raw: BinaryIO, tmp: Path) -> tuple[int, str]:
            out = _HashingFile(raw)
            size = self._download_into(url, out, key)
            if finish is None:
                return size, out.hexdigest()
            raw.flush()
            finish(tmp)
            return _size_and_hash(tmp)

        return self._into_place(
            dest, fill, key=key, label=label, subject=subject, force=force, on_ready=on_ready
        )

    def produce(
        self,
        dest: Path,
        make: Callable[[Path], None],
        *,
        key: str,
        label: str,
        subject: str = "",
        force: bool = False,
        on_ready: Callable[[int, str], None] | None = None,
    ) -> int:
        """Make ``dest`` with ``make(path)``, which writes a temporary file beside it
        (e.g. a conversion); then record and move it into place as :meth:`fetch` does.
        Returns the byte count; raises what :meth:`fetch` raises for the file, and what
        ``make`` raises."""

        def fill(raw: BinaryIO, tmp: Path) -> tuple[int, str]:
            make(tmp)
            return _size_and_hash(tmp)

        return self._into_place(
            dest, fill, key=key, label=label, subject=subject, force=force, on_ready=on_ready
        )

    def _into_place(
        self,
        dest: Path,
        fill: Callable[[BinaryIO, Path], tuple[int, str]],
        *,
        key: str,
        label: str,
        subject: str,
        force: bool,
        on_ready: Callable[[int, str], None] | None,
    ) -> int:
        """Fill a locked temporary file beside ``dest`` (``fill(handle, path)`` returns
        the size and SHA-256), report it, move it into place; never a partial file under
        the final name."""
        if self._cancelled.is_set():
            raise Interrupted("download cancelled")
        if dest.exists() and not force:
            raise UsageError(
                f"{dest} already exists",
                "Use --force to overwrite it, or --skip-existing to keep it",
            )
        tmp = temp_path(dest)
        self.listener.transfer_start(key, label, None, subject=subject)
        ok = False
        with self._temps_lock:
            self._temps.add(tmp)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._remove_leftovers(dest)
            # No fsync: like curl and wget, a finished file is left to the OS to write out.
            # The temporary name and the atomic link keep a crash or Ctrl-C from leaving a
            # partial file under the final name; an fsync per file cost 40 % of the
            # download time (tests/benchmarks, download figure).
            with open(tmp, "xb") as raw:
                lock_file(raw)  # held while it is written: another run sees it is alive
                size, sha256 = fill(raw, tmp)
            if on_ready is not None:
                on_ready(size, sha256)
            _put_in_place(tmp, dest, force=force, sha256=sha256)
            ok = True
            return size
        except KeyboardInterrupt:
            raise Interrupted(
                f"download of {dest.name} interrupted; nothing was left behind"
            ) from None
        except OSError as exc:  # disk full, permissions, a folder in the way...
            if isinstance(exc, requests.RequestException):
                raise
            if self._cancelled.is_set():  # cancel() removed the file it was writing or
                # moving into place: that is the stop, not the disk
                raise Interrupted(
                    f"download of {dest.name} cancelled; nothing was left behind"
                ) from None
            raise UsageError(
                f"cannot write {dest}: {exc.strerror or exc}",
                "Check free space and permissions of the output folder, then run "
                "gsep download JOB_ID (results are kept 48 h)",
            ) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
            with self._temps_lock:
                self._temps.discard(tmp)
            self.listener.transfer_end(key, ok)

    def _remove_leftovers(self, dest: Path) -> None:
        """Remove the temporary files an earlier run left for ``dest`` (kill -9, a power
        cut): those no live process holds locked. Resuming them would need their ETag,
        which died with the run; they are only ever partial downloads of results."""
        for leftover in leftover_temps(dest):
            with contextlib.suppress(OSError), open(leftover, "rb") as fh:
                if lock_file(fh, wait=False):
                    leftover.unlink()
                    self.listener.notice(
                        f"removed a partial download an earlier run left: {leftover}"
                    )

    def stream(self, url: str, out: BinaryIO, *, key: str, label: str, subject: str = "") -> int:
        """Download ``url`` into a stream that cannot be rewound (a pipe); return the byte
        count. Resumes like :meth:`fetch`; when the server sends the whole file again, the
        bytes already written are skipped, never written twice.

        Raises :class:`~gsep_cli.errors.OutputClosed` when the reader goes away or
        writing fails, :class:`~gsep_cli.errors.Interrupted` when cancelled or on Ctrl-C,
        and what :meth:`ResumableGet.run` raises."""
        if self._cancelled.is_set():
            raise Interrupted("download cancelled")
        self.listener.transfer_start(key, label, None, subject=subject)
        ok = False
        try:
            size = self._download_into(url, out, key, rewindable=False)
            out.flush()
            ok = True
            return size
        except KeyboardInterrupt:
            raise Interrupted(f"download of {label} interrupted") from None
        except BrokenPipeError:
            raise OutputClosed(
                f"the program reading {label} stopped before the end",
                "Check the command after the pipe",
            ) from None
        except OSError as exc:
            if isinstance(exc, requests.RequestException):
                raise
            raise OutputClosed(f"cannot write {label}: {exc.strerror or exc}") from None
        finally:
            self.listener.transfer_end(key, ok)

    def _download_into(self, url: str, out: Any, key: str, *, rewindable: bool = True) -> int:
        """Fetch ``url`` into ``out``, resuming after a break (:class:`ResumableGet`);
        return the bytes written. ``rewindable``: ``out`` can be emptied to start over
        (a file), else it is a pipe."""
        return ResumableGet(
            session=self._sessions.get,
            listener=self.listener,
            policy=self.policy,
            attempts=self.policy.attempts if self.attempts is None else self.attempts,
            timeout=self.timeout,
            sleep=self._pause,
            log=self.log,
            stall=self.stall,
            cancelled=self._cancelled,
            out=out,
            key=key,
            rewindable=rewindable,
        ).run(url)


def _put_in_place(tmp: Path, dest: Path, *, force: bool, sha256: str) -> None:
    """Move a finished download (its content's hex SHA-256: ``sha256``) to its final
    name: over an existing file only with ``force``, else atomically only if the name is
    still free (a hard link, or a rename on file systems without them). A file that
    appeared meanwhile with the very same content (another gsep writing the same result,
    one that took over this work) is the result: nothing to do. Raises
    :class:`~gsep_cli.errors.UsageError` when ``dest`` exists with other content and
    ``force`` is not given."""
    if force:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic "create only if absent"
    except FileExistsError:
        if _same_content(dest, tmp.stat().st_size, sha256):
            return
        raise UsageError(
            f"{dest} appeared while downloading; not overwritten",
            "Use --force to overwrite it",
        ) from None
    except OSError:
        if dest.exists():
            raise UsageError(f"{dest} already exists") from None
        os.replace(tmp, dest)  # file systems without hard links


def _same_content(path: Path, size: int, sha256: str) -> bool:
    """True when ``path`` is a regular file of ``size`` bytes whose SHA-256 is ``sha256``."""
    try:
        if not path.is_file() or path.stat().st_size != size:
            return False
        return _size_and_hash(path) == (size, sha256)
    except OSError:
        return False


def _size_and_hash(path: Path) -> tuple[int, str]:
    """The byte count and hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _result_session() -> requests.Session:
    """A download thread's session: four connections, bodies asked for as they are
    (``identity``), so ``Content-Length`` is the file's true size."""
    session = make_session(pool_size=4)
    session.headers["Accept-Encoding"] = "identity"
    return session


def lock_file(fh: BinaryIO, *, wait: bool = True) -> bool:
    """An exclusive ``flock`` on an open file, held until it is closed (True when taken).

    Without ``wait``, False when another process holds it. Where there is no ``flock``
    (Windows), True: leftovers are then never judged abandoned by a lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return wait
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: never judge a leftover abandoned
        return wait
    return True


class _HashingFile:
    """A file being downloaded, hashed (SHA-256) as it is written. Starting over
    (``seek(0)`` then ``truncate()``) starts the hash over too; appends continue it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._raw.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def truncate(self) -> int:
        if self._raw.tell() != 0:  # only ever emptied whole (ResumableGet._restart)
            raise ValueError("a partial truncate would break the running hash")
        self._digest = hashlib.sha256()
        return self._raw.truncate()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
