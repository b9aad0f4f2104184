"""When to ask about a job: the backoff of a lone job, and how long this batch's jobs take,
learned from the ones that finished.

The API says nothing about when a job will end, so a lone job is polled with a backoff
(2 s, 3 s, 4.5 s ... up to a cap). That backoff sees a finished job late by up to half of
the last interval: a 60 s job is typically noticed 4-10 s after it ended. In a batch the
delay adds up once per round of ``--jobs``. Jobs of one batch run on one model, usually on
songs of similar length, so the jobs that finished tell when the others will:

* a job created after some finished skips the ramp of early polls and is polled densely
  around the expected end (:meth:`PollPolicy.delays`);
* a job already waiting is woken when another one finishes, and polls at once if it is
  as old as that one was (jobs started together tend to end together); once its dense
  polls have begun, such news no longer changes its plan.

The estimate never extrapolates upward: a longer input is expected to take as long as the
observed one (polls come a little early, which costs a few requests), a shorter one
proportionally less (processing time does not fall faster than the audio's length). An
input whose length could not be read is compared only with others like it.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: The longest :meth:`gsep_cli.client.GsepClient.wait` waits for a job without a timeout
#: of its own (seconds; ``GSEP_MAX_WAIT``): waiting must end even when a status never does.
DEFAULT_MAX_WAIT = 6 * 3600.0
RECENT = 8  # finished jobs remembered: the service's speed may drift during a long batch


class JobTimes:
    """Thread-safe record of (audio seconds, seconds until seen finished) per finished job."""

    def __init__(self, recent: int = RECENT) -> None:
        self._changed = threading.Condition()
        self._seen: deque[tuple[float | None, float]] = deque(maxlen=recent)
        self._version = 0

    def observe(self, audio_seconds: float | None, took: float) -> None:
        """Record a job seen finished ``took`` seconds after it was created; wake waiters."""
        if took <= 0:
            return
        known = audio_seconds if audio_seconds is not None and audio_seconds > 0 else None
        with self._changed:
            self._seen.append((known, took))
            self._version += 1
            self._changed.notify_all()

    def expect(self, audio_seconds: float | None) -> float | None:
        """Seconds a new job on ``audio_seconds`` of audio is expected to take (None: no idea).

        Each finished job's time is an upper bound of its real duration (it was seen at a
        poll after it ended), so the smallest, scaled down to a shorter input, is taken.
        """
        return self._expect(audio_seconds)[0]

    def _expect(self, audio_seconds: float | None) -> tuple[float | None, int]:
        with self._changed:
            seen, version = list(self._seen), self._version
        if audio_seconds is None:  # unmeasured input: only unmeasured jobs compare
            guesses = [took for seconds, took in seen if seconds is None]
        else:
            guesses = [took * min(1.0, audio_seconds / s) for s, took in seen if s is not None]
        return (min(guesses) if guesses else None), version

    def pace(self, audio_seconds: float | None) -> Pace:
        """What :meth:`gsep_cli.client.GsepClient.wait` needs for one job of this batch."""
        return Pace(self, audio_seconds)

    def _sleep(self, seconds: float, since: int) -> bool:
        with self._changed:
            if self._version == since:
                self._changed.wait(timeout=max(0.0, seconds))
            return self._version != since


class Pace:
    """One job's view of :class:`JobTimes`: its expected duration, and a sleep that ends
    early when another job of the batch finishes (so the expectation may have changed)."""

    def __init__(self, times: JobTimes, audio_seconds: float | None) -> None:
        self._times = times
        self._audio_seconds = audio_seconds
        self._version = -1  # expect() not asked yet: any sleep returns at once

    def expect(self) -> float | None:
        """Seconds this job is expected to take from its creation (None: nothing known)."""
        expected, self._version = self._times._expect(self._audio_seconds)
        return expected

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when woken early by a newly finished job."""
        return self._times._sleep(seconds, self._version)


@dataclass(frozen=True)
class PollPolicy:
    """Job polling: start near ``initial`` seconds, grow by ``factor`` up to ``cap``.

    With an ``expected`` duration (learned from finished jobs, :class:`JobTimes`)
    the ramp is skipped: polls every ``cap`` seconds until ``early`` of it, then
    ``fine_polls`` polls every ``fine_step`` of it (at most every quarter of ``initial``, at
    least every ``cap``; a job that ends on time is seen within about 5 % of its length),
    then the usual backoff from that age. The cap holds throughout, so a job that fails
    early is still seen within ``cap`` seconds.
    """

    initial: float = 2.0
    factor: float = 1.5
    cap: float = 30.0
    jitter: float = 0.2
    early: float = 0.85
    fine_step: float = 0.05
    fine_polls: int = 6

    def delays(self, expected: float | None = None, age: float = 0.0) -> Iterator[float]:
        """Endless delays: 2, 3, 4.5, ... jittered and capped; or, with the seconds a job is
        ``expected`` to take and its current ``age``, the plan around its expected end."""
        delay = self.initial
        if expected is not None and expected > 0:
            start = self.early * expected
            while age < start:  # no ramp: straight to the cap, then to the expected end
                wait = max(0.05, min(self.cap, start - age))
                yield wait
                age += wait
            # a short job's 5 % is tiny: at most 4 polls per first interval (2 s), 6 in all
            step = max(self.initial / 4, self.fine_step * expected)
            for _ in range(self.fine_polls):
                yield self._jittered(step)
                age += step
            # late: back off as a lone job would at this age (about half of it), capped
            delay = min(self.cap, max(self.initial, age * (self.factor - 1)))
        while True:
            yield self._jittered(delay)
            delay = min(self.cap, delay * self.factor)

    def _jittered(self, delay: float) -> float:
        jittered = delay * random.uniform(1 - self.jitter, 1 + self.jitter)
        return max(0.05, min(self.cap, jittered))  # the cap holds, jitter included


class Plan:
    """One job's polls without a batch to learn from: the plain backoff."""

    def __init__(self, poll: PollPolicy, sleep: Callable[[float], None]) -> None:
        self._delays = iter(poll.delays())
        self._sleep = sleep

    def next_delay(self) -> float:
        return next(self._delays)

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)


class PacedPlan(Plan):
    """One job's polls in a batch (:class:`JobTimes`): the plain backoff until the
    batch knows how long jobs take, then one dense phase around the expected end.

    A sleep ends early when another job of the batch finishes. Until this job's dense
    phase has begun, that re-plans from its age: poll at once if it is as old as jobs are
    now expected to take, else wait for the new plan's next poll. Once the dense phase has
    begun the plan stands, so an overdue job backs off like a lone one however many jobs
    finish around it (at most one dense phase per job).
    """

    def __init__(self, poll: PollPolicy, pace: Pace, started: float, limit: float) -> None:
        self._poll, self._pace, self._started, self._limit = poll, pace, started, limit
        expected = pace.expect()
        self._dense_from = poll.early * expected if expected else math.inf
        self._delays = iter(poll.delays(expected))

    def sleep(self, seconds: float) -> None:
        due = time.monotonic() + seconds
        while True:  # each early wake is one more finished job of the batch: bounded
            left = min(due, self._limit) - time.monotonic()
            if left <= 0 or not self._pace.sleep(left):
                return
            expected = self._pace.expect()  # also marks this news as read
            age = time.monotonic() - self._started
            if expected is None or age >= self._dense_from:
                continue
            self._dense_from = self._poll.early * expected
            self._delays = iter(self._poll.delays(expected, age))
            if age >= self._dense_from:
                return
            due = time.monotonic() + next(self._delays)
