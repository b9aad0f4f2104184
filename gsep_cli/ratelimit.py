"""The client-side rate limit: one process stays under the API's 100 requests per minute
(GSEP_API.md section 1, counted per IP address), its threads served in turn.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from .errors import DeadlineReached
from .units import DECIMAL, INTEGER

Notify = Callable[[str, float], None]  # (reason, seconds to wait)


class RateLimiter:
    """At most ``limit`` requests in any ``window`` seconds, shared by every thread.

    Waiting threads are served first come, first served, so the polls of many jobs share
    the budget fairly instead of racing for it.
    """

    def __init__(
        self,
        limit: int = 100,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit, self.window = limit, window
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._given_up: set[int] = set()  # tickets whose holder left at its deadline

    def acquire(self, notify: Notify | None = None, deadline: float | None = None) -> None:
        """Block until one more request fits in the window (bounded by ``window``).

        ``deadline`` (a ``time.monotonic()`` instant, the caller's ``--timeout``) ends the
        wait: :class:`~gsep_cli.errors.DeadlineReached` once it passes, the turn given up
        to the threads behind.
        """
        if self.limit <= 0:
            return
        with self._turn:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:  # each turn takes at most one window
                left = _left(deadline)
                if left is not None and left <= 0:
                    self._given_up.add(ticket)
                    raise DeadlineReached("the time limit passed waiting for the rate limit")
                self._turn.wait(timeout=self.window if left is None else min(left, self.window))
        try:
            self._wait_for_slot(notify, deadline)
        finally:
            with self._turn:
                self._serving += 1
                while self._serving in self._given_up:  # turns abandoned at their deadline
                    self._given_up.discard(self._serving)
                    self._serving += 1
                self._turn.notify_all()

    def _wait_for_slot(self, notify: Notify | None, deadline: float | None) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._stamps and now - self._stamps[0] >= self.window:
                    self._stamps.popleft()
                if len(self._stamps) < self.limit:
                    self._stamps.append(now)
                    return
                wait = self.window - (now - self._stamps[0]) + 0.01
            left = _left(deadline)
            if left is not None:
                if left <= 0:
                    raise DeadlineReached("the time limit passed waiting for the rate limit")
                wait = min(wait, left)
            if notify is not None and wait >= 1:
                notify(
                    f"client-side rate limit ({self.limit} requests per {self.window:g} s)", wait
                )
            self._sleep(wait)


def _left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (``time.monotonic``), None without one."""
    return None if deadline is None else deadline - time.monotonic()


def parse_rate(text: str) -> tuple[int, float]:
    """``"100/60"`` (requests per seconds) or ``"100"`` (per minute) → (limit, window).

    Only ASCII decimals are taken (``int`` would also take ``١٠٠`` and ``1_0``). Raises
    ValueError for anything else, a negative count, or a window outside (0, 86400]
    seconds."""
    count, _, window = text.strip().partition("/")
    if not INTEGER.fullmatch(count) or (window and not DECIMAL.fullmatch(window)):
        raise ValueError(text)  # ASCII decimals only, as every other GSEP_* number
    limit, seconds = int(count), float(window) if window else 60.0
    if limit < 0 or not 0 < seconds <= 86400:  # also refuses inf and nan
        raise ValueError(text)
    return limit, seconds
