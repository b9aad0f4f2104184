"""Streaming multipart upload and safe downloads.

Uploads: each part is a :class:`FileSlice` (a window on the file, read block by block,
never loaded into memory) sent with an exact ``Content-Length`` to its presigned URL, in a
bounded pool of workers with one key-less session each; the part's MD5 is computed while
sending and checked against the returned ETag.

Downloads: streamed into a hidden temporary file in the target folder, checked against
``Content-Length``, resumed with ``Range`` after a break, then renamed into place
atomically (never clobbering an existing file unless asked). The final name never holds
partial data.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from . import watchdog
from .errors import (
    ExpiredUrl,
    GsepError,
    Interrupted,
    OutputClosed,
    RequestRejected,
    ServiceUnavailable,
    UsageError,
)
from .inputfile import open_input
from .models import MAX_CHUNK, MAX_PARTS, UploadPlan
from .naming import leftover_temps, temp_path
from .progress import Listener, NullListener
from .redact import redact
from .retry import RETRY_STATUSES, RetryPolicy, retry_after_seconds
from .sessions import ThreadSessions, make_session
from .watchdog import Stall

#: A transfer moving less than 1 KiB/s over 30 s is broken off and resumed
#: (``GSEP_STALL_RATE``, ``GSEP_STALL_TIME``; curl's --speed-limit and --speed-time).
DEFAULT_STALL = Stall(rate=1024.0, window=30.0)
_MD5_HEX = re.compile(r"^[0-9a-f]{32}$")


class Cancelled(Exception):
    """Raised inside a worker when the transfer was cancelled (Ctrl-C or another failure)."""


# ---- uploads ---------------------------------------------------------------------------
class FileSlice:
    """Bytes ``[offset, offset + length)`` of a file, read lazily, hashed as they are read.

    ``len()`` and a slice-relative ``tell()`` let requests compute the exact
    Content-Length (a wrong ``tell()`` silently turns the body chunked, which S3 refuses).
    """

    def __init__(
        self,
        path: Path,
        offset: int,
        length: int,
        on_read: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self._fh = open_input(path)  # never blocks on a FIFO swapped in; closed by close()
        self._fh.seek(offset)
        self._length = length
        self._pos = 0
        self._on_read = on_read
        self._cancel = cancel
        self.md5 = hashlib.md5(usedforsecurity=False)

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        """Position inside the slice (not the file)."""
        return self._pos

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the slice (all that is left when negative)."""
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled
        left = self._length - self._pos
        size = left if size is None or size < 0 else min(size, left)
        data = self._fh.read(size) if size > 0 else b""
        if not data:  # all of it is on the wire: the server's answer may take a moment
            guard = watchdog.current()
            if guard is not None:
                guard.awaiting_answer()
        self._pos += len(data)
        if data:
            self.md5.update(data)
            if self._on_read is not None:
                self._on_read(len(data))
        return data

    def close(self) -> None:
        """Close the underlying file."""
        self._fh.close()


def validate_plan(plan: UploadPlan, size: int) -> None:
    """Refuse a server plan that cannot be right before any byte is sent."""
    chunk = plan.chunk_size
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= MAX_CHUNK:
        raise ServiceUnavailable(
            f"the API sent an impossible chunkSize ({chunk!r})",
            "This is a server problem; try again later",
        )
    expected = max(1, math.ceil(size / chunk))
    if len(plan.urls) != expected:
        raise ServiceUnavailable(
            f"the API sent {len(plan.urls)} upload URLs for a {size}-byte file in "
            f"{chunk}-byte chunks; expected {expected}",
            "This is a server problem; try again",
        )
    if expected > MAX_PARTS:
        raise ServiceUnavailable(f"the API planned {expected} parts (more than {MAX_PARTS})")
    for url in plan.urls:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ServiceUnavailable("the API sent an upload URL that is not http(s)")


