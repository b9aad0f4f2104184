"""Getting one result URL's bytes across a flaky network: ``Range`` requests to resume
after a break (RFC 9110 14.2, with ``If-Range`` 13.1.5), redirects followed by hand and
never from https to http, bounded retries, and the size checked against what the server
announced. Where the bytes go (a file put in place atomically, or a pipe) is
:mod:`gsep_cli.download`'s.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from . import watchdog
from .errors import Interrupted, RequestRejected, ServiceUnavailable
from .origins import UnsafeUrl, origin, redirect_target
from .progress import Listener
from .redact import redact
from .retry import RETRY_STATUSES, RetryPolicy, retry_after_seconds
from .storage import Retryable, describe, origin_of
from .watchdog import Guard, Stall


@dataclass
class ResumableGet:
    """One download in progress: fetches a URL into ``out``, resuming after breaks.

    ``out`` is written to (and, when ``rewindable``, emptied with ``seek(0)`` and
    ``truncate()`` to start over); ``session`` gives the calling thread's session;
    ``attempts`` bounds the requests, ``timeout`` is (connect, read) seconds for each, and
    ``stall`` breaks off one that moves too slowly. Progress goes to ``listener`` under
    ``key``; setting ``cancelled`` stops the download between blocks.

    The size is checked against what the first full answer announced, whatever later
    answers claim (a ``200`` to a ``Range`` request must be the whole file). A body
    sent with a ``Content-Encoding`` (gzip, asked for or not) is decoded and checked
    against the bytes on the wire; it cannot be resumed, only fetched again.
    """

    session: Callable[[], requests.Session]
    listener: Listener
    policy: RetryPolicy
    attempts: int
    timeout: tuple[float, float]
    sleep: Callable[[float], None]
    log: Callable[[str], None] | None
    stall: Stall | None
    cancelled: threading.Event
    out: Any
    key: str
    rewindable: bool = True
    received: int = field(default=0, init=False)  # bytes written to ``out``
    total: int | None = field(default=None, init=False)  # as the first whole answer said
    etag: str | None = field(default=None, init=False)
    whole_next: bool = field(default=False, init=False)  # ask for the whole file next
    skip: int = field(default=0, init=False)  # bytes of this answer a pipe already has

    def run(self, url: str) -> int:
        """Fetch ``url`` into ``out``; return the bytes written.

        Raises :class:`~gsep_cli.errors.ServiceUnavailable` once every attempt failed,
        :class:`~gsep_cli.errors.RequestRejected` for an answer no retry can change (403,
        another status that carries no file, an unsafe redirect, a file that changed
        under a pipe), :class:`~gsep_cli.errors.Interrupted` when cancelled.
        """
        last = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                return self._attempt(url)
            except Retryable as exc:
                last = exc.reason
                wait_s = self.policy.delay(attempt, exc.retry_after)
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                last = describe(exc)
                wait_s = self.policy.backoff(attempt)
            if self.cancelled.is_set():  # the command is stopping: the connection was cut
                raise Interrupted("download cancelled")  # by that, not lost — no retry
            if self.whole_next and self.rewindable and self.received:
                self._restart()
            if attempt < self.attempts:
                where = f"resuming at byte {self.received}" if self.received else "starting again"
                self.listener.notice(f"download interrupted ({last}); {where}")
                self.sleep(self.policy.capped(wait_s))
                if self.cancelled.is_set():  # stopped during the wait: no further request
                    raise Interrupted("download cancelled")
        raise ServiceUnavailable(
            f"download failed after {self.attempts} attempts: {last}",
            "Check the network and run gsep download JOB_ID again",
        )

    def _attempt(self, url: str) -> int:
        """One request: write what it brings and return the byte count once the file is
        whole. Raises :class:`~gsep_cli.storage.Retryable` or a network error when
        another request may finish it."""
        headers = {}
        self.skip = 0
        if self.received and not self.whole_next:
            headers["Range"] = f"bytes={self.received}-"
            if self.etag:
                headers["If-Range"] = self.etag
        if self.log is not None:
            since = f" (from byte {self.received})" if self.received else ""
            self.log(f"-> GET {redact(url)}{since}")
        # the cancel breaks off a request that waits for an answer, too (a hung server)
        with watchdog.guarding(stall=self.stall, cancel=self.cancelled) as guard:
            try:
                with self._get(url, headers) as response:
                    status = response.status_code
                    if status == 416 and self.received and self.total == self.received:
                        return self.received
                    self._check_status(response)
                    encoded = _content_encoding(response) is not None
                    announced = _length(response)
                    if status == 206:
                        self._accept_rest(response)
                    else:
                        self._accept_whole(response, encoded, announced)
                    self.whole_next = encoded  # an encoded body cannot be resumed
                    self.etag = response.headers.get("ETag") or self.etag
                    wire = self._copy(response, guard, _decoder_for(response))
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                if guard.fired == watchdog.CANCELLED:
                    raise Interrupted("download cancelled") from None
                if guard.fired == watchdog.STALLED and self.stall is not None:
                    raise Retryable(f"stalled ({self.stall.describe()})") from exc
                raise
        if guard.fired == watchdog.CANCELLED:  # what came may look whole: it is not
            raise Interrupted("download cancelled")
        if guard.fired == watchdog.STALLED and self.stall is not None:
            # cut by the watchdog: a body without Content-Length (or headers cut short)
            # ends there as if complete; what came is kept and the rest asked for
            raise Retryable(f"stalled ({self.stall.describe()})")
        self._check_size(encoded, announced, wire)
        return self.received

    def _check_status(self, response: requests.Response) -> None:
        """Refuse an answer that carries no file: a transient status (or a 416, after
        starting over) is retried; 403 means the results expired; any other but 200 and
        206 fails."""
        status = response.status_code
        if status in RETRY_STATUSES or status == 416:
            if status == 416:
                self.whole_next = self._restart()
            raise Retryable(f"HTTP {status}", retry_after_seconds(response))
        if status == 403:
            raise RequestRejected(
                "a download link was refused (HTTP 403): the results may "
                "have expired (they are kept 48 h)",
                "Ask for fresh links: gsep download JOB_ID; after expiry, run the job again",
                status=403,
            )
        if status not in (200, 206):
            raise RequestRejected(
                f"download failed: HTTP {status}",
                "Ask for fresh links: gsep download JOB_ID; if it fails again, the results "
                "may be gone (kept 48 h)",
                status=status,
            )

    def _accept_rest(self, response: requests.Response) -> None:
        """A 206 must go on where ``out`` ends, in the same file, and say the file's size
        (``Content-Range``): else start over. A 206 nobody asked for (no ``Range`` sent)
        announces the size here, so a slice of it is never taken for the whole file."""
        start, _end, whole = _content_range(response.headers.get("Content-Range", ""))
        if (
            start != self.received
            or whole is None
            or (self.total is not None and whole != self.total)
        ):
            self.whole_next = self._restart()
            raise Retryable("the server resumed at the wrong place")
        if self.total is None:
            self.total = whole
            self.listener.transfer_start(self.key, "", whole)

    def _accept_whole(
        self, response: requests.Response, encoded: bool, announced: int | None
    ) -> None:
        """A 200 is the whole file: start a file over, or skip what a pipe already has
        (if it is still the same file); the first one announces the size."""
        if self.total is not None and not encoded and announced != self.total:
            # e.g. a 200 carrying only the slice a Range asked for
            self._restart()
            self.whole_next = True
            raise Retryable(
                f"the server sent {announced} bytes of a {self.total}-byte "
                "file as if whole (HTTP 200)"
            )
        if self.received and self.rewindable:  # the whole file: start over
            self._restart()
        elif self.received:  # the whole file again, into a pipe
            new_etag = response.headers.get("ETag")
            if self.etag and new_etag and new_etag != self.etag:
                raise RequestRejected(
                    "the result file changed on the server while it was streamed",
                    "Run the command again",
                )
            self.skip = self.received
        if self.total is None and not encoded:
            self.total = announced
            if self.total is not None:
                self.listener.transfer_start(self.key, "", self.total)

    def _copy(
        self, response: requests.Response, guard: Guard, decoder: _StrictDecoder | _Chain | None
    ) -> int:
        """Write the body to ``out`` as it arrives (decoded by ``decoder`` when given, else
        as urllib3 decodes it), past the ``skip`` bytes a pipe already has; return the
        bytes read off the wire. Raises :class:`Retryable` for a compressed body that is
        corrupt, cut short or followed by other bytes."""
        for block in _blocks(response, decoder):
            guard.progress(len(block))
            if self.cancelled.is_set():
                raise Interrupted("download cancelled")
            if self.skip:
                cut = min(self.skip, len(block))
                self.skip, block = self.skip - cut, block[cut:]
                if not block:
                    continue
            self.out.write(block)
            self.received += len(block)
            self.listener.transfer_advance(self.key, len(block))
        if decoder is not None:
            decoder.finish()
        return int(response.raw.tell())

    def _check_size(self, encoded: bool, announced: int | None, wire: int) -> None:
        """Retry an answer that ended short of the size announced."""
        if self.skip:
            raise Retryable("the file came back shorter than what was written")
        if encoded:
            if announced is not None and wire != announced:
                raise Retryable(f"got {wire} of {announced} encoded bytes")
        elif self.total is not None and self.received != self.total:
            raise Retryable(f"got {self.received} of {self.total} bytes")

    def _get(self, url: str, headers: dict[str, str]) -> requests.Response:
        """GET with redirects followed by hand (at most 5): never from https to http."""
        for _ in range(6):
            response = self.session().get(
                url, headers=headers, stream=True, timeout=self.timeout, allow_redirects=False
            )
            if not response.is_redirect:
                return response
            location = response.headers.get("Location", "")
            response.close()
            try:
                target = redirect_target(url, location)
                downgrade = origin(url)[0] == "https" and origin(target)[0] != "https"
            except UnsafeUrl as exc:
                raise RequestRejected(
                    f"a result host redirected to an unsafe URL ({exc}: "
                    f"{origin_of(location)}); not following it",
                    "This is a server or proxy problem: report it",
                ) from None
            if downgrade:
                raise RequestRejected(
                    f"a result host redirected from https to {origin_of(target)}; not "
                    "following it (the download would leave encryption)",
                    "This is a server or proxy problem: report it; gsep never downgrades",
                )
            if self.log is not None:
                self.log(f"-> GET {redact(target)} (redirected)")
            url = target
        raise RequestRejected("a result host redirected too many times")

    def _restart(self) -> bool:
        """Start over: empty a file, or (a pipe) ask for the whole file and skip what was
        written. Returns whether to ask for the whole file."""
        if not self.rewindable:
            return bool(self.received)
        self.out.seek(0)
        self.out.truncate()
        self.listener.transfer_advance(self.key, -self.received)
        self.received = 0
        return False


def _length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _content_encoding(response: requests.Response) -> str | None:
    """The body's ``Content-Encoding`` (lower case), None when it is sent as is."""
    value = response.headers.get("Content-Encoding", "").strip().lower()
    return None if value in ("", "identity") else value


