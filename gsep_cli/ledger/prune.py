"""Pruning: forgetting what the ledger no longer needs - uploads the API no longer keeps,
old hash-cache rows, and (only when asked) jobs untouched for long."""

from __future__ import annotations

import contextlib
import os

from ..claims import this_process
from ..models import UPLOAD_LIFE
from ..records import UNCONFIRMED, files_from_json
from .database import Database
from .engine import Sql
from .hashes import HASH_CACHE_LIFE
from .jobs import delete_jobs


class Pruning(Database):
    """The ledger's part that drops stale records."""

    def prune(self, *, older_than: float | None = None) -> int:
        """Drop uploads past 72 h (the API no longer keeps them) and stale hash-cache
        rows; with ``older_than`` (seconds), also every job not updated for that long,
        except those with files gsep wrote still on disk (their records are what makes
        re-running the same command "already done"), those another runner made (in a
        shared ledger: its disk cannot be seen from here, so their files may well be
        there) and creations never confirmed (they may have been paid for: only
        ``--pay-again`` or ``ledger forget`` drops them).
        Returns the rows removed (jobs + uploads); hash-cache rows are not counted.

        Jobs are never dropped by default, not even those whose results expired: a job
        on record is what keeps a re-run from paying for the same work again by itself,
        and a forgotten one would be paid for again without a word.
        """
        now = self._clock()

        def delete(conn: Sql) -> int:
            removed = 0
            if older_than is not None:
                doomed = [
                    job_id
                    for job_id, files in conn.execute(
                        "SELECT job_id, files FROM jobs WHERE updated_at < ? AND status != ? "
                        "AND runner IN ('', ?)",
                        (now - older_than, UNCONFIRMED, this_process().host),
                    ).fetchall()
                    if not _any_on_disk(files)
                ]
                removed += delete_jobs(conn, sorted(doomed))
            removed += conn.execute(
                "DELETE FROM uploads WHERE created_at < ?", (now - UPLOAD_LIFE,)
            ).rowcount
            conn.execute("DELETE FROM file_hashes WHERE hashed_at < ?", (now - HASH_CACHE_LIFE,))
            return removed

        return self._run(delete, write=True)


def _any_on_disk(files: str | None) -> bool:
    """Whether any recorded file is still where gsep wrote it, with its recorded size."""
    for record in files_from_json(files):
        with contextlib.suppress(OSError):
            if os.stat(record.path).st_size == record.bytes:
                return True
    return False