@dataclass
class PartUploader:
    """Uploads the parts of one file; one instance per upload attempt."""

    path: Path
    size: int
    plan: UploadPlan
    listener: Listener
    key: str
    parallel: int = 4
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: tuple[float, float] = (10.0, 60.0)
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] | None = None
    stall: Stall | None = DEFAULT_STALL

    def __post_init__(self) -> None:
        self._report_lock = threading.Lock()
        self._reported = 0
        self._abandoned = False
        self._cancel = threading.Event()
        self._sessions = ThreadSessions(_part_session)

    def run(self) -> list[tuple[int, str]]:
        """Upload every part; return ``(partNumber, etag)`` in ascending order."""
        validate_plan(self.plan, self.size)
        count = len(self.plan.urls)
        workers = max(1, min(self.parallel, count))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gsep-part")
        futures: list[Future[str]] = [pool.submit(self._part, n) for n in range(1, count + 1)]
        finished = False
        try:
            pending: set[Future[str]] = set(futures)
            while pending:  # short waits keep Ctrl-C responsive in the main thread
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
                for future in done:
                    if future.exception() is not None:
                        raise future.exception()  # type: ignore[misc]
            finished = True
            return [(n, f.result()) for n, f in enumerate(futures, start=1)]
        except KeyboardInterrupt:
            raise Interrupted(
                "upload interrupted: no part list was sent (complete)",
                "Run the same command again to upload afresh",
            ) from None
        finally:
            # On failure or Ctrl-C, queued parts are cancelled and nobody waits for the
            # ones in flight (they end at their own timeout, or with the process).
            self._cancel.set()
            if not finished:
                self._abandon()  # a restarted upload counts from zero again
            pool.shutdown(wait=finished, cancel_futures=True)
            self._sessions.close()  # a part still in flight keeps its connection until done

    def _part(self, number: int) -> str:
        url = self.plan.urls[number - 1]
        offset = (number - 1) * self.plan.chunk_size
        length = max(0, min(self.plan.chunk_size, self.size - offset))
        last: GsepError | None = None
        for attempt in range(1, self.policy.attempts + 1):
            if self._cancel.is_set():
                raise Cancelled
            # Whether the URL expired is for the storage server to say (403): this
            # machine's clock may be wrong by hours (GSEP_API.md 2.2).
            sent = [0]
            on_read = self._progress_counter(sent)
            try:
                etag, local_md5 = self._put(url, offset, length, on_read)
            except _RetryablePart as exc:
                self._advance(-sent[0])
                last = ServiceUnavailable(
                    f"part {number} failed: {exc.reason}", "Check the network and try again"
                )
                if attempt < self.policy.attempts:
                    wait_s = self.policy.delay(attempt, exc.retry_after)
                    self.listener.notice(
                        f"part {number}: {exc.reason}; retry {attempt} of "
                        f"{self.policy.attempts - 1} in {wait_s:.1f} s"
                    )
                    self._sleep_cancellable(self.policy.capped(wait_s))
                continue
            except BaseException:
                self._advance(-sent[0])
                raise
            if _MD5_HEX.match(etag) and etag != local_md5:
                self._advance(-sent[0])
                last = ServiceUnavailable(
                    f"part {number} arrived corrupted: the server's MD5 ({etag}) differs from "
                    f"the local one ({local_md5})",
                    "Check for a proxy that alters uploads, then try again",
                )
                if attempt < self.policy.attempts:
                    self.listener.notice(f"part {number}: checksum mismatch; sending it again")
                    continue
                raise last
            return etag
        assert last is not None
        raise last

    def _progress_counter(self, sent: list[int]) -> Callable[[int], None]:
        """A read callback that counts this attempt's bytes and reports them."""

        def on_read(n: int) -> None:
            sent[0] += n
            self._advance(n)

        return on_read

    def _advance(self, delta: int) -> None:
        """Report progress, unless this upload was abandoned (late workers stay silent)."""
        with self._report_lock:
            if self._abandoned:
                return
            self._reported += delta
            self.listener.transfer_advance(self.key, delta)

    def _abandon(self) -> None:
        """Take back every byte this upload reported; ignore what workers report later."""
        with self._report_lock:
            self._abandoned = True
            if self._reported:
                self.listener.transfer_advance(self.key, -self._reported)
            self._reported = 0

    def _sleep_cancellable(self, seconds: float) -> None:
        if self._cancel.wait(seconds):
            raise Cancelled

    def _put(
        self, url: str, offset: int, length: int, on_read: Callable[[int], None]
    ) -> tuple[str, str]:
        body: Any
        if length == 0:  # an empty slice would make requests switch to chunked encoding
            body, local_md5 = b"", hashlib.md5(b"", usedforsecurity=False).hexdigest()
            file_slice = None
        else:
            file_slice = FileSlice(self.path, offset, length, on_read, self._cancel)
            body = file_slice
        if self.log is not None:
            self.log(f"-> PUT {redact(url)} ({length} bytes)")
        try:
            with watchdog.guarding(stall=self.stall) as guard:
                if file_slice is None:
                    guard.awaiting_answer()
                try:
                    response = self._sessions.get().put(
                        url,
                        data=body,
                        timeout=self.timeout,
                        headers={"Content-Length": str(length)},
                        allow_redirects=False,
                    )
                except requests.RequestException:
                    if guard.fired == watchdog.STALLED and self.stall is not None:
                        raise _RetryablePart(f"stalled ({self.stall.describe()})") from None
                    raise
        except Cancelled:
            raise
        except requests.RequestException as exc:
            if isinstance(exc.__context__, Cancelled) or self._cancel.is_set():
                raise Cancelled from None
            raise _RetryablePart(_describe(exc)) from None
        finally:
            if file_slice is not None:
                file_slice.close()
        if file_slice is not None:
            local_md5 = file_slice.md5.hexdigest()
        status = response.status_code
        text = response.text[:500]
        if status in RETRY_STATUSES:
            raise _RetryablePart(f"HTTP {status}", retry_after_seconds(response))
        if status == 403 and "expired" in text.lower():
            raise ExpiredUrl("an upload URL has expired (HTTP 403 Request has expired)")
        if 300 <= status < 400:  # a presigned PUT is never redirected: refuse, never follow
            raise RequestRejected(
                f"the storage service redirected a part (HTTP {status} to "
                f"{_origin_of(response.headers.get('Location', ''))}); not following it",
                "This is a server or proxy problem; try again, and report it if it persists",
            )
        if not 200 <= status < 300:
            code = re.search(r"<Code>([^<]{1,64})</Code>", text)
            raise RequestRejected(
                f"the storage service refused a part: HTTP {status}"
                + (f" {code.group(1)}" if code else ""),
                "This is not retried; try again, and report it if it persists",
            )
        etag = response.headers.get("ETag", "").strip().strip('"')
        if not etag:
            raise ServiceUnavailable("the storage service returned no ETag for a part")
        return etag, local_md5


