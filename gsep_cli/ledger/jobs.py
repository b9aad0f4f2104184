"""Jobs on record: remembering and updating them, finding the one that stands for a work,
listing and forgetting them.

A work is one input's content with one model and stem set, on one API host with one key
(:data:`SAME_WORK`); stems match as a set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..records import (
    ABANDONED,
    FAILED,
    JOB_COLUMN_NAMES,
    JOB_COLUMNS,
    SUCCESS,
    FileRecord,
    JobRecord,
    files_from_json,
    files_json,
    job_from_row,
    job_row,
    stem_set,
)
from .database import Database
from .engine import Sql, upsert

#: The SQL condition for "a job of this work"; its parameters come from :func:`same_work`.
SAME_WORK = "sha256 = ? AND model = ? AND stem_set = ? AND api_host = ? AND key_fp = ?"


def same_work(
    content: str, model: str, stems: Sequence[str], api_host: str, key_fp: str
) -> tuple[str, ...]:
    """The parameters of :data:`SAME_WORK`, in its order (stems as a set)."""
    return (content, model, stem_set(stems), api_host, key_fp)


def insert_job(conn: Sql, rec: JobRecord) -> None:
    """Insert ``rec``, or replace the record with the same job id."""
    conn.execute(upsert("jobs", (*JOB_COLUMN_NAMES, "stem_set"), ("job_id",)), job_row(rec))


def delete_jobs(conn: Sql, job_ids: Sequence[str]) -> int:
    """Delete the jobs with these (distinct) ids, 500 to a statement; how many were deleted."""
    removed = 0
    for start in range(0, len(job_ids), 500):
        chunk = job_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        removed += conn.execute(f"DELETE FROM jobs WHERE job_id IN ({marks})", chunk).rowcount
    return removed


class Jobs(Database):
    """The ledger's part that records jobs and answers questions about them."""

    def record_job(self, rec: JobRecord) -> None:
        """Remember a job (inserts, or replaces the record with the same job id)."""
        self._run(lambda conn: insert_job(conn, rec), write=True)

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

        def change(conn: Sql) -> None:
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
        self, content: str, model: str, stems: Sequence[str], api_host: str, key_fp: str
    ) -> JobRecord | None:
        """The newest job for this content, model, stem set, host and key that still
        stands for the work: not ``failed``, not ``abandoned``. An ``unconfirmed`` record
        (a creation that got no answer) is returned like any other: the caller decides.

        Stems match as a set: ``vocal,drum`` finds a job made with ``drum,vocal``. Whether
        its results have expired is for the caller to check (:meth:`JobRecord.expire_epoch`).
        """
        return self._first_job(
            f"WHERE {SAME_WORK} AND status NOT IN (?, ?) "
            "ORDER BY created_at DESC, updated_at DESC, rowid DESC LIMIT 1",
            (*same_work(content, model, stems, api_host, key_fp), FAILED, ABANDONED),
        )

    def done_jobs(
        self, content: str, model: str, stems: Sequence[str], api_host: str, key_fp: str
    ) -> list[JobRecord]:
        """Every ``success`` job for this work (same match as :meth:`find_job`), newest
        first: after ``--pay-again`` into another folder there are several, and the files
        of an older one may be the ones in the folder asked for."""

        def query(conn: Sql) -> list[JobRecord]:
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE {SAME_WORK} AND status = ? "
                "ORDER BY created_at DESC, updated_at DESC, rowid DESC",
                (*same_work(content, model, stems, api_host, key_fp), SUCCESS),
            ).fetchall()
            return [job_from_row(r) for r in rows]

        return self._run(query, write=False)

    def failure_since(
        self,
        content: str,
        model: str,
        stems: Sequence[str],
        api_host: str,
        key_fp: str,
        since: float,
    ) -> JobRecord | None:
        """The newest ``failed`` job for this work updated at or after ``since`` (epoch s,
        the ledger's clock): what another gsep learnt while this one waited for it."""
        return self._first_job(
            f"WHERE {SAME_WORK} AND status = ? "
            "AND updated_at >= ? ORDER BY updated_at DESC, rowid DESC LIMIT 1",
            (*same_work(content, model, stems, api_host, key_fp), FAILED, since),
        )

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job on record with this id, or None."""
        return self._first_job("WHERE job_id = ?", (job_id,))

    def list_jobs(self, *, limit: int | None = 50) -> list[JobRecord]:
        """Jobs on record, newest first (all of them with ``limit=None``)."""
        if limit is not None and limit <= 0:
            return []

        def query(conn: Sql) -> list[JobRecord]:
            newest = (
                f"SELECT {JOB_COLUMNS} FROM jobs "
                "ORDER BY created_at DESC, updated_at DESC, rowid DESC"
            )
            if limit is None:
                rows = conn.execute(newest).fetchall()
            else:
                rows = conn.execute(f"{newest} LIMIT ?", (int(limit),)).fetchall()
            return [job_from_row(r) for r in rows]

        return self._run(query, write=False)

    def forget_jobs(self, job_ids: Sequence[str]) -> int:
        """Remove these jobs from the record; how many were removed."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return 0
        return self._run(lambda conn: delete_jobs(conn, ids), write=True)

    def _first_job(self, where: str, params: tuple[Any, ...]) -> JobRecord | None:
        """The first job ``SELECT ... FROM jobs <where>`` finds with ``params``, or None."""

        def query(conn: Sql) -> JobRecord | None:
            row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs {where}", params).fetchone()
            return None if row is None else job_from_row(row)

        return self._run(query, write=False)
