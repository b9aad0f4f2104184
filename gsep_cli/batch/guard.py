"""The spending guard: how many new jobs a batch would pay for, worked out before any
request from exactly what the runner reads (the ledger's job for each input's work,
:func:`~.known.next_step`, the files still here), so ``--max-jobs`` can refuse a run and
``--dry-run`` can say which inputs would be paid for."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..choices import check_lyrics_file
from ..errors import GsepError, SpendingLimit
from ..ledger import SANDBOX_HOST, JobRecord, Ledger
from ..onrecord import peek_job_on_record
from ..preflight import preflight
from ..records import job_key, work_key
from .known import Recorded, Step, next_step, unanswered_refusal
from .plan import BatchOptions, Work

#: The note of an input that the run would refuse before paying (its outputs cannot land).
REFUSED = "refused before paying"

#: What to do when a run would pay for more jobs than ``--max-jobs`` allows.
LIMIT_HINT = (
    "Raise --max-jobs, give fewer inputs, or see which inputs would be paid for with --dry-run"
)


@dataclass(frozen=True)
class InputPlan:
    """What a run would do with one input, as far as paying goes.

    ``new``: a new job would be paid for. Otherwise one of: ``job_id``, the job on
    record it would re-attach to; ``same_as``, an earlier input of the batch with the same
    work (content, model, stems, host, key), whose job it shares; ``error``, why the input
    would fail before paying (it cannot be read, or a creation on record got no answer).
    ``note``: why, in words (empty for a plain new job)."""

    input: Path
    new: bool
    job_id: str | None = None
    same_as: Path | None = None
    error: GsepError | None = None
    note: str = ""


def new_jobs(plans: Sequence[InputPlan]) -> int:
    """How many of ``plans`` would pay for a new job."""
    return sum(1 for plan in plans if plan.new)


def limit_error(count: int, limit: int) -> SpendingLimit:
    """The refusal of a run that would create ``count`` new jobs, over ``limit``."""
    jobs = "job" if count == 1 else "jobs"
    return SpendingLimit(
        f"this run would create {count} new {jobs}, more than --max-jobs {limit}", LIMIT_HINT
    )


def over_limit_error(name: str, limit: int) -> SpendingLimit:
    """The error of the input that would be new job ``limit + 1`` of a running batch."""
    return SpendingLimit(
        f"{name}: this run would create more than --max-jobs {limit} new jobs (this input "
        f"would be new job {limit + 1}); not uploaded",
        LIMIT_HINT,
    )


class Planning(Recorded):
    """The guard's plan: each input's fate as the runner would decide it (no request)."""

    def plan(self, inputs: Sequence[Path]) -> list[InputPlan]:
        """One :class:`InputPlan` per input, in order.

        Each input is checked (:func:`~gsep_cli.preflight.preflight`, its lyrics) and
        hashed (through the ledger's cache) as the runner does; its work is looked up as
        the runner looks it up (a creation answered meanwhile is read, not recorded).
        Without a ledger every input is a new job, as in the runner. Inputs with the same
        work share one job. Claims other gsep processes hold are not looked at: their work
        counts as it stands on record. Raises LedgerError when the ledger cannot be read."""
        first: dict[str, InputPlan] = {}
        plans = []
        for path in inputs:
            work = self._work_of(path)
            if isinstance(work, GsepError):
                plans.append(InputPlan(path, False, error=work, note="fails its checks"))
                continue
            if self.ledger is None:
                plans.append(self._payable(work, InputPlan(path, True)))
                continue
            key = work_key(*self._match(work))
            earlier = first.get(key)
            if earlier is not None and (earlier.new or earlier.error is not None):
                plans.append(self._shared(path, earlier))
                continue
            # an earlier input re-attaching to a job on record leaves the record as it
            # was: this one decides on it alone (in the sandbox its files may be missing
            # here, and then it runs afresh, and later ones share that new job)
            plan = self._plan_work(work)
            if (earlier is None or plan.new) and plan.note != REFUSED:
                # (an input refused for its own outputs leaves the work to the next one)
                first[key] = plan
            plans.append(plan)
        return plans

    def check_spending(self, inputs: Sequence[Path]) -> list[InputPlan]:
        """:meth:`plan`, refused with :class:`~gsep_cli.errors.SpendingLimit` when it
        would create more new jobs than ``options.max_jobs`` (None: no limit)."""
        plans = self.plan(inputs)
        limit = self.options.max_jobs
        if limit is not None and new_jobs(plans) > limit:
            raise limit_error(new_jobs(plans), limit)
        return plans

    def _work_of(self, path: Path) -> Work | GsepError:
        """The input's work (content hashed), or why the runner would fail it first."""
        try:
            checked = preflight(path, self.spec)
            lyrics = self.options.lyrics_for(path)
            if lyrics is not None:
                check_lyrics_file(lyrics)
            work = Work(path, checked.bytes, None, lyrics)
            if self.ledger is not None:
                work.sha, work.version = self.ledger.file_digest(path)
                text = self.ledger.file_sha256(lyrics) if lyrics is not None else None
                work.content = job_key(work.sha, text, self.options.language)
        except GsepError as exc:
            return exc
        except OSError as exc:  # vanished between its checks and its hashing
            return GsepError(f"{path}: {exc.strerror or exc}")
        return work

    def _shared(self, path: Path, earlier: InputPlan) -> InputPlan:
        """An input whose work an earlier input of the batch pays for (or is refused): the
        runner claims the work for the first and then re-attaches the second to the job
        it created (or fails it the same way), so it never pays."""
        if earlier.error is not None:
            return InputPlan(path, False, error=earlier.error, note=earlier.note)
        return InputPlan(
            path, False, job_id=earlier.job_id, same_as=earlier.input, note="same work"
        )

    def _payable(self, work: Work, plan: InputPlan) -> InputPlan:
        """``plan`` of a new job, unless the runner would refuse the input before paying
        (its outputs in the way without ``--force``, a folder that cannot be made, the
        manifest): then no job, and the refusal as the run would give it."""
        if not plan.new:
            return plan
        try:
            self._refuse_before_paying(work)
        except GsepError as exc:
            return InputPlan(work.path, False, error=exc, note=REFUSED)
        return plan

    def _plan_work(self, work: Work) -> InputPlan:
        return self._payable(work, self._decide(work))

    def _decide(self, work: Work) -> InputPlan:
        """What the runner would do with ``work`` given the ledger (no local check)."""
        assert self.ledger is not None
        options, path = self.options, work.path
        match = self._match(work)
        known = peek_job_on_record(self.ledger, match)
        step = next_step(
            known,
            pay_again=options.pay_again,
            started_at=self.started_at,
            sandbox_since=self.sandbox_since,
        )
        if step is Step.NEW:
            return InputPlan(path, True)
        assert known is not None
        if step is Step.REFUSE:
            error = unanswered_refusal(path.name, known, pay_again=options.pay_again)
            return InputPlan(path, False, error=error, note="creation never answered")
        if step is Step.PAY_FOR_UNANSWERED:
            if self.sandbox_since is not None and not options.pay_again:
                return InputPlan(path, True, note="its creation died with an earlier sandbox")
            return InputPlan(path, True, note="paying again for a creation never answered")
        if step is Step.PAY_AGAIN:
            return InputPlan(path, True, note=f"paying again over job {known.job_id}")
        job = self._job_with_files_here(match, work, known)
        if self._gone_with_its_sandbox(job, work):
            return InputPlan(path, True, note=f"job {job.job_id} ran in an earlier sandbox")
        return InputPlan(path, False, job_id=job.job_id, note="on record")

    def _gone_with_its_sandbox(self, job: JobRecord, work: Work) -> bool:
        """Re-attaching would need the job's emulator, which stopped with the --sandbox
        command that ran it: the runner then runs the input afresh (a new, free job).
        Only a job whose files are all here (or ``--no-wait``) needs no request."""
        if self.host != SANDBOX_HOST or self.options.no_wait:
            return False
        return self._complete_files(job, work, self._verified(job, work)) is None


def plan_jobs(
    options: BatchOptions,
    inputs: Sequence[Path],
    *,
    ledger: Ledger | None,
    host: str,
    key_fp: str,
    clock: Callable[[], float] = time.time,
) -> list[InputPlan]:
    """For each input, whether ``gsep separate`` with ``options`` would pay for a new job
    (see :class:`InputPlan`, :meth:`Planning.plan`); no request, nothing written but the
    ledger's hash cache. ``host``: the API host the work is recorded under
    (:func:`gsep_cli.ledger.api_host`, or :data:`~gsep_cli.ledger.SANDBOX_HOST`);
    ``key_fp``: :func:`gsep_cli.ledger.key_fingerprint` of the key. Raises LedgerError
    when the ledger cannot be read."""
    planner = Planning(options, key_fp=key_fp, host=host, ledger=ledger, clock=clock)
    return planner.plan(inputs)
