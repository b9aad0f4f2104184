"""What every step of the batch runner shares: the client, the stop flags, and the files
of a job that gsep already wrote; the options, the manifest and the ledger's view of the
inputs come from :class:`~.known.Recorded`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..claims import Claim
from ..client import GsepClient, WrittenFile
from ..errors import GsepError
from ..jobtimes import RECENT, JobTimes, Seen
from ..ledger import Ledger, api_host
from .known import Recorded
from .plan import BatchOptions, InputResult, Work


class RunnerBase(Recorded):
    """The state the runner's steps share (:class:`~gsep_cli.batch.BatchRunner` is made of
    :class:`Attaching`, :class:`Paying` and :class:`Delivering` on top of this). A step
    that another module's step calls is declared here."""

    #: Seconds between two looks at a claim another gsep holds.
    claim_poll = 0.25

    def __init__(
        self,
        client: GsepClient,
        options: BatchOptions,
        *,
        key_fp: str,
        base_url: str,
        host: str | None = None,
        ledger: Ledger | None = None,
        on_result: Callable[[InputResult], None] | None = None,
        clock: Callable[[], float] = time.time,
        sandbox_since: float | None = None,
    ) -> None:
        """``host``: what the work is recorded under when given (the sandbox's stable
        name, :data:`~gsep_cli.ledger.SANDBOX_HOST`), else the base URL's host;
        ``sandbox_since``: when that sandbox's emulator started (see
        :class:`~.known.Recorded`)."""
        host = host if host is not None else api_host(base_url)
        super().__init__(
            options,
            key_fp=key_fp,
            host=host,
            ledger=ledger,
            clock=clock,
            sandbox_since=sandbox_since,
        )
        self.client = client
        self.on_result = on_result
        self.job_times = JobTimes(history=self._learnt_times())
        self._turn = threading.Condition()
        self._in_flight = 0  # job creations sent and not yet recorded
        self._new_jobs = 0  # new jobs this run may have paid for, or is paying for
        #: every input this runner began (under _turn): after Ctrl-C the sandbox's clean-up
        #: looks at all of them, finished or not, since the stop itself ends an input's
        #: wait (it fails with Interrupted) before its job is put on record
        self._begun: list[InputResult] = []
        #: inputs of :meth:`run` whose first turn has not started (under _turn): while some
        #: are left, an input whose work another gsep process holds waits for its second turn
        self._fresh = 0
        self._stopping = False
        self._stop = threading.Event()  # wakes inputs waiting for another gsep's claim

    def _learnt_times(self) -> list[Seen]:
        """How long this host's jobs of this model took in earlier runs (none without a
        ledger, or when it cannot be read: pacing is an optimisation, never a failure)."""
        if self.ledger is None:
            return []
        try:
            return self.ledger.job_times(self.host, self.options.model, RECENT)
        except GsepError:
            return []

    def _learn_time(self, work: Work, took: float, waited: float | None) -> None:
        """A job of this batch was seen finished ``took`` seconds after its creation (and
        still running ``waited`` seconds after it, if a poll said so)."""
        self.job_times.observe(work.seconds, took, waited)
        if self.ledger is not None:
            with contextlib.suppress(GsepError):
                self.ledger.add_job_time(
                    self.host, self.options.model, (work.seconds, took, waited)
                )

    def _already_written(self, job_id: str, work: Work) -> list[Path]:
        """Files of this job that gsep already wrote, still intact: read from the ledger
        just before downloading, since another gsep (one that took over this work, or one
        writing the same job elsewhere) may have written some meanwhile."""
        record = self.ledger.get_job(job_id) if self.ledger is not None else None
        if record is None:
            return []
        return [Path(f.path) for f in self._verified(record, work)]

    def _new_job(self, work: Work, result: InputResult, claim: Claim | None = None) -> None:
        """Pay for a new job and see it through (:class:`~gsep_cli.batch.paying.Paying`)."""
        raise NotImplementedError

    def _wait_and_download(
        self, job_id: str, work: Work, result: InputResult, *, reattach: bool = False
    ) -> None:
        """Wait for the job, deliver its results (:class:`~.delivery.Delivering`)."""
        raise NotImplementedError

    def _abandon_sandbox_job(self, job_id: str, reason: str, notice: str) -> None:
        """Put a sandbox job on record as abandoned (``reason``) and say ``notice``: its
        emulator stopped with the command that ran it, so nothing can reach it again."""
        from ..records import ABANDONED

        assert self.ledger is not None
        self.ledger.update_job(job_id, status=ABANDONED, error=reason)
        self.client.notice(notice)

    def _remember_files(
        self, job_id: str, work: Work, written: Sequence[WrittenFile], *, only_new: bool = False
    ) -> None:
        """Cache the files' hashes, list them in the manifest if one was asked for
        (:class:`~.delivery.Delivering`)."""
        raise NotImplementedError
