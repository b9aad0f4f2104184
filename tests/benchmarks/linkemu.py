"""A userspace link emulator: a TCP proxy on 127.0.0.1 that shapes what it forwards.

This machine has no netem, so the shaped-link benchmarks (issue 16) run every byte through
this proxy instead. Per direction (up: client to target, down: target to client):

* one-way ``delay`` seconds, so the round trip is 2 x delay (plus the loopback's own);
* a bandwidth cap ``rate`` (bytes/s) SHARED by every connection: one serial link per
  direction; a chunk leaves when the link is free and takes ``len / rate`` seconds;
* a bounded queue: at most ``queue`` bytes read from senders and not yet delivered per
  direction. When it is full the proxy stops reading, so the sender's own TCP stack fills
  and blocks (backpressure), as at a router whose buffer is full;
* per-connection window ramp-up, slow-start-like: a new connection may have ``initial``
  bytes unacknowledged (10 segments); each byte acknowledged (delivered, then one delay
  back) opens the window by one byte, doubling it every round trip up to ``window``;
* the handshake: a connection's first bytes reach the target one round trip later than
  a reused connection's would
  (the proxy accepts at once; the delay stands for SYN, SYN-ACK);
* optional ``jitter``: a random extra delay (uniform, 0..jitter seconds) per chunk,
  never reordering a connection's bytes.

Not modelled: loss and retransmission, congestion avoidance after slow start, the window
shrinking again after an idle period (Linux's ``tcp_slow_start_after_idle``).

Every loop is bounded (chunk size, queue, connection count) and :meth:`Link.close` ends
every connection and joins every thread. Standard library only.

>>> with Link(("127.0.0.1", 8080), delay=0.04, rate=12_500_000) as link:  # doctest: +SKIP
...     link.origin
'http://127.0.0.1:40123'
"""

from __future__ import annotations

import collections
import contextlib
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MSS = 1448
CHUNK = 64 * 1024
MAX_CONNECTIONS = 256
SOCKET_BUFFER = 256 * 1024  # the proxy's own kernel buffers: small, so queueing is ours


def mbit(value: float) -> float:
    """Megabits per second as bytes per second."""
    return value * 1_000_000 / 8


@dataclass(frozen=True)
class Shape:
    """One direction of the link: ``delay`` and ``jitter`` in seconds, ``rate`` in bytes per
    second (0: no cap), ``queue`` and the window sizes in bytes."""

    delay: float = 0.04
    rate: float = mbit(100)
    queue: int = 0  # 0: the one-way bandwidth-delay product plus 512 KiB
    initial: int = 10 * MSS
    window: int = 4 * 1024 * 1024
    jitter: float = 0.0

    @property
    def queue_bytes(self) -> int:
        if self.queue:
            return self.queue
        return int(self.rate * self.delay) + 512 * 1024 if self.rate else 16 * 1024 * 1024