def _part_session() -> requests.Session:
    """A part worker's session: two connections, and no ``Accept-Encoding`` header."""
    session = make_session(pool_size=2)
    session.headers.pop("Accept-Encoding", None)
    return session


class _RetryablePart(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _describe(exc: BaseException) -> str:
    """One readable reason for a failed transfer (never an exception's tuple repr)."""
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain).lower()
    if names & {"IncompleteRead", "ChunkedEncodingError", "InvalidChunkLength"}:
        return "the connection closed before the end"
    if isinstance(exc, requests.ConnectTimeout) or "ConnectTimeoutError" in names:
        return "timed out connecting"
    if isinstance(exc, requests.Timeout) or names & {"ReadTimeoutError", "TimeoutError"}:
        return "timed out"
    if "refused" in text:
        return "connection refused"
    if any(word in text for word in ("reset", "aborted", "broken pipe", "remotedisconnected")):
        return "connection lost"
    if isinstance(exc, requests.exceptions.SSLError) or "SSLError" in names:
        return "TLS error"
    if "NameResolutionError" in names or "name or service not known" in text:
        return "host name not found"
    root = chain[-1]
    message = str(root).splitlines()[0] if str(root) else ""
    if message.startswith("(") or not message:  # an args tuple: say what kind it was
        message = type(root).__name__
    return redact(message[:160])


