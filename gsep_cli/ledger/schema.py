"""The ledger's tables, and the migrations that bring an older file up to this version.

The file's ``PRAGMA user_version`` is the schema version it holds; :func:`migrate` applies
the missing steps of :data:`MIGRATIONS` in order.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import LedgerError

#: ``PRAGMA user_version`` of the schema this module writes (see :data:`MIGRATIONS`).
SCHEMA_VERSION = 3

#: Statements that bring the schema from version ``n - 1`` to version ``n``.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE uploads (
            upload_id  TEXT PRIMARY KEY,
            sha256     TEXT NOT NULL,
            size       INTEGER NOT NULL,
            name       TEXT NOT NULL,
            api_host   TEXT NOT NULL,
            key_fp     TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX uploads_by_content ON uploads (sha256, size, api_host, key_fp, created_at)",
        """CREATE TABLE jobs (
            job_id     TEXT PRIMARY KEY,
            upload_id  TEXT NOT NULL,
            sha256     TEXT NOT NULL,
            input_path TEXT NOT NULL,
            model      TEXT NOT NULL,
            stems      TEXT NOT NULL,  -- JSON list, in the order given
            stem_set   TEXT NOT NULL,  -- sorted, de-duplicated, comma-joined: for matching
            api_host   TEXT NOT NULL,
            key_fp     TEXT NOT NULL,
            status     TEXT NOT NULL,
            expire_at  TEXT,
            error      TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            files      TEXT NOT NULL DEFAULT '[]'  -- JSON list of FileRecord objects
        )""",
        "CREATE INDEX jobs_by_content ON jobs (sha256, model, stem_set, api_host, key_fp)",
        "CREATE INDEX jobs_by_age ON jobs (created_at)",
        """CREATE TABLE file_hashes (
            path      TEXT PRIMARY KEY,
            size      INTEGER NOT NULL,
            mtime_ns  INTEGER NOT NULL,
            inode     INTEGER NOT NULL,
            sha256    TEXT NOT NULL,
            hashed_at REAL NOT NULL
        )""",
    ),
    2: (
        # a version of a file is also its status-change time: mtime can be set back
        "ALTER TABLE file_hashes ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT -1",
        """CREATE TABLE claims (
            work_key     TEXT PRIMARY KEY,  -- records.work_key()
            token        TEXT NOT NULL,     -- random, one per claim
            host         TEXT NOT NULL,
            pid          INTEGER NOT NULL,
            started      TEXT NOT NULL,     -- boot id and process start, or ''
            input_path   TEXT NOT NULL,
            claimed_at   REAL NOT NULL,
            heartbeat_at REAL NOT NULL
        )""",
        "CREATE INDEX jobs_by_status ON jobs (status)",
    ),
    3: (
        # how long jobs took (ledger.pace): a later run's first polls come when jobs end
        """CREATE TABLE job_times (
            api_host      TEXT NOT NULL,
            model         TEXT NOT NULL,
            audio_seconds REAL,           -- NULL: the input's length was not measured
            took          REAL NOT NULL,  -- seconds from creation until seen finished
            waited        REAL,           -- last seen running that long after it, or NULL
            seen_at       REAL NOT NULL
        )""",
        "CREATE INDEX job_times_by_model ON job_times (api_host, model, seen_at)",
    ),
}


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the ledger on ``conn`` (the file at ``path``) up to :data:`SCHEMA_VERSION`.

    Run inside a write transaction. Raises :class:`~gsep_cli.errors.LedgerError` when the
    file was written by a newer gsep (a higher schema version).
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"the job ledger at {path} was written by a newer gsep "
            f"(schema {version}, this gsep knows up to {SCHEMA_VERSION})",
            "Upgrade gsep, or point GSEP_STATE_DIR at another folder",
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[target]:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target}")


def check_current(conn: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`~gsep_cli.errors.LedgerError` unless the ledger on ``conn`` (the file
    at ``path``) is at :data:`SCHEMA_VERSION` (what a read-only reader can use as it is)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version != SCHEMA_VERSION:
        raise LedgerError(
            f"the job ledger at {path} has schema {version}, not {SCHEMA_VERSION}",
            "Run gsep once without --dry-run: it brings the ledger up to date",
        )
