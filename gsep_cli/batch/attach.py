"""Claims and re-attaching: wait for the gsep that holds a work, take over a dead one's,
and re-attach to the job the ledger knows instead of paying again."""

from __future__ import annotations

import time

from ..claims import Claim, ClaimHolder, this_process
from ..errors import (
    Interrupted,
    JobFailed,
    RequestRejected,
    WaitTimeout,
)
from ..ledger import SANDBOX_HOST, JobRecord
from ..onrecord import job_on_record
from ..records import SUCCESS, utc_text, work_key
from .base import RunnerBase
from .known import Step, next_step, unanswered_refusal
from .plan import InputResult, Work


class Attaching(RunnerBase):
    """The runner's steps that find work already paid for."""

    def _claim(self, work: Work, held_since: float | None = None) -> tuple[Claim, float | None]:
        """Claim the work, waiting while another gsep (or input of this batch) holds it.

        Returns the claim and, if it had to wait (now, or on a first turn put aside), since
        when the holder it waited for had the work (its claim's time, on the ledger's
        clock: what the holder recorded meanwhile is this input's answer). The wait lasts
        as long as the holder lives (it keeps a heartbeat), within ``--timeout`` or else
        the client's longest wait (``GSEP_MAX_WAIT``): waiting always ends.

        On an input's first turn (``held_since`` None), a work held by another gsep
        *process* while this batch still has inputs it has not started is not waited for:
        :class:`PutAside` is raised, and the runner gives the input a second turn after
        the others, with ``held_since`` the time it was first seen held; that turn waits.
        Another input of this batch holding it is always waited for: it is paying.
        """
        assert self.ledger is not None and work.content is not None
        options = self.options
        key = work_key(*self._match(work))
        bound = options.timeout if options.timeout is not None else self.client.max_wait
        limit = time.monotonic() + bound
        # a second turn waited from the first: the holder's failure since then is ours too
        waited_since = held_since
        told = False
        while True:
            got = self.ledger.try_claim(key, str(work.path.resolve()))
            if isinstance(got, Claim):
                if got.took_over is not None:
                    self.client.notice(
                        f"{work.path.name}: {got.took_over.describe()} stopped before finishing "
                        "this input; taking it over"
                    )
                return got, waited_since
            if not told:
                if held_since is None and self._may_put_aside(got):
                    self.client.notice(
                        f"{work.path.name}: {_holder_text(got)}; coming back to it after the others"
                    )
                    raise PutAside(got.claimed_at)
                told = True
                # since when the holder has had it (the ledger's clock, as records are)
                waited_since = min(waited_since or got.claimed_at, got.claimed_at)
                self.client.notice(f"{work.path.name}: {_holder_text(got)}; waiting")
            if self._stopping:
                raise Interrupted("stopped while waiting for another gsep")
            if time.monotonic() >= limit:
                raise WaitTimeout(
                    f"{work.path.name}: {_holder_text(got)} after {bound:g} s",
                    "Run the same command again later: it re-attaches to that work",
                )
            self._stop.wait(self.claim_poll)

    def _may_put_aside(self, holder: ClaimHolder) -> bool:
        """Whether an input whose work ``holder`` holds may wait for its second turn:
        the holder is another process, and inputs not yet started are left to take."""
        if _held_here(holder):
            return False
        with self._turn:
            return self._fresh > 0

    def _claimed(
        self, work: Work, result: InputResult, waited_since: float | None, claim: Claim
    ) -> None:
        """The work is ours: re-attach to what the ledger knows, or pay for a new job."""
        assert self.ledger is not None and work.content is not None
        options = self.options
        match = self._match(work)
        if waited_since is not None:  # the holder's job failed: that is our answer too
            failed = self.ledger.failure_since(*match, since=waited_since)
            if failed is not None:
                result.job_id = failed.job_id
                reason = (failed.error or "no reason given").rpartition(
                    f"job {failed.job_id} failed: "
                )[2]  # the holder recorded its own message: its reason, said once
                raise JobFailed(
                    f"{work.path.name}: job {failed.job_id} failed: {reason}",
                    "Check the input file; run the job again if it looks fine",
                )
        known = job_on_record(self.ledger, match, self.client.notice)
        # a job made while this run waited for its holder is this run's too: --pay-again
        # pays for what was on record before, never for what a runner beside it just paid
        since = self.started_at if waited_since is None else min(self.started_at, waited_since)
        step = next_step(
            known, pay_again=options.pay_again, started_at=since, sandbox_since=self.sandbox_since
        )
        if step is Step.REFUSE:
            assert known is not None
            raise unanswered_refusal(work.path.name, known, pay_again=options.pay_again)
        if step is Step.PAY_FOR_UNANSWERED:
            assert known is not None
            self.ledger.abandon_unconfirmed(*match)
            self.client.notice(
                f"{work.path.name}: the creation requested at {utc_text(known.created_at)} "
                "in an earlier --sandbox command's emulator, now stopped, was never "
                "answered; running the input again (free in the sandbox)"
                if self.sandbox_since is not None and not options.pay_again
                else f"{work.path.name}: paying again for the creation requested at "
                f"{utc_text(known.created_at)} that was never confirmed (--pay-again)"
            )
        elif step is Step.REATTACH:
            assert known is not None
            known = self._job_with_files_here(match, work, known)
            result.reused = "job"
            try:
                self._reattach(known, work, result)
                return
            except _SandboxJobGone:  # a new job, as the API would have re-downloaded
                result.reused, result.job_id, result.upload_id = None, None, None
        elif step is Step.PAY_AGAIN:
            assert known is not None
            self._refuse_before_paying(work)  # nothing said about paying if nothing will be
            self.client.notice(
                f"{work.path.name}: paying for a new job although job {known.job_id} is on "
                "record (--pay-again)"
            )
        self._new_job(work, result, claim)

    def _reattach(self, known: JobRecord, work: Work, result: InputResult) -> None:
        options = self.options
        name = work.path.name
        result.job_id, result.upload_id = known.job_id, known.upload_id
        if options.no_wait:
            result.status = "submitted" if known.status != SUCCESS else "success"
            done = "done" if known.status == SUCCESS else "submitted"
            self.client.notice(f"{name}: already {done} as job {known.job_id}")
            return
        verified = self._verified(known, work)
        complete = self._complete_files(known, work, verified)
        if complete is not None:  # whatever the expiry: the files are here and intact
            result.status, result.files, result.expire_at = "success", complete, known.expire_at
            self.client.notice(f"{name}: already done (job {known.job_id})")
            self._remember_files(known.job_id, work, complete, only_new=True)  # a lost manifest
            return
        # whether the results expired is for the server to say: this machine's clock may
        # be days off, and a wrong "expired" would send the user to pay again
        self.client.notice(f"{name}: re-attaching to job {known.job_id}")
        try:
            self._wait_and_download(known.job_id, work, result, reattach=True)
        except RequestRejected as exc:
            if exc.result_code == 1104 and self.host == SANDBOX_HOST:
                self._sandbox_job_gone(known, name)
            if exc.result_code == 1104:
                raise RequestRejected(
                    f"{name}: job {known.job_id} is no longer known to the server",
                    "gsep pays for each input once: add --pay-again to pay for a new job",
                    result_code=1104,
                ) from None
            if exc.status == 403 and known.status == SUCCESS:  # the result host refused
                when = f" (at {known.expire_at})" if known.expire_at else ""
                raise RequestRejected(
                    f"{name}: the results of job {known.job_id} have expired{when}: the "
                    "result host refuses them",
                    "gsep pays for each input once: add --pay-again to pay for a new job",
                    status=403,
                ) from None
            raise

    def _sandbox_job_gone(self, known: JobRecord, name: str) -> None:
        """A recorded sandbox job that this run's emulator does not know: it ran in the
        emulator of another ``--sandbox`` command, which stops with its command. Against
        the API a re-run within the results' life downloads that job's files again; here
        the closest equivalent is a new job, which costs nothing, so the input is done
        afresh instead of failing with "job no longer known"."""
        self._abandon_sandbox_job(
            known.job_id,
            "its sandbox stopped with the command that ran it",
            f"{name}: job {known.job_id} ran in an earlier --sandbox command's emulator, now "
            "stopped; running the input again (free in the sandbox)",
        )
        raise _SandboxJobGone


class _SandboxJobGone(Exception):
    """Raised by :meth:`Attaching._reattach` for a sandbox job whose emulator is gone."""


class PutAside(Exception):
    """Raised by :meth:`Attaching._claim` on an input's first turn: another gsep process
    holds its work and inputs not yet started are left. The runner takes those first and
    then gives this input its second turn (which waits); ``since`` is when the holder
    claimed the work (epoch s, the ledger's clock). Nothing was paid or written for the input."""

    def __init__(self, since: float) -> None:
        super().__init__(since)
        self.since = since


def _held_here(holder: ClaimHolder) -> bool:
    """Whether this very process holds the claim (another input of this batch): its
    host, pid and start (a pid means nothing in another PID namespace: a container of the
    same host name has its own pid 1)."""
    me = this_process()
    same_start = not (holder.started and me.started) or holder.started == me.started
    return holder.pid == me.pid and holder.host == me.host and same_start


def _holder_text(holder: ClaimHolder) -> str:
    if _held_here(holder):
        return "another input of this batch has the same content and is being processed"
    return f"{holder.describe()} is working on the same input"
