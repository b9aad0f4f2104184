"""The plumbing every sandbox route stands on: one HTTP exchange on a connection.

:class:`Exchange` reads request bodies (JSON, or drained when refused), writes answers
(JSON, S3-style XML errors, files; whole or dripped) and bends a connection the way a
fault asks (a pause, a hang, a TCP reset). Protocol errors found by ``http.server`` go
out as JSON too. The routes are subclasses of it (:mod:`.handler`).
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .listener import LoopbackServer


MAX_JSON_BODY = 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024  # bodies we still read after refusing them
IO_BLOCK = 1024 * 1024
HOLD_LIMIT = 600.0  # a hanging or dripping connection is closed after this long all the same
HOLD_TICK = 0.05  # seconds between two looks at a held connection (client gone? stopping?)

DRIP_TICK = 0.05  # *-drip: seconds between two pieces, at rates of 20 bytes a second and up


def _drip_pace(rate: float) -> tuple[int, float]:
    """``*-drip``: (piece size, pause between pieces) for ``rate`` bytes per second: one
    byte at a time below 20 bytes a second, else a piece every :data:`DRIP_TICK`."""
    piece = max(1, int(rate * DRIP_TICK))
    return piece, piece / rate


def backslash_location(other: str, origin: str, path: str) -> str:
    """``api-redirect-backslash``, ``download-backslash``: a ``Location`` that Python's
    ``urlsplit`` reads as ``origin`` (``other\\`` taken for userinfo) and urllib3, like
    browsers, as ``other`` (the authority ends at the backslash):
    ``http://127.0.0.1:2\\@127.0.0.1:1/path``."""
    return f"{other}\\@{origin.partition('://')[2]}{path}"


class ConnectionAborted(Exception):
    """The handler dropped the connection on purpose (fault) or the peer went away."""


class BadRequest(Exception):
    """A protocol-level refusal answered with an HTTP status (not the business switch)."""

    def __init__(self, status: int, message: str, result_code: int | None = 1100) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.result_code = result_code


def json_bytes(payload: dict[str, Any]) -> bytes:
    """A JSON answer's body in UTF-8. Fault text taken from a command line or environment
    that was not UTF-8 goes out as the very bytes given (surrogate escapes); any other lone
    surrogate is sent as a ``\\u`` escape rather than failing the answer."""
    try:
        return json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return json.dumps(payload).encode()


