"""Servers and networks that misbehave: answers that never come or come a byte at a time,
statuses and text outside the contract, bodies that lie about their length or encoding,
redirects to plain http; and a sandbox that still stops at once around all of them.

Like the other sandbox tests, these speak plain HTTP (``requests``, raw sockets), never
the project's client library, and no test waits more than a second or two.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

from conftest import KEY, TIMEOUT

from gsep_cli.sandbox import Sandbox

KEY_INFO = "/developers/api/v1/key/info"


# ---- helpers ------------------------------------------------------------------------------
def _handler_threads() -> set[threading.Thread]:
    """The live threads that serve one connection each (socketserver names them so)."""
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def _until(condition, seconds: float = 1.0) -> bool:
    """Poll ``condition`` for up to ``seconds`` (for work done on a server thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _connect(origin: str, timeout: float = TIMEOUT) -> socket.socket:
    parts = urlsplit(origin)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def _get_request(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: sandbox", f"x-ga-apikey: {KEY}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``seconds``, nothing else
    arriving first."""
    sock.settimeout(seconds)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# ---- stop() with connections open ---------------------------------------------------------
def test_stop_ends_a_waiting_fault_and_idle_connections_at_once() -> None:
    before = _handler_threads()
    sb = Sandbox(job_seconds=0, faults=["api-late@key-info:1:30"]).start()
    try:
        late = _connect(sb.origin)
        late.sendall(_get_request(KEY_INFO))
        idle = _connect(sb.alt_origin)  # connected, sends nothing
        assert _until(lambda: any(e["fault"] == "api-late" for e in sb.requests))
    finally:
        started = time.monotonic()
        sb.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 2
    with late, idle:
        assert _closed_within(late, 1.0)  # the late answer is never sent
        assert _closed_within(idle, 1.0)
    assert not [t for t in _handler_threads() - before if t.is_alive()]
