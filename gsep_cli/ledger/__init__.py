"""The job ledger: what gsep remembers of uploads and jobs between runs, in a small
SQLite file by default, or in a PostgreSQL database that runners on many machines share.

Every GSEP job costs credits. The API keeps an upload for 72 h and a job's results for
48 h, so when ``gsep separate`` runs again on the same content (same bytes, model, stem
set, API host and key) it can re-attach to the job it already paid for, or at least reuse
the upload, instead of paying again. This package is that memory; it never sees the API
key, only :func:`key_fingerprint` of it.

It also keeps the two records that make paying twice impossible rather than unlikely:

* **claims** (:mod:`gsep_cli.claims`): while a gsep process works on a work (see
  :func:`gsep_cli.records.work_key`), it holds a claim; any other gsep given the same work
  waits for it and then re-attaches, and a claim whose holder died is taken over;
* **unconfirmed creations**: a job creation is recorded *before* it is sent, under a
  placeholder id with status ``unconfirmed``, and replaced by the real job when the answer
  comes. When no answer comes (a timeout, a reset, kill -9), the record stays, and a re-run
  refuses to pay again for that work unless told to (``--pay-again``).

The package's face is :class:`Ledger` and the names in ``__all__``; its modules each do
one job, and :class:`Ledger` puts their parts together:

* :mod:`.address`: a ledger URL (``GSEP_LEDGER_URL``), parsed, its password masked;
* :mod:`.location`: where the file lives, and creating it (folder 0700, file 0600);
* :mod:`.keys`: the API host and key fingerprint records are keyed on;
* :mod:`.schema`: the tables and their migrations;
* :mod:`.engine`: the one connection, transactions, bounded retries; its two databases
  are :mod:`.sqlitefile` and :mod:`.postgres`;
* :mod:`.database`: the base of every part: the schema brought up to date on opening;
* :mod:`.hashes`: content hashes of local files, each file version hashed once;
* :mod:`.uploads`, :mod:`.jobs`: the uploads and jobs on record;
* :mod:`.pace`: how long jobs took, so a later run's first polls come when jobs end;
* :mod:`.claimbook`, :mod:`.unconfirmed`: claims and unconfirmed creations (above);
* :mod:`.prune`: dropping what is no longer needed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ..claims import DEFAULT_LEASE
from ..models import UPLOAD_LIFE
from ..records import FileRecord, JobRecord, UploadRecord
from .address import LedgerAddress, masked, parse_address
from .claimbook import ClaimLost
from .engine import Engine
from .hashes import HashCache
from .jobs import Jobs
from .keys import SANDBOX_HOST, api_host, key_fingerprint
from .location import LEDGER_FILE, sandbox_ledger_path, state_dir
from .pace import JobPace
from .prune import Pruning
from .schema import SCHEMA_VERSION
from .sqlitefile import SqliteEngine
from .unconfirmed import Creations
from .uploads import Uploads

__all__ = [
    "LEDGER_FILE",
    "SANDBOX_HOST",
    "SCHEMA_VERSION",
    "UPLOAD_LIFE",
    "ClaimLost",
    "FileRecord",
    "JobRecord",
    "Ledger",
    "LedgerAddress",
    "UploadRecord",
    "api_host",
    "key_fingerprint",
    "masked",
    "parse_address",
    "sandbox_ledger_path",
    "state_dir",
]


class Ledger(Pruning, Creations, Jobs, Uploads, JobPace, HashCache):
    """The uploads and jobs gsep remembers: by default one SQLite file shared by the gsep
    processes of one machine; with a ``postgresql://`` URL, one database shared by
    runners on many machines (:mod:`.postgres`).

    Safe to share between threads (one connection behind a lock) and between processes
    and machines (every write is one transaction, serialised with every other writer's;
    bounded waits and retries). Every method raises
    :class:`~gsep_cli.errors.LedgerError` when the ledger stays locked, is broken or is
    lost, and ValueError once the ledger is closed.

    Its methods come from one part per job, each a :class:`~.database.Database` sharing
    this one connection: :class:`~.hashes.HashCache`, :class:`~.uploads.Uploads`,
    :class:`~.jobs.Jobs`, :class:`~.pace.JobPace`, :class:`~.unconfirmed.Creations` (with
    :class:`~.claimbook.ClaimBook`) and :class:`~.prune.Pruning`.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        url: str | LedgerAddress | None = None,
        clock: Callable[[], float] | None = None,
        lease: float = DEFAULT_LEASE,
        read_only: bool = False,
        db_timeout: float = 60.0,
    ) -> None:
        """Open the ledger and bring its schema up to date when needed: ``url`` when
        given (``postgresql://...``, ``sqlite:///PATH``; see :mod:`.address`), else the
        SQLite file at ``path`` (None: ``<state dir>/ledger.sqlite3``). ``clock`` stamps
        records (epoch seconds; None: :meth:`now`'s, this machine's or, for a shared
        database, its server's); ``lease`` is how long (seconds) another gsep waits for a
        claim whose holder stopped beating before taking it over. ``read_only``: read an
        existing, current ledger and write nothing (see :class:`~.database.Database`).
        ``db_timeout``: a database server's bound on each statement, seconds (each
        transaction gets 10 s more: :mod:`.postgres`).

        Raises :class:`~gsep_cli.errors.LedgerError` when the ledger cannot be created,
        opened or migrated, :class:`~gsep_cli.errors.UsageError` for a URL that is none
        of the above (or a ``postgresql://`` one without the ``postgres`` extra), and
        :class:`~gsep_cli.errors.LedgerUnreachable` (exit 3) when its database server
        cannot be reached or refuses the connection.
        """
        self._start_claims(lease)
        engine = open_engine(path, url, read_only=read_only, timeout=db_timeout)
        super().__init__(engine, clock=clock, read_only=read_only)

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
        return f"Ledger({self.shown!r})"


def open_engine(
    path: Path | None,
    url: str | LedgerAddress | None,
    *,
    read_only: bool = False,
    timeout: float = 60.0,
) -> Engine:
    """The database a :class:`Ledger` runs on (see :meth:`Ledger.__init__`)."""
    if isinstance(url, str) and not url.strip():
        url = None
    if url is not None:
        address = url if isinstance(url, LedgerAddress) else parse_address(url)
        if address.path is None:
            from .postgres import PostgresEngine

            return PostgresEngine(
                address, local_dir=state_dir(), read_only=read_only, timeout=timeout
            )
        path = address.path
    return SqliteEngine(
        Path(path).expanduser() if path is not None else state_dir() / LEDGER_FILE,
        read_only=read_only,
    )
