"""Job creations recorded before they are sent, so that an answer that never came cannot
make gsep pay twice.

A creation is recorded under a placeholder id (``unconfirmed-<hex>``, status
``unconfirmed``) before the request goes out; the answer turns it into the real job
(:meth:`~Creations.confirm_job`), a refusal removes it, and a user who chooses to pay
again marks it ``abandoned``. A placeholder left behind (timeout, reset, kill -9) makes a
re-run of the same work stop and ask.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence

from ..claims import Claim
from ..records import ABANDONED, UNCONFIRMED, UNCONFIRMED_PREFIX, JobRecord
from .claimbook import ClaimBook
from .engine import Sql
from .jobs import SAME_WORK, insert_job, same_work


class Creations(ClaimBook):
    """The ledger's part that records creations before they are sent (checked against
    the claim on the work, hence built on :class:`~.claimbook.ClaimBook`)."""

    def record_unconfirmed(self, claim: Claim | None, rec: JobRecord) -> str:
        """Record a job creation about to be sent, before it is sent; return the
        placeholder id it is recorded under (``unconfirmed-<hex>``, status ``unconfirmed``),
        stamped with the ledger's clock (``rec``'s times are replaced).

        With a ``claim``, this happens only if the claim is still this process's (in the
        same transaction): raises :class:`~.claimbook.ClaimLost` when another gsep took it over.
        """
        placeholder = UNCONFIRMED_PREFIX + secrets.token_hex(8)
        record = JobRecord(
            placeholder,
            rec.upload_id,
            rec.content,
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
            rec.runner,
        )

        def insert(conn: Sql) -> None:
            if claim is not None:
                self._check_claim(conn, claim)
            # requested now, on the ledger's clock and after the claim: a run that waited
            # for this claim reads the job as made while it waited (never paid again)
            now = self._clock()
            insert_job(conn, dataclasses.replace(record, created_at=now, updated_at=now))

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
        self, content: str, model: str, stems: Sequence[str], api_host: str, key_fp: str
    ) -> int:
        """The user pays again deliberately: mark this work's unconfirmed creations
        ``abandoned`` (kept on record, never matched again). Returns how many."""
        now = self._clock()
        work = same_work(content, model, stems, api_host, key_fp)
        return self._run(
            lambda conn: (
                conn.execute(
                    f"UPDATE jobs SET status = ?, updated_at = ? WHERE {SAME_WORK} AND status = ?",
                    (ABANDONED, now, *work, UNCONFIRMED),
                ).rowcount
            ),
            write=True,
        )
