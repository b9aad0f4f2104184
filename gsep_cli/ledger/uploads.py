"""Uploads gsep made, so that the same content can reuse one while the API keeps it.

An upload is kept by the API for :data:`gsep_cli.models.UPLOAD_LIFE` (72 h) and may serve
any number of jobs meanwhile; it is only reusable on the same API host with the same key.
"""

from __future__ import annotations

from typing import Any

from ..records import UploadRecord, shown_path
from .database import Database
from .engine import Sql, upsert

#: The ``uploads`` table's columns, in the order records are written and read.
UPLOAD_COLUMNS = ("upload_id", "sha256", "size", "name", "api_host", "key_fp", "created_at")


class Uploads(Database):
    """The ledger's part that records uploads and finds one to reuse."""

    def record_upload(self, rec: UploadRecord) -> None:
        """Remember an upload (replaces a record with the same upload id)."""
        self._run(
            lambda conn: conn.execute(
                upsert("uploads", UPLOAD_COLUMNS, ("upload_id",)),
                (
                    rec.upload_id,
                    rec.sha256,
                    int(rec.size),
                    shown_path(rec.name),
                    rec.api_host,
                    rec.key_fp,
                    float(rec.created_at),
                ),
            ),
            write=True,
        )

    def find_upload(
        self, sha256: str, size: int, api_host: str, key_fp: str, *, max_age: float
    ) -> UploadRecord | None:
        """The newest upload of this content, host and key made at most ``max_age`` s ago."""
        since = self._clock() - max_age

        def query(conn: Sql) -> UploadRecord | None:
            row = conn.execute(
                "SELECT upload_id, sha256, size, name, api_host, key_fp, created_at FROM uploads "
                "WHERE sha256 = ? AND size = ? AND api_host = ? AND key_fp = ? "
                "AND created_at >= ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (sha256, int(size), api_host, key_fp, since),
            ).fetchone()
            return _upload(row)

        return self._run(query, write=False)

    def get_upload(self, upload_id: str, api_host: str, key_fp: str) -> UploadRecord | None:
        """The upload on record under ``upload_id`` for this host and key, if any (the
        step-by-step commands: ``gsep job create`` learns what it is paying for)."""

        def query(conn: Sql) -> UploadRecord | None:
            row = conn.execute(
                "SELECT upload_id, sha256, size, name, api_host, key_fp, created_at FROM uploads "
                "WHERE upload_id = ? AND api_host = ? AND key_fp = ? LIMIT 1",
                (upload_id, api_host, key_fp),
            ).fetchone()
            return _upload(row)

        return self._run(query, write=False)


def _upload(row: tuple[Any, ...] | None) -> UploadRecord | None:
    if row is None:
        return None
    return UploadRecord(row[0], row[1], int(row[2]), row[3], row[4], row[5], float(row[6]))
