"""How the library reports progress without printing: a listener protocol.

The CLI's console implements it with rich bars on a TTY and plain lines otherwise; the
library only ever calls these methods. ``advance`` may get a negative count when a part is
retried, so the total never overstates what was sent. ``subject`` names the input a
transfer or a job is for (its file name, e.g. ``song.wav``; empty when there is none, as
for ``gsep download JOB``), so that a display of several at once can tell them apart.
"""

from __future__ import annotations

from typing import Protocol


class Listener(Protocol):
    """Receives progress events from the client (every method must be thread-safe: uploads
    and batches call from worker threads). A structural protocol: any object with these
    five methods will do; subclassing :class:`NullListener` and overriding the ones
    wanted is the short way. A listener must not raise: what it raises ends the
    transfer or wait that called it. Units: bytes and seconds."""

    def transfer_start(self, key: str, label: str, total: int | None, *, subject: str = "") -> None:
        """A transfer (upload or one download) of ``total`` bytes (None: not known yet)
        begins; ``label`` says what moves (``upload``, ``vocal.wav``). Called again for the
        same ``key`` when the total becomes known."""

    def transfer_advance(self, key: str, delta: int) -> None:
        """``delta`` more bytes moved (negative: bytes rolled back for a retry)."""

    def transfer_end(self, key: str, ok: bool) -> None:
        """The transfer finished (``ok``) or was abandoned."""

    def job_status(self, job_id: str, status: str, elapsed: float, *, subject: str = "") -> None:
        """A poll saw ``status`` after ``elapsed`` seconds of waiting."""

    def notice(self, message: str) -> None:
        """Something a human should know: a retry, a wait, a skipped file."""


class NullListener:
    """A listener that ignores everything (the library's default); subclass it and
    override the methods you want (:class:`Listener`)."""

    def transfer_start(self, key: str, label: str, total: int | None, *, subject: str = "") -> None:
        return None

    def transfer_advance(self, key: str, delta: int) -> None:
        return None

    def transfer_end(self, key: str, ok: bool) -> None:
        return None

    def job_status(self, job_id: str, status: str, elapsed: float, *, subject: str = "") -> None:
        return None

    def notice(self, message: str) -> None:
        return None
