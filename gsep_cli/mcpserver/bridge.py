"""gsep's progress (:class:`~gsep_cli.progress.Listener`, called from worker threads) as
MCP progress notifications and log messages, sent from the server's event loop.

The worker threads only update a small locked state; a pump on the event loop reads it
every :data:`INTERVAL` seconds and sends one notification when something changed, so a
call never sends more than ``1 / INTERVAL`` notifications a second however fast bytes
move; gsep's notices (a retry, a wait) ride along in the next message. ``progress``
counts the notifications sent (MCP wants it to grow with each one); the ``message`` says
what moves: ``song.wav: upload 12.0 of 200.0 MB (6%)``, ``song.wav: job 2c5f...
running (14 s)``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

#: Seconds between two looks at a call's progress (at most 5 notifications a second).
INTERVAL = 0.2
MB = 1_000_000


@dataclass
class _Transfer:
    label: str
    subject: str
    total: int | None
    done: int = 0


class ProgressBridge:
    """A thread-safe :class:`~gsep_cli.progress.Listener` that keeps the latest state of
    one tool call for :meth:`take` (the event loop's side)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transfers: dict[str, _Transfer] = {}
        self._status = ""
        self._changed = False
        self._notices: list[str] = []
        self.sent = 0

    # ---- the worker threads' side: gsep's Listener protocol ---------------------------
    def transfer_start(self, key: str, label: str, total: int | None, *, subject: str = "") -> None:
        with self._lock:
            known = self._transfers.get(key)
            if known is not None:  # called again once the total is known
                label, subject = label or known.label, subject or known.subject
            done = known.done if known else 0
            self._transfers[key] = _Transfer(label or "transfer", subject, total, done)
            self._changed = True

    def transfer_advance(self, key: str, delta: int) -> None:
        with self._lock:
            transfer = self._transfers.get(key)
            if transfer is not None:
                transfer.done = max(0, transfer.done + delta)
                self._changed = True

    def transfer_end(self, key: str, ok: bool) -> None:
        with self._lock:
            transfer = self._transfers.pop(key, None)
            if transfer is not None:
                about = f"{transfer.subject}: " if transfer.subject else ""
                self._status = f"{about}{transfer.label} {'done' if ok else 'stopped'}"
                self._changed = True

    def job_status(self, job_id: str, status: str, elapsed: float, *, subject: str = "") -> None:
        with self._lock:
            about = f"{subject}: " if subject else ""
            self._status = f"{about}job {job_id} {status} ({elapsed:.0f} s)"
            self._changed = True

    def notice(self, message: str) -> None:
        with self._lock:
            self._notices.append(message)
            self._changed = True

    # ---- the event loop's side --------------------------------------------------------
    def take(self) -> str | None:
        """The progress message if anything changed since the last call (None: nothing
        did): the transfers in flight, else the last status seen, and the notices given
        meanwhile."""
        with self._lock:
            if not self._changed:
                return None
            self._changed = False
            parts = [_describe(t) for t in self._transfers.values()]
            if self._status and not parts:
                parts.append(self._status)
            parts.extend(self._notices)
            self._notices = []
            return "; ".join(parts) or "working"


def _describe(transfer: _Transfer) -> str:
    about = f"{transfer.subject}: " if transfer.subject else ""
    done = f"{transfer.done / MB:.1f}"
    if not transfer.total:
        return f"{about}{transfer.label} {done} MB"
    share = min(100, 100 * transfer.done // transfer.total)
    return f"{about}{transfer.label} {done} of {transfer.total / MB:.1f} MB ({share}%)"