def _chain(exc: BaseException) -> list[BaseException]:
    """An exception and its causes, deepest last (bounded)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        reason = getattr(current, "reason", None)
        current = (
            current.__cause__
            or nested
            or (reason if isinstance(reason, BaseException) else None)
            or current.__context__
        )
    return chain


# ---- downloads -------------------------------------------------------------------------
@dataclass
class Downloader:
    """Downloads result files safely; one per run, safe to share between threads.

    ``timeout`` is (connect, read) seconds per request; ``attempts`` bounds the requests
    per file (default: ``policy.attempts``, GSEP_RETRIES); ``stall`` breaks off (and
    resumes) a transfer that moves too slowly. :meth:`close` releases the connections.
    """

    listener: Listener = field(default_factory=NullListener)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: tuple[float, float] = (10.0, 60.0)
    attempts: int | None = None
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] | None = None
    stall: Stall | None = DEFAULT_STALL

    def __post_init__(self) -> None:
        self._sessions = ThreadSessions(_result_session)
        self._cancelled = threading.Event()
        self._temps: set[Path] = set()
        self._temps_lock = threading.Lock()

    def cancel(self) -> None:
        """Stop every download (from any thread) and delete their temporary files now."""
        self._cancelled.set()
        with self._temps_lock:
            temps = list(self._temps)
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def close(self) -> None:
        """Close every thread's session (a download in flight keeps its connection)."""
        self._sessions.close()

    def fetch(
        self,
        url: str,
        dest: Path,
        *,
        key: str,
        label: str,
        force: bool = False,
        on_ready: Callable[[int, str], None] | None = None,
    ) -> int:
        """Download ``url`` to ``dest``; return the byte count. Never leaves partial files.

        ``on_ready(size, sha256)`` is called once every byte is in the temporary file and
        checked, just before it is moved into place: a record made there survives any
        crash that follows, and (size and hex SHA-256 in hand) a later run can tell this
        file from any other. If it raises, nothing is moved into place.
        """
        if self._cancelled.is_set():
            raise Interrupted("download cancelled")
        if dest.exists() and not force:
            raise UsageError(
                f"{dest} already exists",
                "Use --force to overwrite it, or --skip-existing to keep it",
            )
        tmp = temp_path(dest)
        self.listener.transfer_start(key, label, None)
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
                _lock(raw)  # held while it downloads: another run sees it is alive
                out = _HashingFile(raw)
                size = self._download_into(url, out, key)
            if on_ready is not None:
                on_ready(size, out.hexdigest())
            if force:
                os.replace(tmp, dest)
            else:
                try:
                    os.link(tmp, dest)  # atomic "create only if absent"
                except FileExistsError:
                    raise UsageError(
                        f"{dest} appeared while downloading; not overwritten",
                        "Use --force to overwrite it",
                    ) from None
                except OSError:
                    if dest.exists():
                        raise UsageError(f"{dest} already exists") from None
                    os.replace(tmp, dest)  # file systems without hard links
            ok = True
            return size
        except KeyboardInterrupt:
            raise Interrupted(
                f"download of {dest.name} interrupted; nothing was left behind"
            ) from None
        except OSError as exc:  # disk full, permissions, a folder in the way...
            if isinstance(exc, requests.RequestException):
                raise
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
                if _lock(fh, wait=False):
                    leftover.unlink()
                    self.listener.notice(
                        f"removed a partial download an earlier run left: {leftover}"
                    )

    def stream(self, url: str, out: BinaryIO, *, key: str, label: str) -> int:
        """Download ``url`` into a stream that cannot be rewound (a pipe); return the byte
        count. Resumes like :meth:`fetch`; when the server sends the whole file again, the
        bytes already written are skipped, never written twice."""
        if self._cancelled.is_set():
            raise Interrupted("download cancelled")
        self.listener.transfer_start(key, label, None)
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
        """Fetch ``url`` into ``out``; resume after a break; return the bytes written.

        The size is checked against what the first full answer announced, whatever later
        answers claim (a ``200`` to a ``Range`` request must be the whole file). A body
        sent with a ``Content-Encoding`` (gzip, asked for or not) is decoded and checked
        against the bytes on the wire; it cannot be resumed, only fetched again. A
        transfer slower than the stall limit is broken off and resumed.
        """
        received = 0  # bytes written to ``out``
        total: int | None = None  # the file's size, as the first whole answer announced
        etag: str | None = None
        whole_next = False  # ask for the whole file (and, into a pipe, skip what was sent)
        last = "no attempt made"
        attempts = self.policy.attempts if self.attempts is None else self.attempts
        for attempt in range(1, attempts + 1):
            headers = {}
            skip = 0
            ranged = bool(received) and not whole_next
            if ranged:
                headers["Range"] = f"bytes={received}-"
                if etag:
                    headers["If-Range"] = etag
            if self.log is not None:
                self.log(f"-> GET {redact(url)}" + (f" (from byte {received})" if received else ""))
            try:
                with watchdog.guarding(stall=self.stall) as guard:
                    try:
                        with self._get(url, headers) as response:
                            status = response.status_code
                            if status == 416 and received and total == received:
                                return received
                            if status in RETRY_STATUSES or status == 416:
                                if status == 416:
                                    received, whole_next = self._restart(
                                        out, key, received, rewindable
                                    )
                                raise _RetryablePart(
                                    f"HTTP {status}", retry_after_seconds(response)
                                )
                            if status == 403:
                                raise RequestRejected(
                                    "a download link was refused (HTTP 403): the results may "
                                    "have expired (they are kept 48 h)",
                                    "Ask for fresh links: gsep download JOB_ID; after expiry, "
                                    "run the job again",
                                )
                            if status not in (200, 206):
                                raise RequestRejected(f"download failed: HTTP {status}")
                            encoded = _content_encoding(response) is not None
                            announced = _length(response)
                            if status == 206:
                                start, _end, whole = _content_range(
                                    response.headers.get("Content-Range", "")
                                )
                                if start != received or (total is not None and whole != total):
                                    received, whole_next = self._restart(
                                        out, key, received, rewindable
                                    )
                                    raise _RetryablePart("the server resumed at the wrong place")
                            else:
                                if total is not None and not encoded and announced != total:
                                    # e.g. a 200 carrying only the slice a Range asked for
                                    received, _ = self._restart(out, key, received, rewindable)
                                    whole_next = True
                                    raise _RetryablePart(
                                        f"the server sent {announced} bytes of a {total}-byte "
                                        "file as if whole (HTTP 200)"
                                    )
                                if received and rewindable:  # the whole file: start over
                                    received, _ = self._restart(out, key, received, rewindable)
                                elif received:  # the whole file again, into a pipe
                                    new_etag = response.headers.get("ETag")
                                    if etag and new_etag and new_etag != etag:
                                        raise RequestRejected(
                                            "the result file changed on the server while it "
                                            "was streamed",
                                            "Run the command again",
                                        )
                                    skip = received
                                if total is None and not encoded:
                                    total = announced
                                    if total is not None:
                                        self.listener.transfer_start(key, "", total)
                            whole_next = encoded  # an encoded body cannot be resumed
                            etag = response.headers.get("ETag") or etag
                            for block in _blocks(response):
                                guard.progress(len(block))
                                if self._cancelled.is_set():
                                    raise Interrupted("download cancelled")
                                if skip:
                                    cut = min(skip, len(block))
                                    skip, block = skip - cut, block[cut:]
                                    if not block:
                                        continue
                                out.write(block)
                                received += len(block)
                                self.listener.transfer_advance(key, len(block))
                            wire = response.raw.tell()
                    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                        if guard.fired == watchdog.STALLED and self.stall is not None:
                            raise _RetryablePart(f"stalled ({self.stall.describe()})") from exc
                        raise
                if skip:
                    raise _RetryablePart("the file came back shorter than what was written")
                if encoded:
                    if announced is not None and wire != announced:
                        raise _RetryablePart(f"got {wire} of {announced} encoded bytes")
                elif total is not None and received != total:
                    raise _RetryablePart(f"got {received} of {total} bytes")
                return received
            except _RetryablePart as exc:
                last = exc.reason
                wait_s = self.policy.delay(attempt, exc.retry_after)
                if whole_next and rewindable and received:
                    received, _ = self._restart(out, key, received, rewindable)
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                last = _describe(exc)
                wait_s = self.policy.backoff(attempt)
                if whole_next and rewindable and received:
                    received, _ = self._restart(out, key, received, rewindable)
            if attempt < attempts:
                where = f"resuming at byte {received}" if received else "starting again"
                self.listener.notice(f"download interrupted ({last}); {where}")
                self.sleep(self.policy.capped(wait_s))
        raise ServiceUnavailable(
            f"download failed after {attempts} attempts: {last}",
            "Check the network and run gsep download JOB_ID again",
        )

    def _get(self, url: str, headers: dict[str, str]) -> requests.Response:
        """GET with redirects followed by hand (at most 5): never from https to http."""
        for _ in range(6):
            response = self._sessions.get().get(
                url, headers=headers, stream=True, timeout=self.timeout, allow_redirects=False
            )
            if not response.is_redirect:
                return response
            target = urljoin(url, response.headers.get("Location", ""))
            response.close()
            if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
                raise RequestRejected(
                    f"a result host redirected from https to {_origin_of(target)}; not "
                    "following it (the download would leave encryption)",
                    "This is a server or proxy problem: report it; gsep never downgrades",
                )
            if self.log is not None:
                self.log(f"-> GET {redact(target)} (redirected)")
            url = target
        raise RequestRejected("a result host redirected too many times")

    def _restart(self, out: Any, key: str, received: int, rewindable: bool) -> tuple[int, bool]:
        """Start over: empty a file, or (a pipe) ask for the whole file and skip what was
        written. Returns (bytes written, whether to ask for the whole file)."""
        if not rewindable:
            return received, bool(received)
        out.seek(0)
        out.truncate()
        self.listener.transfer_advance(key, -received)
        return 0, False


