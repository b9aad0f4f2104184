"""Claims in the ledger: taking a work (or taking it over from a holder that died or
stopped), releasing it, checking it is still ours, and the heartbeat that keeps the
claims a process holds alive.

Who holds a claim and whether that holder still lives is :mod:`gsep_cli.claims`; this
module keeps the ``claims`` table.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading

from ..claims import Claim, ClaimHolder, Heartbeat, holder_is_live, this_process
from ..errors import GsepError, UsageError
from ..records import shown_path
from .database import Database
from .engine import Sql, upsert

#: The ``claims`` table's columns, in the order :meth:`ClaimBook.try_claim` writes them.
CLAIM_COLUMNS = (
    "work_key",
    "token",
    "host",
    "pid",
    "started",
    "input_path",
    "claimed_at",
    "heartbeat_at",
)


class ClaimLost(UsageError):
    """Another gsep took over a claim this process held (it was stopped past the lease)."""


class ClaimBook(Database):
    """The ledger's part that keeps claims (call :meth:`_start_claims` before opening)."""

    def _start_claims(self, lease: float) -> None:
        """Set up holding claims, with ``lease`` seconds; before the file is opened, as
        :meth:`close` (also called when opening fails) reads this."""
        #: Seconds after which a claim whose holder stopped beating is taken over.
        self.lease = lease
        self._me = this_process()
        self._held: dict[str, str] = {}  # claim token -> work key, for the heartbeat
        self._heartbeat: Heartbeat | None = None
        self._claims_pid = os.getpid()

    def _after_fork(self) -> None:
        """In a forked child: the claims held are the parent's (never released or beaten
        here), this process is another one, and its heartbeat thread is not here."""
        if os.getpid() == self._claims_pid:
            return
        self._claims_pid = os.getpid()
        self._lock = threading.RLock()
        self._me = this_process()
        self._held = {}
        self._heartbeat = None

    def try_claim(self, work: str, input_path: str) -> Claim | ClaimHolder:
        """Claim a work for this process, or say who holds it.

        Returns a :class:`~gsep_cli.claims.Claim` (this process now holds the work; its
        ``took_over`` names a dead or stopped holder it replaced) or the live
        :class:`~gsep_cli.claims.ClaimHolder` (another process, or another thread of this
        one, works on it: wait and try again). Claims are kept alive by a heartbeat
        until :meth:`release`.
        """
        self._after_fork()
        token = secrets.token_hex(8)
        me = self._me

        def attempt(conn: Sql) -> Claim | ClaimHolder:
            row = conn.execute(
                "SELECT host, pid, started, input_path, claimed_at, heartbeat_at "
                "FROM claims WHERE work_key = ?",
                (work,),
            ).fetchone()
            now = self._now(conn)  # heartbeats are compared across processes and machines
            stale = None
            if row is not None:
                holder = ClaimHolder(str(row[0]), int(row[1]), str(row[2]), str(row[3]), *row[4:])
                if holder_is_live(holder, me, now, self.lease):
                    return holder
                stale = holder
            conn.execute(
                upsert("claims", CLAIM_COLUMNS, ("work_key",)),
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

    def release(self, claim: Claim, *, patience: float | None = None) -> None:
        """Give a claim up (only if it is still this process's; idempotent).
        ``patience``: see :meth:`~.engine.Engine.run` (a claim not released is taken over
        once its heartbeat stops)."""
        self._after_fork()
        with self._lock:
            self._held.pop(claim.token, None)
        self._run(
            lambda conn: conn.execute(
                "DELETE FROM claims WHERE work_key = ? AND token = ?",
                (claim.work_key, claim.token),
            ),
            write=True,
            patience=patience,
        )

    def _check_claim(self, conn: Sql, claim: Claim) -> None:
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
        marks = ", ".join("?" * len(tokens))
        with contextlib.suppress(GsepError, ValueError):  # a missed beat is not fatal
            self._run(
                lambda conn: conn.execute(
                    f"UPDATE claims SET heartbeat_at = ? WHERE token IN ({marks})",
                    (self._now(conn), *tokens),
                ),
                write=True,
            )

    def close(self) -> None:
        """Release the claims still held and close the file (idempotent); in a forked
        child, only the child's own."""
        self._after_fork()
        with self._lock:
            held = dict(self._held)
        for token, work in held.items():  # never waiting long behind a call that hangs
            with contextlib.suppress(GsepError, ValueError):
                self.release(Claim(work, token), patience=2.0)
        with self._lock:
            if self._heartbeat is not None:
                self._heartbeat.stop()
                self._heartbeat = None
            super().close()
