"""The job ledger: a small SQLite file that remembers uploads and jobs between runs.

Every GSEP job costs credits. The API keeps an upload for 72 h and a job's results for
48 h, so when ``gsep separate`` runs again on the same content (same bytes, model, stem
set, API host and key) it can re-attach to the job it already paid for, or at least reuse
the upload, instead of paying again. This module is that memory; it never sees the API
key, only :func:`key_fingerprint` of it.

It also keeps the two records that make paying twice impossible rather than unlikely:

* **claims** (:mod:`gsep_cli.claims`): while a gsep process works on a work (see
  :func:`gsep_cli.records.work_key`), it holds a claim; any other gsep given the same work
  waits for it and then re-attaches, and a claim whose holder died is taken over;
* **unconfirmed creations**: a job creation is recorded *before* it is sent, under a
  placeholder id with status ``unconfirmed``, and replaced by the real job when the answer
  comes. When no answer comes (a timeout, a reset, kill -9), the record stays, and a re-run
  refuses to pay again for that work unless told to (``--pay-again``).

Where: ``<state dir>/ledger.sqlite3``. State dir: ``$GSEP_STATE_DIR``, else
``$XDG_STATE_HOME/gsep`` when that is set, else platformdirs' user state dir for ``gsep``.
A folder gsep creates is made 0700 and the file 0600.

Concurrency: the file is in WAL mode, so readers never wait for a writer. Every write is
one ``BEGIN IMMEDIATE`` transaction; when another process holds the write lock, SQLite's
busy handler waits, and the whole transaction is retried with a bounded backoff for at
most about 10 s in all, then a :class:`~gsep_cli.errors.LedgerError` says so. Inside one
process a :class:`Ledger` holds one connection guarded by a lock, so any number of
threads may share it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .claims import DEFAULT_LEASE, Claim, ClaimHolder, Heartbeat, holder_is_live, this_process
from .config import user_dir
from .errors import GsepError, InputChanged, LedgerError, UsageError
from .fileid import FileIdentity
from .inputfile import open_input
from .models import UPLOAD_LIFE
from .records import (
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
    path_key,
    shown_path,
    stem_set,
)

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

LEDGER_FILE = "ledger.sqlite3"
#: ``PRAGMA user_version`` of the schema this module writes (see ``_MIGRATIONS``).
SCHEMA_VERSION = 2
#: Hash-cache rows older than this are dropped by :meth:`Ledger.prune` (rehash is cheap).
HASH_CACHE_LIFE = 30 * 86400.0
_BLOCK = 1 << 20  # 1 MiB
_FP_PREFIX = b"gsep-key-fingerprint:"
_T = TypeVar("_T")


class ClaimLost(UsageError):
    """Another gsep took over a claim this process held (it was stopped past the lease)."""


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


# ---- hashing ------------------------------------------------------------------------------
def _hash_file(path: Path) -> tuple[str, FileIdentity]:
    """Hex SHA-256 of a file's content (1 MiB blocks, one read) and the version hashed.

    The file is opened without blocking and must be a regular file
    (:func:`gsep_cli.inputfile.open_input`); it must not change while it is read. Raises
    :class:`~gsep_cli.errors.UsageError` when it cannot be read or is not a regular file,
    :class:`~gsep_cli.errors.InputChanged` when it changed meanwhile.
    """
    with open_input(path) as fh:
        before = FileIdentity.from_stat(os.fstat(fh.fileno()))
        digest = hashlib.sha256()
        while block := fh.read(_BLOCK):
            digest.update(block)
    changed = before.changed(path)
    if changed is not None:
        raise InputChanged(
            f"{path} changed while gsep was reading it: {changed}",
            "Wait until nothing writes to the file, then run the command again",
        )
    return digest.hexdigest(), before


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
}


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

    def __init__(
        self,
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else state_dir() / LEDGER_FILE
        self._clock = clock
        #: Seconds after which a claim whose holder stopped beating is taken over.
        self.lease = lease
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []  # from before a fork: never touched
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._me = this_process()
        self._held: dict[str, str] = {}  # claim token -> work key, for the heartbeat
        self._heartbeat: Heartbeat | None = None
        #: Things about the ledger's files a user should hear (shown by the CLI).
        self.warnings: list[str] = []
        self._prepare_file()
        self._conn = self._connect()
        try:
            self._run(self._migrate, write=True)
        except BaseException:
            self.close()
            raise

    # ---- opening ----------------------------------------------------------------------
    def _problem(self, what: str) -> LedgerError:
        return LedgerError(
            f"the job ledger at {self.path} {what}",
            f"Move it away (e.g. mv '{self.path}' '{self.path}.broken'); "
            "gsep will start a new one (it only forgets which jobs it already paid for)",
        )

    def _db_error(self, exc: sqlite3.DatabaseError) -> LedgerError:
        code = getattr(exc, "sqlite_errorcode", None)
        text = str(exc).lower()
        if (isinstance(code, int) and code & 0xFF in (11, 26)) or (
            "not a database" in text or "malformed" in text
        ):
            return self._problem(f"is corrupt ({exc})")
        return self._problem(f"cannot be used ({exc})")

    def _prepare_file(self) -> None:
        """Create the folder (0700) and the file (0600) when gsep makes them.

        A folder or file that already exists keeps its mode (gsep changes modes only of
        what it creates, and never through a symbolic link); one that others can read
        gets a warning in :attr:`warnings` instead.
        """
        folder = self.path.parent
        if not os.path.isdir(folder):
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                if os.name == "posix":  # mkdir's mode is reduced by the umask
                    os.chmod(folder, 0o700)
            except OSError as exc:
                raise LedgerError(
                    f"cannot create the state folder {folder}: {exc.strerror or exc}",
                    "Point GSEP_STATE_DIR at a folder you can write to",
                ) from None
        elif os.name == "posix" and not os.path.islink(folder):
            self._warn_if_open(folder, "folder")
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            os.close(os.open(self.path, flags, 0o600))  # ours: 0600 from the start
            return
        except FileExistsError:
            pass
        except OSError as exc:
            if not os.path.lexists(self.path):
                raise LedgerError(
                    f"cannot create the job ledger in {folder}: {exc.strerror or exc}",
                    "Point GSEP_STATE_DIR at a folder you can write to",
                ) from None
        if os.path.isdir(self.path):
            raise self._problem("cannot be opened (it is a folder, not a file)")
        if os.name == "posix" and not os.path.islink(self.path):
            self._warn_if_open(self.path, "file")
        if not os.access(self.path, os.R_OK | os.W_OK):
            raise self._problem("cannot be opened (permission denied)")

    def _warn_if_open(self, path: Path, what: str) -> None:
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                fix = "chmod 700" if what == "folder" else "chmod 600"
                self.warnings.append(
                    f"the job ledger's {what} {path} can be read by other users "
                    f"(mode {mode:o}); it lists your files and jobs: {fix} '{path}'"
                )

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
            raise LedgerError(
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
                    raise LedgerError(
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
        """Hex SHA-256 of a file, hashed once per file version (see :meth:`file_digest`)."""
        return self.file_digest(path)[0]

    def file_digest(self, path: Path) -> tuple[str, FileIdentity]:
        """Hex SHA-256 of a file and the version it belongs to, hashed once per version.

        The cache is keyed on the absolute path, size, mtime_ns, inode and ctime_ns: an
        unchanged file is not read again. Raises OSError (missing or unreadable file) and
        :class:`~gsep_cli.errors.InputChanged` (not a regular file, or it changed while
        it was read).
        """
        where = str(Path(path).resolve())
        current = FileIdentity.of(where)

        def lookup(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ? "
                "AND inode = ? AND ctime_ns = ?",
                (path_key(where), current.size, current.mtime_ns, current.inode, current.ctime_ns),
            ).fetchone()
            return None if row is None else str(row[0])

        cached = self._run(lookup, write=False)
        if cached is not None:
            return cached, current
        digest, version = _hash_file(Path(where))
        self._cache_hash(where, version, digest)
        return digest, version

    def cache_hash(self, path: Path, sha256: str) -> None:
        """Remember the hash of a file gsep just wrote (so checking it later reads nothing).

        The file's current version is what is remembered; OSError when it is gone.
        """
        where = str(Path(path).resolve())
        self._cache_hash(where, FileIdentity.of(where), sha256)

    def _cache_hash(self, where: str, version: FileIdentity, digest: str) -> None:
        now = self._clock()
        self._run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO file_hashes "
                "(path, size, mtime_ns, inode, sha256, hashed_at, ctime_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    path_key(where),
                    version.size,
                    version.mtime_ns,
                    version.inode,
                    digest,
                    now,
                    version.ctime_ns,
                ),
            ),
            write=True,
        )

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
