"""Paying for a job, once: uploads (reused while young enough), the job creation recorded
before it is sent, and a stop that waits for a creation in flight."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from ..choices import lyrics_body
from ..claims import Claim, this_process
from ..errors import (
    CreationUnconfirmed,
    GsepError,
    Interrupted,
    LocalFailure,
    RequestRejected,
)
from ..fileid import FileIdentity
from ..folders import prepare_folders
from ..ledger import JobRecord, UploadRecord
from ..models import UPLOAD_LIFE
from ..onrecord import create_on_record, upload_as_hashed
from ..records import UNCONFIRMED
from .base import RunnerBase
from .guard import over_limit_error
from .plan import InputResult, Work

UPLOAD_MARGIN = 2 * 3600.0  # never reuse an upload this close to its deletion


class Paying(RunnerBase):
    """The runner's steps that spend credits."""

    def _new_job(self, work: Work, result: InputResult, claim: Claim | None = None) -> None:
        options = self.options
        self._refuse_before_paying(work)
        self._take_job_slot(work)
        try:
            upload_id = self._upload(work, result)
            if not options.no_wait and options.stdout is None:
                # made and proven writable only now: Ctrl-C during the upload leaves nothing
                prepare_folders(self._planned(work), create=True)
            job_id = self._create_job(upload_id, work, result, claim)
        except BaseException:
            if not work.paying:  # no creation sent, or the API refused it: nothing paid
                self._give_back_job_slot()
            raise
        result.job_id = job_id
        if options.no_wait:
            result.status = "submitted"
            return
        self._wait_and_download(job_id, work, result)

    def _take_job_slot(self, work: Work) -> None:
        """Count a new job before its upload; with ``--max-jobs N``, the input that would
        be new job N+1 of this run fails here (SpendingLimit), and the others go on."""
        limit = self.options.max_jobs
        with self._turn:
            if limit is not None and self._new_jobs >= limit:
                raise over_limit_error(work.path.name, limit)
            self._new_jobs += 1

    def _give_back_job_slot(self) -> None:
        with self._turn:
            self._new_jobs -= 1

    def _upload(self, work: Work, result: InputResult) -> str:
        upload_id, reused = self._upload_or_reuse(
            work.path, work.size, work.sha, fresh=False, identity=work.version
        )
        result.upload_id, result.reused = upload_id, "upload" if reused else None
        return upload_id

    def _upload_or_reuse(
        self,
        path: Path,
        size: int,
        sha: str | None,
        *,
        fresh: bool,
        identity: FileIdentity | None = None,
    ) -> tuple[str, bool]:
        """An upload id for the file: one on record young enough (unless ``fresh``), else
        a new upload, recorded. Also says whether it was reused. ``identity`` is the
        version that was hashed: an upload of anything else is refused."""
        if self.ledger is not None and sha is not None and not fresh:
            known = self.ledger.find_upload(
                sha, size, self.host, self.key_fp, max_age=UPLOAD_LIFE - UPLOAD_MARGIN
            )
            # the sandbox's uploads live in its emulator, which stops with the command
            # that made them: only those it made can still exist there
            if known is not None and (
                self.sandbox_since is None or known.created_at >= self.sandbox_since
            ):
                self.client.notice(f"{path.name}: reusing upload {known.upload_id}")
                return known.upload_id, True
        if self.ledger is not None and sha is not None and identity is not None:
            upload_id = upload_as_hashed(self.client, self.ledger, path, sha, identity)
        else:
            upload_id = self.client.upload_file(path, identity=identity, sha256=sha)
        if self.ledger is not None and sha is not None:
            self.ledger.record_upload(
                UploadRecord(upload_id, sha, size, path.name, self.host, self.key_fp, self.clock())
            )
        return upload_id, False

    def _upload_lyrics(self, lyrics: Path, *, fresh: bool) -> tuple[str, bool]:
        sha = self.ledger.file_sha256(lyrics) if self.ledger is not None else None
        return self._upload_or_reuse(lyrics, lyrics.stat().st_size, sha, fresh=fresh)

    def _create_job(
        self, upload_id: str, work: Work, result: InputResult, claim: Claim | None
    ) -> str:
        lyrics = work.lyrics
        text = self._upload_lyrics(lyrics, fresh=False) if lyrics is not None else None
        try:
            return self._create_and_record(upload_id, work, result, text and text[0], claim)
        except RequestRejected as exc:
            reused = result.reused == "upload" or (text is not None and text[1])
            if not reused or exc.result_code not in (1105, 1106):
                raise
        # the server no longer has an upload we remembered: upload afresh, once
        self.client.notice(f"{work.path.name}: remembered upload is gone; uploading")
        if result.reused == "upload":
            upload_id, _ = self._upload_or_reuse(
                work.path, work.size, work.sha, fresh=True, identity=work.version
            )
            result.upload_id, result.reused = upload_id, None
        if lyrics is not None and text is not None and text[1]:
            text = self._upload_lyrics(lyrics, fresh=True)
        return self._create_and_record(upload_id, work, result, text and text[0], claim)

    def _create_and_record(
        self,
        upload_id: str,
        work: Work,
        result: InputResult,
        text_upload_id: str | None,
        claim: Claim | None,
    ) -> str:
        """Create the job, recorded before it is sent and confirmed when answered
        (:func:`gsep_cli.onrecord.create_on_record`), as one step that Ctrl-C waits for
        (see :meth:`run`). The job id is put on ``result`` within that step, so whatever
        runs after the wait (the sandbox's clean-up, the report of a paid input) sees it."""
        options = self.options
        extra = None
        if text_upload_id is not None:
            extra = lyrics_body(text_upload_id, options.language or "")

        def send() -> str:
            work.paying = True  # sent: paid for, unless the API certainly refuses it
            try:
                return self.client.create_job(
                    upload_id, model=options.model, stems=options.stems, extra=extra
                )
            except CreationUnconfirmed as exc:
                raise CreationUnconfirmed(
                    f"{work.path.name}: the job request got no answer ({exc.message}); the job "
                    "may exist and have cost credits",
                    "gsep does not pay again by itself: a re-run says so; check your credits "
                    "(gsep key info), then add --pay-again to pay for a new job",
                ) from None
            except GsepError:  # a certain refusal: no job (create_on_record drops its record)
                work.paying = False
                raise

        with self._paying():
            if self.ledger is None or work.content is None:
                job_id = send()
            else:
                job_id = create_on_record(
                    self.ledger,
                    self._job_record(upload_id, work),
                    send,
                    claim=claim,
                    on_unrecorded=lambda job_id, exc, kept: self._unrecorded(
                        job_id, exc, kept, work
                    ),
                )
            result.job_id = job_id
        self.client.notice(f"{work.path.name}: job {job_id} created")
        return job_id

    def _job_record(self, upload_id: str, work: Work) -> JobRecord:
        """The record of this input's job, made before the job is asked for."""
        assert work.content is not None
        now = self.clock()
        return JobRecord(
            "", upload_id, work.content, str(work.path.resolve()), self.options.model,
            self.job_stems, self.host, self.key_fp, UNCONFIRMED, None, None, now, now, (),
            this_process().host,
        )  # fmt: skip

    def _unrecorded(self, job_id: str, exc: GsepError, kept: bool, work: Work) -> None:
        """The job exists but the ledger could not record it: its id must not be lost.
        The error names it and how to collect the results; the record stays unconfirmed,
        so no re-run pays."""
        model = self.options.model
        resume = (
            "once the ledger works again, run the same command: it records the job and carries on"
            if kept
            else "until the ledger works again a re-run will not pay for this input by "
            "itself (do not move the ledger away)"
        )
        raise LocalFailure(
            f"{work.path.name}: job {job_id} was created (and paid for), but the ledger "
            f"could not record it: {exc.message}",
            f"Keep the id: gsep job status {job_id} --model {model} --wait, then gsep "
            f"download {job_id} --model {model}; {resume}",
        ) from None

    @contextlib.contextmanager
    def _paying(self) -> Iterator[None]:
        """Mark a job creation in flight; refuse to start one once stopping."""
        with self._turn:
            if self._stopping:
                raise Interrupted("stopped before creating a job")
            self._in_flight += 1
        try:
            yield
        finally:
            with self._turn:
                self._in_flight -= 1
                self._turn.notify_all()

    def _settle(self) -> None:
        """After Ctrl-C (or SIGTERM, SIGHUP): start no new job, send no request still
        waiting for the rate limit, stop waiting for other gsep processes, and wait
        (bounded; Ctrl-C again quits at once) until a job creation already sent is
        answered and recorded, so a re-run cannot pay for it a second time."""
        deadline = time.monotonic() + self.client.read_timeout + 5
        self._stop.set()
        # a creation still waiting for its turn at the rate limit is not sent: only one
        # already on the wire is waited for
        self.client.stop_requests()
        with self._turn:
            self._stopping = True
            if self._in_flight:
                self.client.notice(
                    "waiting for a job creation in flight to be recorded (Ctrl-C again to quit now)"
                )
            while self._in_flight and time.monotonic() < deadline:
                self._turn.wait(timeout=0.1)