class Direction:
    """The state one direction shares across connections: the serial link and the queue."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.cond = threading.Condition()
        self.queued = 0  # bytes read from senders, not yet delivered
        self.link_free_at = 0.0  # monotonic time the serial link finishes its last chunk
        self.delivered = 0  # bytes delivered, for the caller's checks

    def reserve(self, wanted: int, stop: threading.Event) -> int:
        """Wait until the queue has room; return how many bytes (1..wanted) may be read."""
        with self.cond:
            limit = self.shape.queue_bytes
            while self.queued >= limit and not stop.is_set():
                self.cond.wait(0.1)
            room = max(1, min(wanted, limit - self.queued))
            self.queued += room
            return room

    def give_back(self, count: int) -> None:
        with self.cond:
            self.queued -= count
            self.cond.notify_all()

    def departure(self, size: int) -> float:
        """Put ``size`` bytes on the serial link; return when the last of them leaves."""
        with self.cond:
            now = time.monotonic()
            start = max(now, self.link_free_at)
            self.link_free_at = start + (size / self.shape.rate if self.shape.rate else 0.0)
            return self.link_free_at


class Flow:
    """One connection's bytes in one direction: a reader thread takes them from ``src`` as
    its window and the shared queue allow, a writer thread hands them to ``dst`` on time."""

    def __init__(
        self,
        src: socket.socket,
        dst: socket.socket,
        way: Direction,
        back_delay: float,
        stop: threading.Event,
        rng: random.Random,
        on_done: Callable[[], None],
        not_before: float = 0.0,
    ) -> None:
        self.src, self.dst, self.way = src, dst, way
        self.back_delay = back_delay
        self.stop = stop
        self.rng = rng
        self.on_done = on_done
        self.cond = threading.Condition()
        self.cwnd = way.shape.initial
        self.unacked = 0
        self.acks: collections.deque[tuple[float, int]] = collections.deque()
        self.pending: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.last_due = not_before  # nothing arrives before the handshake is over
        self.threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._write, daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _window(self) -> int:
        """Wait for room in this connection's window; return the room (bytes)."""
        with self.cond:
            while not self.stop.is_set():
                now = time.monotonic()
                while self.acks and self.acks[0][0] <= now:
                    _, count = self.acks.popleft()
                    self.unacked -= count
                    self.cwnd = min(self.way.shape.window, self.cwnd + count)
                room = self.cwnd - self.unacked
                if room >= min(MSS, self.cwnd):
                    return room
                wait = self.acks[0][0] - now if self.acks else 0.1
                self.cond.wait(min(max(wait, 0.0005), 0.1))
            return 0

    def _readable(self) -> bool:
        """Wait until ``src`` has bytes or an end (an idle connection holds no queue room)."""
        while not self.stop.is_set():
            try:
                ready, _, _ = select.select([self.src], [], [], 0.1)
            except (OSError, ValueError):
                return False
            if ready:
                return True
        return False

    def _read(self) -> None:
        try:
            while not self.stop.is_set():
                room = self._window()
                if room <= 0 or not self._readable():
                    break
                allowed = self.way.reserve(min(room, CHUNK), self.stop)
                try:
                    data = self.src.recv(allowed)
                except OSError:
                    data = b""
                self.way.give_back(allowed - len(data))
                if not data:
                    break
                due = self.way.departure(len(data)) + self.way.shape.delay
                if self.way.shape.jitter:
                    due += self.rng.uniform(0.0, self.way.shape.jitter)
                with self.cond:
                    self.unacked += len(data)
                    self.last_due = max(self.last_due, due)  # never overtake an earlier chunk
                    self.pending.append((self.last_due, data))
                    self.cond.notify_all()
        finally:
            with self.cond:
                self.pending.append((self.last_due, None))
                self.cond.notify_all()

    def _write(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.pending and not self.stop.is_set():
                        self.cond.wait(0.1)
                    if not self.pending:
                        return
                    due, data = self.pending.popleft()
                wait = due - time.monotonic()
                if wait > 0 and self.stop.wait(wait):
                    return
                if data is None:
                    with contextlib.suppress(OSError):
                        self.dst.shutdown(socket.SHUT_WR)
                    return
                try:
                    self.dst.sendall(data)
                except OSError:
                    self.stop.set()
                    return
                finally:
                    self.way.give_back(len(data))
                with self.way.cond:
                    self.way.delivered += len(data)
                with self.cond:
                    self.acks.append((time.monotonic() + self.back_delay, len(data)))
                    self.cond.notify_all()
        finally:
            self.on_done()


class Link:
    """The proxy: listens on 127.0.0.1 (a free port unless ``port``), forwards each
    connection to ``target`` (host, port) through the two shaped directions ``up``
    (client to target) and ``down``; a context manager. ``target`` may be set after the
    start (:attr:`target`) when the far side needs the proxy's address first.

    Raises ``OSError`` if the port cannot be bound."""

    def __init__(
        self,
        target: tuple[str, int] | None = None,
        *,
        up: Shape | None = None,
        down: Shape | None = None,
        port: int = 0,
        seed: int = 16,
    ) -> None:
        self.target = target
        self.up = Direction(up or Shape())
        self.down = Direction(down or up or Shape())
        self.rng = random.Random(seed)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(64)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[int, tuple[socket.socket, socket.socket, threading.Event]] = {}
        self._flows: list[Flow] = []
        self._serial = 0
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` of the proxy."""
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.target is None or len(self._connections) >= MAX_CONNECTIONS:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=30)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            self._start_connection(client, server)

    def _start_connection(self, client: socket.socket, server: socket.socket) -> None:
        stop = threading.Event()
        with self._lock:
            self._serial += 1
            key = self._serial
            self._connections[key] = (client, server, stop)
        left = [2]

        def one_done() -> None:
            with self._lock:
                left[0] -= 1
                if left[0] or key not in self._connections:
                    return
                del self._connections[key]
            for sock in (client, server):
                sock.close()

        # the handshake: the client's first bytes leave after one round trip (SYN, SYN-ACK),
        # then take the one-way delay like any others
        opened = time.monotonic() + 2 * self.up.shape.delay + self.down.shape.delay
        flows = [
            Flow(client, server, self.up, self.down.shape.delay, stop, self.rng, one_done, opened),
            Flow(server, client, self.down, self.up.shape.delay, stop, self.rng, one_done),
        ]
        with self._lock:
            self._flows = [f for f in self._flows if any(t.is_alive() for t in f.threads)]
            self._flows.extend(flows)
        for flow in flows:
            flow.start()

    def close(self) -> None:
        """Stop accepting, end every connection (both sockets) and let their threads go."""
        self._stop.set()
        self._listener.close()
        self._acceptor.join(timeout=5)
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for client, server, stop in connections:
            stop.set()
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        with self._lock:
            flows = list(self._flows)
        for flow in flows:
            for thread in flow.threads:
                thread.join(timeout=5)

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
