"""The shared ledger: a PostgreSQL database that runners on many machines use at once
(``GSEP_LEDGER_URL=postgresql://...``), through psycopg 3 (the ``gsep-cli[postgres]``
extra, imported only here, only when such a URL is used).

* Tables live in a schema of their own, ``gsep``, so a database that holds other things
  is not cluttered (or clashed with).
* Writers are serialised by one transaction-level advisory lock (``pg_advisory_xact_lock``):
  the same one-writer-at-a-time rule SQLite's file lock gives, so a claim's read-then-take
  is atomic across machines. Writes are a few small rows per input: the lock is held for
  milliseconds.
* Every wait is bounded: connecting (``connect_timeout``, 10 s), a dead peer (TCP
  keepalives and ``tcp_user_timeout``), the advisory lock (``lock_timeout``, 10 s), any
  statement (``statement_timeout``, 60 s: ``GSEP_LEDGER_TIMEOUT``), and any transaction
  10 s more, by gsep's own watchdog (a server that hangs enforces nothing). A URL (or
  ``PG*`` variable) that sets one of libpq's own keeps its value.
* A connection lost during a run (a restart, a failover) is opened again, waiting up to
  20 s for the server; the first connection failing is :class:`LedgerUnreachable`.
* Claims are stamped and compared on the database's clock (:meth:`PostgresEngine.now`):
  runners' clocks need not agree.
* A connection lost before a transaction commits is re-opened and the transaction run
  again (it was rolled back); lost while committing, the outcome is unknown and a
  :class:`~gsep_cli.errors.LedgerError` says so.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import LedgerError, LedgerUnreachable, UsageError
from ..redact import redact
from .address import LedgerAddress
from .engine import Engine, Rows, Sql

_T = TypeVar("_T")

#: The schema gsep's tables live in.
SCHEMA = "gsep"
#: The advisory lock key every writer takes (an arbitrary constant: "gsep" in ASCII).
WRITE_LOCK = 0x67736570
#: libpq connection parameters gsep sets when neither the URL nor a PG* variable does.
_DEFAULTS = {
    "connect_timeout": ("PGCONNECT_TIMEOUT", "10"),
    "keepalives": (None, "1"),
    "keepalives_idle": (None, "10"),
    "keepalives_interval": (None, "5"),
    "keepalives_count": (None, "3"),
    "tcp_user_timeout": (None, "30000"),  # milliseconds
    "application_name": ("PGAPPNAME", "gsep"),
}
_SESSION = (
    f"SET search_path TO {SCHEMA}",
    "SET lock_timeout = '10s'",
)
#: Retries of a transaction the server rolled back (a serialisation failure, a deadlock):
#: after these, the error stands.
_ATTEMPTS = 3
#: Seconds added to the statement timeout for the longest one transaction may take: past
#: it gsep ends the connection itself (a server that hangs enforces nothing).
_MARGIN = 10.0
#: How long a run waits for a lost database to come back (a restart, a failover), seconds.
RECONNECT_WAIT = 20.0


class _Lost(Exception):
    """A connection lost during a run could not be opened again (yet)."""


def _sever(conn: Any, fired: threading.Event) -> None:
    """Shut the connection's socket (the watchdog): a wait on it ends at once, with an
    error, in the thread that waits."""
    fired.set()
    with contextlib.suppress(Exception):
        dup = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            dup.shutdown(socket.SHUT_RDWR)
        finally:
            dup.close()


def _load_driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UsageError(
            "a postgresql:// ledger needs the PostgreSQL driver, which is not installed",
            "Install it with: pip install 'gsep-cli[postgres]' (or unset GSEP_LEDGER_URL "
            "to use the ledger in the state folder)",
        ) from None
    return psycopg


def _first_line(exc: BaseException) -> str:
    """libpq's message, on one line (its tabs and line breaks as spaces), secrets out."""
    text = " ".join(" ".join(str(exc).split("\n")[:2]).split()) or type(exc).__name__
    return redact(text)[:300]


