"""How long this API's jobs took, kept between runs: a later batch's scouts, and even a
lone job, first poll when jobs like it have been seen to end, not while it cannot have
finished (:meth:`gsep_cli.jobtimes.JobTimes.first_look`).

One row per job seen finished: its API host and model, the input's length (NULL when it
could not be measured), the seconds from its creation until it was seen finished, and
until it was last seen running (NULL if never): :data:`gsep_cli.jobtimes.Seen`.
Only the newest :data:`KEPT` per host and model are kept.
"""

from __future__ import annotations

import math

from ..jobtimes import Seen
from .database import Database
from .engine import Sql

#: Rows kept per (API host, model): more than a batch remembers (jobtimes.RECENT).
KEPT = 32


class JobPace(Database):
    """The ledger's part that remembers how long jobs took."""

    def job_times(self, api_host: str, model: str, limit: int) -> list[Seen]:
        """The newest ``limit`` jobs of this host and model, oldest first. A row whose
        ``took`` is not a finite number (a file edited by hand or by another program) is
        left out, and other such values read as NULL: pacing must never fail a run."""

        def query(conn: Sql) -> list[Seen]:
            rows = conn.execute(
                "SELECT audio_seconds, took, waited FROM job_times "
                "WHERE api_host = ? AND model = ? ORDER BY seen_at DESC, rowid DESC LIMIT ?",
                (api_host, model, limit),
            ).fetchall()
            seen: list[Seen] = []
            for audio, took, waited in reversed(rows):
                took = _number(took)
                if took is not None:
                    seen.append((_number(audio), took, _number(waited)))
            return seen

        return self._run(query, write=False)

    def add_job_time(self, api_host: str, model: str, seen: Seen) -> None:
        """Remember one job of this host and model seen finished; forget the oldest
        beyond :data:`KEPT`."""

        def insert(conn: Sql) -> None:
            conn.execute(
                "INSERT INTO job_times (api_host, model, audio_seconds, took, waited, seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (api_host, model, *seen, self._clock()),
            )
            conn.execute(
                "DELETE FROM job_times WHERE api_host = ? AND model = ? AND rowid NOT IN "
                "(SELECT rowid FROM job_times WHERE api_host = ? AND model = ? "
                "ORDER BY seen_at DESC, rowid DESC LIMIT ?)",
                (api_host, model, api_host, model, KEPT),
            )

        self._run(insert, write=True)


def _number(value: object) -> float | None:
    """A column's value as a finite float, or None (NULL, text, blob, inf or NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
