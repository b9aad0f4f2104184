"""The job ledger: a small SQLite file that remembers uploads and jobs between runs.

Every GSEP job costs credits. The API keeps an upload for 72 h and a job's results for
48 h, so when ``gsep separate`` runs again on the same content (same bytes, model, stem
set, API host and key) it can re-attach to the job it already paid for, or at least reuse
the upload, instead of paying again. This package is that memory; it never sees the API
key, only :func:`key_fingerprint` of it.

It also keeps the two records that make paying twice impossible rather than unlikely:

* **claims** (:mod:`gsep_cli.claims`): while a gsep process works on a work (see
  :func:`gsep_cli.records.work_key`), it holds a claim; any other gsep given the same work
  waits for it and then re-attaches, and a claim whose holder died is taken over;
* **unconfirmed creations**: a job creation is recorded *before* it is sent, under a
  placeholder id with status ``unconfirmed``, and replaced by the real job when the answer
  comes. When no answer comes (a timeout, a reset, kill -9), the record stays, and a re-run
  refuses to pay again for that work unless told to (``--pay-again``).

Where the file lives and how it is created: :mod:`.location`. How processes and threads
share it (WAL mode, one ``BEGIN IMMEDIATE`` transaction per write, a bounded wait for
another process's lock): :mod:`.database`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..claims import DEFAULT_LEASE, Claim, ClaimHolder, Heartbeat, holder_is_live, this_process
from ..errors import GsepError, UsageError
from ..models import UPLOAD_LIFE
from ..records import (
    ABANDONED,
    FAILED,
    JOB_COLUMNS,
    UNCONFIRMED,
    UNCONFIRMED_PREFIX,
    FileRecord,
    JobRecord,
    UploadRecord,
    expire_epoch,
    files_from_json,
    files_json,
    job_from_row,
    job_row,
    shown_path,
    stem_set,
)
from .hashes import HASH_CACHE_LIFE, HashCache
from .keys import api_host, key_fingerprint
from .location import LEDGER_FILE, state_dir
from .schema import SCHEMA_VERSION
from .uploads import Uploads

__all__ = [
    "LEDGER_FILE",
    "SCHEMA_VERSION",
    "UPLOAD_LIFE",
    "ClaimLost",
    "FileRecord",
    "JobRecord",
    "Ledger",
    "UploadRecord",
    "api_host",
    "key_fingerprint",
    "state_dir",
]


class ClaimLost(UsageError):
    """Another gsep took over a claim this process held (it was stopped past the lease)."""


# ---- the ledger ---------------------------------------------------------------------------
class Ledger(Uploads, HashCache):
    """The uploads and jobs gsep remembers, in one SQLite file shared by every gsep process.

    Safe to share between threads (one connection behind a lock) and between processes
    (WAL mode, ``BEGIN IMMEDIATE`` writes, bounded retries when the file is locked).
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        #: Seconds after which a claim whose holder stopped beating is taken over.
        self.lease = lease
        self._me = this_process()
        self._held: dict[str, str] = {}  # claim token -> work key, for the heartbeat
        self._heartbeat: Heartbeat | None = None
        super().__init__(path, clock=clock)

    def close(self) -> None:
        """Release the claims still held and close the file (idempotent)."""
        with self._lock:
            held = dict(self._held)
        for token, work in held.items():
            with contextlib.suppress(GsepError, ValueError):
                self.release(Claim(work, token))
        with self._lock:
            if self._heartbeat is not None:
                self._heartbeat.stop()
                self._heartbeat = None
            super().close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # ---- jobs -----------------------------------------------------------------------------
    def record_job(self, rec: JobRecord) -> None:
        """Remember a job (inserts, or replaces the record with the same job id)."""
        self._run(lambda conn: _insert_job(conn, rec), write=True)

    def update_job(
        self,
        job_id: str,
        *,
        status: str | None = None,
        expire_at: str | None = None,
        error: str | None = None,
        clear_error: bool = False,
        files: Sequence[FileRecord] | None = None,
    ) -> None:
        """Change only the given fields of a job and bump its ``updated_at``.

        ``files`` are merged into the recorded ones by (stem, format, path), the new
        ones winning: one job's results may be written to several folders (other ``-o``,
        identical inputs under other names), and each copy is gsep's own.
        ``clear_error`` forgets a previous run's error. A job that is not on record is
        left alone (nothing happens).
        """

        def change(conn: sqlite3.Connection) -> None:
            sets = ["updated_at = ?"]
            values: list[Any] = [self._clock()]
            for column, value in (("status", status), ("expire_at", expire_at), ("error", error)):
                if value is not None:
                    sets.append(f"{column} = ?")
                    values.append(value)
            if clear_error and error is None:
                sets.append("error = NULL")
            if files is not None:
                row = conn.execute("SELECT files FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
                if row is None:
                    return
                merged = {(f.stem, f.format, f.path): f for f in files_from_json(row[0])}
                merged.update({(f.stem, f.format, f.path): f for f in files})
                sets.append("files = ?")
                values.append(files_json(merged.values()))
            conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE job_id = ?", (*values, job_id))

        self._run(change, write=True)

    def find_job(
        self, sha256: str, model: str, stems: Sequence[str], api_host: str, key_fp: str
    ) -> JobRecord | None:
        """The newest job for this content, model, stem set, host and key that still
        stands for the work: not ``failed``, not ``abandoned``. An ``unconfirmed`` record
        (a creation that got no answer) is returned like any other: the caller decides.

        Stems match as a set: ``vocal,drum`` finds a job made with ``drum,vocal``. Whether
        its results have expired is for the caller to check (:meth:`JobRecord.expire_epoch`).
        """

        def query(conn: sqlite3.Connection) -> JobRecord | None:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE sha256 = ? AND model = ? "
                "AND stem_set = ? AND api_host = ? AND key_fp = ? AND status NOT IN (?, ?) "
                "ORDER BY created_at DESC, updated_at DESC, rowid DESC LIMIT 1",
                (sha256, model, stem_set(stems), api_host, key_fp, FAILED, ABANDONED),
            ).fetchone()
            return None if row is None else job_from_row(row)

        return self._run(query, write=False)

    def failure_since(
        self,
        sha256: str,
        model: str,
        stems: Sequence[str],
        api_host: str,
        key_fp: str,
        since: float,
    ) -> JobRecord | None:
        """The newest ``failed`` job for this work updated at or after ``since`` (epoch s,
        the ledger's clock): what another gsep learnt while this one waited for it."""

        def query(conn: sqlite3.Connection) -> JobRecord | None:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE sha256 = ? AND model = ? "
                "AND stem_set = ? AND api_host = ? AND key_fp = ? AND status = ? "
                "AND updated_at >= ? ORDER BY updated_at DESC, rowid DESC LIMIT 1",
                (sha256, model, stem_set(stems), api_host, key_fp, FAILED, since),
            ).fetchone()
            return None if row is None else job_from_row(row)

        return self._run(query, write=False)

    # ---- creations that may not have been answered -----------------------------------------
    def record_unconfirmed(self, claim: Claim | None, rec: JobRecord) -> str:
        """Record a job creation about to be sent, before it is sent; return the
        placeholder id it is recorded under (``unconfirmed-<hex>``, status ``unconfirmed``).

        With a ``claim``, this happens only if the claim is still this process's (in the
        same transaction): raises :class:`ClaimLost` when another gsep took it over.
        """
        placeholder = UNCONFIRMED_PREFIX + secrets.token_hex(8)
        record = JobRecord(
            placeholder,
            rec.upload_id,
            rec.sha256,
            rec.input_path,
            rec.model,
            rec.stems,
            rec.api_host,
            rec.key_fp,
            UNCONFIRMED,
            None,
            None,
            rec.created_at,
            rec.updated_at,
            (),
        )

        def insert(conn: sqlite3.Connection) -> None:
            if claim is not None:
                self._check_claim(conn, claim)
            _insert_job(conn, record)

        self._run(insert, write=True)
        return placeholder

    def confirm_job(self, placeholder: str, job_id: str, status: str) -> None:
        """The answer came: the placeholder becomes the job ``job_id`` with ``status``."""
        now = self._clock()
        self._run(
            lambda conn: conn.execute(
                "UPDATE jobs SET job_id = ?, status = ?, updated_at = ? WHERE job_id = ?",
                (job_id, status, now, placeholder),
            ),
            write=True,
        )

    def drop_unconfirmed(self, placeholder: str) -> None:
        """The creation certainly did not happen (the server refused it): forget it."""
        self._run(
            lambda conn: conn.execute(
                "DELETE FROM jobs WHERE job_id = ? AND status = ?", (placeholder, UNCONFIRMED)
            ),
            write=True,
        )

    def abandon_unconfirmed(
        self, sha256: str, model: str, stems: Sequence[str], api_host: str, key_fp: str
    ) -> int:
        """The user pays again deliberately: mark this work's unconfirmed creations
        ``abandoned`` (kept on record, never matched again). Returns how many."""
        now = self._clock()
        return self._run(
            lambda conn: (
                conn.execute(
                    "UPDATE jobs SET status = ?, updated_at = ? WHERE sha256 = ? AND model = ? "
                    "AND stem_set = ? AND api_host = ? AND key_fp = ? AND status = ?",
                    (ABANDONED, now, sha256, model, stem_set(stems), api_host, key_fp, UNCONFIRMED),
                ).rowcount
            ),
            write=True,
        )

    # ---- claims -----------------------------------------------------------------------------
    def try_claim(self, work: str, input_path: str) -> Claim | ClaimHolder:
        """Claim a work for this process, or say who holds it.

        Returns a :class:`~gsep_cli.claims.Claim` (this process now holds the work; its
        ``took_over`` names a dead or stopped holder it replaced) or the live
        :class:`~gsep_cli.claims.ClaimHolder` (another process, or another thread of this
        one, works on it: wait and try again). Claims are kept alive by a heartbeat
        until :meth:`release`.
        """
        token = secrets.token_hex(8)
        me = self._me

        def attempt(conn: sqlite3.Connection) -> Claim | ClaimHolder:
            row = conn.execute(
                "SELECT host, pid, started, input_path, claimed_at, heartbeat_at "
                "FROM claims WHERE work_key = ?",
                (work,),
            ).fetchone()
            now = time.time()  # wall clock: heartbeats are compared across processes
            stale = None
            if row is not None:
                holder = ClaimHolder(str(row[0]), int(row[1]), str(row[2]), str(row[3]), *row[4:])
                if holder_is_live(holder, me, now, self.lease):
                    return holder
                stale = holder
            conn.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (work, token, me.host, me.pid, me.started, shown_path(input_path), now, now),
            )
            return Claim(work, token, stale)

        result = self._run(attempt, write=True)
        if isinstance(result, Claim):
            with self._lock:
                self._held[result.token] = work
                if self._heartbeat is None:
                    self._heartbeat = Heartbeat(self._beat, max(0.05, self.lease / 6))
        return result

    def release(self, claim: Claim) -> None:
        """Give a claim up (only if it is still this process's; idempotent)."""
        with self._lock:
            self._held.pop(claim.token, None)
        self._run(
            lambda conn: conn.execute(
                "DELETE FROM claims WHERE work_key = ? AND token = ?",
                (claim.work_key, claim.token),
            ),
            write=True,
        )

    def _check_claim(self, conn: sqlite3.Connection, claim: Claim) -> None:
        row = conn.execute(
            "SELECT token, host, pid FROM claims WHERE work_key = ?", (claim.work_key,)
        ).fetchone()
        if row is None or row[0] != claim.token:
            who = f"gsep pid {row[2]} on {row[1]}" if row is not None else "another gsep"
            raise ClaimLost(
                f"{who} took this work over while this gsep was stopped for more than "
                f"{self.lease:g} s; it pays for the job and finishes it, so this one stops",
                "Run the same command again once it is done to collect the files",
            )

    def _beat(self) -> None:
        """Refresh the heartbeat of every claim this ledger holds (the heartbeat thread)."""
        with self._lock:
            tokens = list(self._held)
        if not tokens or self._closed:
            return
        now = time.time()
        marks = ", ".join("?" * len(tokens))
        with contextlib.suppress(GsepError, ValueError):  # a missed beat is not fatal
            self._run(
                lambda conn: conn.execute(
                    f"UPDATE claims SET heartbeat_at = ? WHERE token IN ({marks})",
                    (now, *tokens),
                ),
                write=True,
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job on record with this id, or None."""

        def query(conn: sqlite3.Connection) -> JobRecord | None:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            return None if row is None else job_from_row(row)

        return self._run(query, write=False)

    def list_jobs(self, *, limit: int | None = 50) -> list[JobRecord]:
        """Jobs on record, newest first (all of them with ``limit=None``)."""
        if limit is not None and limit <= 0:
            return []

        def query(conn: sqlite3.Connection) -> list[JobRecord]:
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs "
                "ORDER BY created_at DESC, updated_at DESC, rowid DESC LIMIT ?",
                (-1 if limit is None else int(limit),),
            ).fetchall()
            return [job_from_row(r) for r in rows]

        return self._run(query, write=False)

    def forget_jobs(self, job_ids: Sequence[str]) -> int:
        """Remove these jobs from the record; how many were removed."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return 0

        def delete(conn: sqlite3.Connection) -> int:
            removed = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                removed += conn.execute(
                    f"DELETE FROM jobs WHERE job_id IN ({marks})", chunk
                ).rowcount
            return removed

        return self._run(delete, write=True)

    def prune(self, *, older_than: float | None = None) -> int:
        """Drop jobs whose results expired (unless files gsep wrote for them are still
        on disk: those records are what makes re-running the same command "already
        done"), uploads past 72 h and, with ``older_than`` (seconds), every job not
        updated for that long. Returns the rows removed (jobs + uploads); stale
        hash-cache rows go too but are not counted.
        """
        now = self._clock()

        def delete(conn: sqlite3.Connection) -> int:
            doomed: set[str] = set()
            for job_id, expire_at, files in conn.execute(
                "SELECT job_id, expire_at, files FROM jobs WHERE expire_at IS NOT NULL"
            ).fetchall():
                epoch = expire_epoch(expire_at)
                if epoch is not None and epoch < now and not _any_on_disk(files):
                    doomed.add(job_id)
            if older_than is not None:
                doomed.update(
                    r[0]
                    for r in conn.execute(
                        "SELECT job_id FROM jobs WHERE updated_at < ?", (now - older_than,)
                    )
                )
            removed = 0
            ordered = sorted(doomed)
            for start in range(0, len(ordered), 500):
                chunk = ordered[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                removed += conn.execute(
                    f"DELETE FROM jobs WHERE job_id IN ({marks})", chunk
                ).rowcount
            removed += conn.execute(
                "DELETE FROM uploads WHERE created_at < ?", (now - UPLOAD_LIFE,)
            ).rowcount
            conn.execute("DELETE FROM file_hashes WHERE hashed_at < ?", (now - HASH_CACHE_LIFE,))
            return removed

        return self._run(delete, write=True)


def _insert_job(conn: sqlite3.Connection, rec: JobRecord) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO jobs ({JOB_COLUMNS}, stem_set) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        job_row(rec),
    )


def _any_on_disk(files: str | None) -> bool:
    """Whether any recorded file is still where gsep wrote it, with its recorded size."""
    for record in files_from_json(files):
        with contextlib.suppress(OSError):
            if os.stat(record.path).st_size == record.bytes:
                return True
    return False