class Exchange(BaseHTTPRequestHandler):
    """Request and answer plumbing shared by every route (see the module docstring)."""

    protocol_version = "HTTP/1.1"
    server_version = "GsepSandbox"
    timeout = 120  # idle keep-alive connections do not hold a thread forever
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
    # peer's delayed ACK adds ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: LoopbackServer
    # set for each request by Handler._dispatch
    _url_path: str
    _query: dict[str, str]
    _entry: dict[str, Any]  # the request's entry in the sandbox's request log
    _body_done: bool
    _drip_rate: float | None  # *-drip: the answer's body, bytes per second

    # ---- plumbing -------------------------------------------------------------------
    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header from the sandbox's own clock (moved by ``advance`` or set
        with ``clock=``), so a client can see a server whose clock differs from its own."""
        from email.utils import formatdate

        return formatdate(
            self.server.sandbox.now() if timestamp is None else timestamp, usegmt=True
        )

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.verbose:
            sys.stderr.write(f"sandbox: {self.address_string()} {format % args}\n")

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` for a fault; if the sandbox stops meanwhile, drop the request."""
        if self.server.sandbox.stopping.wait(seconds):
            raise ConnectionAborted

    def _peer_left(self, wait: float) -> bool:
        """Wait up to ``wait`` seconds for the client to close the connection; True if it
        did (or the connection broke). Bytes it sends meanwhile are read and dropped: a
        connection held by a fault is never answered again."""
        connection = self.connection
        try:
            connection.settimeout(max(wait, 0.001))
            return not connection.recv(4096)
        except TimeoutError:
            return False
        except OSError:  # reset, or shut down by stop()
            return True
        finally:
            with contextlib.suppress(OSError):
                connection.settimeout(self.timeout)

    def _hold(self, seconds: float) -> bool:
        """Keep the connection as it is for ``seconds``; False as soon as the client closes
        it or the sandbox stops."""
        stopping = self.server.sandbox.stopping
        end = time.monotonic() + seconds
        while not stopping.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return True
            if self._peer_left(min(HOLD_TICK, left)):
                return False
        return False

    def _hang(self) -> None:
        """``*-hang``: the request is read, never answered. The connection stays open until
        the client closes it, the sandbox stops or :data:`HOLD_LIMIT` passes."""
        self._discard_body()
        self._entry["status"] = "hang"
        self._hold(HOLD_LIMIT)
        raise ConnectionAborted

    def _reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0), like a dropped link."""
        self._entry["status"] = "reset"
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()
        raise ConnectionAborted

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self._send_head(status, content_type, len(body), headers)
        if self.command != "HEAD":
            self._write_body(io.BytesIO(body).read, len(body))

    def _send_head(
        self, status: int, content_type: str, length: int, headers: Iterable[tuple[str, str]]
    ) -> None:
        """The status line and headers of an answer whose body is ``length`` bytes."""
        self._discard_body()  # whatever the route did not read, before answering
        if self._drip_rate is not None:
            self.close_connection = True  # a dripped answer is the connection's last
        self._entry["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _write_body(self, read: Callable[[int], bytes], length: int) -> None:
        """Write ``length`` bytes taken from ``read``: at once, or dripped (``*-drip``)."""
        if self._drip_rate is not None:
            self._drip(read, length, self._drip_rate)
            return
        sent = 0
        while sent < length:
            block = read(min(256 * 1024, length - sent))
            if not block:
                break
            self.wfile.write(block)
            sent += len(block)

    def _drip(self, read: Callable[[int], bytes], length: int, rate: float) -> None:
        """``*-drip``: small pieces at ``rate`` bytes per second. A pause between two pieces
        watches the connection, so dripping ends as soon as the client leaves or the
        sandbox stops (and after :data:`HOLD_LIMIT` in any case)."""
        piece, pause = _drip_pace(rate)
        deadline = time.monotonic() + HOLD_LIMIT
        sent = 0
        while sent < length:
            if sent and (time.monotonic() + pause > deadline or not self._hold(pause)):
                raise ConnectionAborted
            block = read(min(piece, length - sent))
            if not block:
                break
            self.wfile.write(block)
            sent += len(block)

    def _drip_head(self, status: int, headers: Iterable[tuple[str, str]], rate: float) -> None:
        """``part-answer-drip``: the status line and headers, then a long padding header,
        all at ``rate`` bytes per second (as :meth:`_drip`); the connection is closed."""
        lines = [f"{self.protocol_version} {status} {self.responses[status][0]}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines += ["Content-Length: 0", "Connection: close", "X-Pad: " + "a" * 8000, "", ""]
        head = "\r\n".join(lines).encode("latin-1")
        self._entry["status"] = status
        self.close_connection = True
        self._drip(io.BytesIO(head).read, len(head), rate)

    def _json(
        self, status: int, payload: dict[str, Any], headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self._send(status, json_bytes(payload), "application/json", headers)

    def _s3_error(
        self, status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>"
        ).encode()
        self._send(status, body, "application/xml", headers)

    def _content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None or not value.strip().isdigit():
            return None
        return int(value)

    def _discard_body(self) -> None:
        """Read and drop a refused body when small enough, else close after answering.

        Idempotent: a body already read (or being read) by the route is not read again.
        """
        if self._body_done:
            return
        self._body_done = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._drain_chunked()
            return
        if self.headers.get("Content-Length") is not None and self._content_length() is None:
            self.close_connection = True  # unknown framing: the connection cannot go on
            return
        length = self._content_length() or 0
        if length > DRAIN_LIMIT:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(IO_BLOCK, length))
            if not chunk:
                raise ConnectionAborted
            length -= len(chunk)

    def _drain_chunked(self) -> None:
        """Read a chunked body to its end (bounded) so the peer gets our answer, not a reset.

        The connection is closed after answering in any case.
        """
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionAborted
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return
            if size == 0:
                for _ in range(64):  # trailers, up to the empty line
                    if self.rfile.readline(8192).strip() == b"":
                        return
                return
            total += size
            if size < 0 or total > DRAIN_LIMIT:
                return
            left = size + 2  # the data and its CRLF
            while left > 0:
                block = self.rfile.read(min(IO_BLOCK, left))
                if not block:
                    raise ConnectionAborted
                left -= len(block)

    def parse_request(self) -> bool:
        """http.server's parser, without HTTP/0.9 (bare ``GET /path`` lines)."""
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(400, "HTTP/0.9 is not supported")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors found by http.server (bad request line, unknown method...) as JSON
        instead of its HTML page; the connection is closed after them."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # garbage: still answer with a status line
            self.request_version = "HTTP/1.0"
        text = message or self.responses.get(code, ("error",))[0]
        body = json.dumps({"resultCode": 1100, "resultMessage": text}).encode()
        with contextlib.suppress(OSError):
            self.send_response(code, text)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)

    def _read_json(self) -> dict[str, Any]:
        """The request body as a JSON object, or a BusinessError-free 400 answer."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise BadRequest(411, "send a Content-Length, not a chunked body")
        length = self._content_length()
        if length is None:
            if self.headers.get("Content-Length") is not None:
                raise BadRequest(400, "bad Content-Length")
            length = 0
        if length > MAX_JSON_BODY:
            self.close_connection = True
            raise BadRequest(413, f"request body over {MAX_JSON_BODY} bytes")
        self._body_done = True
        raw = self.rfile.read(length) if length else b""
        if len(raw) != length:
            raise ConnectionAborted
        try:
            value = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BadRequest(400, "malformed JSON body") from None
        if not isinstance(value, dict):
            raise BadRequest(400, "the body must be a JSON object")
        return value