def _blocks(
    response: requests.Response,
    decoder: _StrictDecoder | _Chain | None = None,
    size: int = 1024 * 1024,
) -> Iterator[bytes]:
    """The body as it arrives (``read1``), so a broken transfer keeps every byte that came;
    decoded by ``decoder`` when given (the raw bytes are read), else by urllib3.

    ``iter_content`` with big blocks drops a partly filled block when the connection
    breaks; ``read1`` returns whatever one socket read gave.
    """
    raw = response.raw
    while True:
        block = raw.read1(size, decode_content=decoder is None)
        if not block:
            return
        if decoder is not None:
            block = decoder.feed(block)
            if not block:
                continue
        yield block


class _StrictDecoder:
    """A ``gzip`` or ``deflate`` body decoded with zlib, which says where the stream ends.

    urllib3's decoders take a stream cut short (its ``Content-Length`` matching the cut)
    or followed by other bytes as complete; here :meth:`feed` raises
    :class:`~gsep_cli.storage.Retryable` for bytes that are not the stream (gzip members
    may follow each other, RFC 1952 2.2) and :meth:`finish` for a stream that did not end.
    """

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._raw_deflate = False  # deflate sent without its zlib header (as some servers do)
        self._started = False
        self._z = self._new()

    def _new(self) -> Any:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of the next ``data`` off the wire."""
        out: list[bytes] = []
        while data:
            if self._z.eof:
                if not self._gzip:
                    raise Retryable("bytes after the end of the compressed body")
                self._z = self._new()  # another gzip member, or garbage
            try:
                out.append(self._z.decompress(data))
            except zlib.error:
                if self._started or self._gzip:
                    raise Retryable("the compressed body is corrupt") from None
                self._raw_deflate = True
                self._z = self._new()
                continue
            self._started = True
            data = self._z.unused_data if self._z.eof else b""
        return b"".join(out)

    def finish(self) -> None:
        """Raise :class:`Retryable` unless the stream came to its end."""
        if not self._z.eof:
            raise Retryable("the compressed body ended before its end")


class _Chain:
    """Several codings applied one after the other (``Content-Encoding: gzip, gzip``, RFC
    9110 8.4: listed in the order applied), undone in reverse, each strictly."""

    def __init__(self, decoders: list[_StrictDecoder]) -> None:
        self._decoders = decoders

    def feed(self, data: bytes) -> bytes:
        for decoder in self._decoders:
            data = decoder.feed(data)
        return data

    def finish(self) -> None:
        for decoder in self._decoders:
            decoder.finish()


_STRICT = ("gzip", "x-gzip", "deflate")


def _decoder_for(response: requests.Response) -> _StrictDecoder | _Chain | None:
    """A strict decoder for a body coded with gzip or deflate, once or several times;
    None for any other coding (urllib3's)."""
    encoding = _content_encoding(response)
    if encoding is None:
        return None
    codings = [c.strip() for c in encoding.split(",") if c.strip() not in ("", "identity")]
    if not codings or any(c not in _STRICT for c in codings):
        return None
    if len(codings) == 1:
        return _StrictDecoder(codings[0])
    return _Chain([_StrictDecoder(c) for c in reversed(codings)])


def _content_range(value: str) -> tuple[int, int, int | None]:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if match is None:
        return -1, -1, None
    whole = None if match[3] == "*" else int(match[3])
    return int(match[1]), int(match[2]), whole
