"""Streaming multipart upload of one file to its presigned part URLs (GSEP_API.md 2.2).

Each part is a :class:`FileSlice` (a window on the file, read block by block, never
loaded into memory) sent with an exact ``Content-Length`` to its presigned URL, in a
bounded pool of workers with one key-less session each; the part's MD5 is computed on a
helper thread one block ahead of the sending (and, when asked, its block map as it is
sent), and checked against the returned ETag. Creating and completing the upload are the client's
(:mod:`gsep_cli.client`).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from . import watchdog
from .blockmap import aligned
from .blockread import BLOCK, BUFFERS
from .errors import (
    ExpiredUrl,
    GsepError,
    Interrupted,
    RequestRejected,
    ServiceUnavailable,
)
from .fileslice import FileSlice
from .models import MAX_CHUNK, MAX_PARTS, UploadPlan
from .progress import Listener
from .redact import redact
from .retry import RETRY_STATUSES, RetryPolicy, retry_after_seconds
from .sessions import ThreadSessions, make_session
from .storage import DEFAULT_STALL, Cancelled, Retryable, describe, origin_of
from .watchdog import Stall

#: Bytes of read-ahead buffers one upload may hold, whatever its parts at once.
READ_AHEAD_BUDGET = 8 * 1024 * 1024
_MD5_HEX = re.compile(r"^[0-9a-f]{32}$", re.IGNORECASE)  # hex digits in either case


def validate_plan(plan: UploadPlan, size: int) -> None:
    """Refuse a server plan that cannot be right before any byte is sent.

    ``size`` is the file's size in bytes. The plan must name a ``chunkSize`` of 1 byte to
    :data:`~gsep_cli.models.MAX_CHUNK`, exactly ``ceil(size / chunkSize)`` (at least one,
    at most :data:`~gsep_cli.models.MAX_PARTS`) http(s) URLs (GSEP_API.md 2.1); raises
    :class:`~gsep_cli.errors.ServiceUnavailable` otherwise.
    """
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
    """Uploads the parts of one file; one instance per upload attempt.

    ``size`` is in bytes; ``parallel`` workers (at most one per part) each use their own
    session; each part gets ``policy.attempts`` tries, ``timeout`` (connect, read) seconds
    per request, and is broken off when it moves slower than ``stall``. Progress goes to
    ``listener`` under ``key``, taken back when a part is sent again or the upload fails.
    """

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
    #: Filled with the hex MD5 of the bytes each part actually sent (part number -> MD5),
    #: whatever the storage server's ETag looks like: what the caller compares with the
    #: file before completing the upload.
    sent_md5: dict[int, str] = field(default_factory=dict)
    #: With ``map_blocks``: part number -> the block map (:mod:`gsep_cli.blockmap`) of
    #: what that part sent, for each part that starts on a block boundary.
    map_blocks: bool = False
    sent_blocks: dict[int, bytes] = field(default_factory=dict)
    #: The client's stop (:meth:`gsep_cli.client.GsepClient.stop_requests`): once set, no
    #: part is sent any more, those on the wire are broken off, and :meth:`run` raises
    #: Interrupted — also when it runs in a worker thread that Ctrl-C never reaches.
    stopped: threading.Event | None = None

    def __post_init__(self) -> None:
        self._report_lock = threading.Lock()
        self._reported = 0
        self._abandoned = False
        self._cancel = threading.Event()
        self._sessions = ThreadSessions(_part_session)
        self._block = BLOCK

    def run(self) -> list[tuple[int, str]]:
        """Upload every part; return ``(partNumber, etag)`` in ascending order.

        Raises what :func:`validate_plan` raises, :class:`~gsep_cli.errors.ExpiredUrl`
        (a fresh plan may help), :class:`~gsep_cli.errors.RequestRejected` or
        :class:`~gsep_cli.errors.ServiceUnavailable` once a part has failed for good, and
        :class:`~gsep_cli.errors.Interrupted` on Ctrl-C. The sessions are closed either way.
        """
        validate_plan(self.plan, self.size)
        count = len(self.plan.urls)
        workers = max(1, min(self.parallel, count))
        self._block = read_ahead_block(workers)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gsep-part")
        futures: list[Future[str]] = [pool.submit(self._part, n) for n in range(1, count + 1)]
        finished = False
        try:
            pending: set[Future[str]] = set(futures)
            while pending:  # short waits keep Ctrl-C (and the client's stop) responsive
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
                if self._stop_asked():  # before the parts' errors: theirs may be the stop
                    raise KeyboardInterrupt  # the same end as Ctrl-C in this thread
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
            if self._cancel.is_set() or self._stop_asked():  # the stop may come while the
                raise Cancelled  # plan was on its way: no part is sent after it
            # Whether the URL expired is for the storage server to say (403): this
            # machine's clock may be wrong by hours (GSEP_API.md 2.2).
            sent = [0]
            on_read = self._progress_counter(sent)
            try:
                etag, local_md5, sent_map = self._put(url, offset, length, on_read)
            except Retryable as exc:
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
            if _MD5_HEX.match(etag) and etag.lower() != local_md5:
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
            self.sent_md5[number] = local_md5
            if sent_map is not None:
                self.sent_blocks[number] = sent_map
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

    def _stop_asked(self) -> bool:
        return self.stopped is not None and self.stopped.is_set()

    def _sleep_cancellable(self, seconds: float) -> None:
        if self._cancel.wait(seconds):
            raise Cancelled

    def _put(
        self, url: str, offset: int, length: int, on_read: Callable[[int], None]
    ) -> tuple[str, str, bytes | None]:
        """Send the ``length`` bytes at ``offset`` to ``url``; return the server's ETag,
        the local MD5 (both hex) and, with :attr:`map_blocks` and ``offset`` on a block
        boundary, the block map of what was sent. Raises :class:`Retryable` when sending
        again may help, :class:`Cancelled`, or what :func:`_etag_of` raises."""
        body: Any
        mapped = self.map_blocks and aligned(offset)
        sent_map = b"" if mapped else None
        if length == 0:  # an empty slice would make requests switch to chunked encoding
            body, local_md5 = b"", hashlib.md5(b"", usedforsecurity=False).hexdigest()
            file_slice = None
        else:
            file_slice = FileSlice(
                self.path,
                offset,
                length,
                on_read,
                self._cancel,
                map_blocks=mapped,
                block=self._block,
            )
            body = file_slice
        if self.log is not None:
            self.log(f"-> PUT {redact(url)} ({length} bytes)")
        try:
            response = self._send(url, body, length)
        finally:
            if file_slice is not None:
                file_slice.close()
        if file_slice is not None:
            local_md5 = file_slice.md5.hexdigest()
            sent_map = file_slice.block_map()
        return _etag_of(response), local_md5, sent_map

    def _send(self, url: str, body: Any, length: int) -> requests.Response:
        """One PUT under a stall guard (an empty ``body`` awaits the answer at once);
        a network failure becomes :class:`Retryable`, or :class:`Cancelled` once the
        upload is cancelled."""
        answer_within = self.timeout[0] + self.timeout[1]  # as an API answer's bound
        try:
            with watchdog.guarding(
                stall=self.stall, answer_within=answer_within, cancel=self._cancel
            ) as guard:
                if isinstance(body, bytes):
                    guard.awaiting_answer()
                try:
                    response = self._sessions.get().put(
                        url,
                        data=body,
                        timeout=self.timeout,
                        headers={"Content-Length": str(length)},
                        allow_redirects=False,
                    )
                    if guard.fired is not None:  # cut mid-answer: what came may look whole
                        raise requests.ConnectionError(f"stopped: {guard.fired}")
                    return response
                except requests.RequestException:
                    if guard.fired == watchdog.STALLED and self.stall is not None:
                        raise Retryable(f"stalled ({self.stall.describe()})") from None
                    if guard.fired == watchdog.DEADLINE:
                        raise Retryable(
                            f"the answer did not arrive whole within {answer_within:g} s"
                        ) from None
                    raise
        except Cancelled:
            raise
        except requests.RequestException as exc:
            if isinstance(exc.__context__, Cancelled) or self._cancel.is_set():
                raise Cancelled from None
            raise Retryable(describe(exc)) from None


def read_ahead_block(workers: int) -> int:
    """Bytes each of ``workers`` part bodies reads ahead at a time: 1 MiB (the measured
    send block) while the upload's read-ahead buffers (:data:`~gsep_cli.blockread.BUFFERS`
    a part) fit in :data:`READ_AHEAD_BUDGET`, less for more parts at once (``--parallel``
    up to 16), never under 256 KiB."""
    return max(256 * 1024, min(BLOCK, READ_AHEAD_BUDGET // (BUFFERS * max(1, workers))))


def _etag_of(response: requests.Response) -> str:
    """The ETag (unquoted) of a part the storage host took.

    Raises :class:`Retryable` for a transient status (:data:`~gsep_cli.retry.RETRY_STATUSES`),
    :class:`~gsep_cli.errors.ExpiredUrl` for an expired URL (HTTP 403, GSEP_API.md 2.2),
    :class:`~gsep_cli.errors.RequestRejected` for a redirect or any other refusal, and
    :class:`~gsep_cli.errors.ServiceUnavailable` when no ETag came.
    """
    status = response.status_code
    text = response.text[:500]
    if status in RETRY_STATUSES:
        raise Retryable(f"HTTP {status}", retry_after_seconds(response))
    if status == 403 and "expired" in text.lower():
        raise ExpiredUrl("an upload URL has expired (HTTP 403 Request has expired)")
    if 300 <= status < 400:  # a presigned PUT is never redirected: refuse, never follow
        raise RequestRejected(
            f"the storage service redirected a part (HTTP {status} to "
            f"{origin_of(response.headers.get('Location', ''))}); not following it",
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
    return etag


def _part_session() -> requests.Session:
    """A part worker's session: two connections, and no ``Accept-Encoding`` header."""
    session = make_session(pool_size=2)
    session.headers.pop("Accept-Encoding", None)
    return session


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
    sent_md5: dict[int, str] | None = None,
    sent_blocks: dict[int, bytes] | None = None,
    stopped: threading.Event | None = None,
) -> list[tuple[int, str]]:
    """Upload every part of ``path`` following ``plan``; return (partNumber, etag) pairs.

    ``timeout`` is (connect, read) in seconds for each part's request; ``stall`` breaks
    off (and retries) a part that moves too slowly; ``sent_md5``, when given, is filled
    with the hex MD5 of what each part sent, and ``sent_blocks`` with the block map of
    what each part that starts on a block boundary sent (:mod:`gsep_cli.blockmap`).
    Setting ``stopped`` ends the upload (:attr:`PartUploader.stopped`).
    Raises as :meth:`PartUploader.run`."""
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
        sent_md5=sent_md5 if sent_md5 is not None else {},
        map_blocks=sent_blocks is not None,
        sent_blocks=sent_blocks if sent_blocks is not None else {},
        stopped=stopped,
    )
    return uploader.run()
