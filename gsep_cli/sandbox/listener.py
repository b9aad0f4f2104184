"""The sandbox's loopback listeners: a threaded HTTP server (TLS or plain) that knows its
open connections, so that stopping ends them all; started and stopped in threads.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .handler import Handler

if TYPE_CHECKING:
    from .server import Sandbox


STOP_GRACE = 1.0  # seconds stop() waits for handlers to end once their sockets are shut


class LoopbackServer(ThreadingHTTPServer):
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
        super().__init__((host, port), Handler)

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


def start_listener(
    sandbox: Sandbox, host: str, port: int, tls: ssl.SSLContext | None
) -> tuple[LoopbackServer, threading.Thread]:
    """Bind one loopback listener (``https`` when ``tls`` is given, else ``http``) and
    serve it in a daemon thread."""
    server = LoopbackServer(host, port, sandbox, "http" if tls is None else "https")
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
    return server, thread


def stop_listeners(servers: list[LoopbackServer], threads: list[threading.Thread]) -> None:
    """Stop serving and close every listener, ending the connections still open: after
    :data:`STOP_GRACE` at most, no handler is left running."""
    # shut the listeners down at once: each waits up to one poll interval
    stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(timeout=5)
    deadline = time.monotonic() + STOP_GRACE
    for server in servers:
        server.abort_connections()
    for server in servers:
        server.wait_idle(deadline)
    for server in servers:
        server.server_close()
    for thread in threads:
        thread.join(timeout=5)
