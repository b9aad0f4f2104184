"""The job ledger: a small SQLite file that remembers uploads and jobs between runs.

Every GSEP job costs credits. The API keeps an upload for 72 h and a job's results for
48 h, so when ``gsep separate`` runs again on the same content (same bytes, model, stem
set, API host and key) it can re-attach to the job it already paid for, or at least reuse
the upload, instead of paying again. This module is that memory; it never sees the API
key, only :func:`key_fingerprint` of it.

Where: ``<state dir>/ledger.sqlite3``. State dir: ``$GSEP_STATE_DIR``, else
``$XDG_STATE_HOME/gsep`` when that is set, else platformdirs' user state dir for ``gsep``.
The folder is created 0700 and the file 0600.

Concurrency: the file is in WAL mode, so readers never wait for a writer. Every write is
one ``BEGIN IMMEDIATE`` transaction; when another process holds the write lock, SQLite's
busy handler waits, and the whole transaction is retried with a bounded backoff for at
most about 10 s in all, then a :class:`~gsep_cli.errors.ConfigError` says so. Inside one
process a :class:`Ledger` holds one connection guarded by a lock, so any number of
threads may share it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .config import user_dir
from .errors import ConfigError, UsageError

__all__ = [
    "LEDGER_FILE",
    "SCHEMA_VERSION",
    "UPLOAD_LIFE",
    "FileRecord",
    "JobRecord",
    "Ledger",
    "UploadRecord",
    "api_host",
    "key_fingerprint",
    "state_dir",
]

LEDGER_FILE = "ledger.sqlite3"
#: ``PRAGMA user_version`` of the schema this module writes (see ``_MIGRATIONS``).
SCHEMA_VERSION = 1
#: How long the API keeps an upload (seconds); :meth:`Ledger.prune` drops older ones.
UPLOAD_LIFE = 72 * 3600.0
#: Hash-cache rows older than this are dropped by :meth:`Ledger.prune` (rehash is cheap).
HASH_CACHE_LIFE = 30 * 86400.0
FAILED = "failed"
_BLOCK = 1 << 20  # 1 MiB
_FP_PREFIX = b"gsep-key-fingerprint:"
_T = TypeVar("_T")


# ---- locations and identities ------------------------------------------------------------
def state_dir() -> Path:
    """The folder holding the ledger (see the module docstring for the order)."""
    return user_dir("state")


def key_fingerprint(api_key: str) -> str:
    """A short, one-way fingerprint of an API key (16 hex characters); the key is never stored."""
    return hashlib.sha256(_FP_PREFIX + api_key.encode("utf-8")).hexdigest()[:16]


def api_host(base_url: str) -> str:
    """``scheme://host[:port]`` of an API base URL, lower-cased, default ports dropped.

    Uploads and jobs are only reusable on the same API host.
    """
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if scheme not in ("http", "https") or not host:
        raise UsageError(
            f"base URL {base_url!r} is not an http(s) URL",
            "Use e.g. https://restapi.gaudiolab.io/developers/api",
        )
    host = host.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


# ---- records ------------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadRecord:
    """One upload the API accepted (usable for 72 h on the same host and key)."""

    upload_id: str
    sha256: str
    size: int
    name: str
    api_host: str
    key_fp: str
    created_at: float


@dataclass(frozen=True)
class FileRecord:
    """One downloaded stem file."""

    stem: str
    format: str
    path: str
    bytes: int


_ISO = re.compile(
    r"""
    (?P<y>\d{4})-?(?P<mo>\d{2})-?(?P<d>\d{2})
    (?:[T\s]
        (?P<h>\d{2})
        (?::?(?P<mi>\d{2})
            (?::?(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?
        )?
    )?
    \s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?
    """,
    re.VERBOSE | re.IGNORECASE,
)


def _parse_iso(text: str) -> float | None:
    """Epoch seconds of an ISO-8601 date/time (no zone = UTC), or None."""
    m = _ISO.fullmatch(text.strip())
    if m is None:
        return None
    hour, minute, second = int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0)
    extra = 0.0
    if hour == 24 and minute == second == 0 and not (m["f"] and int(m["f"])):
        hour, extra = 0, 86400.0  # 24:00 is the end of the day
    if second == 60:  # a leap second
        second, extra = 59, 1.0
    tz = timezone.utc
    zone = (m["tz"] or "Z").upper()
    if zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = timezone(-offset if zone[0] == "-" else offset)
    stamp = datetime(int(m["y"]), int(m["mo"]), int(m["d"]), hour, minute, second, tzinfo=tz)
    fraction = int(m["f"]) / 10 ** len(m["f"]) if m["f"] else 0.0
    return stamp.timestamp() + extra + fraction


def _expire_epoch(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return _parse_iso(value)
    except (ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True)
class JobRecord:
    """One job gsep created, with what became of it."""

    job_id: str
    upload_id: str
    sha256: str
    input_path: str
    model: str
    stems: tuple[str, ...]
    api_host: str
    key_fp: str
    status: str
    expire_at: str | None
    error: str | None
    created_at: float
    updated_at: float
    files: tuple[FileRecord, ...]

    def __post_init__(self) -> None:
        # accept lists from callers; keep the record hashable and immutable
        object.__setattr__(self, "stems", tuple(self.stems))
        object.__setattr__(self, "files", tuple(self.files))

    def expire_epoch(self) -> float | None:
        """When the results expire (epoch seconds), from any ISO-8601 ``expire_at``.

        A time without a zone is UTC. None when absent or not parsable; never raises.
        """
        return _expire_epoch(self.expire_at)


# ---- hashing ------------------------------------------------------------------------------
def _hash_file(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks (one read of the file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# ---- schema -------------------------------------------------------------------------------
#: Statements that bring the schema from version ``n - 1`` to version ``n``.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
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
}

_JOB_COLUMNS = (
    "job_id, upload_id, sha256, input_path, model, stems, api_host, key_fp, status, "
    "expire_at, error, created_at, updated_at, files"
)


def _stem_set(stems: Iterable[str]) -> str:
    return ",".join(sorted(set(stems)))


def _files_json(files: Iterable[FileRecord]) -> str:
    return json.dumps(
        [{"stem": f.stem, "format": f.format, "path": f.path, "bytes": f.bytes} for f in files],
        separators=(",", ":"),
    )


def _files_from_json(text: str | None) -> tuple[FileRecord, ...]:
    try:
        items = json.loads(text or "[]")
        return tuple(
            FileRecord(str(i["stem"]), str(i["format"]), str(i["path"]), int(i["bytes"]))
            for i in items
        )
    except (ValueError, TypeError, KeyError):
        return ()


def _stems_from_json(text: str) -> tuple[str, ...]:
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if isinstance(items, list):
        return tuple(str(s) for s in items)
    return tuple(s for s in str(text).split(",") if s)


def _job_from_row(row: Sequence[Any]) -> JobRecord:
    return JobRecord(
        job_id=row[0],
        upload_id=row[1],
        sha256=row[2],
        input_path=row[3],
        model=row[4],
        stems=_stems_from_json(row[5]),
        api_host=row[6],
        key_fp=row[7],
        status=row[8],
        expire_at=row[9],
        error=row[10],
        created_at=float(row[11]),
        updated_at=float(row[12]),
        files=_files_from_json(row[13]),
    )


def _is_locked(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (any extended code)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


# ---- the ledger ---------------------------------------------------------------------------
class Ledger:
    """The uploads and jobs gsep remembers, in one SQLite file shared by every gsep process.

    Safe to share between threads (one connection behind a lock) and between processes
    (WAL mode, ``BEGIN IMMEDIATE`` writes, bounded retries when the file is locked).
    """

    #: Longest total wait for another process's write lock, in seconds.
    _lock_timeout: float = 10.0

    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path).expanduser() if path is not None else state_dir() / LEDGER_FILE
        self._clock = clock
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []  # from before a fork: never touched
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._prepare_file(default=path is None)
        self._conn = self._connect()
        try:
            self._run(self._migrate, write=True)
        except BaseException:
            self.close()
            raise

    # ---- opening ----------------------------------------------------------------------
    def _problem(self, what: str) -> ConfigError:
        return ConfigError(
            f"the job ledger at {self.path} {what}",
            f"Move it away (e.g. mv '{self.path}' '{self.path}.broken'); "
            "gsep will start a new one (it only forgets which jobs it already paid for)",
        )

    def _db_error(self, exc: sqlite3.DatabaseError) -> ConfigError:
        code = getattr(exc, "sqlite_errorcode", None)
        text = str(exc).lower()
        if (isinstance(code, int) and code & 0xFF in (11, 26)) or (
            "not a database" in text or "malformed" in text
        ):
            return self._problem(f"is corrupt ({exc})")
        return self._problem(f"cannot be used ({exc})")

    def _prepare_file(self, *, default: bool) -> None:
        """Create the folder (0700) and an empty file (0600) before SQLite opens it."""
        folder = self.path.parent
        try:
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                default = True
            if default and os.name == "posix":
                with contextlib.suppress(OSError):
                    os.chmod(folder, 0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.name == "posix" and os.fstat(fd).st_mode & 0o777 != 0o600:
                    with contextlib.suppress(OSError):
                        os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._problem(f"cannot be opened ({exc.strerror or exc})") from None

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=self._lock_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # shared between threads, always under self._lock
            )
        except sqlite3.DatabaseError as exc:
            raise self._db_error(exc) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._lock_timeout * 1000)}")
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"the job ledger at {self.path} was written by a newer gsep "
                f"(schema {version}, this gsep knows up to {SCHEMA_VERSION})",
                "Upgrade gsep, or point GSEP_STATE_DIR at another folder",
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")

    def _connection(self) -> sqlite3.Connection:
        """The connection (call with self._lock held); a fresh one in a forked child."""
        if self._closed or self._conn is None:
            raise ValueError("the ledger is closed")
        if os.getpid() != self._pid:
            # a connection must not cross fork(): keep the parent's alive but unused
            self._inherited.append(self._conn)
            self._pid = os.getpid()
            self._conn = self._connect()
        return self._conn

    # ---- running statements -------------------------------------------------------------
    def _retry(self, action: Callable[[], _T]) -> _T:
        """Run ``action``; while the database is locked, back off and retry (bounded)."""
        deadline = time.monotonic() + self._lock_timeout
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as exc:
                if not _is_locked(exc):
                    raise self._db_error(exc) from None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConfigError(
                        f"the job ledger at {self.path} is locked by another gsep process "
                        f"(waited {self._lock_timeout:g} s)",
                        "Wait for the other gsep to finish and run the command again; if no "
                        f"gsep is running, move '{self.path}' away (gsep will start a new one)",
                    ) from None
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 2, 0.25)

    def _run(self, fn: Callable[[sqlite3.Connection], _T], *, write: bool) -> _T:
        """``fn(conn)`` in one transaction (``BEGIN IMMEDIATE`` when ``write``), retried."""

        def attempt() -> _T:
            with self._lock:
                conn = self._connection()
                if not write:
                    return fn(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
                return result

        if os.getpid() != self._pid:
            self._lock = threading.RLock()  # a lock held at fork time would never be freed
        return self._retry(attempt)

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None and os.getpid() == self._pid:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

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

    # ---- content hashes -------------------------------------------------------------------
    def file_sha256(self, path: Path) -> str:
        """Hex SHA-256 of a file, hashed once per file version.

        The cache is keyed on the absolute path, size, mtime_ns and inode: an unchanged
        file is not read again. OSError (missing or unreadable file) propagates.
        """
        where = str(Path(path).resolve())
        before = os.stat(where)
        key = (before.st_size, before.st_mtime_ns, before.st_ino)

        def lookup(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ? "
                "AND inode = ?",
                (where, *key),
            ).fetchone()
            return None if row is None else str(row[0])

        cached = self._run(lookup, write=False)
        if cached is not None:
            return cached
        digest = _hash_file(Path(where))
        after = os.stat(where)
        if (after.st_size, after.st_mtime_ns, after.st_ino) == key:  # not changed meanwhile
            now = self._clock()
            self._run(
                lambda conn: conn.execute(
                    "INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?, ?)",
                    (where, *key, digest, now),
                ),
                write=True,
            )
        return digest

    # ---- uploads --------------------------------------------------------------------------
    def record_upload(self, rec: UploadRecord) -> None:
        """Remember an upload (replaces a record with the same upload id)."""
        self._run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.upload_id,
                    rec.sha256,
                    int(rec.size),
                    rec.name,
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

        def query(conn: sqlite3.Connection) -> UploadRecord | None:
            row = conn.execute(
                "SELECT upload_id, sha256, size, name, api_host, key_fp, created_at FROM uploads "
                "WHERE sha256 = ? AND size = ? AND api_host = ? AND key_fp = ? "
                "AND created_at >= ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (sha256, int(size), api_host, key_fp, since),
            ).fetchone()
            if row is None:
                return None
            return UploadRecord(row[0], row[1], int(row[2]), row[3], row[4], row[5], float(row[6]))

        return self._run(query, write=False)

    # ---- jobs -----------------------------------------------------------------------------
    def record_job(self, rec: JobRecord) -> None:
        """Remember a job (inserts, or replaces the record with the same job id)."""
        self._run(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO jobs ({_JOB_COLUMNS}, stem_set) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.job_id,
                    rec.upload_id,
                    rec.sha256,
                    rec.input_path,
                    rec.model,
                    json.dumps(list(rec.stems)),
                    rec.api_host,
                    rec.key_fp,
                    rec.status,
                    rec.expire_at,
                    rec.error,
                    float(rec.created_at),
                    float(rec.updated_at),
                    _files_json(rec.files),
                    _stem_set(rec.stems),
                ),
            ),
            write=True,
        )

    def update_job(
        self,
        job_id: str,
        *,
        status: str | None = None,
        expire_at: str | None = None,
        error: str | None = None,
        files: Sequence[FileRecord] | None = None,
    ) -> None:
        """Change only the given fields of a job and bump its ``updated_at``.

        ``files`` are merged into the recorded ones by (stem, format), the new ones
        winning. A job that is not on record is left alone (nothing happens).
        """

        def change(conn: sqlite3.Connection) -> None:
            sets = ["updated_at = ?"]
            values: list[Any] = [self._clock()]
            for column, value in (("status", status), ("expire_at", expire_at), ("error", error)):
                if value is not None:
                    sets.append(f"{column} = ?")
                    values.append(value)
            if files is not None:
                row = conn.execute("SELECT files FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
                if row is None:
                    return
                merged = {(f.stem, f.format): f for f in _files_from_json(row[0])}
                merged.update({(f.stem, f.format): f for f in files})
                sets.append("files = ?")
                values.append(_files_json(merged.values()))
            conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE job_id = ?", (*values, job_id))

        self._run(change, write=True)

    def find_job(
        self, sha256: str, model: str, stems: Sequence[str], api_host: str, key_fp: str
    ) -> JobRecord | None:
        """The newest job (not ``failed``) for this content, model, stem set, host and key.

        Stems match as a set: ``vocal,drum`` finds a job made with ``drum,vocal``. Whether
        its results have expired is for the caller to check (:meth:`JobRecord.expire_epoch`).
        """

        def query(conn: sqlite3.Connection) -> JobRecord | None:
            row = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE sha256 = ? AND model = ? "
                "AND stem_set = ? AND api_host = ? AND key_fp = ? AND status != ? "
                "ORDER BY created_at DESC, updated_at DESC, rowid DESC LIMIT 1",
                (sha256, model, _stem_set(stems), api_host, key_fp, FAILED),
            ).fetchone()
            return None if row is None else _job_from_row(row)

        return self._run(query, write=False)

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job on record with this id, or None."""

        def query(conn: sqlite3.Connection) -> JobRecord | None:
            row = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            return None if row is None else _job_from_row(row)

        return self._run(query, write=False)

    def list_jobs(self, *, limit: int | None = 50) -> list[JobRecord]:
        """Jobs on record, newest first (all of them with ``limit=None``)."""
        if limit is not None and limit <= 0:
            return []

        def query(conn: sqlite3.Connection) -> list[JobRecord]:
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs "
                "ORDER BY created_at DESC, updated_at DESC, rowid DESC LIMIT ?",
                (-1 if limit is None else int(limit),),
            ).fetchall()
            return [_job_from_row(r) for r in rows]

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
        """Drop jobs whose results expired, uploads past 72 h and, with ``older_than``
        (seconds), every job not updated for that long. Returns the rows removed
        (jobs + uploads); stale hash-cache rows go too but are not counted.
        """
        now = self._clock()

        def delete(conn: sqlite3.Connection) -> int:
            doomed: set[str] = set()
            for job_id, expire_at in conn.execute(
                "SELECT job_id, expire_at FROM jobs WHERE expire_at IS NOT NULL"
            ).fetchall():
                epoch = _expire_epoch(expire_at)
                if epoch is not None and epoch < now:
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
