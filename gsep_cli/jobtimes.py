"""How long this batch's jobs take, learned from the ones that finished.

The API says nothing about when a job will end, so a lone job is polled with a backoff
(2 s, 3 s, 4.5 s ... up to a cap). That backoff sees a finished job late by up to half of
the last interval: a 60 s job is typically noticed 4-10 s after it ended. In a batch the
delay adds up once per round of ``--jobs``. Jobs of one batch run on one model, usually on
songs of similar length, so the jobs that finished tell when the others will:

* a job created after some finished skips the ramp of early polls and is polled densely
  around the expected end (:meth:`gsep_cli.client.PollPolicy.delays`);
* a job already waiting is woken when another one finishes, and polls at once if it is
  as old as that one was (jobs started together tend to end together); once its dense
  polls have begun, such news no longer changes its plan.

The estimate never extrapolates upward: a longer input is expected to take as long as the
observed one (polls come a little early, which costs a few requests), a shorter one
proportionally less (processing time does not fall faster than the audio's length). An
input whose length could not be read is compared only with others like it.
"""

from __future__ import annotations

import threading
from collections import deque

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
