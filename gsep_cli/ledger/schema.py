"""The ledger's tables, and the migrations that bring an older ledger up to this version:
one list for both databases.

The schema version a ledger holds is its engine's to keep (SQLite: ``PRAGMA
user_version``; PostgreSQL: the ``schema_version`` table); :func:`migrate` applies the
missing steps of :data:`MIGRATIONS` in order, each statement as the engine takes it
(:meth:`~.engine.Engine.ddl`: SQLite's types become PostgreSQL's). A new PostgreSQL
database runs every step from the first, exactly as an old SQLite file does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import LedgerError

if TYPE_CHECKING:
    from .engine import Engine, Sql

#: The schema version this module writes (see :data:`MIGRATIONS`).
SCHEMA_VERSION = 5

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
    4: (
        # many machines, one ledger: which runner (host name) made each job, for
        # `gsep jobs`; and the hash cache keyed by host too, since a path names another
        # file on another machine (old rows keep host '': they are never matched again)
        "ALTER TABLE jobs ADD COLUMN runner TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE file_hashes_by_host (
            host      TEXT NOT NULL,
            path      TEXT NOT NULL,
            size      INTEGER NOT NULL,
            mtime_ns  INTEGER NOT NULL,
            inode     INTEGER NOT NULL,
            sha256    TEXT NOT NULL,
            hashed_at REAL NOT NULL,
            ctime_ns  INTEGER NOT NULL DEFAULT -1,
            PRIMARY KEY (host, path)
        )""",
        "INSERT INTO file_hashes_by_host "
        "(host, path, size, mtime_ns, inode, sha256, hashed_at, ctime_ns) "
        "SELECT '', path, size, mtime_ns, inode, sha256, hashed_at, ctime_ns FROM file_hashes",
        "DROP TABLE file_hashes",
        "ALTER TABLE file_hashes_by_host RENAME TO file_hashes",
    ),
    5: (
        # the block map taken with the hash (gsep_cli.blockmap): an upload is checked
        # against it instead of reading the file again; NULL: none was taken
        "ALTER TABLE file_hashes ADD COLUMN blocks BLOB",
    ),
}


def migrate(conn: Sql, engine: Engine) -> None:
    """Bring the ledger on ``conn`` up to :data:`SCHEMA_VERSION`.

    Run inside a write transaction (so two gsep processes never migrate at once). Raises
    :class:`~gsep_cli.errors.LedgerError` when the ledger was written by a newer gsep (a
    higher schema version).
    """
    version = engine.schema_version(conn)
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"the job ledger at {engine.shown} was written by a newer gsep "
            f"(schema {version}, this gsep knows up to {SCHEMA_VERSION})",
            "Upgrade gsep, or use another ledger (GSEP_STATE_DIR, GSEP_LEDGER_URL)",
        )
    if version == SCHEMA_VERSION:
        return
    engine.prepare(conn)
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[target]:
            conn.execute(engine.ddl(statement))
        engine.set_schema_version(conn, target)


def check_current(conn: Sql, engine: Engine) -> None:
    """Raise :class:`~gsep_cli.errors.LedgerError` unless the ledger on ``conn`` is at
    :data:`SCHEMA_VERSION` (what a read-only reader can use as it is)."""
    version = engine.schema_version(conn)
    if version == 0:
        raise LedgerError(
            f"there is no job ledger at {engine.shown} yet", "Run gsep once to make it"
        )
    if version != SCHEMA_VERSION:
        raise LedgerError(
            f"the job ledger at {engine.shown} has schema {version}, not {SCHEMA_VERSION}",
            "Run gsep once without --dry-run: it brings the ledger up to date",
        )
