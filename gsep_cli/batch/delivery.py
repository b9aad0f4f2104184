"""Waiting for a job and delivering its results: files on disk (recorded with size and
SHA-256, listed in the manifest when one was asked for) or one result into a pipe."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import datetime, timezone

from ..client import WrittenFile
from ..errors import Interrupted, RequestRejected
from ..ledger import SANDBOX_HOST
from ..models import Job
from ..records import SUCCESS
from .base import RunnerBase
from .plan import InputResult, Work, file_recorder


class Delivering(RunnerBase):
    """The runner's steps after a job exists."""

    def _wait_and_download(
        self,
        job_id: str,
        work: Work,
        result: InputResult,
        *,
        reattach: bool = False,
    ) -> None:
        options = self.options
        # a job created just now: poll around when its predecessors ended, and teach
        # the next ones (a re-attached job's age is unknown: plain backoff, nothing learnt)
        pace = None if reattach else self.job_times.pace(work.seconds)
        started = time.monotonic()
        job = self.client.wait(
            job_id,
            model=options.model,
            timeout=options.timeout,
            pace=pace,
            subject=work.path.name,
            fresh=not reattach,
        )
        if self._stopping and self.host == SANDBOX_HOST:  # its job is being put on record
            raise Interrupted("stopped")  # as abandoned (BatchRunner._drop_sandbox_jobs)
        if not reattach:
            assert pace is not None
            took = pace.took if pace.took is not None else time.monotonic() - started
            self._learn_time(work, took, pace.waited)
        result.expire_at = job.expire_at
        if self.ledger is not None:
            self.ledger.update_job(
                job_id, status=SUCCESS, expire_at=job.expire_at, clear_error=True
            )
        if options.stdout is not None:  # one result into a pipe; nothing on disk to record
            streamed = self.client.stream(
                job,
                options.stdout,
                stem=options.stems[0],
                fmt=options.formats[0],
                model=options.model,
                subject=work.path.name,
            )
            result.files, result.status = [streamed], "success"
            return
        try:
            written = self._download(job, work)
        except RequestRejected as exc:
            if exc.status != 403:
                raise
            # a result host's 403 may be one link's hiccup: ask for fresh links once; a
            # second 403 is the server's word that the results are gone
            self.client.notice(f"{work.path.name}: result links refused; asking for fresh ones")
            written = self._download(self.client.get_job(job_id, model=options.model), work)
        result.files, result.status = written, "success"
        self._remember_files(job_id, work, written)

    def _download(self, job: Job, work: Work) -> list[WrittenFile]:
        """Download the job's wanted results, keeping the files gsep already wrote."""
        options = self.options
        return self.client.download(
            job,
            options.out_dir,
            stems=options.kept_stems,
            formats=options.formats,
            delivery=options.chosen_delivery,
            tags_from=work.path,
            source=work.source,
            model=options.model,
            template=options.template,
            force=options.force,
            skip_existing=options.skip_existing,
            keep=self._already_written(job.job_id, work),
            on_file=file_recorder(self.ledger, job.job_id),
        )

    def _remember_files(
        self, job_id: str, work: Work, written: Sequence[WrittenFile], *, only_new: bool = False
    ) -> None:
        if self.ledger is not None:
            for item in written:
                if item.sha256 is not None:  # checking it on a re-run reads nothing
                    with contextlib.suppress(OSError):
                        self.ledger.cache_hash(item.path, item.sha256)
        if self.manifest is not None and written:
            self.manifest.add(self._manifest_entries(job_id, work, written), keep_existing=only_new)

    def _manifest_entries(
        self, job_id: str, work: Work, written: Sequence[WrittenFile]
    ) -> dict[str, dict[str, object]]:
        """The manifest's entries for these files, by :meth:`Manifest.key`."""
        assert self.manifest is not None
        stamp = datetime.fromtimestamp(self.clock(), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        lyrics = work.lyrics
        extra = {} if lyrics is None else {"lyrics": str(lyrics), "language": self.options.language}
        return {
            self.manifest.key(item.path): {
                "input": str(work.path),
                "inputSha256": work.sha,
                "model": self.options.model,
                "stems": list(self.options.stems),
                "stem": item.stem,
                "format": item.format,
                "jobId": job_id,
                "time": stamp,
                "bytes": item.bytes,
                **extra,
            }
            for item in written
        }
