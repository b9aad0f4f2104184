"""The base every part of :class:`gsep_cli.ledger.Ledger` builds on: the ledger's
database (an :class:`~.engine.Engine`: a SQLite file or a PostgreSQL database), opened,
brought up to the current schema, and reached only through :meth:`Database._run`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .engine import Engine, Sql
from .schema import check_current, migrate

_T = TypeVar("_T")


class Database:
    """The ledger's database behind one connection, shared by threads (see
    :mod:`.engine`)."""

    def __init__(
        self, engine: Engine, *, clock: Callable[[], float] | None, read_only: bool = False
    ) -> None:
        """Bring ``engine``'s schema up to date (``read_only``: only check it is current).
        ``clock`` gives the time records are stamped with (epoch seconds; None: this
        machine's, or the database server's for a ledger many machines share). Raises
        :class:`~gsep_cli.errors.LedgerError` when the schema cannot be read or migrated;
        the engine is closed then.

        ``read_only`` (a dry run): nothing is created or migrated, hashes are not cached,
        and any other write raises ValueError.
        """
        self._engine = engine
        self.read_only = read_only
        self._clock = clock if clock is not None else self._default_clock()
        self._lock = threading.RLock()  # this object's own bookkeeping (claims held)
        self._pid = os.getpid()
        self._closed = False
        try:
            if read_only:
                self._run(lambda conn: check_current(conn, engine), write=False)
            else:
                self._run(lambda conn: migrate(conn, engine), write=True)
        except BaseException:
            self.close()
            raise

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a database server."""
        return getattr(self._engine, "path", None)

    @property
    def shown(self) -> str:
        """Where the ledger is, for messages (never a password)."""
        return self._engine.shown

    @property
    def local_dir(self) -> Path:
        """The local folder for files kept beside the ledger (:mod:`gsep_cli.answers`)."""
        return self._engine.local_dir

    @property
    def warnings(self) -> list[str]:
        """Things about the ledger's files a user should hear (shown by the CLI)."""
        return self._engine.warnings

    def _run(self, fn: Callable[[Sql], _T], *, write: bool, patience: float | None = None) -> _T:
        """``fn(conn)`` in one transaction (serialised with other writers when
        ``write``), retried while the database says "try again"; ``patience``: see
        :meth:`~.engine.Engine.run`."""
        if write and self.read_only:
            raise ValueError("the ledger was opened read-only")
        if os.getpid() != self._pid:  # a forked child: a lock held at fork time stays held
            self._pid, self._lock = os.getpid(), threading.RLock()
        return self._engine.run(fn, write=write, patience=patience)

    def _default_clock(self) -> Callable[[], float]:
        if not self._engine.shared_clock:
            return time.time
        return lambda: self._run(self._engine.now, write=False)

    def now(self) -> float:
        """The time this ledger's records are stamped with (epoch seconds): the database
        server's for a ledger runners on many machines share (their clocks need not
        agree), else this machine's. A run compares its own times (when it started, since
        when it waited) with records on this clock."""
        return self._clock()

    def _now(self, conn: Sql) -> float:
        """The clock claims use (epoch seconds; the database server's when shared)."""
        return self._engine.now(conn)

    def close(self) -> None:
        """Close the database (idempotent); afterwards every use raises ValueError."""
        self._closed = True
        self._engine.close()
