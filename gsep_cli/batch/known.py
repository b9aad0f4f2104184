"""What the ledger already holds for an input, as the runner and the spending guard both
read it: the work an input is, the job on record for it and what the next step is, and
which of that job's files are still here, intact."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path

from ..audio.plan import same_recipe
from ..choices import get_model
from ..client import WrittenFile
from ..errors import GsepError, UsageError
from ..folders import prepare_folders
from ..ledger import SANDBOX_HOST, FileRecord, JobRecord, Ledger
from ..manifest import Manifest
from ..models import RESIDUAL
from ..naming import check_planned_outputs
from ..records import SUCCESS, utc_text
from .plan import BatchOptions, Work, planned_deliverables, planned_paths


class Step(Enum):
    """What the runner does with a work, given the job on record for it (:func:`next_step`)."""

    NEW = "new"  # nothing on record: pay for a new job
    REATTACH = "reattach"  # a job on record: re-attach to it (no new job)
    PAY_AGAIN = "pay-again"  # --pay-again over a job of an earlier run: a new job
    REFUSE = "refuse"  # a creation that got no answer: refused, not paid
    PAY_FOR_UNANSWERED = "pay-for-unanswered"  # --pay-again over such a creation: a new job


def next_step(
    known: JobRecord | None,
    *,
    pay_again: bool,
    started_at: float,
    sandbox_since: float | None = None,
) -> Step:
    """The runner's one rule for a work with ``known`` on record (or None). A record made
    at or after ``started_at`` (epoch s: this run, or one beside it) is never paid again,
    ``--pay-again`` or not: identical inputs share it. In the built-in sandbox,
    ``sandbox_since`` is when the emulator serving this run started (epoch s): a creation
    recorded before it and never answered is run again without ``--pay-again``, since
    the emulator it was sent to stopped with its command, so no job of it can exist (and
    a new one costs nothing). One sent to the emulator still running (a Session's, ``gsep
    mcp --sandbox``'s), or by a run beside this one, is refused as against the API: its
    job may exist there."""
    if known is None:
        return Step.NEW
    this_run = known.created_at >= started_at
    if known.unconfirmed:
        died = sandbox_since is not None and known.created_at < sandbox_since
        if (pay_again or died) and not this_run:
            return Step.PAY_FOR_UNANSWERED
        return Step.REFUSE
    return Step.REATTACH if not pay_again or this_run else Step.PAY_AGAIN


def unanswered_refusal(name: str, known: JobRecord, *, pay_again: bool) -> UsageError:
    """The error of an input whose job creation, on record, got no answer (:attr:`Step.REFUSE`)."""
    again = "run the command again with" if pay_again else "add"
    return UsageError(
        f"{name}: a job for this input was requested at {utc_text(known.created_at)} and no "
        "answer came; it may exist and have cost credits",
        "gsep does not pay again by itself: check your credits (gsep key info), "
        f"then {again} --pay-again to pay for a new job",
    )


class Recorded:
    """The batch's options and the ledger's view of its inputs (no client, no request):
    the base of :class:`~gsep_cli.batch.BatchRunner` and of the spending guard's plan."""

    def __init__(
        self,
        options: BatchOptions,
        *,
        key_fp: str,
        host: str,
        ledger: Ledger | None = None,
        clock: Callable[[], float] = time.time,
        sandbox_since: float | None = None,
    ) -> None:
        """``sandbox_since``: with the built-in sandbox (``host`` is
        :data:`~gsep_cli.ledger.SANDBOX_HOST`), when its emulator started (epoch s); by
        default this run's start, as for a ``--sandbox`` command, whose emulator starts
        with it."""
        self.options = options
        self.spec = get_model(options.model)
        self.ledger = ledger
        self.clock = clock
        #: what the work is recorded under (the API host, or the sandbox's stable name)
        self.host = host
        self.key_fp = key_fp
        #: What a job is created with, and so what a work is: the stems without the
        #: residual (``others`` is never sent; ``all`` is every stem of the model).
        self.job_stems = tuple(s for s in options.stems if s != RESIDUAL)
        #: --pay-again pays again for jobs on record before this run, never for the ones
        #: this run (or one beside it) has just created: identical inputs share those.
        self.started_at = clock()
        #: when the emulator serving this run started (the built-in sandbox only): what
        #: was sent before then went to one that is gone (:func:`next_step`)
        self.sandbox_since: float | None = None
        if host == SANDBOX_HOST:
            self.sandbox_since = self.started_at if sandbox_since is None else sandbox_since
        self.manifest = None if options.manifest is None else Manifest(options.manifest)

    def _match(self, work: Work) -> tuple[str, str, tuple[str, ...], str, str]:
        """What ``work`` is, as jobs are matched and claimed (:attr:`JobRecord.work`)."""
        assert work.content is not None
        return (work.content, self.options.model, self.job_stems, self.host, self.key_fp)

    def _planned(self, work: Work, job: str = "job") -> list[Path]:
        """Where this input's outputs go (``{job}``: the job's id when known)."""
        if self.options.stdout is not None:
            return []
        return planned_paths(self.options, work.source, job)

    def _refuse_before_paying(self, work: Work) -> None:
        """Every local check a new job's outputs must pass, before anything is said about
        paying or sent: files in the way, folders that cannot be made, the manifest.
        Raises: UsageError, LocalFailure. The runner checks them before paying for a job, the
        spending guard to know that an input would not be paid for."""
        options = self.options
        if not options.no_wait and options.stdout is None:  # refuse before paying for a
            planned = self._planned(work)  # job whose files cannot land
            check_planned_outputs(
                planned,
                options.out_dir,
                refuse_existing=not (options.force or options.skip_existing)
                and "{job}" not in options.template,
            )
            prepare_folders(planned, create=False)  # before the first request
            if self.manifest is not None:
                self.manifest.check(planned)

    def _verified(self, known: JobRecord, work: Work) -> list[FileRecord]:
        """The recorded files still on disk as gsep wrote them: the same size and, when
        the record has one, the same SHA-256 (hashed once per file version), and made the
        way this run would make them (a planned file recorded with another recipe, e.g.
        another ``--bit-depth``, ``--mix`` or ``--no-tags``, is made again). No request:
        result hosts often refuse HEAD, and the record says all that is needed."""
        assert self.ledger is not None
        rendering = self.options.chosen_delivery.rendering
        recipes = {
            path.resolve(): item.recipe(rendering)
            for item, path in planned_deliverables(self.options, work.source, known.job_id)
        }
        verified = []
        for record in known.files:
            target = Path(record.path)
            wanted = recipes.get(target)
            if wanted is not None and not same_recipe(record.recipe, wanted):
                continue
            try:
                if not target.is_file() or target.stat().st_size != record.bytes:
                    continue
                if record.sha256 is not None and self.ledger.file_sha256(target) != record.sha256:
                    continue
            except (OSError, GsepError):
                continue
            verified.append(record)
        return verified

    def _job_with_files_here(
        self, match: tuple[str, str, Sequence[str], str, str], work: Work, newest: JobRecord
    ) -> JobRecord:
        """The recorded job to re-attach to: one whose planned outputs are all here and
        intact (then the input is done, whichever job it was, e.g. the older one after
        ``--pay-again`` into another folder), else the one with most of them here, else
        ``newest`` (:meth:`Ledger.find_job`'s answer)."""
        assert self.ledger is not None
        if newest.status == SUCCESS and self._complete_files(
            newest, work, self._verified(newest, work)
        ):
            return newest
        best, most = newest, 0
        for job in self.ledger.done_jobs(*match):
            planned = {p.resolve() for p in self._planned(work, job.job_id)}
            here = len(planned & {Path(r.path) for r in self._verified(job, work)})
            if here and here == len(planned):
                return job
            if here > most:
                best, most = job, here
        return best

    def _complete_files(
        self, known: JobRecord, work: Work, verified: Sequence[FileRecord]
    ) -> list[WrittenFile] | None:
        """Every wanted output already written and intact: nothing to download."""
        if known.status != SUCCESS or self.options.stdout is not None:
            return None
        intact = {Path(r.path): r for r in verified}
        files = []
        for planned in self._planned(work, known.job_id):
            record = intact.get(planned.resolve())
            if record is None:
                return None
            files.append(
                WrittenFile(record.stem, record.format, planned, record.bytes, skipped=True)
            )
        return files