class _Statements:
    """A psycopg connection speaking the ledger's SQL: ``?`` placeholders become
    ``%s``, and text PostgreSQL cannot hold (NUL, unpaired surrogates; only ever in
    display columns: keys are hex or SHA-256) is made storable."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Rows:
        query = sql.replace("%", "%%").replace("?", "%s")
        return self._conn.execute(query, [_storable(p) for p in params])


def _storable(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


class PostgresEngine(Engine):
    """The ledger in the PostgreSQL database at ``address`` (see the module docstring)."""

    shared_clock = True

    def __init__(
        self,
        address: LedgerAddress,
        *,
        local_dir: Path,
        read_only: bool = False,
        timeout: float = 60.0,
    ) -> None:
        """Connect; ``local_dir`` holds the files kept beside the ledger; ``timeout``
        (seconds) bounds each statement (the server's ``statement_timeout``) and, with
        a margin of 10 s, each transaction (gsep's own watchdog). Raises
        :class:`~gsep_cli.errors.UsageError` without the driver and
        :class:`~gsep_cli.errors.LedgerUnreachable` (exit 3) when the database cannot be
        reached or refuses the connection."""
        super().__init__()
        self._psycopg = _load_driver()
        self._target = address.target
        self.shown = address.shown
        self.local_dir = local_dir
        self.warnings = []
        self._read_only = read_only
        self._given_up = False  # a lost database was waited for in vain (see _attempts)
        self.timeout = timeout
        self.open()

    def _connect(self) -> Any:
        psycopg = self._psycopg
        given = self._given_parameters()
        extra = {
            name: value
            for name, (variable, value) in _DEFAULTS.items()
            if name not in given and not (variable and os.environ.get(variable))
        }
        try:
            conn = psycopg.connect(self._target, autocommit=True, **extra)
        except psycopg.Error as exc:
            raise LedgerUnreachable(
                f"cannot reach the job ledger at {self.shown}: {_first_line(exc)}",
                "Check GSEP_LEDGER_URL (or --ledger): the server, the database name, the user "
                "and its password (PGPASSWORD or ~/.pgpass); no work was started",
            ) from None
        try:
            for statement in _SESSION:
                conn.execute(statement)
            milliseconds = max(1, int(self.timeout * 1000))
            conn.execute(f"SET statement_timeout = {milliseconds}")
            conn.execute(f"SET idle_in_transaction_session_timeout = {milliseconds}")
            if self._read_only:
                conn.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            with contextlib.suppress(Exception):
                conn.close()
            raise LedgerUnreachable(
                f"the job ledger at {self.shown} refused gsep's session settings: "
                f"{_first_line(exc)}",
                "Check the database user's rights; no work was started",
            ) from None
        return conn

    def _given_parameters(self) -> set[str]:
        try:
            return set(self._psycopg.conninfo.conninfo_to_dict(self._target))
        except self._psycopg.Error as exc:
            raise UsageError(
                f"the ledger URL {self.shown} cannot be used: {_first_line(exc)}",
                "Use e.g. postgresql://gsep@db.example.com/gsep",
            ) from None

    def _disconnect(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def _transaction(self, conn: Any, fn: Callable[[Sql], _T], write: bool) -> _T:
        if conn.broken or conn.closed:  # lost earlier: a fresh one, this transaction on it
            try:
                self._conn = conn = self._connect()
            except LedgerUnreachable as exc:  # not the first connection: work has started
                raise _Lost(exc.message) from None
        committing = False
        # the server enforces statement_timeout, unless it is the server that hangs: past
        # the bound the connection's socket is shut, which ends any wait on it
        bound = self.timeout + _MARGIN
        fired = threading.Event()
        watchdog = threading.Timer(bound, _sever, (conn, fired))
        watchdog.daemon = True
        watchdog.start()
        try:
            with conn.transaction():
                if write:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                result = fn(_Statements(conn))
                committing = True
            return result
        except self._psycopg.OperationalError as exc:
            if fired.is_set():
                unknown = "; whether the record was saved is unknown" if committing else ""
                raise LedgerError(
                    f"the job ledger at {self.shown} stopped answering "
                    f"(no answer within {bound:g} s){unknown}",
                    "Check the database server, then run the same command again (it "
                    "re-attaches to the jobs on record)",
                ) from None
            if committing and write:
                raise LedgerError(
                    f"lost the job ledger at {self.shown} while saving a record: "
                    f"{_first_line(exc)}; whether it was saved is unknown",
                    "Run the same command again: gsep checks the record before paying",
                ) from None
            raise
        finally:
            watchdog.cancel()

    def _attempts(self, action: Callable[[], _T]) -> _T:
        errors = self._psycopg.errors
        again = (errors.SerializationFailure, errors.DeadlockDetected)
        # once a call has waited for a lost database in vain, the next ones try once: a
        # run that fails for it fails in seconds, not 20 s per call
        deadline = time.monotonic() + (0.0 if self._given_up else RECONNECT_WAIT)
        delay = 0.1
        for attempt in itertools.count(1):
            try:
                result = action()
                self._given_up = False
                return result
            except errors.LockNotAvailable:
                raise LedgerError(
                    f"the job ledger at {self.shown} stayed locked by another gsep for 10 s",
                    "Run the command again; if it keeps happening, look for a stuck session "
                    "in pg_stat_activity (application_name 'gsep')",
                ) from None
            except errors.QueryCanceled as exc:
                raise LedgerError(
                    f"the job ledger at {self.shown} took too long to answer: {_first_line(exc)}",
                    "Check the database server's load, then run the command again",
                ) from None
            except again:
                if attempt >= _ATTEMPTS:
                    raise LedgerError(
                        f"the job ledger at {self.shown} kept refusing a write (conflicts)",
                        "Run the command again",
                    ) from None
            except (self._psycopg.OperationalError, _Lost) as exc:
                # a restart or a failover: wait for the server to come back, bounded
                if time.monotonic() + delay > deadline:
                    self._given_up = True
                    raise LedgerError(
                        f"lost the job ledger at {self.shown}: {_first_line(exc)}",
                        "Check the database server and the network, then run the same "
                        "command again (it re-attaches to the jobs on record)",
                    ) from None
            except self._psycopg.Error as exc:
                raise LedgerError(
                    f"the job ledger at {self.shown} cannot be used: {_first_line(exc)}",
                    "Check the database user's rights and the schema 'gsep'",
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def schema_version(self, conn: Sql) -> int:
        found = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (SCHEMA, "schema_version"),
        ).fetchone()
        if found is None:
            return 0
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        return 0 if row is None else int(row[0])

    def set_schema_version(self, conn: Sql, version: int) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (int(version),))

    def prepare(self, conn: Sql) -> None:
        """Make the schema the tables go in, unless it is there (an administrator may have
        made it for a user with no ``CREATE`` on the database, which even ``CREATE SCHEMA
        IF NOT EXISTS`` needs)."""
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = ?", (SCHEMA,))
        if found.fetchone() is None:
            conn.execute(f"CREATE SCHEMA {SCHEMA}")

    def ddl(self, statement: str) -> str:
        """SQLite's types as PostgreSQL's (``REAL`` is 4 bytes there: epoch seconds need
        ``DOUBLE PRECISION``; sizes and nanosecond times need ``BIGINT``; bytes are
        ``BYTEA``), and each new table given the ``rowid`` identity column SQLite tables
        have built in."""
        text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
        text = re.sub(r"\bBLOB\b", "BYTEA", text)
        text = re.sub(r"\bINTEGER\b", "BIGINT", text)
        return re.sub(
            r"^(\s*CREATE TABLE \w+ \()",
            r"\1rowid BIGINT GENERATED BY DEFAULT AS IDENTITY, ",
            text,
        )

    def now(self, conn: Sql) -> float:
        return float(conn.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").fetchone()[0])
