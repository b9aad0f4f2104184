"""Pruning: forgetting what the ledger no longer needs - jobs whose results expired,
uploads the API no longer keeps, and old hash-cache rows."""

from __future__ import annotations

import contextlib
import os
import sqlite3

from ..models import UPLOAD_LIFE
from ..records import expire_epoch, files_from_json
from .database import Database
from .hashes import HASH_CACHE_LIFE
from .jobs import delete_jobs


class Pruning(Database):
    """The ledger's part that drops stale records."""

    def prune(self, *, older_than: float | None = None) -> int:
        """Drop jobs whose results expired (unless files gsep wrote for them are still
        on disk: those records are what makes re-running the same command "already
        done"), uploads past 72 h and, with ``older_than`` (seconds), every job not
        updated for that long. Returns the rows removed (jobs + uploads); stale
        hash-cache rows go too but are not counted.
        """
        now = self._clock()

        def delete(conn: sqlite3.Connection) -> int:
            doomed = _expired_jobs(conn, now)
            if older_than is not None:
                doomed.update(
                    r[0]
                    for r in conn.execute(
                        "SELECT job_id FROM jobs WHERE updated_at < ?", (now - older_than,)
                    )
                )
            removed = delete_jobs(conn, sorted(doomed))
            removed += conn.execute(
                "DELETE FROM uploads WHERE created_at < ?", (now - UPLOAD_LIFE,)
            ).rowcount
            conn.execute("DELETE FROM file_hashes WHERE hashed_at < ?", (now - HASH_CACHE_LIFE,))
            return removed

        return self._run(delete, write=True)


def _expired_jobs(conn: sqlite3.Connection, now: float) -> set[str]:
    """Ids of the jobs whose results expired before ``now`` (epoch s) and of which no
    file gsep wrote is still on disk."""
    doomed: set[str] = set()
    for job_id, expire_at, files in conn.execute(
        "SELECT job_id, expire_at, files FROM jobs WHERE expire_at IS NOT NULL"
    ).fetchall():
        epoch = expire_epoch(expire_at)
        if epoch is not None and epoch < now and not _any_on_disk(files):
            doomed.add(job_id)
    return doomed


def _any_on_disk(files: str | None) -> bool:
    """Whether any recorded file is still where gsep wrote it, with its recorded size."""
    for record in files_from_json(files):
        with contextlib.suppress(OSError):
            if os.stat(record.path).st_size == record.bytes:
                return True
    return False
