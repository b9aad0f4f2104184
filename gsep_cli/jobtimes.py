"""What a batch learns about how long its jobs take (:class:`JobTimes`), and each job's
view of it (:class:`Pace`): the expected time, the scout's and the prober's roles, and a
sleep that ends when another job finishes. :mod:`gsep_cli.polling` plans the polls from
it; the ledger keeps what was learnt for the next run (:mod:`gsep_cli.ledger.pace`).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterable

#: Scouts of one kind at once: their backoffs interleave (each a third of a step after the
#: one before), so the first round sees its jobs finish about three times sooner.
SCOUTS = 3
PROBES = 3  # jobs probing at once: a few polls more, the gap cut in four
RECENT = 8  # finished jobs remembered: the service's speed may drift during a long batch


#: One finished job: (audio seconds or None, seconds until seen finished, the last age at
#: which it was seen still running or None). The job took at most the second and more
#: than the third.
Seen = tuple[float | None, float, float | None]


class JobTimes:
    """Thread-safe record of the batch's finished jobs (:data:`Seen`), which jobs scout
    for each kind of input while nothing is known, and which ones probe (below).

    Each job's time is known between two bounds: it had not finished at the last poll
    that said so, and had at the poll that said so. The batch expects the smallest upper
    bound. When the bounds leave a wide gap (the scout's backoff saw its job finished
    late), up to :data:`PROBES` jobs at a time *probe*: each polls first in the middle of
    the widest stretch of the gap no other probe splits, which narrows it whatever the
    answer, so a few polls in the whole batch bring every later job's first poll close
    to the real end.
    """

    def __init__(
        self,
        recent: int = RECENT,
        seen: Iterable[Seen] = (),
        *,
        history: Iterable[Seen] = (),
    ) -> None:
        """``seen``: jobs of this batch already finished (oldest first), as :meth:`seen`
        gives them. ``history``: jobs of earlier runs (kept in the ledger,
        :mod:`gsep_cli.ledger.pace`): the service may have been faster or slower then, so
        they only tell a scout when to look first (:meth:`first_look`), never bound this
        batch."""
        self._history = [_seen(a, took, waited) for a, took, waited in history if took > 0]
        self._changed = threading.Condition()
        self._seen: deque[Seen] = deque(maxlen=recent)
        # the jobs that were seen running, kept apart: most jobs are seen finished at their
        # first poll and tell no lower bound, and would push these out of ``_seen``
        self._running: deque[Seen] = deque(maxlen=recent)
        for a, took, waited in seen:
            if took > 0:
                self._remember(_seen(a, took, waited))
        self._version = 0
        self._stopped = False  # stop(): no job's sleep lasts any more
        self._scouting: dict[bool, set[int]] = {}  # kind (measured?) -> scouts polling
        self._probes: list[float] = []  # the ages jobs are probing at now

    def observe(
        self, audio_seconds: float | None, took: float, waited: float | None = None
    ) -> None:
        """Record a job seen finished ``took`` seconds after it was created (and last seen
        running ``waited`` seconds after, if it was); wake waiters."""
        if took <= 0:
            return
        with self._changed:
            self._remember(_seen(audio_seconds, took, waited))
            self._news()

    def _remember(self, seen: Seen) -> None:
        self._seen.append(seen)
        if seen[2] is not None:
            self._running.append(seen)

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
        None where no job of this batch gives one."""
        with self._changed:
            seen, running = list(self._seen), list(self._running)
        return _bounds(seen, audio_seconds)[0], _bounds(running, audio_seconds)[1]

    def first_look(self, audio_seconds: float | None) -> float | None:
        """When a scout with nothing learnt in this batch looks first: as old as the
        fastest like job of earlier runs was when seen finished (None: none on record)."""
        return _bounds(self._history, audio_seconds)[0]

    def _expect(self, audio_seconds: float | None) -> tuple[float | None, int]:
        with self._changed:
            version = self._version
        return self._bounds(audio_seconds)[0], version

    def _probe(self, audio_seconds: float | None, tolerance: float) -> float | None:
        """The age to poll first at: the middle of the widest stretch between the bounds
        and the ages other jobs probe at now, when it is more than ``tolerance`` seconds
        wide and fewer than :data:`PROBES` jobs probe; None otherwise. Jobs that start
        together so split the gap between them instead of halving it one round at a
        time."""
        upper, lower = self._bounds(audio_seconds)
        if upper is None or lower is None or upper - lower <= tolerance:
            return None  # nothing to narrow (no job of the kind was seen running)
        with self._changed:
            if len(self._probes) >= PROBES:
                return None
            inside = [p for p in self._probes if lower < p < upper]
            points = sorted([lower, *inside, upper])
            width, start = max((b - a, a) for a, b in itertools.pairwise(points))
            if width <= tolerance:
                return None
            probe = start + width / 2
            self._probes.append(probe)
            return probe

    def _unprobe(self, probe: float) -> None:
        with self._changed:
            if probe in self._probes:
                self._probes.remove(probe)

    def pace(self, audio_seconds: float | None) -> Pace:
        """What :meth:`gsep_cli.client.GsepClient.wait` needs for one job of this batch."""
        return Pace(self, audio_seconds)

    def _scout(self, kind: bool) -> int | None:
        """Become a scout of ``kind`` if it has fewer than :data:`SCOUTS`: the scout's
        number (0, 1, ...), or None."""
        with self._changed:
            taken = self._scouting.setdefault(kind, set())
            free = [n for n in range(SCOUTS) if n not in taken]
            if not free:
                return None
            taken.add(free[0])
            return free[0]

    def _unscout(self, kind: bool, number: int) -> None:
        """A scout's job ended: wake the others (one of them may scout next)."""
        with self._changed:
            self._scouting.get(kind, set()).discard(number)
            self._news()

    def _news(self) -> None:  # under the lock
        self._version += 1
        self._changed.notify_all()

    def stop(self) -> None:
        """The batch is stopping (Ctrl-C, a cancelled call): every job's sleep between
        polls ends now and none lasts again (:attr:`Pace.stopped`)."""
        with self._changed:
            self._stopped = True
            self._news()

    def _sleep(self, seconds: float, since: int) -> bool:
        with self._changed:
            if self._version == since and not self._stopped:
                self._changed.wait(timeout=max(0.0, seconds))
            return self._version != since


