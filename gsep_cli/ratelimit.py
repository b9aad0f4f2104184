"""The client-side rate limit: one process stays under the API's 100 requests per minute
(GSEP_API.md section 1: counted per IP address, in the server's fixed one-minute windows),
and spends that budget where it helps most.

The margin against the server's windows. The server counts a request when it arrives,
in windows whose edges the client does not know. The client cannot see the arrival, but
it lies between the moment the request was let go and the moment its answer came (or the
client gave up on it). So a request keeps its place in the budget from when it is let go
until ``window`` seconds after its answer; a request still in flight counts throughout.
Then any ``window`` seconds of arrivals hold at most ``limit`` requests, wherever the
server's windows fall and however the latency varies between requests, and a 429 cannot
come from this process's own traffic. The price is one round trip per window (about
0.1 % of the budget on a 60 ms link); no fixed guess of the jitter is needed.

Order. A request that polls a job expected to have finished (``urgent``) goes before the
others, which go first come, first served: a finished job seen at once frees its worker
and costs one request, however full the window is. A poll the planner has scheduled
(:meth:`RateLimiter.reserve`) keeps room in the budget: another request is let go only
if every poll reserved within the next window still finds a free place at its time. At
most half of the budget is ever kept that way, so uploads and job creations always move.

A 429 that comes anyway (another program on the same IP) holds back every request of the
process until the block is over (:meth:`RateLimiter.hold`), not only the one that met it.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable

from .errors import DeadlineReached, Interrupted
from .units import DECIMAL, INTEGER

Notify = Callable[[str, float], None]  # (reason, seconds to wait)

#: Seconds added to every place's end: the clocks' granularity, never a guess of latency.
EPSILON = 0.01


class Slot:
    """One request's place in the budget, from :meth:`RateLimiter.acquire`: call
    :meth:`done` once the answer came or the request was given up (it then keeps its place
    for one more window from that moment)."""

    def __init__(self, limiter: RateLimiter, number: int) -> None:
        self._limiter, self._number = limiter, number

    def done(self) -> None:
        """The answer came (or never will): the place ends one window from now."""
        self._limiter._done(self._number)


class Reservation:
    """A poll the planner has scheduled (:meth:`RateLimiter.reserve`)."""

    def __init__(self, limiter: RateLimiter, number: int) -> None:
        self._limiter, self._number = limiter, number

    def move(self, at: float) -> None:
        """The poll is now planned for ``at`` (a ``time.monotonic()`` instant)."""
        self._limiter._reserve(self._number, at)

    def cancel(self) -> None:
        """No poll is planned any more (the job ended, or the wait did)."""
        self._limiter._reserve(self._number, None)


class RateLimiter:
    """At most ``limit`` requests in any ``window`` seconds of arrivals at the server,
    shared by every thread of the process (see the module for the policy).

    ``clock`` and ``sleep`` are for tests that drive time by hand; with the default sleep,
    waiting threads are woken as soon as a place frees or a reservation changes.
    """

    def __init__(
        self,
        limit: int = 100,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.limit, self.window = limit, window
        self._clock, self._sleep = clock, sleep
        self._changed = threading.Condition()
        self._numbers = itertools.count()
        self._ends: dict[int, float] = {}  # place -> when it ends (math.inf: in flight)
        self._queue: list[tuple[int, int]] = []  # (0 urgent / 1 other, ticket), waiting
        self._reserved: dict[int, float] = {}  # reservation -> planned instant
        self._held_until = 0.0  # after a 429: nothing goes before this instant
        self._closed = False  # stopping: no request goes any more
        self.sent = 0  # requests let go (for tests and benchmarks)

    def acquire(
        self, notify: Notify | None = None, deadline: float | None = None, *, urgent: bool = False
    ) -> Slot:
        """Block until one more request fits (each wait at most one window at a time).

        ``urgent``: a poll of a job expected to have finished, served before the others.
        ``deadline`` (a ``time.monotonic()`` instant, the caller's ``--timeout``) ends the
        wait: :class:`~gsep_cli.errors.DeadlineReached` once it passes, the turn given up
        to the threads behind. After :meth:`close`,
        :class:`~gsep_cli.errors.Interrupted`: nothing was sent. Returns the request's
        :class:`Slot`.
        """
        number = next(self._numbers)
        self._check_open()
        if self.limit <= 0:
            return Slot(self, number)
        entry = (0 if urgent else 1, number)
        told = False
        with self._changed:
            self._queue.append(entry)
            try:
                while True:
                    self._check_open()
                    now = self._clock()
                    wait = min(self._wait_for(entry, now), self.window)
                    if wait <= 0:
                        self._ends[number] = math.inf
                        self.sent += 1
                        self._changed.notify_all()
                        return Slot(self, number)
                    left = _left(deadline)
                    if left is not None:
                        if left <= 0:
                            raise DeadlineReached(
                                "the time limit passed waiting for the rate limit"
                            )
                        wait = min(wait, left)
                    if notify is not None and wait >= 1 and not told and self._blocked(now):
                        told = True  # once per request: the wait may be re-planned often
                        notify(self._reason(now), wait)
                    self._pause(wait)
            finally:
                self._queue.remove(entry)
                self._changed.notify_all()

    def reserve(self, at: float) -> Reservation:
        """Keep room for a poll planned at ``at`` (a ``time.monotonic()`` instant)."""
        reservation = Reservation(self, next(self._numbers))
        reservation.move(at)
        return reservation

    def close(self) -> None:
        """The process is stopping (Ctrl-C, SIGTERM, SIGHUP): requests waiting for the
        budget, and any asked for later, end with :class:`~gsep_cli.errors.Interrupted`
        unsent, so a job creation still waiting for its turn is never paid for after the
        user asked to stop. Requests already sent are not affected."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise Interrupted("stopped before the request was sent")

    def hold(self, seconds: float) -> None:
        """The API said 429: let nothing go for ``seconds`` (the block it announced)."""
        with self._changed:
            self._held_until = max(self._held_until, self._clock() + max(0.0, seconds))

    def _done(self, number: int) -> None:
        with self._changed:
            if number in self._ends:
                self._ends[number] = self._clock() + self.window + EPSILON
                self._changed.notify_all()

    def _reserve(self, number: int, at: float | None) -> None:
        with self._changed:
            if at is None:
                self._reserved.pop(number, None)
            else:
                self._reserved[number] = at
            self._changed.notify_all()

    def _wait_for(self, entry: tuple[int, int], now: float) -> float:
        """Seconds until ``entry`` may go (<= 0: now); called under the lock."""
        for number, end in list(self._ends.items()):
            if end <= now:
                del self._ends[number]
        if now < self._held_until:
            return self._held_until - now
        if min(self._queue) != entry:
            return self.window  # not this one's turn: woken when the queue moves
        if len(self._ends) >= self.limit:
            return min(self._ends.values()) - now
        if entry[0] == 0:
            return 0.0
        return self._reservations_wait(now)

    def _reservations_wait(self, now: float) -> float:
        """Seconds until a request that is not urgent leaves room for every poll reserved
        within the next window (0: it does now). At most half the budget is kept."""
        horizon = now + self.window
        planned = sorted(max(at, now) for at in self._reserved.values() if at < horizon)
        planned = planned[: self.limit // 2]
        ends = sorted(self._ends.values())
        for count, at in enumerate(planned, start=1):
            # at ``at``: the places still held then, this request, and the polls due by then
            held = sum(1 for end in ends if end > at)
            if held + 1 + count > self.limit:
                finite = [end for end in ends if end != math.inf]
                return (finite[0] - now) if finite else self.window
        return 0.0

    def _blocked(self, now: float) -> bool:
        """Whether the wait is the budget's (worth telling), not just another's turn."""
        return now < self._held_until or len(self._ends) >= self.limit

    def _reason(self, now: float) -> str:
        if now < self._held_until:
            return "rate limited by the API (HTTP 429); waiting"
        return f"client-side rate limit ({self.limit} requests per {self.window:g} s)"

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` under the lock's condition (woken early by any change), or
        with the injected sleep (tests with a hand-driven clock)."""
        if self._sleep is None:
            self._changed.wait(timeout=max(0.001, seconds))
            return
        self._changed.release()
        try:
            self._sleep(max(0.0, seconds))
        finally:
            self._changed.acquire()


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
