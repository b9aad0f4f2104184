"""The database under the ledger, whichever it is: one connection shared by threads, a
function run in one transaction, bounded retries, and what differs between SQLite and
PostgreSQL (types, the schema version, the clock claims are compared on).

The ledger's parts (:mod:`.jobs`, :mod:`.claimbook`, ...) write their SQL once, in the
subset both databases speak: ``?`` placeholders, ``INSERT ... ON CONFLICT (...) DO
UPDATE`` (SQLite 3.24+), ``rowid`` as the order rows were inserted in (SQLite's own; a
PostgreSQL table gets an identity column of that name, :meth:`Engine.ddl`). An
:class:`Engine` runs it:

* :class:`~.sqlite.SqliteEngine`: a file in WAL mode; writers take the file's write lock
  (``BEGIN IMMEDIATE``);
* :class:`~.postgres.PostgresEngine`: a PostgreSQL database; writers take one
  transaction-level advisory lock, so writes are serialised exactly as with SQLite and
  every part's read-then-write (a claim, a merge of files) stays atomic across machines.

Inside one process an engine holds one connection behind a lock, so any number of threads
share it; a forked child opens its own (a connection must not cross ``fork()``).
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..errors import LedgerError

_T = TypeVar("_T")


class Rows(Protocol):
    """What a statement returns: sqlite3's and psycopg's cursors both are this."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Sql(Protocol):
    """A connection inside one transaction: ``execute(sql, params)`` with ``?``
    placeholders (see the module docstring for the SQL both databases speak)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Rows: ...


class Engine(ABC):
    """One database connection shared by the threads of a process (see the module
    docstring). Subclasses connect, run a transaction and say how to retry."""

    #: Where the ledger is, for messages (a file's path, a URL without its password).
    shown: str
    #: The local folder for files kept beside the ledger (:mod:`gsep_cli.answers`).
    local_dir: Path
    #: Things about the ledger a user should hear (shown by the CLI).
    warnings: list[str]
    #: Whether runners on other machines share it: then its records are stamped, and
    #: times compared, on the database's clock (:meth:`now`), not this machine's.
    shared_clock: bool = False

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._conn: Any = None
        self._inherited: list[Any] = []  # from before a fork: never touched
        self._closed = False

    # ---- what each database does its own way -------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """A new connection (raises :class:`~gsep_cli.errors.GsepError` subclasses)."""

    @abstractmethod
    def _transaction(self, conn: Any, fn: Callable[[Sql], _T], write: bool) -> _T:
        """``fn`` in one transaction on ``conn`` (serialised with other writers when
        ``write``), committed when it returns, rolled back when it raises."""

    @abstractmethod
    def _attempts(self, action: Callable[[], _T]) -> _T:
        """``action()``, retried (bounded) while the database says "try again"; its own
        errors become :class:`~gsep_cli.errors.LedgerError`."""

    @abstractmethod
    def _disconnect(self, conn: Any) -> None:
        """Close a connection, ignoring errors."""

    @abstractmethod
    def schema_version(self, conn: Sql) -> int:
        """The schema version the database holds (0: none yet)."""

    @abstractmethod
    def set_schema_version(self, conn: Sql, version: int) -> None:
        """Record ``version`` as the schema the database holds."""

    def prepare(self, conn: Sql) -> None:  # noqa: B027  (most databases need nothing)
        """Whatever the database needs before the first migration (nothing, for a file)."""

    def ddl(self, statement: str) -> str:
        """A schema statement (:data:`~.schema.MIGRATIONS`) as this database takes it."""
        return statement

    def now(self, conn: Sql) -> float:
        """The clock claims are stamped and compared with (epoch seconds): for a ledger
        shared by many machines, the database's, so their clocks need not agree."""
        return time.time()

    # ---- shared ---------------------------------------------------------------------------
    def open(self) -> None:
        """Connect (subclasses call this once their settings are in place)."""
        self._conn = self._connect()

    def _connection(self) -> Any:
        """The connection (call with self._lock held); a fresh one in a forked child."""
        if self._closed or self._conn is None:
            raise ValueError("the ledger is closed")
        if os.getpid() != self._pid:
            self._inherited.append(self._conn)
            self._pid = os.getpid()
            self._conn = self._connect()
        return self._conn

    def run(self, fn: Callable[[Sql], _T], *, write: bool, patience: float | None = None) -> _T:
        """``fn(conn)`` in one transaction (see :meth:`_transaction`), retried.
        ``patience``: wait at most that long (seconds) for another thread's use of the
        connection to end, then raise :class:`~gsep_cli.errors.LedgerError` (clean-up after
        an interrupt must not wait behind a call that hangs)."""
        if os.getpid() != self._pid:
            self._lock = threading.RLock()  # a lock held at fork time would never be freed

        def attempt() -> _T:
            if not self._lock.acquire(timeout=-1 if patience is None else patience):
                raise LedgerError(
                    f"the job ledger at {self.shown} is busy with a call that has not ended",
                    "Run the same command again",
                )
            try:
                return self._transaction(self._connection(), fn, write)
            finally:
                self._lock.release()

        return self._attempts(attempt)

    def close(self, patience: float = 2.0) -> None:
        """Close the connection (idempotent); afterwards every use raises ValueError.
        A connection another thread still waits on after ``patience`` seconds is left
        to that thread's own bound (and to the process's end)."""
        got = self._lock.acquire(timeout=patience)
        try:
            self._closed = True
            if not got:
                return
            conn, self._conn = self._conn, None
            if conn is not None and os.getpid() == self._pid:
                self._disconnect(conn)
        finally:
            if got:
                self._lock.release()


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """``INSERT INTO table (columns) VALUES (?, ...)`` that replaces the row with the same
    ``key`` columns: the standard ``ON CONFLICT ... DO UPDATE`` both databases take."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )
