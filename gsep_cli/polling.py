"""When to ask about a job: the backoff of a lone job, and how long this batch's jobs take,
learned from the ones that finished.

A job just created is never polled at once: it cannot have finished (the first poll
comes after the plan's first delay). The API says nothing about when a job will end, so
a lone job is polled with a backoff (2 s, 3 s, 4.5 s ... up to a cap). That backoff sees
a finished job late by up to half of the last interval. Jobs of one batch run on one
model, usually on songs of similar length, so the jobs that finished tell when the others
will (every poll costs one of the API's 100 requests a minute, GSEP_API.md section 1):

* until a job of the batch has finished, one job of each kind (inputs of known length,
  inputs of unknown length) is the batch's *scout*: it alone polls with the backoff;
  the others poll only at the cap's pace, and wake when the scout's job ends;
* a job that knows the expected time polls first when it is that old
  (:meth:`PollPolicy.delays`), then every 5 % of it for a few polls, then backs off;
  those polls are *urgent* (served first, with room kept for them in the budget,
  :mod:`gsep_cli.ratelimit`);
* a job already waiting is woken when another one finishes, and polls at once if it is
  as old as that one was (jobs started together tend to end together); once its first
  poll at the expected end is made, such news no longer changes its plan.

The estimate never extrapolates upward: a longer input is expected to take as long as the
observed one (polls come a little early, which costs a few requests), a shorter one
proportionally less (processing time does not fall faster than the audio's length). An
input whose length could not be read is compared only with others like it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

#: The longest :meth:`gsep_cli.client.GsepClient.wait` waits for a job without a timeout
#: of its own (seconds; ``GSEP_MAX_WAIT``): waiting must end even when a status never does.
DEFAULT_MAX_WAIT = 6 * 3600.0
#: The fewest API requests a job needs: create the upload, complete it, create the job,
#: one status saying success (GSEP_API.md 2.1-2.5).
CALLS_PER_JOB = 4
RECENT = 8  # finished jobs remembered: the service's speed may drift during a long batch


#: One finished job: (audio seconds or None, seconds until seen finished, the last age at
#: which it was seen still running or None). The job took at most the second and more
#: than the third.
Seen = tuple[float | None, float, float | None]


class JobTimes:
    """Thread-safe record of the batch's finished jobs (:data:`Seen`), which job scouts
    for each kind of input while nothing is known, and which one probes (below).

    Each job's time is known between two bounds: it had not finished at the last poll
    that said so, and had at the poll that said so. The batch expects the smallest upper
    bound. When the bounds leave a wide gap (the scout's backoff saw its job finished
    late), one job at a time *probes*: it polls first half-way into the gap, which halves
    it whatever the answer, so a few polls in the whole batch bring every later job's
    first poll close to the real end.
    """

    def __init__(
        self,
        recent: int = RECENT,
        seen: Iterable[Seen] = (),
        *,
        workers: int = 1,
        budget: tuple[int, float] | None = None,
    ) -> None:
        """``seen``: jobs finished before this batch (oldest first), as :meth:`seen` gives
        them (kept in the ledger, :mod:`gsep_cli.ledger.pace`). ``workers`` (jobs at once)
        and ``budget`` (the rate limit: requests per seconds, None: none) tell whether the
        batch is bound by the rate limit, where a probe's extra poll costs throughput."""
        self._workers, self._budget = max(1, workers), budget
        self._changed = threading.Condition()
        self._seen: deque[Seen] = deque(
            (_seen(a, took, waited) for a, took, waited in seen if took > 0), maxlen=recent
        )
        self._version = 0
        self._scouting: set[bool] = set()  # kinds (measured?) whose scout is polling
        self._probing = False

    def observe(
        self, audio_seconds: float | None, took: float, waited: float | None = None
    ) -> None:
        """Record a job seen finished ``took`` seconds after it was created (and last seen
        running ``waited`` seconds after, if it was); wake waiters."""
        if took <= 0:
            return
        with self._changed:
            self._seen.append(_seen(audio_seconds, took, waited))
            self._news()

    def seen(self) -> list[Seen]:
        """The finished jobs remembered, oldest first (:data:`Seen`)."""
        with self._changed:
            return list(self._seen)

    def expect(self, audio_seconds: float | None) -> float | None:
        """Seconds a new job on ``audio_seconds`` of audio is expected to take (None: no idea).

        Each finished job's time is an upper bound of its real duration (it was seen at a
        poll after it ended), so the smallest, scaled down to a shorter input, is taken.
        """
        return self._expect(audio_seconds)[0]

    def _bounds(self, audio_seconds: float | None) -> tuple[float | None, float | None]:
        """(smallest upper bound, largest lower bound) for a job on ``audio_seconds``;
        None where no remembered job gives one."""
        with self._changed:
            seen = list(self._seen)
        if audio_seconds is None:  # unmeasured input: only unmeasured jobs compare
            like = [(took, waited) for seconds, took, waited in seen if seconds is None]
        else:
            like = [
                (took * scale, None if waited is None else waited * scale)
                for seconds, took, waited in seen
                if seconds is not None
                for scale in (min(1.0, audio_seconds / seconds),)
            ]
        lows = [low for _, low in like if low is not None]
        return (min(up for up, _ in like) if like else None), (max(lows) if lows else None)

    def _expect(self, audio_seconds: float | None) -> tuple[float | None, int]:
        with self._changed:
            version = self._version
        return self._bounds(audio_seconds)[0], version

    def _probe(self, audio_seconds: float | None, tolerance: float) -> float | None:
        """The age to poll first at, half-way between the bounds, when they are more than
        ``tolerance`` seconds apart and no other job probes; None otherwise."""
        upper, lower = self._bounds(audio_seconds)
        if upper is None or lower is None or upper - lower <= tolerance:
            return None  # nothing to narrow (no job of the kind was seen running)
        if self._budget_binds(upper):
            return None  # every request is a job's share of the budget: none to spare
        with self._changed:
            if self._probing:
                return None
            self._probing = True
        return (upper + lower) / 2

    def _budget_binds(self, expected: float) -> bool:
        """Whether ``workers`` jobs of ``expected`` seconds, each needing at least
        :data:`CALLS_PER_JOB` requests, would ask for more than nine tenths of the rate
        limit's budget (then the limit, not the jobs' length, sets the pace)."""
        if self._budget is None or self._budget[0] <= 0:
            return False
        limit, window = self._budget
        asked = CALLS_PER_JOB * self._workers * window / max(expected, 1e-3)
        return asked > 0.9 * limit

    def _unprobe(self) -> None:
        with self._changed:
            self._probing = False

    def pace(self, audio_seconds: float | None) -> Pace:
        """What :meth:`gsep_cli.client.GsepClient.wait` needs for one job of this batch."""
        return Pace(self, audio_seconds)

    def _scout(self, kind: bool) -> bool:
        """Become the scout of ``kind`` if it has none; True if so."""
        with self._changed:
            if kind in self._scouting:
                return False
            self._scouting.add(kind)
            return True

    def _unscout(self, kind: bool) -> None:
        """The scout's job ended: wake the others (one of them may scout next)."""
        with self._changed:
            self._scouting.discard(kind)
            self._news()

    def _news(self) -> None:  # under the lock
        self._version += 1
        self._changed.notify_all()

    def _sleep(self, seconds: float, since: int) -> bool:
        with self._changed:
            if self._version == since:
                self._changed.wait(timeout=max(0.0, seconds))
            return self._version != since