def _bounds(seen: Iterable[Seen], audio_seconds: float | None) -> tuple[float | None, float | None]:
    """(smallest upper bound, largest lower bound) that ``seen`` gives a job on
    ``audio_seconds``: a shorter input is expected to take proportionally less, a longer
    one no more; an input of unknown length compares only with its kind."""
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
        self._scouting: int | None = None  # this job's number as a scout
        self._probing: float | None = None  # the age this job probes at
        #: the last age (seconds) at which this job was seen still running, if it was
        self.waited: float | None = None
        #: the age (seconds) at which it was seen finished (:meth:`finished_at`)
        self.took: float | None = None

    def expect(self) -> float | None:
        """Seconds this job is expected to take from its creation (None: nothing known)."""
        expected, self._version = self._times._expect(self._audio_seconds)
        return expected

    def first_look(self) -> float | None:
        """The age at which this job, as a scout, polls first (:meth:`JobTimes.first_look`)."""
        return self._times.first_look(self._audio_seconds)

    def scout(self) -> bool:
        """Become a scout of this job's kind if it has fewer than :data:`SCOUTS` (True:
        this job polls with the backoff, :meth:`scout_phase` of a step after the first
        scout's; the others of its kind wait for what they find)."""
        if self._scouting is None:
            self._scouting = self._times._scout(self._audio_seconds is not None)
        return self._scouting is not None

    def scout_phase(self) -> float:
        """Where this scout's backoff steps fall between the first scout's: 0, 1/3, 2/3."""
        return (self._scouting or 0) / SCOUTS

    def probe(self, tolerance: float) -> float | None:
        """The age at which this job polls first to narrow the batch's bounds (see
        :class:`JobTimes`), or None when they are close enough or enough jobs probe."""
        self.release_probe()  # a re-plan asks afresh
        self._probing = self._times._probe(self._audio_seconds, tolerance)
        return self._probing

    def running_at(self, age: float) -> None:
        """A poll sent ``age`` seconds after the job's creation said it is still running."""
        self.waited = age if self.waited is None else max(self.waited, age)

    def finished_at(self, sent: float, answered: float, prompt: float) -> None:
        """The poll sent ``sent`` seconds after the job's creation (after its turn at the
        rate limit), answered at ``answered``, said it has finished. The job ended before
        the poll reached the server, somewhere in between. When the answer came within
        ``prompt`` seconds, the time it was sent is taken: a batch whose jobs are all
        seen at their first poll would otherwise learn a longer time from each (the round
        trip added once per generation of jobs) and poll later and later. An answer that
        took longer counts when it came (the job may have ended meanwhile)."""
        self.took = sent if answered - sent <= prompt else answered

    def release(self) -> None:
        """This job's wait is over: hand the scout's or the prober's role on."""
        if self._scouting is not None:
            self._times._unscout(self._audio_seconds is not None, self._scouting)
            self._scouting = None
        self.release_probe()

    def release_probe(self) -> None:
        """Hand the prober's role on, if this job had it."""
        if self._probing is not None:
            self._times._unprobe(self._probing)
            self._probing = None

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when woken early by news of the batch."""
        return self._times._sleep(seconds, self._version)

    def stop(self) -> None:
        """End the sleeps of every job of this batch (:meth:`JobTimes.stop`)."""
        self._times.stop()

    @property
    def stopped(self) -> bool:
        """Whether the batch is stopping: a sleep returns at once."""
        return self._times._stopped
