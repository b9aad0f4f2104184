"""The rate limit's budget (gsep_cli.ratelimit): however the latency varies and wherever
the server's fixed windows fall, no window ever holds more than the limit; polls of jobs
expected to have finished go first; room is kept for the polls the planner reserved; a
429 holds back every request of the process."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsep_cli.ratelimit import RateLimiter, Slot


class World:
    """A hand-driven clock whose sleeps let the answers due meanwhile arrive (their
    :meth:`Slot.done` runs at its own instant), so one thread can play many requests in
    flight at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._answers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._answers, (when, next(self._order), action))

    def sleep(self, seconds: float) -> None:
        self.advance(self.now + max(seconds, 0.0))

    def advance(self, until: float) -> None:
        while self._answers and self._answers[0][0] <= until:
            when, _, action = heapq.heappop(self._answers)
            self.now = max(self.now, when)
            action()
        self.now = max(self.now, until)


LATENCY = st.floats(0.0, 3.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 8),
    window=st.sampled_from([5.0, 10.0, 60.0]),
    offset=st.floats(0.0, 1.0, exclude_max=True),
    requests=st.lists(
        st.tuples(st.floats(0.0, 2.0, allow_nan=False), LATENCY, LATENCY),
        min_size=1,
        max_size=60,
    ),
)
def test_no_server_window_ever_holds_more_than_the_limit(
    limit: int,
    window: float,
    offset: float,
    requests: list[tuple[float, float, float]],
) -> None:
    """Each request: (gap before it is started, latency on the way in, on the way out).
    The server counts a request when it arrives, in fixed windows starting at ``offset``
    of a window: the client knows neither."""
    world = World()
    limiter = RateLimiter(limit, window, clock=world.clock, sleep=world.sleep)
    arrivals: list[float] = []
    for gap, way_in, way_out in requests:
        world.advance(world.now + gap)
        slot = limiter.acquire()
        arrivals.append(world.now + way_in)
        world.at(world.now + way_in + way_out, slot.done)
    world.advance(world.now + 3 * window)
    counts: dict[int, int] = {}
    for arrival in arrivals:
        index = int((arrival - offset * window) // window)
        counts[index] = counts.get(index, 0) + 1
    assert max(counts.values()) <= limit


@settings(max_examples=100, deadline=None)
@given(limit=st.integers(1, 6), count=st.integers(1, 40))
def test_answered_requests_use_the_whole_budget(limit: int, count: int) -> None:
    """The margin costs only the latency: with instant answers, ``limit`` requests go in
    every window (a second window starts one window after the first answers)."""
    world = World()
    limiter = RateLimiter(limit, 10.0, clock=world.clock, sleep=world.sleep)
    sent = []
    for _ in range(count):
        limiter.acquire().done()
        sent.append(world.now)
    for index, when in enumerate(sent):
        assert when == pytest.approx(1000.0 + (index // limit) * 10.01)


def _threads_in_order(limiter: RateLimiter, kinds: list[bool]) -> list[int]:
    """Start one thread per request (urgent or not), each queued behind a full budget, in
    the given order; return the order in which they got through."""
    order: list[int] = []
    lock = threading.Lock()

    def one(index: int, urgent: bool) -> None:
        limiter.acquire(urgent=urgent).done()
        with lock:
            order.append(index)

    threads = []
    for index, urgent in enumerate(kinds):
        thread = threading.Thread(target=one, args=(index, urgent))
        thread.start()
        threads.append(thread)
        for _ in range(200):  # until it waits in the queue
            if len(limiter._queue) == index + 1:
                break
            time.sleep(0.005)
    return _join(threads, order)


def _join(threads: list[threading.Thread], order: list[int]) -> list[int]:
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    return order


def test_urgent_polls_go_before_the_requests_waiting_ahead_of_them() -> None:
    limiter = RateLimiter(1, 0.3)
    first = limiter.acquire()  # the budget is full until 0.3 s after its answer
    holder = threading.Timer(0.3, first.done)
    holder.start()
    order = _threads_in_order(limiter, [False, False, True, False, True])
    holder.join()
    assert order[:2] == [2, 4]  # the polls first, in their order
    assert order[2:] == [0, 1, 3]  # then the others, first come first served


def test_room_is_kept_for_reserved_polls() -> None:
    world = World()
    limiter = RateLimiter(4, 10.0, clock=world.clock, sleep=world.sleep)
    limiter.acquire().done()
    limiter.reserve(world.now + 3.0)  # two polls planned within this window
    limiter.reserve(world.now + 6.0)
    limiter.acquire().done()  # 2 used + this one + 2 reserved = 4 = the limit... fits
    start = world.now
    limiter.acquire().done()  # would leave no room for the polls: waits for a place
    assert world.now >= start + 10.0 - 0.1
    assert world.now < start + 10.0 + 0.5


def test_reserved_room_is_at_most_half_the_budget() -> None:
    world = World()
    limiter = RateLimiter(4, 10.0, clock=world.clock, sleep=world.sleep)
    for _ in range(10):  # many polls planned: uploads and creations still move
        limiter.reserve(world.now + 1.0)
    limiter.acquire().done()
    limiter.acquire().done()
    assert world.now == 1000.0


def test_a_cancelled_reservation_frees_its_room() -> None:
    world = World()
    limiter = RateLimiter(2, 10.0, clock=world.clock, sleep=world.sleep)
    reservation = limiter.reserve(world.now + 1.0)
    reservation.cancel()
    limiter.acquire().done()
    limiter.acquire().done()
    assert world.now == 1000.0


def test_a_429_holds_back_every_request() -> None:
    world = World()
    limiter = RateLimiter(100, 60.0, clock=world.clock, sleep=world.sleep)
    limiter.hold(60.0)
    told: list[tuple[str, float]] = []
    limiter.acquire(lambda reason, seconds: told.append((reason, seconds))).done()
    assert world.now == pytest.approx(1060.0)
    assert told and "429" in told[0][0]


def test_a_slot_never_finished_keeps_its_place() -> None:
    """A request in flight counts until its answer: a second one waits (here: the first
    answers after 2 s, so the second goes one window after that)."""
    world = World()
    limiter = RateLimiter(1, 5.0, clock=world.clock, sleep=world.sleep)
    first: Slot = limiter.acquire()
    world.at(world.now + 2.0, first.done)
    limiter.acquire().done()
    assert world.now == pytest.approx(1000.0 + 2.0 + 5.01)
