"""When to ask about a job: the backoff of a lone job, and how long this batch's jobs take,
learned from the ones that finished.

A job just created is never polled at once: it cannot have finished (the first poll
comes after the plan's first delay). The API says nothing about when a job will end, so
a lone job is polled with a backoff (2 s, 3 s, 4.5 s ... up to a cap). That backoff sees
a finished job late by up to half of the last interval. Jobs of one batch run on one
model, usually on songs of similar length, so the jobs that finished tell when the others
will (every poll costs one of the API's 100 requests a minute, GSEP_API.md section 1):

* until a job of the batch has finished, up to three jobs of each kind (inputs of known
  length, inputs of unknown length) are the batch's *scouts*: only they poll with the
  backoff, their steps interleaved; the others poll only at the cap's pace, and wake
  when a scout's job ends;
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

import itertools
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from .jobtimes import Pace

#: The longest :meth:`gsep_cli.client.GsepClient.wait` waits for a job without a timeout
#: of its own (seconds; ``GSEP_MAX_WAIT``): waiting must end even when a status never does.
DEFAULT_MAX_WAIT = 6 * 3600.0


@dataclass(frozen=True)
class PollPolicy:
    """Job polling: start near ``initial`` seconds, grow by ``factor`` up to ``cap``.

    With an ``expected`` duration (learned from finished jobs,
    :class:`~gsep_cli.jobtimes.JobTimes`) the ramp is skipped: polls every ``cap``
    seconds until the job is that old, a poll then, then ``fine_polls`` polls every
    ``fine_step`` of it (at most every quarter of ``initial``, at least every ``cap``; a
    job a little slower than the fastest one seen is found within about 5 % of its
    length), then the usual backoff from that age. The cap holds throughout, so a job
    that fails early is still seen within ``cap`` seconds.
    """

    initial: float = 2.0
    factor: float = 1.5
    cap: float = 30.0
    jitter: float = 0.2
    fine_step: float = 0.05
    fine_polls: int = 6

    def delays(
        self,
        expected: float | None = None,
        age: float = 0.0,
        probe: float | None = None,
        phase: float = 0.0,
    ) -> Iterator[float]:
        """Endless delays: 2, 3, 4.5, ... jittered and capped (from ``age``: the backoff a
        job that old would be at); or, with the seconds a job is ``expected`` to take, the
        plan around its expected end. ``probe``: a first poll at that age (the backoff
        then goes on from it). ``phase`` (0 to 1) moves the backoff's steps that part of
        a step later, so scouts with different phases interleave their polls."""
        if expected is not None and expected > 0:
            for target in (probe or 0.0, expected):  # no ramp: straight to each target
                age = yield from self._toward(target, age)
            # a short job's 5 % is tiny: at most 4 polls per first interval (2 s), 6 in all
            step = self.fine(expected)
            for _ in range(self.fine_polls):
                yield self._jittered(step)
                age += step
        elif probe is not None:  # at the cap's pace until the first look
            age = yield from self._toward(probe, age)
        # late, or a job already waiting: back off as a lone job would at this age
        delay = min(self.cap, max(self.initial, age * (self.factor - 1)) * self.factor**phase)
        while True:
            yield self._jittered(delay)
            delay = min(self.cap, delay * self.factor)

    def _toward(self, target: float, age: float) -> Generator[float, None, float]:
        """Delays from ``age`` to ``target`` seconds, at most ``cap`` each (the cap holds
        throughout); returns the age reached."""
        while age < target:
            wait = max(0.05, min(self.cap, target - age))
            yield wait
            age += wait
        return age

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
        """A poll sent ``age`` seconds into the wait (after its turn at the rate limit)
        said the job is still running."""

    def finished_at(self, sent: float, answered: float) -> None:
        """The poll sent at ``sent`` seconds into the wait (after its turn at the rate
        limit), answered at ``answered``, said the job has finished."""

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def close(self) -> None:
        """The wait is over."""


class PacedPlan(Plan):
    """One job's polls in a batch (:class:`~gsep_cli.jobtimes.JobTimes`; see the module):
    the scout's backoff or the cap's pace until the batch knows how long jobs take, then
    polls from the expected end.

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
        elif self._pace.scout():  # first when earlier runs' jobs ended, if on record
            look, phase = self._pace.first_look(), self._pace.scout_phase()
            self._delays = iter(self._poll.delays(None, age, look, phase))
        else:  # another job scouts: look at the cap's pace (an early failure), wait for news
            self._delays = itertools.repeat(self._poll.cap)

    def next_delay(self) -> float:
        delay = next(self._delays)
        self._due = time.monotonic() - self._started + delay
        return delay

    def urgent(self) -> bool:
        return self._expected is not None and self._due >= self._expected * 0.999

    def running_at(self, age: float) -> None:
        self._pace.running_at(age)

    def finished_at(self, sent: float, answered: float) -> None:
        prompt = self._poll.fine(self._expected) / 2 if self._expected else self._poll.initial / 4
        self._pace.finished_at(sent, answered, prompt)

    def close(self) -> None:
        self._pace.release()

    def sleep(self, seconds: float) -> None:
        due = time.monotonic() + seconds
        while True:  # each early wake is one more finished job of the batch: bounded
            left = min(due, self._limit) - time.monotonic()
            if left <= 0 or not self._pace.sleep(left) or self._pace.stopped:
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
