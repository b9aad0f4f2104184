"""The batch runner: each input in a worker thread, at most ``jobs`` at once; one input
failing never stops the others, and a failure after a job exists never loses it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from ..choices import check_lyrics_file
from ..errors import (
    ExitCode,
    GsepError,
    InternalError,
    Interrupted,
    JobFailed,
    LocalFailure,
)
from ..ledger import SANDBOX_HOST
from ..models import JobStatus
from ..naming import check_output_paths
from ..preflight import preflight
from ..records import ABANDONED, FAILED, SUCCESS, job_key
from ..shield import held, stopping
from .attach import Attaching, PutAside
from .delivery import Delivering
from .guard import Planning
from .paying import Paying
from .plan import InputResult, Work

_TICK = 0.2  # seconds: how often the main thread looks up from its wait
_FINAL = (SUCCESS, FAILED, ABANDONED)  # a job record's statuses that nothing changes again


class BatchRunner(Attaching, Paying, Delivering, Planning):
    """Runs ``gsep separate`` over many inputs; reports each result as it finishes.

    With a ledger, every input's work (:func:`gsep_cli.records.work_key`) is claimed
    before anything is uploaded, so no two gsep processes — nor two inputs of one batch
    with the same content — ever pay for the same work: the second waits for the first
    and then re-attaches to what it recorded.

    Runners given the same whole list (processes sharing one ledger) share it: an input
    whose work another gsep *process* holds is put aside, once, while inputs not yet
    started are left (one notice: "coming back to it after the others"); it gets its
    second turn after them, queued behind every first turn, and that turn waits for the
    holder as above and re-attaches to its job (no new job). So each runner takes what
    no one holds. An input whose work another input of this batch holds still waits at
    once. Results stay in input order, and ``on_result`` sees each input once, when it
    is done.

    With ``options.max_jobs``, the whole batch is planned first (:meth:`check_spending`,
    no request) and refused when it would pay for more new jobs than that; during the run,
    an input that would still go over it fails before its upload (another gsep's record
    may vanish meanwhile), and the others go on.
    """

    def run(self, inputs: Sequence[Path]) -> list[InputResult]:
        """Process every input (at most ``options.jobs`` at once); results in input order.

        Raises :class:`~gsep_cli.errors.SpendingLimit` before any request when the batch
        would create more new jobs than ``options.max_jobs``."""
        if self.options.max_jobs is not None:
            self.check_spending(inputs)
        results: dict[int, InputResult] = {}
        workers = max(1, min(self.options.jobs, len(inputs)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gsep-input")
        with self._turn:
            self._fresh = len(inputs)
        futures = {pool.submit(self.process, path): index for index, path in enumerate(inputs)}
        pending = set(futures)
        try:
            while pending:
                # woken every _TICK: a signal the kernel handed to a worker thread (a second
                # one, while the first is pending) only runs its handler when the main thread
                # runs Python, so an endless wait would never see it
                done, pending = wait(pending, timeout=_TICK, return_when=FIRST_COMPLETED)
                for future in done:
                    index = futures[future]
                    try:
                        result = future.result()
                    except PutAside as aside:  # its second turn: the pool's queue is FIFO,
                        # so it comes after every input not started yet
                        again = pool.submit(self.process, inputs[index], held_since=aside.since)
                        futures[again] = index
                        pending.add(again)
                        continue
                    results[index] = result
                    if self.on_result is not None:
                        self.on_result(result)
        except BaseException as exc:
            # a second interrupt may land inside a lock's exit (a RuntimeError): once an
            # interrupt came, whatever the wait raises means "stop", never a crash
            if not (isinstance(exc, KeyboardInterrupt) or stopping()):
                raise
            self._stop_all(pool)
            raise Interrupted(
                "interrupted; finished inputs are recorded",
                "Run the same command again to carry on",
            ) from None
        pool.shutdown(wait=True)
        return [results[i] for i in range(len(inputs))]

    def _stop_all(self, pool: ThreadPoolExecutor) -> None:
        """After an interrupt: start no queued input; wait (bounded) for a job creation in
        flight to be recorded — another interrupt quits that wait at once — then,
        uninterruptibly (it is quick): remove partial files of downloads in flight and put
        the sandbox's unfinished jobs on record."""
        # first of all: the stop ends the inputs' waits at once, and a worker freed by
        # that must not start a queued input (its upload line would follow the Ctrl-C)
        with held():
            pool.shutdown(wait=False, cancel_futures=True)
        try:
            self._settle()
        except BaseException:  # Ctrl-C again (or it landing inside the wait's lock): go on
            if not stopping():
                raise
        with held():
            self.client.cancel_downloads()
            self._drop_sandbox_jobs()

    def _drop_sandbox_jobs(self) -> None:
        """After Ctrl-C in the sandbox: its emulator, and so every job it still runs, stops
        with this command, so a re-run could never re-attach to them (as it would to the
        API's). They are put on record as abandoned, so the re-run starts those inputs
        afresh (free in the sandbox) while the finished ones stay done.

        Every input this run began counts, not only those still running: the stop ends
        the waits at once, so an input being polled may already have failed with
        Interrupted. An input left ``submitted`` (``--no-wait``) stays as a run that ended
        normally leaves it, and a job whose record is final (done, failed, abandoned) is
        left alone."""
        if self.host != SANDBOX_HOST or self.ledger is None:
            return
        with self._turn:
            unfinished = [r for r in self._begun if r.job_id and r.status in ("pending", "failed")]
        for result in unfinished:
            assert result.job_id is not None
            with contextlib.suppress(GsepError):
                known = self.ledger.get_job(result.job_id)
                if known is None or known.status in _FINAL:  # nothing a re-run would wait on
                    continue
                self._abandon_sandbox_job(
                    result.job_id,
                    "interrupted; the sandbox that ran it stopped with its command",
                    f"{result.input.name}: the sandbox's job {result.job_id} stops with it; "
                    "the re-run starts this input afresh",
                )

    def process(self, path: Path, *, held_since: float | None = None) -> InputResult:
        """One input, start to finish; every expected failure ends up in the result.

        Once a job exists, no failure loses it: the error says which job and how to
        resume, and an unexpected one becomes a :class:`~gsep_cli.errors.LocalFailure`
        (exit 2) instead of an internal error.

        Within :meth:`run`, an input's first turn raises :class:`~.attach.PutAside` when
        another gsep process holds its work and inputs not yet started are left; its
        second turn is ``held_since`` that exception's ``since`` and waits for the holder.
        """
        result = InputResult(path)
        if self._stop.is_set():  # taken from the queue just as the stop came: not begun
            result.status, result.error = "failed", Interrupted("stopped before it began")
            return result
        with self._turn:
            self._begun.append(result)
            if held_since is None:
                self._fresh = max(0, self._fresh - 1)
        try:
            self._process(path, result, held_since)
        except PutAside:  # nothing done yet: run() gives it its second turn
            raise
        except GsepError as exc:
            result.status, result.error = "failed", self._with_resume_hint(exc, result)
            self._record_failure(result.job_id, exc)
        except Exception as exc:
            if os.environ.get("GSEP_DEBUG"):
                raise
            if result.job_id is None:  # nothing paid: this input fails, the others go on
                result.status = "failed"
                result.error = InternalError(
                    f"{path.name}: internal error: {type(exc).__name__}: {exc}",
                    "Please report it (GSEP_DEBUG=1 shows a traceback)",
                )
                return result
            failure = LocalFailure(
                f"{path.name}: job {result.job_id} is paid for, but gsep failed on this "
                f"machine: {type(exc).__name__}: {exc}",
                f"Run the same command again to resume (it re-attaches to job {result.job_id}); "
                "please report this bug (GSEP_DEBUG=1 shows a traceback)",
            )
            result.status, result.error = "failed", failure
            self._record_failure(result.job_id, failure)
        return result

    def _with_resume_hint(self, exc: GsepError, result: InputResult) -> GsepError:
        """A failure after the job exists names the job and how to resume."""
        job = result.job_id
        hint = exc.hint or ""
        # a job whose results are gone, or a payment only the user may decide, cannot be
        # resumed by running the command again: their own hint says what to do
        if (
            job is None
            or exc.exit_code == ExitCode.JOB_FAILED
            or job in hint
            or "--pay-again" in hint
        ):
            return exc
        if exc.status == 403:  # the result host refuses the links: the results expired
            exc.hint = (
                f"Job {job} is on record, but the result host refused fresh links too: its "
                "results are no longer served; gsep pays for each input once: add "
                "--pay-again to pay for a new job"
            )
            return exc
        resume = (
            f"job {job} is on record: run the same command again to resume it "
            f"(or gsep download {job} --model {self.options.model})"
        )
        exc.hint = f"{exc.hint.rstrip('. ')}; {resume}" if exc.hint else resume.capitalize()
        return exc

    def _record_failure(self, job_id: str | None, exc: GsepError) -> None:
        """Write down what went wrong; only a failed job changes the job's status."""
        if self.ledger is None or job_id is None:
            return
        status = JobStatus.FAILED.value if isinstance(exc, JobFailed) else None
        with contextlib.suppress(GsepError):
            self.ledger.update_job(job_id, status=status, error=exc.message)

    def _process(self, path: Path, result: InputResult, held_since: float | None) -> None:
        options = self.options
        checked = preflight(path, self.spec)  # every local check, as --dry-run makes them
        for warning in checked.warnings:
            self.client.notice(f"warning: {warning}")
        result.bytes = size = checked.bytes
        # job pacing compares lengths: an estimate (an MP3 without a frame count) can be
        # ten times off, so it counts as unknown there
        seconds = checked.duration if checked.duration_exact else None
        lyrics = options.lyrics_for(path)
        if lyrics is not None:
            check_lyrics_file(lyrics)
        work = Work(path, size, seconds, lyrics)
        if not options.no_wait and options.stdout is None:
            check_output_paths(self._planned(work), options.out_dir)
        if self.ledger is None:  # nothing to claim or remember: always a new job
            self._new_job(work, result)
            return
        work.sha, work.version = self.ledger.file_digest(path)
        lyrics_sha = self.ledger.file_sha256(lyrics) if lyrics is not None else None
        work.content = job_key(work.sha, lyrics_sha, options.language)
        claim, waited_since = self._claim(work, held_since)
        try:
            self._claimed(work, result, waited_since, claim)
        finally:
            with contextlib.suppress(GsepError):
                self.ledger.release(claim)