def _seen(audio_seconds: float | None, took: float, waited: float | None) -> Seen:
    known = audio_seconds if audio_seconds is not None and audio_seconds > 0 else None
    low = waited if waited is not None and 0 < waited < took else None
    return known, took, low


class Pace:
    """One job's view of :class:`JobTimes`: its expected duration, the scout's role while
    nothing is known, and a sleep that ends early when another job of the batch finishes
    (so the expectation may have changed)."""

    def __init__(self, times: JobTimes, audio_seconds: float | None) -> None:
        self._times = times
        self._audio_seconds = audio_seconds
        self._version = -1  # expect() not asked yet: any sleep returns at once
        self._scouting = False
        self._probing = False
        #: the last age (seconds) at which this job was seen still running, if it was
        self.waited: float | None = None

    def expect(self) -> float | None:
        """Seconds this job is expected to take from its creation (None: nothing known)."""
        expected, self._version = self._times._expect(self._audio_seconds)
        return expected

    def scout(self) -> bool:
        """Become the scout of this job's kind if it has none (True: this job polls with
        the backoff; the others of its kind wait for what it finds)."""
        if not self._scouting:
            self._scouting = self._times._scout(self._audio_seconds is not None)
        return self._scouting

    def probe(self, tolerance: float) -> float | None:
        """The age at which this job polls first to narrow the batch's bounds (see
        :class:`JobTimes`), or None when they are close enough or another job probes."""
        if self._probing:
            return None
        found = self._times._probe(self._audio_seconds, tolerance)
        self._probing = found is not None
        return found

    def running_at(self, age: float) -> None:
        """A poll sent ``age`` seconds after the job's creation said it is still running."""
        self.waited = age if self.waited is None else max(self.waited, age)

    def release(self) -> None:
        """This job's wait is over: hand the scout's or the prober's role on."""
        if self._scouting:
            self._scouting = False
            self._times._unscout(self._audio_seconds is not None)
        self.release_probe()

    def release_probe(self) -> None:
        """Hand the prober's role on, if this job had it."""
        if self._probing:
            self._probing = False
            self._times._unprobe()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when woken early by news of the batch."""
        return self._times._sleep(seconds, self._version)


@dataclass(frozen=True)
class PollPolicy:
    """Job polling: start near ``initial`` seconds, grow by ``factor`` up to ``cap``.

    With an ``expected`` duration (learned from finished jobs, :class:`JobTimes`) the ramp
    is skipped: polls every ``cap`` seconds until the job is that old, a poll then, then
    ``fine_polls`` polls every ``fine_step`` of it (at most every quarter of ``initial``,
    at least every ``cap``; a job a little slower than the fastest one seen is found within
    about 5 % of its length), then the usual backoff from that age. The cap holds
    throughout, so a job that fails early is still seen within ``cap`` seconds.
    """

    initial: float = 2.0
    factor: float = 1.5
    cap: float = 30.0
    jitter: float = 0.2
    fine_step: float = 0.05
    fine_polls: int = 6

    def delays(
        self, expected: float | None = None, age: float = 0.0, probe: float | None = None
    ) -> Iterator[float]:
        """Endless delays: 2, 3, 4.5, ... jittered and capped (from ``age``: the backoff a
        job that old would be at); or, with the seconds a job is ``expected`` to take, the
        plan around its expected end (first a poll at the age ``probe``, if given)."""
        if expected is not None and expected > 0:
            for target in (probe or 0.0, expected):
                while age < target:  # no ramp: straight to the cap, then to the target
                    wait = max(0.05, min(self.cap, target - age))
                    yield wait
                    age += wait
            # a short job's 5 % is tiny: at most 4 polls per first interval (2 s), 6 in all
            step = self.fine(expected)
            for _ in range(self.fine_polls):
                yield self._jittered(step)
                age += step
        # late, or a job already waiting: back off as a lone job would at this age
        delay = min(self.cap, max(self.initial, age * (self.factor - 1)))
        while True:
            yield self._jittered(delay)
            delay = min(self.cap, delay * self.factor)

    def fine(self, expected: float) -> float:
        """Seconds between the polls after a job's expected end (``expected`` seconds)."""
        return max(self.initial / 4, self.fine_step * expected)

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

    def urgent(self) -> bool:
        """Whether the next poll is one at or after the job's expected end."""
        return False

    def running_at(self, age: float) -> None:
        """A poll sent ``age`` seconds into the wait said the job is still running."""

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def close(self) -> None:
        """The wait is over."""


