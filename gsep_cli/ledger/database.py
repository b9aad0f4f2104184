"""The ledger's one SQLite connection: opening the file, running statements in one
transaction each, and waiting (bounded) while another process holds the write lock.

Concurrency: the file is in WAL mode, so readers never wait for a writer. Every write is
one ``BEGIN IMMEDIATE`` transaction; when another process holds the write lock, SQLite's
busy handler waits, and the whole transaction is retried with a bounded backoff for at
most about 10 s in all, then a :class:`~gsep_cli.errors.LedgerError` says so. Inside one
process a :class:`Database` holds one connection guarded by a lock, so any number of
threads may share it; a forked child opens its own.

:class:`Database` is the base every part of :class:`gsep_cli.ledger.Ledger` builds on:
the parts reach the file only through :meth:`Database._run`.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import LedgerError
from .location import LEDGER_FILE, ledger_problem, prepare_file, state_dir
from .schema import check_current, migrate

_T = TypeVar("_T")


def _is_locked(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (any extended code)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Database:
    """The ledger file behind one connection, shared by threads (see the module docstring)."""

    #: Longest total wait for another process's write lock, in seconds.
    _lock_timeout: float = 10.0

    def __init__(
        self, path: Path | None, *, clock: Callable[[], float], read_only: bool = False
    ) -> None:
        """Open (creating when needed) the ledger at ``path`` (None: the state dir's) and
        bring its schema up to date. ``clock`` gives the time records are stamped with
        (epoch seconds). Raises :class:`~gsep_cli.errors.LedgerError` when the file cannot
        be created, opened or migrated, or stays locked.

        ``read_only``: only read an existing ledger of the current schema (a dry run):
        nothing is created or migrated, hashes are not cached, and any other write raises
        ValueError; LedgerError when the file is absent or of another schema.
        """
        self.path = Path(path).expanduser() if path is not None else state_dir() / LEDGER_FILE
        self.read_only = read_only
        self._clock = clock
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []  # from before a fork: never touched
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        if read_only and not os.path.isfile(self.path):
            raise LedgerError(f"there is no job ledger at {self.path}", "Run gsep once to make it")
        #: Things about the ledger's files a user should hear (shown by the CLI).
        self.warnings: list[str] = [] if read_only else prepare_file(self.path)
        self._conn = self._connect()
        try:
            if read_only:
                self._run(lambda conn: check_current(conn, self.path), write=False)
            else:
                self._run(lambda conn: migrate(conn, self.path), write=True)
        except BaseException:
            self.close()
            raise

    # ---- opening ----------------------------------------------------------------------
    def _db_error(self, exc: sqlite3.DatabaseError) -> LedgerError:
        code = getattr(exc, "sqlite_errorcode", None)
        text = str(exc).lower()
        if (isinstance(code, int) and code & 0xFF in (11, 26)) or (
            "not a database" in text or "malformed" in text
        ):
            return ledger_problem(self.path, f"is corrupt ({exc})")
        return ledger_problem(self.path, f"cannot be used ({exc})")

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
                        "Wait for the other gsep to finish and run the command again (fuser "
                        f"'{self.path}' shows which process holds it; moving the ledger away "
                        "would make gsep forget which jobs it already paid for)",
                    ) from None
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 2, 0.25)

    def _run(self, fn: Callable[[sqlite3.Connection], _T], *, write: bool) -> _T:
        """``fn(conn)`` in one transaction (``BEGIN IMMEDIATE`` when ``write``), retried."""

        if write and self.read_only:
            raise ValueError("the ledger was opened read-only")

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
        """Close the file (idempotent); afterwards every use raises ValueError."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None and os.getpid() == self._pid:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
