"""The sandbox's HTTP side: a threaded server that speaks the GSEP API, S3-style presigned
part uploads and CDN-style result downloads, all on loopback.

Routing and wire formats live here; state lives in :mod:`.store`, faults in :mod:`.faults`.
A handler never lets an exception escape as a traceback page: an unexpected error becomes a
JSON 500 answer and the server thread keeps serving.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import math
import os
import re
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..models import MODELS
from .faults import MISSING, Fault, FaultBook, parse_fault, result_code_arg, status_value
from .state import (
    BusinessError,
    JobFaults,
    Result,
    SandboxJob,
    SandboxSettings,
    Upload,
    iso_utc,
)
from .store import MAX_FILE_SIZE, Store

BASE_PATH = "/developers/api"
S3_PREFIX = "/s3/gsep-sandbox-uploads/"
CDN_PREFIX = "/cdn/results/"
CONTROL_PREFIX = "/_sandbox/"
MAX_JSON_BODY = 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024  # bodies we still read after refusing them
IO_BLOCK = 1024 * 1024
MAX_LOG = 100_000
STOP_GRACE = 1.0  # seconds stop() waits for handlers to end once their sockets are shut
HOLD_LIMIT = 600.0  # a hanging or dripping connection is closed after this long all the same
HOLD_TICK = 0.05  # seconds between two looks at a held connection (client gone? stopping?)
# Headers a presigned PUT may carry without having signed them. Anything x-amz-*,
# Content-MD5 or the API key is refused, as S3 does ("headers ... which were not signed").
REFUSED_PART_HEADERS = ("x-ga-apikey", "content-md5", "authorization")

# (path, method, handler suffix, route name for the ``KIND@ROUTE`` fault selectors)
_API_ROUTES: list[tuple[re.Pattern[str], str, str, str]] = [
    (re.compile(r"^/v1/files/upload-multipart/create$"), "POST", "create_upload", "upload-create"),
    (
        re.compile(r"^/v1/files/upload-multipart/complete$"),
        "POST",
        "complete_upload",
        "upload-complete",
    ),
    (re.compile(r"^/v1/key/info$"), "GET", "key_info", "key-info"),
    (re.compile(r"^/v1/(?P<model>[^/]+)/jobs$"), "POST", "create_job", "job-create"),
    (re.compile(r"^/v1/(?P<model>[^/]+)/jobs/(?P<job>[^/]+)$"), "GET", "get_job", "job-get"),
]
_CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


class _ConnectionAborted(Exception):
    """The handler dropped the connection on purpose (fault) or the peer went away."""


class _Server(ThreadingHTTPServer):
    """One listener. It knows its open connections, so that stopping can end them all:
    handler threads are daemons that nobody joins, and one blocked on a held or idle
    connection would otherwise live on (up to its socket timeout) after ``stop()``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, sandbox: Sandbox, scheme: str = "http") -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sandbox = sandbox
        self.scheme = scheme
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:  # once out of the set, abort_connections never touches it
            self._open.discard(request)
        super().shutdown_request(request)

    def abort_connections(self) -> None:
        """Shut every open connection down: blocked reads and writes return at once."""
        with self._open_lock:
            for request in self._open:
                with contextlib.suppress(OSError):
                    # socket.socket's own shutdown: SSLSocket.shutdown would also drop its
                    # TLS state under the handler thread's feet
                    socket.socket.shutdown(request, socket.SHUT_RDWR)

    def wait_idle(self, deadline: float) -> bool:
        """Wait (until the ``time.monotonic()`` deadline) for every handler to finish."""
        while True:
            with self._open_lock:
                if not self._open:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer that hangs up mid-request is routine: no traceback unless verbose."""
        if self.sandbox.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GsepSandbox"
    timeout = 120  # idle keep-alive connections do not hold a thread forever
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
    # peer's delayed ACK adds ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: _Server

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

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        url = urlsplit(self.path)
        self._url_path = url.path
        self._query = dict(parse_qsl(url.query, keep_blank_values=True))
        self._entry = sandbox._log_request(self, url.path, url.query)
        self._body_done = False
        self._drip_rate: float | None = None  # *-drip: the answer's body, bytes per second
        try:
            if url.path.startswith(CONTROL_PREFIX):
                self._control(url.path[len(CONTROL_PREFIX) :])
            elif url.path == BASE_PATH or url.path.startswith(BASE_PATH + "/"):
                self._api(url.path[len(BASE_PATH) :])
            elif url.path.startswith(S3_PREFIX):
                self._part_upload(url.path)
            elif url.path.startswith(CDN_PREFIX):
                self._download(url.path)
            else:
                self._json(404, {"resultCode": 1100, "resultMessage": f"no route {url.path}"})
        except _BadRequest as exc:
            payload: dict[str, Any] = {"resultMessage": exc.message}
            if exc.result_code is not None:
                payload = {"resultCode": exc.result_code, **payload}
            try:
                self._json(exc.status, payload)
            except (_ConnectionAborted, OSError):
                self.close_connection = True
        except _ConnectionAborted:
            self.close_connection = True
        except (ConnectionError, TimeoutError) as exc:  # the peer went away or stalled
            self._entry["error"] = f"{type(exc).__name__}: {exc}"
            self.close_connection = True
        except Exception as exc:  # never a traceback page, never a dead server thread
            self._entry["error"] = f"{type(exc).__name__}: {exc}"
            if sandbox.verbose:
                import traceback

                traceback.print_exc()
            with contextlib.suppress(Exception):
                self._json(500, {"resultCode": 1100, "resultMessage": "sandbox internal error"})
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` for a fault; if the sandbox stops meanwhile, drop the request."""
        if self.server.sandbox.stopping.wait(seconds):
            raise _ConnectionAborted

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
        raise _ConnectionAborted

    def _reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0), like a dropped link."""
        self._entry["status"] = "reset"
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()
        raise _ConnectionAborted

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
                raise _ConnectionAborted
            block = read(min(piece, length - sent))
            if not block:
                break
            self.wfile.write(block)
            sent += len(block)

    def _json(
        self, status: int, payload: dict[str, Any], headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self._send(status, _json_bytes(payload), "application/json", headers)

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
                raise _ConnectionAborted
            length -= len(chunk)

    def _drain_chunked(self) -> None:
        """Read a chunked body to its end (bounded) so the peer gets our answer, not a reset.

        The connection is closed after answering in any case.
        """
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise _ConnectionAborted
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
                    raise _ConnectionAborted
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

    # ---- control endpoints (not part of the API: no key, no rate limit, no faults) ----
    def _control(self, name: str) -> None:
        sandbox = self.server.sandbox
        method = self.command
        if name == "health" and method == "GET":
            self._json(200, {"ok": True, "baseUrl": sandbox.base_url})
        elif name == "requests" and method == "GET":
            self._json(200, {"requests": sandbox.requests})
        elif name == "requests" and method == "DELETE":
            sandbox.clear_requests()
            self._json(200, {"ok": True})
        elif name == "faults" and method == "GET":
            self._json(200, {"faults": sandbox.faults.describe()})
        elif name == "faults" and method == "POST":
            body = self._read_json()
            try:
                fault = sandbox.add_fault(str(body.get("fault", "")))
            except ValueError as exc:
                self._json(400, {"ok": False, "error": str(exc)})
                return
            self._json(200, {"ok": True, "fault": fault.describe()})
        elif name == "faults" and method == "DELETE":
            sandbox.faults.clear()
            self._json(200, {"ok": True})
        elif name == "stats" and method == "GET":
            store = sandbox.store
            self._json(
                200,
                {
                    "uploads": store.upload_count(),
                    "jobs": store.job_count(),
                    "creditsUsed": store.credits_used,
                    "creditsLeft": store.credits_left,
                },
            )
        else:
            self._json(404, {"ok": False, "error": f"no control endpoint {method} {name}"})

    # ---- the API --------------------------------------------------------------------
    def _api(self, path: str) -> None:
        sandbox = self.server.sandbox
        settings = sandbox.settings
        fault = sandbox.faults.take("api", route=_api_route(path, self.command))
        if fault is not None:
            self._entry["fault"] = fault.kind
            if fault.kind == "api-reset":
                self._reset()
            if fault.kind == "api-hang":  # before any work: retrying after it is safe
                self._hang()
            if fault.kind in ("redirect", "api-redirect-http"):  # nothing handled
                self._discard_body()
                origin = sandbox.alt_origin if fault.kind == "redirect" else sandbox.plain_origin
                self._json(302, {"resultMessage": "moved"}, [("Location", origin + self.path)])
                return
            if fault.status is not None:
                self._discard_body()
                self._api_fault_status(fault)
                return
            if fault.kind == "api-delay":
                self._pause(float(fault.arg or 2))
            if fault.kind == "api-drip":  # handled as usual, whatever the answer is
                self._drip_rate = fault.drip_rate()
        blocked = sandbox.store.rate.check(self.client_address[0], sandbox.now())
        if blocked is not None:
            self._discard_body()
            wait = str(max(1, math.ceil(blocked)))  # never less than the block really lasts
            headers = [("Retry-After", wait)] if settings.rate_retry_after else []
            self._json(
                429,
                {
                    "error": "too_many_requests",
                    "message": "Too many requests: limit is "
                    f"{settings.rate_limit} per "
                    f"{settings.rate_window:g} s per IP",
                },
                headers,
            )
            return
        key = self.headers.get("x-ga-apikey", "")
        if not key.strip():
            self._discard_body()
            self._json(
                400,
                {
                    "resultMessage": "x-ga-apikey header is missing",
                    "message": "x-ga-apikey header is missing",
                },
            )
            return
        if settings.api_keys is not None and key not in settings.api_keys:
            self._discard_body()
            self._json(
                401,
                {
                    "resultMessage": "invalid API key (unknown, deleted or inactive)",
                    "message": "invalid API key",
                },
            )
            return
        for pattern, method, action, _route in _API_ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            if self.command != method:
                self._discard_body()
                self._json(
                    405,
                    {
                        "resultCode": 1100,
                        "resultMessage": f"method {self.command} not allowed here",
                    },
                    [("Allow", method)],
                )
                return
            try:
                status, payload = getattr(self, "_api_" + action)(**match.groupdict())
            except BusinessError as exc:
                status = settings.business_status
                payload = {"resultCode": exc.code, "resultMessage": exc.message}
            except _BadRequest:
                self._after_handling(fault)  # an error answer is dropped or late all the same
                raise
            self._after_handling(fault)
            self._json(status, payload)
            return
        self._discard_body()
        self._json(404, {"resultCode": 1100, "resultMessage": f"no API endpoint {path}"})

    def _after_handling(self, fault: Fault | None) -> None:
        """The faults that act once the request did its work, before the answer goes out.

        ``api-drop`` resets the connection; ``api-late`` holds the answer back. If the
        client gave up meanwhile, writing the late answer fails with a ConnectionError,
        which ``_dispatch`` logs quietly.
        """
        if fault is None:
            return
        if fault.kind == "api-drop":
            self._reset()
        if fault.kind == "api-late":
            self._pause(float(fault.arg or 5))

    def _api_fault_status(self, fault: Fault) -> None:
        status = fault.status or 503
        if status == 429:
            headers = [("Retry-After", fault.arg)] if fault.arg else []
            self._json(429, {"error": "too_many_requests", "message": "Too many requests"}, headers)
        elif fault.arg is not None:  # CODE[:MESSAGE]: any code in any status's body
            code, message = result_code_arg(fault.arg)
            text = f"sandbox fault: HTTP {status}" if message is None else message
            self._json(status, {"resultCode": code, "resultMessage": text})
        else:
            self._json(
                status,
                {
                    "resultMessage": f"sandbox fault: HTTP {status}",
                    "message": "temporary server error",
                },
            )

    def _read_json(self) -> dict[str, Any]:
        """The request body as a JSON object, or a BusinessError-free 400 answer."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise _BadRequest(411, "send a Content-Length, not a chunked body")
        length = self._content_length()
        if length is None:
            if self.headers.get("Content-Length") is not None:
                raise _BadRequest(400, "bad Content-Length")
            length = 0
        if length > MAX_JSON_BODY:
            self.close_connection = True
            raise _BadRequest(413, f"request body over {MAX_JSON_BODY} bytes")
        self._body_done = True
        raw = self.rfile.read(length) if length else b""
        if len(raw) != length:
            raise _ConnectionAborted
        try:
            value = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _BadRequest(400, "malformed JSON body") from None
        if not isinstance(value, dict):
            raise _BadRequest(400, "the body must be a JSON object")
        return value

    def _api_create_upload(self) -> tuple[int, dict[str, Any]]:
        body = self._read_json()
        name, size = body.get("fileName"), body.get("fileSize")
        if not isinstance(name, str) or not name.strip():
            raise BusinessError(1100, "fileName is required (a name with its extension)")
        if isinstance(size, bool) or not isinstance(size, int):
            raise BusinessError(1100, "fileSize is required (an integer number of bytes)")
        if size < 0 or size > MAX_FILE_SIZE:
            raise BusinessError(1100, f"fileSize must be between 0 and {MAX_FILE_SIZE}")
        sandbox = self.server.sandbox
        upload = sandbox.store.create_upload(name, size)
        urls = [sandbox.presign_part(upload, n) for n in range(1, upload.part_count + 1)]
        return 200, {
            "resultCode": 1000,
            "resultData": {
                "uploadId": upload.upload_id,
                "chunkSize": upload.chunk_size,
                "preSignedUrl": urls,
            },
        }

    def _api_complete_upload(self) -> tuple[int, dict[str, Any]]:
        body = self._read_json()
        upload_id, parts = body.get("uploadId"), body.get("parts")
        if not isinstance(upload_id, str) or not upload_id:
            raise BusinessError(1100, "uploadId is required")
        if not isinstance(parts, list) or not parts:
            raise BusinessError(1100, "parts is required (a list of {awsETag, partNumber})")
        pairs = []
        for item in parts:
            number = item.get("partNumber") if isinstance(item, dict) else None
            etag = item.get("awsETag") if isinstance(item, dict) else None
            if isinstance(number, bool) or not isinstance(number, int) or not isinstance(etag, str):
                raise BusinessError(1100, "each part needs an integer partNumber and awsETag")
            pairs.append((number, etag))
        self.server.sandbox.store.complete_upload(upload_id, pairs)
        return 200, {"resultCode": 1000, "resultData": {}}

    def _api_key_info(self) -> tuple[int, dict[str, Any]]:
        sandbox = self.server.sandbox
        left = sandbox.store.credits_left
        permitted = sorted(sandbox.settings.permitted_models or MODELS)
        name, description = "gsep sandbox", "local emulator key"
        text = sandbox.faults.take("key", ("key-info-text",))
        if text is not None:  # hostile text where a client shows it as is
            self._entry["fault"] = text.kind
            name = description = text.arg or ""
        return 200, {
            "resultCode": 1000,
            "resultData": {
                "projectName": name,
                "description": description,
                "status": "active",
                "createdAt": iso_utc(sandbox.started_at),
                "permittedModels": permitted,
                "credits": {"free": 1_000_000 if left is None else left, "paid": 0},
            },
        }

    def _model_or_error(self, model: str) -> None:
        if model not in MODELS:
            raise _BadRequest(404, f"unknown model {model!r}", result_code=1100)
        permitted = self.server.sandbox.settings.permitted_models
        if permitted is not None and model not in permitted:
            raise _BadRequest(403, f"model {model} is not permitted for this key", None)

    def _api_create_job(self, model: str) -> tuple[int, dict[str, Any]]:
        self._model_or_error(model)
        body = self._read_json()
        sandbox = self.server.sandbox

        def job_faults() -> JobFaults:  # spent only once the job is valid
            fail = sandbox.faults.take("job", ("job-fail",))
            as_string = sandbox.faults.take("job", ("job-url-string",))
            expired = sandbox.faults.take("job", ("job-expired",))
            message = (fail.arg or "sandbox: job failed (fault injection)") if fail else None
            return JobFaults(message, as_string is not None, expired is not None)

        job = sandbox.store.create_job(model, body, job_faults)
        return 200, {"resultCode": 1000, "resultData": {"jobId": job.job_id}}

    def _api_get_job(self, model: str, job: str) -> tuple[int, dict[str, Any]]:
        self._model_or_error(model)
        sandbox = self.server.sandbox
        found = sandbox.store.get_job(model, job)
        now = sandbox.now()
        status = found.status_at(now)
        data: dict[str, Any] = {
            "jobId": found.job_id,
            "status": status,
            "errorMessage": found.fail_message if status == "failed" else None,
            "expireAt": None,
        }
        if status == "success":
            # the URLs carry this time: past it they answer 403 (GSEP_API.md section 5)
            expire = found.expires_at(sandbox.settings.result_ttl)
            data["expireAt"] = iso_utc(expire)
            urls = sandbox.result_urls(found, expire)
            data["downloadUrl"] = json.dumps(urls) if found.url_as_string else urls
        override = sandbox.faults.take("job", ("job-status",))
        if override is not None:  # only the status lies: the rest tells the real state
            self._entry["fault"] = override.kind
            present, value = status_value(override.arg or MISSING)
            if present:
                data["status"] = value
            else:
                del data["status"]
        return 200, {"resultCode": 1000, "resultData": data}

    # ---- presigned part upload (S3-like) ----------------------------------------------
    def _part_upload(self, path: str) -> None:
        sandbox = self.server.sandbox
        if self.command != "PUT":
            self._discard_body()
            self._s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
            return
        match = re.match(re.escape(S3_PREFIX) + r"(?P<upload>[0-9a-f]+)/(?P<part>\d+)$", path)
        params = dict(self._query)
        signature = params.pop("X-Amz-Signature", "")
        if match is None or not sandbox.store.signer.check("PUT", path, params, signature):
            self._discard_body()
            self._s3_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
            )
            return
        if sandbox.now() > _amz_expiry(params):
            self._discard_body()
            self._s3_error(403, "AccessDenied", "Request has expired")
            return
        refused = [
            h
            for h in self.headers
            if h.lower() in REFUSED_PART_HEADERS or h.lower().startswith("x-amz-")
        ]
        if refused:
            self._discard_body()
            self._s3_error(
                403,
                "AccessDenied",
                "There were headers present in the request "
                f"which were not signed: {', '.join(sorted(refused)).lower()}",
            )
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._s3_error(
                501,
                "NotImplemented",
                "A header you provided implies "
                "functionality that is not implemented: Transfer-Encoding",
            )
            return
        length = self._content_length()
        if length is None:
            self.close_connection = True
            self._s3_error(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
            return
        upload = sandbox.store.get_upload(match["upload"])
        number = int(match["part"])
        if upload is None or upload.completed is not None:
            self._discard_body()
            self._s3_error(404, "NoSuchUpload", "The specified multipart upload does not exist")
            return
        fault = sandbox.faults.take("part")
        if fault is not None:
            self._entry["fault"] = fault.kind
            if fault.kind == "part-delay":
                self._pause(float(fault.arg or 2))
            if fault.kind == "part-hang":  # the body is read, not stored
                self._hang()
            if fault.kind == "part-redirect-http":  # the body is read, not stored
                self._discard_body()
                location = sandbox.plain_origin + self.path
                self._s3_error(302, "Found", "moved", [("Location", location)])
                return
            if fault.kind == "part-expired":
                self._discard_body()
                self._s3_error(403, "AccessDenied", "Request has expired")
                return
            if fault.status is not None:
                self._discard_body()
                self._s3_error(
                    fault.status,
                    "InternalError" if fault.status >= 500 else "SandboxFault",
                    f"sandbox fault: HTTP {fault.status}",
                )
                return
        self._receive_part(upload, number, length, fault)

    def _receive_part(self, upload: Upload, number: int, length: int, fault: Fault | None) -> None:
        sandbox = self.server.sandbox
        self._body_done = True
        folder = sandbox.store.part_path(upload.upload_id, number).parent
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".incoming-")
        tmp = Path(tmp_name)
        digest = hashlib.md5(usedforsecurity=False)
        reset_at = length // 2 if fault is not None and fault.kind == "part-reset" else None
        piece, pause = (0, 0.0)
        if fault is not None and fault.kind == "part-slow":
            piece, pause = _slow_pace(length, float(fault.arg or 2))
            if length == 0:
                self._pause(pause)  # nothing to spread: the whole wait at once
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = length
                received = 0
                while remaining > 0:
                    if reset_at is not None and received >= reset_at:
                        self._reset()
                    want = min(IO_BLOCK, remaining)
                    if reset_at is not None:
                        want = min(want, max(1, reset_at - received))
                    if piece:  # part-slow: a pause before each piece, never across one
                        if received % piece == 0:
                            self._pause(pause)
                        want = min(want, piece - received % piece)
                    block = self.rfile.read(want)
                    if not block:
                        raise _ConnectionAborted
                    out.write(block)
                    digest.update(block)
                    remaining -= len(block)
                    received += len(block)
                if reset_at is not None:  # an empty part: reset all the same
                    self._reset()
            md5 = digest.hexdigest()
            sandbox.store.store_part(upload, number, tmp, length, md5)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        etag = (
            md5
            if fault is None or fault.kind != "part-bad-etag"
            else hashlib.md5(md5.encode(), usedforsecurity=False).hexdigest()
        )
        self._send(200, b"", "application/xml", [("ETag", f'"{etag}"')])

    # ---- result download (CDN-like) ---------------------------------------------------
    def _download(self, path: str) -> None:
        sandbox = self.server.sandbox
        if self.command not in ("GET", "HEAD"):
            self._discard_body()
            self._s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
            return
        match = re.match(re.escape(CDN_PREFIX) + r"(?P<job>[^/]+)/(?P<file>[^/]+)$", path)
        params = dict(self._query)
        signature = params.pop("Signature", "")
        if match is None or not sandbox.store.signer.check("GET", path, params, signature):
            self._s3_error(403, "AccessDenied", "Access denied")
            return
        if sandbox.now() > float(params.get("Expires", "0")):
            self._s3_error(403, "AccessDenied", "Request has expired")
            return
        job = sandbox.store.find_job(match["job"])
        if job is None or job.status_at(sandbox.now()) != "success":
            self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
            return
        result = next(
            (
                r
                for (name, fmt), r in sandbox.store.results(job).items()
                if r.path.name == match["file"]
            ),
            None,
        )
        if result is None:
            self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
            return
        range_header = self.headers.get("Range")
        fault = self._take_download_fault(range_header is not None)
        if fault is not None:
            self._entry["fault"] = fault.kind
            if fault.kind == "download-no-head":  # as CDNs whose signature covers the method
                self._s3_error(501, "NotImplemented", "HEAD is not implemented for this URL")
                return
            if fault.kind == "download-delay":
                self._pause(float(fault.arg or 2))
            if fault.kind == "download-reset":
                self._reset()
            if fault.kind == "download-hang":
                self._hang()
            if fault.kind == "download-drip":
                self._drip_rate = fault.drip_rate()
            if fault.kind in ("download-redirect", "download-redirect-http"):
                http = fault.kind == "download-redirect-http"
                origin = sandbox.plain_origin if http else sandbox.alt_origin
                self._s3_error(302, "Found", "moved", [("Location", origin + self.path)])
                return
            if fault.status is not None:
                self._s3_error(fault.status, "SandboxFault", f"sandbox fault: HTTP {fault.status}")
                return
            if fault.kind == "download-no-range":
                range_header = None
        if range_header and self.headers.get("If-Range") not in (None, f'"{result.etag}"'):
            range_header = None
        content_type = _CONTENT_TYPES.get(result.path.suffix.lstrip("."), "audio/octet-stream")
        fault_kind = fault.kind if fault is not None else None
        if fault_kind == "download-gzip":
            self._send_gzipped(result, content_type)
        else:
            self._send_file(result, content_type, range_header, fault_kind)

    def _take_download_fault(self, ranged: bool) -> Fault | None:
        """The download fault this request spends, if any.

        A HEAD only spends ``download-no-head`` (made for it), so a client's probing does
        not use up the faults meant for its GETs; a GET never spends that one, and spends
        ``download-no-range`` and ``download-range-slice`` only when it asks for a range.
        """
        book = self.server.sandbox.faults
        if self.command == "HEAD":
            return book.take("download", kinds=("download-no-head",))
        exclude: tuple[str, ...] = ("download-no-head",)
        if not ranged:
            exclude += ("download-no-range", "download-range-slice")
        return book.take("download", exclude=exclude)

    def _send_file(
        self, result: Result, content_type: str, range_header: str | None, fault_kind: str | None
    ) -> None:
        """A result file, whole or the one range asked for; ``fault_kind`` may bend it
        (``download-range-slice``, ``download-truncate``)."""
        size, etag = result.size, result.etag
        start, end = 0, size - 1
        status = 200
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed == UNSATISFIABLE:
                self._s3_error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    [("Content-Range", f"bytes */{size}")],
                )
                return
            if parsed is not None:
                start, end = parsed
                status = 206
        length = end - start + 1 if size else 0
        headers = [("Accept-Ranges", "bytes"), ("ETag", f'"{etag}"')]
        if status == 206 and fault_kind == "download-range-slice":
            status = 200  # the slice, yet "200": a server that ignores what 200 means
        elif status == 206:
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        self._send_head(status, content_type, length, headers)
        if self.command == "HEAD":
            return
        truncate = fault_kind == "download-truncate"
        with open(result.path, "rb") as fh:
            fh.seek(start)
            self._write_body(fh.read, length // 2 if truncate else length)
        if truncate:
            with contextlib.suppress(OSError):
                self.wfile.flush()
            self._reset()

    def _send_gzipped(self, result: Result, content_type: str) -> None:
        """``download-gzip``: the whole file gzip-compressed, whatever the request accepts
        or asks for (a ``Range`` too), with the compressed size as ``Content-Length``."""
        with tempfile.TemporaryFile(dir=self.server.sandbox.store.root) as packed:
            with (
                open(result.path, "rb") as source,
                gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as compressed,
            ):
                shutil.copyfileobj(source, compressed, IO_BLOCK)
            length = packed.tell()
            packed.seek(0)
            headers = [("Content-Encoding", "gzip"), ("ETag", f'"{result.etag}"')]
            self._send_head(200, content_type, length, headers)
            if self.command != "HEAD":
                self._write_body(packed.read, length)


def _json_bytes(payload: dict[str, Any]) -> bytes:
    """A JSON answer's body in UTF-8. Fault text taken from a command line or environment
    that was not UTF-8 goes out as the very bytes given (surrogate escapes); any other lone
    surrogate is sent as a ``\\u`` escape rather than failing the answer."""
    try:
        return json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return json.dumps(payload).encode()


def _api_route(path: str, method: str) -> str | None:
    """The route name of an API request (its path and method), None when it has none."""
    for pattern, route_method, _action, route in _API_ROUTES:
        if method == route_method and pattern.match(path):
            return route
    return None


class _BadRequest(Exception):
    """A protocol-level refusal answered with an HTTP status (not the business switch)."""

    def __init__(self, status: int, message: str, result_code: int | None = 1100) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.result_code = result_code


SLOW_TICK = 0.05  # part-slow: seconds between two pieces of a slowly read body


def _slow_pace(length: int, seconds: float) -> tuple[int, float]:
    """``part-slow``: (piece size, pause before each piece) spreading ``length`` bytes over
    about ``seconds``, in ticks of :data:`SLOW_TICK` (fewer for a body of a few bytes)."""
    steps = max(1, min(length, math.ceil(seconds / SLOW_TICK)))
    return max(1, math.ceil(length / steps)), seconds / steps


DRIP_TICK = 0.05  # *-drip: seconds between two pieces, at rates of 20 bytes a second and up


def _drip_pace(rate: float) -> tuple[int, float]:
    """``*-drip``: (piece size, pause between pieces) for ``rate`` bytes per second: one
    byte at a time below 20 bytes a second, else a piece every :data:`DRIP_TICK`."""
    piece = max(1, int(rate * DRIP_TICK))
    return piece, piece / rate


def _amz_expiry(params: dict[str, str]) -> float:
    try:
        signed = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        return signed.replace(tzinfo=timezone.utc).timestamp() + int(params["X-Amz-Expires"])
    except (KeyError, ValueError):
        return 0.0


UNSATISFIABLE = (-1, -1)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range → (start, end) inclusive; :data:`UNSATISFIABLE` (answer 416);
    or None when the header is not one valid byte range: ignored, the whole file is sent
    (RFC 9110 section 14.2, as S3 does for multiple ranges)."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size - 1
    start = int(match[1])
    end = int(match[2]) if match[2] else None
    if end is not None and end < start:
        return None  # an invalid range-spec, not an unsatisfiable one
    if start >= size:
        return UNSATISFIABLE
    return start, size - 1 if end is None else min(end, size - 1)


class Sandbox:
    """A running GSEP API emulator on loopback; use as a context manager.

    >>> with Sandbox(job_seconds=0, chunk_size=64 * 1024) as sandbox:
    ...     sandbox.base_url  # doctest: +SKIP
    'http://127.0.0.1:40123/developers/api'

    It does **not** separate sources: WAV stems are band-filtered copies of a WAV input
    (``others`` is the input minus them) and MP3 stems are silent MP3 files of the same
    duration. Everything else follows ``GSEP_API.md``: paths, envelope, result codes,
    presigned part URLs, job statuses, rate limit, expiry.

    Test knobs beyond the contract: ``max_bytes`` / ``max_seconds`` replace every model's
    size / duration limit (1110 / 1109 with tiny files); ``url_ttl``, ``upload_ttl`` and
    ``result_ttl`` shorten the 24 h / 72 h / 48 h lifetimes; :meth:`advance` moves the clock.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        job_seconds: float = 3.0,
        chunk_size: int = 1024**3,
        api_keys: Iterable[str] | None = None,
        permitted_models: Iterable[str] | None = None,
        credits: int | None = None,
        business_status: int = 200,
        rate_limit: int = 100,
        rate_window: float = 60.0,
        rate_block: float = 60.0,
        rate_retry_after: bool = False,
        url_ttl: float = 24 * 3600.0,
        upload_ttl: float = 72 * 3600.0,
        result_ttl: float = 48 * 3600.0,
        max_bytes: int | None = None,
        max_seconds: float | None = None,
        faults: Iterable[str] = (),
        storage_dir: str | os.PathLike[str] | None = None,
        verbose: bool = False,
        clock: Callable[[], float] = time.time,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
    ) -> None:
        if business_status not in (200, 400):
            raise ValueError("business_status must be 200 or 400")
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1 byte")
        if job_seconds < 0:
            raise ValueError("job_seconds must be >= 0")
        if (max_bytes is not None and max_bytes < 0) or (
            max_seconds is not None and max_seconds < 0
        ):
            raise ValueError("max_bytes and max_seconds must be >= 0")
        self.settings = SandboxSettings(
            job_seconds=job_seconds,
            chunk_size=chunk_size,
            api_keys=frozenset(api_keys) if api_keys is not None else None,
            permitted_models=frozenset(permitted_models) if permitted_models is not None else None,
            credits=credits,
            business_status=business_status,
            rate_limit=rate_limit,
            rate_window=rate_window,
            rate_block=rate_block,
            rate_retry_after=rate_retry_after,
            url_ttl=url_ttl,
            upload_ttl=upload_ttl,
            result_ttl=result_ttl,
            max_bytes=max_bytes,
            max_seconds=max_seconds,
        )
        self.faults = FaultBook([parse_fault(f) for f in faults])
        self.host = host
        self.verbose = verbose
        self._tls: ssl.SSLContext | None = None
        if tls_cert is not None:  # serve https (to test CA settings such as SSL_CERT_FILE)
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(tls_cert, tls_key)
        self._clock = clock
        self._offset = 0.0
        self._port = port
        self._storage_parent = storage_dir
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        # set by stop(): every wait of a fault (delays, hangs, drips) ends on it
        self.stopping = threading.Event()
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._seq = 0
        self.started_at = self.now()
        self.store = Store(
            self.settings, Path(tempfile.mkdtemp(prefix="gsep-sandbox-", dir=storage_dir)), self.now
        )

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> Sandbox:
        """Bind the loopback ports and serve in background threads: the main port, the
        "other host" for redirects, and with TLS on a plain-http one (see plain_origin)."""
        if self._servers:
            return self
        self.stopping.clear()
        listeners = [(self._port, self._tls), (0, self._tls)]
        if self._tls is not None:
            listeners.append((0, None))
        for port, tls in listeners:
            server = _Server(self.host, port, self, "http" if tls is None else "https")
            if tls is not None:  # the handshake happens in the handler thread
                server.socket = tls.wrap_socket(
                    server.socket, server_side=True, do_handshake_on_connect=False
                )
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"gsep-sandbox-{server.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and delete every stored byte.

        Connections still open (idle, or held by a fault) are ended too: after about a
        second at most, no handler of this sandbox is left running.
        """
        self.stopping.set()
        # shut the listeners down at once: each waits up to one poll interval
        stoppers = [
            threading.Thread(target=server.shutdown, daemon=True) for server in self._servers
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=5)
        deadline = time.monotonic() + STOP_GRACE
        for server in self._servers:
            server.abort_connections()
        for server in self._servers:
            server.wait_idle(deadline)
        for server in self._servers:
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Start and block until interrupted (Ctrl-C), then stop cleanly."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        finally:
            self.stop()

    # ---- addresses ----------------------------------------------------------------
    def _origin(self, index: int) -> str:
        if not self._servers:
            raise RuntimeError("the sandbox is not started")
        server = self._servers[index]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{server.scheme}://{host}:{server.server_address[1]}"

    @property
    def origin(self) -> str:
        """``http://host:port`` of the main listener."""
        return self._origin(0)

    @property
    def alt_origin(self) -> str:
        """The second loopback listener (same API), target of the redirect faults."""
        return self._origin(1)

    @property
    def plain_origin(self) -> str:
        """A plain ``http://`` listener serving the same API, S3 and CDN paths: target of
        the ``*-redirect-http`` faults. With TLS on it is a listener of its own (started
        only then), so a test can check that nothing reached it; else the second one."""
        return self._origin(2 if self._tls is not None else 1)

    @property
    def port(self) -> int:
        """The main listener's port."""
        return int(self._servers[0].server_address[1])

    @property
    def base_url(self) -> str:
        """The API base URL to give a client, e.g. ``http://127.0.0.1:N/developers/api``."""
        return self.origin + BASE_PATH

    # ---- time -----------------------------------------------------------------------
    def now(self) -> float:
        """The sandbox's clock (the real one, moved by :meth:`advance`)."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the sandbox's clock forward (expire URLs, uploads, results in tests)."""
        self._offset += seconds

    # ---- URLs -----------------------------------------------------------------------
    def presign_part(self, upload: Upload, number: int) -> str:
        """An S3-style presigned PUT URL for part ``number`` of ``upload``."""
        now = self.now()
        stamp = datetime.fromtimestamp(now, tz=timezone.utc)
        path = f"{S3_PREFIX}{upload.upload_id}/{number}"
        params = {
            "partNumber": str(number),
            "uploadId": upload.upload_id,
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"SANDBOXACCESSKEY/{stamp:%Y%m%d}/local/s3/aws4_request",
            "X-Amz-Date": f"{stamp:%Y%m%dT%H%M%SZ}",
            "X-Amz-Expires": str(int(self.settings.url_ttl)),
            "X-Amz-SignedHeaders": "host",
        }
        params["X-Amz-Signature"] = self.store.signer.sign("PUT", path, params)
        return f"{self.origin}{path}?{urlencode(params)}"

    def result_urls(self, job: SandboxJob, expire: float) -> dict[str, dict[str, str]]:
        """The ``downloadUrl`` object of a finished job: output → format → signed URL."""
        urls: dict[str, dict[str, str]] = {}
        for (name, fmt), path_name in _result_names(job, self.store).items():
            path = f"{CDN_PREFIX}{job.job_id}/{path_name}"
            params = {"Expires": str(int(expire))}
            params["Signature"] = self.store.signer.sign("GET", path, params)
            urls.setdefault(name, {})[fmt] = f"{self.origin}{path}?{urlencode(params)}"
        return urls

    # ---- faults and the request log --------------------------------------------------
    def add_fault(self, spec: str) -> Fault:
        """Add a fault at run time (same syntax as ``--fault``)."""
        return self.faults.add(spec)

    def _log_request(self, handler: _Handler, path: str, query: str) -> dict[str, Any]:
        headers = {
            k.lower(): ("<redacted>" if k.lower() == "x-ga-apikey" else v)
            for k, v in handler.headers.items()
        }
        kind = (
            "control"
            if path.startswith(CONTROL_PREFIX)
            else "api"
            if path.startswith(BASE_PATH)
            else "s3"
            if path.startswith(S3_PREFIX)
            else "cdn"
            if path.startswith(CDN_PREFIX)
            else "other"
        )
        with self._log_lock:
            self._seq += 1
            entry: dict[str, Any] = {
                "seq": self._seq,
                "time": self.now(),
                "method": handler.command,
                "path": path,
                "query": query,
                "kind": kind,
                "port": handler.server.server_address[1],
                "scheme": handler.server.scheme,
                "client": handler.client_address[0],
                "headers": headers,
                "hasApiKey": "x-ga-apikey" in headers,
                "status": None,
                "fault": None,
            }
            if kind != "control":
                self._log.append(entry)
                del self._log[:-MAX_LOG]
        return entry

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log (control calls excluded), oldest first."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._log_lock:
            self._log.clear()


def _result_names(job: SandboxJob, store: Store) -> dict[tuple[str, str], str]:
    """(output, format) → file name on the CDN path."""
    names = {}
    for name in job.outputs:
        for fmt in store.result_formats(job, name):
            ext = (MODELS[job.model].file_ext(name) or "bin") if fmt == "file" else fmt
            names[(name, fmt)] = f"{name}.{ext}"
    return names