def _result_session() -> requests.Session:
    """A download thread's session: four connections, bodies asked for as they are
    (``identity``), so ``Content-Length`` is the file's true size."""
    session = make_session(pool_size=4)
    session.headers["Accept-Encoding"] = "identity"
    return session


def _lock(fh: BinaryIO, *, wait: bool = True) -> bool:
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
        if self._raw.tell() != 0:  # only ever emptied whole (Downloader._restart)
            raise ValueError("a partial truncate would break the running hash")
        self._digest = hashlib.sha256()
        return self._raw.truncate()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _content_encoding(response: requests.Response) -> str | None:
    """The body's ``Content-Encoding`` (lower case), None when it is sent as is."""
    value = response.headers.get("Content-Encoding", "").strip().lower()
    return None if value in ("", "identity") else value


def _origin_of(url: str) -> str:
    """``scheme://host:port`` of a URL (never its path or signed query), for messages."""
    parts = urlsplit(url)
    return redact(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}") if parts.scheme else "?"


def _blocks(response: requests.Response, size: int = 1024 * 1024) -> Iterator[bytes]:
    """The body as it arrives (``read1``), so a broken transfer keeps every byte that came.

    ``iter_content`` with big blocks drops a partly filled block when the connection
    breaks; ``read1`` returns whatever one socket read gave.
    """
    raw = response.raw
    while True:
        block = raw.read1(size, decode_content=True)
        if not block:
            return
        yield block


def _content_range(value: str) -> tuple[int, int, int | None]:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if match is None:
        return -1, -1, None
    whole = None if match[3] == "*" else int(match[3])
    return int(match[1]), int(match[2]), whole


def upload_parts(
    path: Path,
    size: int,
    plan: UploadPlan,
    *,
    listener: Listener,
    key: str,
    parallel: int = 4,
    policy: RetryPolicy | None = None,
    timeout: tuple[float, float] = (10.0, 60.0),
    log: Callable[[str], None] | None = None,
    stall: Stall | None = DEFAULT_STALL,
) -> list[tuple[int, str]]:
    """Upload every part of ``path`` following ``plan``; return (partNumber, etag) pairs.

    ``timeout`` is (connect, read) in seconds for each part's request; ``stall`` breaks
    off (and retries) a part that moves too slowly."""
    uploader = PartUploader(
        path,
        size,
        plan,
        listener,
        key,
        parallel,
        policy or RetryPolicy(),
        timeout,
        log=log,
        stall=stall,
    )
    return uploader.run()