class PacedPlan(Plan):
    """One job's polls in a batch (:class:`JobTimes`; see the module): the scout's backoff
    or the cap's pace until the batch knows how long jobs take, then polls from the
    expected end.

    A sleep ends early when another job of the batch finishes (or the scout's ends).
    Until this job's first poll at the expected end, that re-plans from its age: poll at
    once if it is as old as jobs are now expected to take, else wait for the new plan's
    next poll. After it the plan stands, so an overdue job backs off like a lone one
    however many jobs finish around it.
    """

    def __init__(self, poll: PollPolicy, pace: Pace, started: float, limit: float) -> None:
        self._poll, self._pace, self._started, self._limit = poll, pace, started, limit
        self._expected: float | None = None
        self._due = 0.0  # age of the next poll
        self._replan(pace.expect(), 0.0)

    def _replan(self, expected: float | None, age: float) -> None:
        self._expected = expected
        if expected is not None:
            probe = self._pace.probe(self._poll.fine(expected))
            if probe is not None and probe <= age:
                probe = None  # too old to narrow anything: hand the role on
                self._pace.release_probe()
            self._delays = iter(self._poll.delays(expected, age, probe))
        elif self._pace.scout():
            self._delays = iter(self._poll.delays(None, age))
        else:  # another job scouts: look at the cap's pace (an early failure), wait for news
            self._delays = _every(self._poll.cap)

    def next_delay(self) -> float:
        delay = next(self._delays)
        self._due = time.monotonic() - self._started + delay
        return delay

    def urgent(self) -> bool:
        return self._expected is not None and self._due >= self._expected * 0.999

    def running_at(self, age: float) -> None:
        self._pace.running_at(age)

    def close(self) -> None:
        self._pace.release()

    def sleep(self, seconds: float) -> None:
        due = time.monotonic() + seconds
        while True:  # each early wake is one more finished job of the batch: bounded
            left = min(due, self._limit) - time.monotonic()
            if left <= 0 or not self._pace.sleep(left):
                return
            expected = self._pace.expect()  # also marks this news as read
            age = time.monotonic() - self._started
            if self._expected is not None and age >= self._expected:
                continue  # the first poll at the expected end is behind: the plan stands
            if expected is None and self._expected is None and not self._pace.scout():
                continue  # still nothing known, another job scouts
            self._replan(expected, age)
            if expected is not None and age >= expected:
                self._due = age
                return
            due = time.monotonic() + self.next_delay()


def _every(seconds: float) -> Iterator[float]:
    while True:
        yield seconds
