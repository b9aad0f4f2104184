"""Bounds on requests that socket timeouts cannot give.

A socket timeout bounds each single ``recv`` or ``send``; a server that drips one byte a
second satisfies every one of them and holds a request forever. This module adds two
bounds that hold whatever the peer does, and a way to break a request off from another
thread:

* a **deadline**: a wall-clock instant (``time.monotonic``) by which the request, answer
  and body included, is over (``--timeout``, and every API call's own limit);
* **stall detection**: fewer than ``rate`` bytes per second moved over the last
  ``window`` seconds (the idea of curl's ``--speed-limit``/``--speed-time``);
* a **cancel** event: once another thread sets it (Ctrl-C, a cancelled MCP call), the
  request is broken off, also while it waits for an answer that may never come.

A request runs inside :func:`guarding`. Connections made by :func:`install` (every
session of :func:`gsep_cli.sessions.make_session`) tell the guard of the thread using them
which socket they use, and count the bytes they send as the kernel takes them. One monitor thread
checks the live guards a few times a second; when one is due it shuts the socket down,
which makes the blocked ``recv``/``send`` of the request's thread return at once. The
caller then sees the request fail and asks :attr:`Guard.fired` why.
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["CANCELLED", "DEADLINE", "STALLED", "Guard", "Stall", "guarding", "install"]

DEADLINE = "deadline"
STALLED = "stalled"
CANCELLED = "cancelled"
#: How often the monitor looks at the live guards (seconds).
TICK = 0.1
#: The most bytes offered to one ``socket.send`` when a body is sent under a guard; the
#: kernel takes what fits and says how much, which is counted as progress at once. Small
#: offers keep the socket's buffer near the level where it takes more (two thirds full on
#: Linux), so a slow but steady upload shows progress every 64 KiB on the wire: it is
#: never taken for a stalled one, nor timed out (the socket timeout bounds each ``send``).
#: A 1 MiB offer saved about 0.25 CPU s per GiB on loopback, but fills the buffer whole,
#: and its next third must drain before anything counts: seconds on a slow link.
SEND_STEP = 64 * 1024


@dataclass(frozen=True)
class Stall:
    """Stall detection: at least ``rate`` bytes per second over ``window`` seconds."""

    rate: float
    window: float

    def describe(self) -> str:
        """``less than 1024 bytes/s for 30 s``."""
        return f"less than {self.rate:g} bytes/s for {self.window:g} s"


class Guard:
    """The bounds of one request in one thread, and what made it stop (``fired``)."""

    def __init__(
        self,
        deadline: float | None,
        stall: Stall | None,
        answer_within: float | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.deadline = deadline
        self.stall = stall
        self.answer_within = answer_within
        self.cancel = cancel
        self.started = time.monotonic()
        self.fired: str | None = None
        self._lock = threading.Lock()
        self._moved: deque[tuple[float, int]] = deque()
        self._quiet_allowed = False  # waiting for an answer after the whole body was sent
        # the socket itself: http.client hands it to the response and forgets it when the
        # answer says "Connection: close", while its body may still be dripping in
        self._sock: Any = None
        # a duplicate of a new connection's TCP socket, watched during its TLS handshake
        # (the TLS wrapper takes the socket object over); closed when the guard ends
        self._handshake: socket.socket | None = None
        self._over = False

    def progress(self, count: int) -> None:
        """``count`` more bytes moved (sent or received)."""
        if count > 0 and self.stall is not None:
            with self._lock:
                self._moved.append((time.monotonic(), count))

    def awaiting_answer(self, waiting: bool = True) -> None:
        """The body is sent: silence until the answer starts is the server working (the
        socket's read timeout bounds it), not a stall. The answer itself must then arrive
        whole within ``answer_within`` seconds (when set): an answer that drips, or an
        endless run of ``100 Continue``, satisfies every socket timeout and no stall rule
        (the deadline then fires)."""
        with self._lock:
            self._quiet_allowed = waiting
            self._moved.clear()
            self.started = time.monotonic()
            if waiting and self.answer_within is not None:
                bound = self.started + self.answer_within
                self.deadline = bound if self.deadline is None else min(self.deadline, bound)

    def body_sent(self) -> None:
        """The whole body was handed to the kernel: wait until the kernel has sent it
        (Linux: the socket's unsent and unacknowledged bytes, ``TIOCOUTQ``, reach zero;
        each drop counts as progress, so the stall rule still bounds the wait; an answer
        that comes first ends it), then :meth:`awaiting_answer`. Megabytes can still be
        queued on a slow link, and the server cannot answer before it has them: the
        answer's bounds start after."""
        sock = self._sock
        fileno = getattr(sock, "fileno", None)
        # only under a stall rule, which ends the wait if the queue stops draining
        if _CAN_DRAIN and fileno is not None and self.stall is not None:
            try:
                fd = fileno()
                answered = select.poll()  # a server may answer before it read it all
                answered.register(fd, select.POLLIN)
                queued = _queued(fd)
                while queued > 0 and self.fired is None and not answered.poll(_DRAIN_LOOK_MS):
                    now = _queued(fd)
                    if now < queued:
                        self.progress(queued - now)
                    queued = now
            except (OSError, ValueError):
                pass  # the socket ended (or cannot say): the answer's wait tells the rest
        self.awaiting_answer()

    def _due(self, now: float) -> str | None:
        if self.cancel is not None and self.cancel.is_set():
            return CANCELLED
        if self.deadline is not None and now >= self.deadline:
            return DEADLINE
        if self.stall is None or now - self.started < self.stall.window:
            return None
        with self._lock:
            if self._quiet_allowed:
                return None
            while self._moved and self._moved[0][0] < now - self.stall.window:
                self._moved.popleft()
            moved = sum(count for _, count in self._moved)
        return STALLED if moved < self.stall.rate * self.stall.window else None

    def _fire(self, reason: str) -> None:
        with self._lock:
            if self._over:  # the request ended: its connection may serve another one
                return
            self.fired = reason
            socks = [self._sock, self._handshake]
        for sock in socks:
            if sock is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                # the base class's shutdown: on a TLS socket it leaves the SSL object to
                # the thread using it, which then sees the connection end
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _queued(fd: int) -> int:
    """Bytes a TCP socket holds unsent or unacknowledged (Linux ``TIOCOUTQ``, imported
    here: start-up imports nothing a command may not need)."""
    import fcntl
    import struct
    import termios

    raw = fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


#: Whether the platform says how much a socket still holds (``TIOCOUTQ``): Linux.
_CAN_DRAIN = sys.platform.startswith("linux")
#: How often the drain of a sent body is looked at (milliseconds).
_DRAIN_LOOK_MS = 20

_local = threading.local()
_live: set[Guard] = set()
_live_lock = threading.Lock()
_monitor: threading.Thread | None = None


def _watch() -> None:
    while True:
        time.sleep(TICK)
        now = time.monotonic()
        with _live_lock:
            guards = list(_live)
        for guard in guards:
            if guard.fired is None:
                reason = guard._due(now)
                if reason is not None:
                    guard._fire(reason)


def _ensure_monitor() -> None:
    global _monitor
    with _live_lock:
        if _monitor is None or not _monitor.is_alive():
            _monitor = threading.Thread(target=_watch, name="gsep-watchdog", daemon=True)
            _monitor.start()


@contextlib.contextmanager
def guarding(
    deadline: float | None = None,
    stall: Stall | None = None,
    answer_within: float | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[Guard]:
    """Bound the requests this thread makes inside the block; yields the guard.

    ``deadline`` is a ``time.monotonic()`` instant; ``answer_within`` (seconds) bounds
    the answer once the body is sent (:meth:`Guard.awaiting_answer`); ``cancel``, once
    set (by any thread), breaks the request off within :data:`TICK`. With no bound,
    nothing is watched (the guard still counts nothing and never fires). A guard that
    fired (:attr:`Guard.fired`) cut the connection: whatever the request got is partial,
    even when it looks whole (a cut inside the headers reads as their end, a cut body
    without ``Content-Length`` as its end).
    """
    guard = Guard(deadline, stall, answer_within, cancel)
    previous = getattr(_local, "guard", None)
    _local.guard = guard
    bounds = (deadline, stall, answer_within, cancel)
    if any(bound is not None for bound in bounds):
        _ensure_monitor()
        with _live_lock:
            _live.add(guard)
    try:
        yield guard
    finally:
        with guard._lock:
            guard._over = True
            handshake, guard._handshake = guard._handshake, None
        if handshake is not None:
            handshake.close()  # the duplicate only: the connection itself lives on
        with _live_lock:
            _live.discard(guard)
        _local.guard = previous


def current() -> Guard | None:
    """The guard of this thread's request, if one runs."""
    return getattr(_local, "guard", None)


class _Tracked:
    """Tells the thread's guard which socket it uses; counts a body's bytes as the kernel
    takes them."""

    def _new_conn(self) -> Any:
        """The TCP connection, watched from here on: a TLS handshake that drips is
        bounded as the rest of the request is (the TCP connect itself by the connect
        timeout alone)."""
        sock = super()._new_conn()  # type: ignore[misc]
        guard = current()
        if guard is not None:
            with contextlib.suppress(OSError):
                duplicate = sock.dup()
                with guard._lock:
                    previous, guard._handshake = guard._handshake, duplicate
                if previous is not None:
                    previous.close()
            if guard.fired is not None:  # due while connecting
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch_socket(getattr(self, "sock", None))

    def request(self, *args: Any, **kwargs: Any) -> Any:
        guard = current()
        if guard is not None:
            if guard.fired is not None:  # due before the request even started
                raise OSError(f"request stopped: {guard.fired}")
            _watch_socket(getattr(self, "sock", None))  # a kept-alive connection
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def send(self, data: Any) -> None:
        guard = current()
        if guard is None or not isinstance(data, (bytes, bytearray, memoryview)):
            super().send(data)  # type: ignore[misc]
            return
        sock = getattr(self, "sock", None)
        if sock is None or not hasattr(sock, "send"):  # not connected yet: http.client's way
            super().send(data)  # type: ignore[misc]
            guard.progress(len(data))
            return
        view = memoryview(data).cast("B")
        while view:
            try:
                taken = sock.send(view[:SEND_STEP])
            except TimeoutError:
                # The socket's timeout while a body is sent is urllib3's connect timeout;
                # a quiet spell longer than that (the kernel wakes a writer only when a
                # third of a large buffer drained, through a proxy's hop: seconds on a
                # slow link) is the stall rule's to judge, which shuts the socket.
                if guard.stall is None or guard.fired is not None:
                    raise
                continue
            if not taken:  # a blocking socket takes a byte or raises: never spin here
                raise OSError("the connection took no bytes")
            guard.progress(taken)
            view = view[taken:]


def _watch_socket(sock: Any) -> None:
    guard = current()
    if guard is not None and sock is not None:
        with guard._lock:
            guard._sock = sock


class TrackedHTTPConnection(_Tracked, HTTPConnection):
    """An HTTP connection a guard can watch."""


class TrackedHTTPSConnection(_Tracked, HTTPSConnection):
    """An HTTPS connection a guard can watch."""


class TrackedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = TrackedHTTPConnection


class TrackedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = TrackedHTTPSConnection


def install(pool_manager: Any) -> Any:
    """Make a urllib3 pool manager (or proxy manager) open watchable connections."""
    pool_manager.pool_classes_by_scheme = {
        "http": TrackedHTTPConnectionPool,
        "https": TrackedHTTPSConnectionPool,
    }
    return pool_manager
