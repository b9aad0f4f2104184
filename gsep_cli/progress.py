"""How the library reports progress without printing: a listener protocol.

The CLI's console implements it with rich bars on a TTY and plain lines otherwise; the
library only ever calls these methods. ``advance`` may get a negative count when a part is
retried, so the total never overstates what was sent.
"""

from __future__ import annotations

from typing import Protocol


class Listener(Protocol):
    """Receives progress events from the client (every method must be thread-safe)."""

    def transfer_start(self, key: str, label: str, total: int | None) -> None:
        """A transfer (upload or one download) of ``total`` bytes begins."""

    def transfer_advance(self, key: str, delta: int) -> None:
        """``delta`` more bytes moved (negative: bytes rolled back for a retry)."""

    def transfer_end(self, key: str, ok: bool) -> None:
        """The transfer finished (``ok``) or was abandoned."""

    def job_status(self, job_id: str, status: str, elapsed: float) -> None:
        """A poll saw ``status`` after ``elapsed`` seconds."""

    def notice(self, message: str) -> None:
        """Something a human should know: a retry, a wait, a skipped file."""


class NullListener:
    """A listener that ignores everything (the library's default)."""

    def transfer_start(self, key: str, label: str, total: int | None) -> None:
        return None

    def transfer_advance(self, key: str, delta: int) -> None:
        return None

    def transfer_end(self, key: str, ok: bool) -> None:
        return None

    def job_status(self, job_id: str, status: str, elapsed: float) -> None:
        return None

    def notice(self, message: str) -> None:
        return None
