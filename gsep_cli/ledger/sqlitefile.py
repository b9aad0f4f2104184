"""The embedded ledger: one SQLite file, shared by the gsep processes of one machine.

Concurrency: the file is in WAL mode, so readers never wait for a writer. Every write is
one ``BEGIN IMMEDIATE`` transaction; when another process holds the write lock, SQLite's
busy handler waits, and the whole transaction is retried with a bounded backoff for at
most about 10 s in all, then a :class:`~gsep_cli.errors.LedgerError` says so.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import LedgerError
from .engine import Engine, Sql
from .location import ledger_problem, prepare_file

_T = TypeVar("_T")


def _is_locked(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (any extended code)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SqliteEngine(Engine):
    """The ledger file at ``path`` (created 0600 in a 0700 folder when gsep makes it)."""

    #: Longest total wait for another process's write lock, in seconds.
    lock_timeout: float = 10.0

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open the file at ``path``; ``read_only``: it must exist already (nothing is
        created). Raises :class:`~gsep_cli.errors.LedgerError` when it cannot be created
        or opened."""
        super().__init__()
        self.path = path
        self.shown = str(path)
        self.local_dir = path.parent
        if read_only and not os.path.isfile(path):
            raise LedgerError(f"there is no job ledger at {path}", "Run gsep once to make it")
        self.warnings = [] if read_only else prepare_file(path)
        self.open()

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
                timeout=self.lock_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # shared between threads, always under self._lock
            )
        except sqlite3.DatabaseError as exc:
            raise self._db_error(exc) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")
            self._attempts(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _disconnect(self, conn: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def _transaction(self, conn: sqlite3.Connection, fn: Callable[[Sql], _T], write: bool) -> _T:
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

    def _attempts(self, action: Callable[[], _T]) -> _T:
        """Run ``action``; while the file is locked, back off and retry (bounded)."""
        deadline = time.monotonic() + self.lock_timeout
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
                        f"(waited {self.lock_timeout:g} s)",
                        "Wait for the other gsep to finish and run the command again (fuser "
                        f"'{self.path}' shows which process holds it; moving the ledger away "
                        "would make gsep forget which jobs it already paid for)",
                    ) from None
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 2, 0.25)

    def schema_version(self, conn: Sql) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, conn: Sql, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")
