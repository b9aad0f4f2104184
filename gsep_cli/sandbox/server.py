"""The sandbox as one object: :class:`Sandbox` holds its settings, store, faults, clock and
request log, starts and stops its loopback listeners and makes the signed URLs it hands
out. It speaks the GSEP API, S3-style presigned part uploads and CDN-style result
downloads, all on loopback.

The routes are in :mod:`.handler` (and the modules it names), the listeners in
:mod:`.listener`, state in :mod:`.store`, faults in :mod:`.faults`.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..models import UPLOAD_LIFE
from .api import BASE_PATH
from .control import CONTROL_PREFIX
from .downloads import CDN_PREFIX, result_names
from .exchange import Exchange
from .faultbook import FaultBook
from .faults import Fault, parse_fault
from .listener import LoopbackServer, start_listener, stop_listeners
from .parts import S3_PREFIX
from .state import SandboxJob, SandboxSettings, Upload
from .store import Store

MAX_LOG = 100_000


class Sandbox:
    """A running GSEP API emulator on loopback; use as a context manager.

    >>> with Sandbox(job_seconds=0, chunk_size=64 * 1024) as sandbox:
    ...     sandbox.base_url  # doctest: +SKIP
    'http://127.0.0.1:40123/developers/api'

    It does **not** separate sources: WAV stems are band-filtered copies of a WAV input, or
    of a FLAC or MP3 input decoded with the audio extra (:mod:`.decode`; others are silent),
    ``others`` is the input minus them, and MP3 stems are silent MP3 files of the same
    duration. Everything else follows ``GSEP_API.md``: paths, envelope, result codes,
    presigned part URLs, job statuses, rate limit, expiry.

    Test knobs beyond the contract: ``max_bytes`` / ``max_seconds`` replace every model's
    size / duration limit (1110 / 1109 with tiny files); ``url_ttl``, ``upload_ttl`` and
    ``result_ttl`` shorten the 24 h / 72 h / 48 h lifetimes; :meth:`advance` moves the clock.

    Keywords: ``job_seconds`` (how long a job runs, seconds; 0 = done at once),
    ``chunk_size`` (bytes per upload part), ``credits`` (None: unlimited; each job costs
    1, then 1102), ``api_keys`` (None: any non-empty key), ``faults`` (fault specs, README
    "Fault switches"), ``rate_limit`` (requests per ``rate_window`` seconds; 0: none);
    the rest as ``gsep sandbox serve --help``. Raises ``ValueError`` for a setting out of
    range and :class:`~gsep_cli.sandbox.FaultSyntaxError` for a bad fault. What a test
    reads: :attr:`base_url`, :attr:`requests` (the request log, key redacted),
    ``store.job_count()`` / ``store.upload_count()``, and :meth:`add_fault` at run time.
    Side effects: listens on loopback only (by default), keeps uploads and results in a
    temporary folder that :meth:`stop` deletes; nothing is charged anywhere.
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
        upload_ttl: float = UPLOAD_LIFE,
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
        self._servers: list[LoopbackServer] = []
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
            server, thread = start_listener(self, self.host, port, tls)
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and delete every stored byte.

        Connections still open (idle, or held by a fault) are ended too: after about a
        second at most, no handler of this sandbox is left running.
        """
        self.stopping.set()
        stop_listeners(self._servers, self._threads)
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
        for (name, fmt), path_name in result_names(job, self.store).items():
            path = f"{CDN_PREFIX}{job.job_id}/{path_name}"
            params = {"Expires": str(int(expire))}
            params["Signature"] = self.store.signer.sign("GET", path, params)
            urls.setdefault(name, {})[fmt] = f"{self.origin}{path}?{urlencode(params)}"
        return urls

    # ---- faults and the request log --------------------------------------------------
    def add_fault(self, spec: str) -> Fault:
        """Add a fault at run time (same syntax as ``--fault``)."""
        return self.faults.add(spec)

    def _log_request(self, handler: Exchange, path: str, query: str) -> dict[str, Any]:
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
