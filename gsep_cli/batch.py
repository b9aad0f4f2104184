"""Many inputs, bounded concurrency, and re-runs that never pay twice.

For each input the runner (in a worker thread, at most ``jobs`` at once):

1. checks the file locally and hashes it (the ledger caches hashes per file version);
2. claims its work (content, model, stems, API host, key) in the ledger, waiting while
   another gsep process — or another input of this batch with the same content — holds
   it, and taking over a claim whose holder died;
3. unless ``pay_again``: re-attaches to a job the ledger knows for that work — keeps the
   files it already wrote (same size and SHA-256) and downloads the rest from the same
   job, or polls it if it is still running; an expired or forgotten job, or a creation
   that was never answered, is reported and only paid for again with ``pay_again``.
   Otherwise it reuses an upload younger than its 72 h life (minus a safety margin);
4. uploads (refusing an input that changed since it was hashed), records the job
   creation *before* sending it, creates the job, waits and downloads, recording each
   file (size and SHA-256) before it is moved into place, and each written file in
   ``<out>/manifest.json``.

One input failing never stops the others. Every request of every worker goes through the
client's one shared rate limiter, so the whole process stays under the API's budget.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, TextIO

from . import media
from .choices import check_lyrics_file, get_model, lyrics_body, planned_outputs
from .claims import Claim, ClaimHolder
from .client import GsepClient, WrittenFile, check_output_paths, check_planned_outputs
from .errors import (
    CreationUnconfirmed,
    ExitCode,
    GsepError,
    InternalError,
    Interrupted,
    JobFailed,
    LocalFailure,
    RequestRejected,
    UsageError,
    WaitTimeout,
)
from .fileid import FileIdentity
from .folders import prepare_folders
from .inputfile import open_input
from .ledger import FileRecord, JobRecord, Ledger, UploadRecord, api_host
from .manifest import Manifest
from .models import RESIDUAL, UPLOAD_LIFE, JobStatus
from .naming import InputFields, output_paths
from .polling import JobTimes
from .preflight import preflight
from .records import SUBMITTED, SUCCESS, UNCONFIRMED, work_key

UPLOAD_MARGIN = 2 * 3600.0  # never reuse an upload this close to its deletion


@dataclass(frozen=True)
class BatchOptions:
    """What to do with every input (one ``gsep separate`` command)."""

    model: str
    stems: Sequence[str]
    formats: Sequence[str]
    out_dir: Path
    template: str
    force: bool = False  # overwrite files in the way (never pays again)
    skip_existing: bool = False
    pay_again: bool = False  # pay for a new job even when the ledger has one for the work
    no_wait: bool = False
    timeout: float | None = None
    jobs: int = 3
    lyrics: Path | None = None  # lyrics model: the text for a single input
    language: str | None = None  # lyrics model: en, ko, ja or zh-cn
    stdout: BinaryIO | None = None  # ``-o -``: the one stem goes here, nothing to disk

    def lyrics_for(self, path: Path) -> Path | None:
        """The lyrics text of an input (lyrics model only): ``--lyrics``, else the ``.txt``
        file with the input's name beside it."""
        if not get_model(self.model).needs_lyrics:
            return None
        return self.lyrics if self.lyrics is not None else path.with_suffix(".txt")


@dataclass
class InputResult:
    """The outcome for one input (also one NDJSON line with ``--json``)."""

    input: Path
    status: str = "pending"  # success | submitted | failed
    upload_id: str | None = None
    job_id: str | None = None
    expire_at: str | None = None
    reused: str | None = None  # "job" | "upload" | None
    files: list[WrittenFile] = field(default_factory=list)
    error: GsepError | None = None
    bytes: int | None = None

    @property
    def ok(self) -> bool:
        """True unless the input failed."""
        return self.status != "failed"


# ---- inputs -----------------------------------------------------------------------------
def collect_inputs(
    args: Sequence[str],
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    kinds: Iterable[str] = ("wav", "flac", "mp3", "mp4", "mov"),
    stdin: TextIO | None = None,
) -> list[Path]:
    """Expand the command line into input files, in order, without duplicates.

    ``-`` reads one path per line from ``stdin`` (spaces and any characters kept, empty
    lines skipped). A directory contributes its supported files (sorted; with
    ``recursive``, from every level), filtered by the ``include``/``exclude`` globs,
    matched against the file name and the path relative to that directory. A file named
    explicitly is always taken: its own checks will say if it is unusable.
    """
    wanted = {ext for ext, kind in media.EXTENSION_KINDS.items() if kind in set(kinds)}
    paths: list[Path] = []
    for arg in args:
        if arg == "-":
            if stdin is None:
                raise UsageError("'-' given but there is no standard input")
            paths.extend(Path(line.rstrip("\r\n")) for line in stdin if line.strip())
            continue
        path = Path(arg)
        if path.is_dir():
            found = path.rglob("*") if recursive else path.glob("*")
            before = len(paths)
            for candidate in sorted(found):
                relative = candidate.relative_to(path).as_posix()
                if not candidate.is_file() or candidate.suffix.lower() not in wanted:
                    continue
                if include and not _matches(include, candidate.name, relative):
                    continue
                if exclude and _matches(exclude, candidate.name, relative):
                    continue
                paths.append(candidate)
            if len(paths) == before:
                raise UsageError(
                    f"{path} is a directory with no supported audio files"
                    + ("" if recursive else " (subfolders not searched)"),
                    "Use --recursive for subfolders, check --include/--exclude, or name files",
                )
            continue
        paths.append(path)
    seen: set[Path] = set()
    unique = []
    for path in paths:
        key = path.resolve() if path.exists() else path.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    if not unique:
        raise UsageError(
            "no input files",
            "Name files or folders, or '-' to read paths "
            "from stdin; folders need supported files (use --recursive for "
            "subfolders)",
        )
    return unique


def _matches(globs: Sequence[str], name: str, relative: str) -> bool:
    return any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(relative, g) for g in globs)


def planned_paths(options: BatchOptions, source: InputFields, job: str = "job") -> list[Path]:
    """Where the outputs of one input will be written (``{job}``: ``job`` until known);
    UsageError when two of them would be one file (see naming.output_paths)."""
    outputs = planned_outputs(get_model(options.model), options.stems, options.formats)
    return output_paths(
        options.out_dir, options.template, source, outputs, model=options.model, job=job
    )


def content_placeholders(
    options: BatchOptions, paths: Sequence[Path], ledger: Ledger | None
) -> list[str]:
    """What ``{job}`` stands for in a plan made before the jobs exist: ``job-<hex>`` from
    each input's content (its :func:`job_key`), so inputs with the same content — one job
    — share it. An input that cannot be hashed gets a placeholder of its own (its own
    checks will say what is wrong with it)."""
    placeholders = []
    for index, path in enumerate(paths):
        try:
            sha = ledger.file_sha256(path) if ledger is not None else _sha256_of(path)
            lyrics = options.lyrics_for(path)
            text_sha = None
            if lyrics is not None:
                text_sha = ledger.file_sha256(lyrics) if ledger is not None else _sha256_of(lyrics)
            placeholders.append("job-" + job_key(sha, text_sha, options.language)[:12])
        except (OSError, GsepError):
            placeholders.append(f"job-{index + 1}")
    return placeholders


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open_input(path) as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def job_key(audio_sha: str, lyrics_sha: str | None, language: str | None) -> str:
    """What the ledger matches jobs on: the audio's SHA-256, or for the lyrics model a
    SHA-256 over audio, lyrics text and language (new lyrics or language: a new job)."""
    if lyrics_sha is None:
        return audio_sha
    return hashlib.sha256(f"lyrics:{audio_sha}:{lyrics_sha}:{language}".encode()).hexdigest()


# ---- the runner -------------------------------------------------------------------------
class BatchRunner:
    """Runs ``gsep separate`` over many inputs; reports each result as it finishes.

    With a ledger, every input's work (:func:`gsep_cli.records.work_key`) is claimed
    before anything is uploaded, so no two gsep processes — nor two inputs of one batch
    with the same content — ever pay for the same work: the second waits for the first
    and then re-attaches to what it recorded.
    """

    #: Seconds between two looks at a claim another gsep holds.
    claim_poll = 0.25

    def __init__(
        self,
        client: GsepClient,
        options: BatchOptions,
        *,
        key_fp: str,
        base_url: str,
        ledger: Ledger | None = None,
        on_result: Callable[[InputResult], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.options = options
        self.spec = get_model(options.model)
        self.ledger = ledger
        self.on_result = on_result
        self.clock = clock
        self.host = api_host(base_url)
        self.key_fp = key_fp
        self.manifest = Manifest(options.out_dir)
        self.job_times = JobTimes()
        self._turn = threading.Condition()
        self._in_flight = 0  # job creations sent and not yet recorded
        self._stopping = False
        self._stop = threading.Event()  # wakes inputs waiting for another gsep's claim
        #: What a job is created with, and so what a work is: the stems without the
        #: residual (``others`` is never sent; ``all`` is every stem of the model).
        self.job_stems = tuple(s for s in options.stems if s != RESIDUAL)
        #: --pay-again pays again for jobs on record before this run, never for the ones
        #: this run (or one beside it) has just created: identical inputs share those.
        self.started_at = clock()

    def run(self, inputs: Sequence[Path]) -> list[InputResult]:
        """Process every input (at most ``options.jobs`` at once); results in input order."""
        results: dict[int, InputResult] = {}
        workers = max(1, min(self.options.jobs, len(inputs)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gsep-input")
        futures = {pool.submit(self.process, path): index for index, path in enumerate(inputs)}
        try:
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                if self.on_result is not None:
                    self.on_result(result)
        except KeyboardInterrupt:
            self._settle()
            self.client.downloader.cancel()  # removes partial files of downloads in flight
            pool.shutdown(wait=False, cancel_futures=True)
            raise Interrupted(
                "interrupted; finished inputs are recorded, run the same command again to carry on"
            ) from None
        pool.shutdown(wait=True)
        return [results[i] for i in range(len(inputs))]

    def process(self, path: Path) -> InputResult:
        """One input, start to finish; every expected failure ends up in the result.

        Once a job exists, no failure loses it: the error says which job and how to
        resume, and an unexpected one becomes a :class:`~gsep_cli.errors.LocalFailure`
        (exit 2) instead of an internal error.
        """
        result = InputResult(path)
        try:
            self._process(path, result)
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

    # ---- steps ---------------------------------------------------------------------------
    def _process(self, path: Path, result: InputResult) -> None:
        options = self.options
        checked = preflight(path, self.spec)  # every local check, as --dry-run makes them
        for warning in checked.warnings:
            self.client.listener.notice(f"warning: {warning}")
        result.bytes = size = checked.bytes
        # job pacing compares lengths: an estimate (an MP3 without a frame count) can be
        # ten times off, so it counts as unknown there
        seconds = checked.duration if checked.duration_exact else None
        lyrics = options.lyrics_for(path)
        if lyrics is not None:
            check_lyrics_file(lyrics)
        work = _Work(path, size, seconds, lyrics)
        if not options.no_wait and options.stdout is None:
            check_output_paths(self._planned(work), options.out_dir)
        if self.ledger is None:  # nothing to claim or remember: always a new job
            self._new_job(work, result)
            return
        work.sha, work.version = self.ledger.file_digest(path)
        lyrics_sha = self.ledger.file_sha256(lyrics) if lyrics is not None else None
        work.content = job_key(work.sha, lyrics_sha, options.language)
        claim, waited_since = self._claim(work)
        try:
            self._claimed(work, result, waited_since, claim)
        finally:
            with contextlib.suppress(GsepError):
                self.ledger.release(claim)

    def _planned(self, work: _Work, job: str = "job") -> list[Path]:
        """Where this input's outputs go (``{job}``: the job's id when known)."""
        if self.options.stdout is not None:
            return []
        return planned_paths(self.options, work.source, job)

    def _claim(self, work: _Work) -> tuple[Claim, float | None]:
        """Claim the work, waiting while another gsep (or input of this batch) holds it.

        Returns the claim and, if it had to wait, since when (the ledger's clock). The wait
        lasts as long as the holder lives (it keeps a heartbeat), within ``--timeout`` or
        else the client's longest wait (``GSEP_MAX_WAIT``): waiting always ends.
        """
        assert self.ledger is not None and work.content is not None
        options = self.options
        key = work_key(work.content, options.model, self.job_stems, self.host, self.key_fp)
        bound = options.timeout if options.timeout is not None else self.client.max_wait
        limit = time.monotonic() + bound
        waited_since: float | None = None
        while True:
            got = self.ledger.try_claim(key, str(work.path.resolve()))
            if isinstance(got, Claim):
                if got.took_over is not None:
                    self.client.listener.notice(
                        f"{work.path.name}: {got.took_over.describe()} stopped before finishing "
                        "this input; taking it over"
                    )
                return got, waited_since
            if waited_since is None:
                waited_since = self.clock()
                self.client.listener.notice(f"{work.path.name}: {_holder_text(got)}; waiting")
            if self._stopping:
                raise Interrupted("stopped while waiting for another gsep")
            if time.monotonic() >= limit:
                raise WaitTimeout(
                    f"{work.path.name}: {_holder_text(got)} after {bound:g} s",
                    "Run the same command again later: it re-attaches to that work",
                )
            self._stop.wait(self.claim_poll)

    def _claimed(
        self, work: _Work, result: InputResult, waited_since: float | None, claim: Claim
    ) -> None:
        """The work is ours: re-attach to what the ledger knows, or pay for a new job."""
        assert self.ledger is not None and work.content is not None
        options = self.options
        match = (work.content, options.model, self.job_stems, self.host, self.key_fp)
        if waited_since is not None:  # the holder's job failed: that is our answer too
            failed = self.ledger.failure_since(*match, since=waited_since)
            if failed is not None:
                result.job_id = failed.job_id
                raise JobFailed(
                    f"{work.path.name}: job {failed.job_id} failed: "
                    f"{failed.error or 'no reason given'}",
                    "Check the input file; run the job again if it looks fine",
                )
        known = self.ledger.find_job(*match)
        if known is not None and known.unconfirmed:
            if not options.pay_again:
                raise UsageError(
                    f"{work.path.name}: a job for this input was requested at "
                    f"{_utc(known.created_at)} and no answer came; it may exist and have cost "
                    "credits",
                    "gsep does not pay again by itself: check your credits (gsep key info), "
                    "then add --pay-again to pay for a new job",
                )
            self.ledger.abandon_unconfirmed(*match)
            self.client.listener.notice(
                f"{work.path.name}: paying again for the creation requested at "
                f"{_utc(known.created_at)} that was never confirmed (--pay-again)"
            )
        elif known is not None and (not options.pay_again or known.created_at >= self.started_at):
            result.reused = "job"
            self._reattach(known, work, result)
            return
        elif known is not None:
            self.client.listener.notice(
                f"{work.path.name}: paying for a new job although job {known.job_id} is on "
                "record (--pay-again)"
            )
        self._new_job(work, result, claim)

    def _new_job(self, work: _Work, result: InputResult, claim: Claim | None = None) -> None:
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
            self.manifest.check()
        upload_id = self._upload(work, result)
        if not options.no_wait and options.stdout is None:  # made and proven writable only
            prepare_folders(self._planned(work), create=True)  # now: Ctrl-C during the
        job_id = self._create_job(upload_id, work, result, claim)  # upload leaves nothing
        result.job_id = job_id
        if options.no_wait:
            result.status = "submitted"
            return
        self._wait_and_download(job_id, work, result)

    def _upload(self, work: _Work, result: InputResult) -> str:
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
            if known is not None:
                self.client.listener.notice(f"{path.name}: reusing upload {known.upload_id}")
                return known.upload_id, True
        upload_id = self.client.upload_file(path, identity=identity)
        if self.ledger is not None and sha is not None:
            self.ledger.record_upload(
                UploadRecord(upload_id, sha, size, path.name, self.host, self.key_fp, self.clock())
            )
        return upload_id, False

    def _upload_lyrics(self, lyrics: Path, *, fresh: bool) -> tuple[str, bool]:
        sha = self.ledger.file_sha256(lyrics) if self.ledger is not None else None
        return self._upload_or_reuse(lyrics, lyrics.stat().st_size, sha, fresh=fresh)

    def _create_job(
        self, upload_id: str, work: _Work, result: InputResult, claim: Claim | None
    ) -> str:
        lyrics = work.lyrics
        text = self._upload_lyrics(lyrics, fresh=False) if lyrics is not None else None
        try:
            return self._create_and_record(upload_id, work, text and text[0], claim)
        except RequestRejected as exc:
            reused = result.reused == "upload" or (text is not None and text[1])
            if not reused or exc.result_code not in (1105, 1106):
                raise
        # the server no longer has an upload we remembered: upload afresh, once
        self.client.listener.notice(f"{work.path.name}: remembered upload is gone; uploading")
        if result.reused == "upload":
            upload_id, _ = self._upload_or_reuse(
                work.path, work.size, work.sha, fresh=True, identity=work.version
            )
            result.upload_id, result.reused = upload_id, None
        if lyrics is not None and text is not None and text[1]:
            text = self._upload_lyrics(lyrics, fresh=True)
        return self._create_and_record(upload_id, work, text and text[0], claim)

    def _create_and_record(
        self, upload_id: str, work: _Work, text_upload_id: str | None, claim: Claim | None
    ) -> str:
        """Create the job, recorded before it is sent and confirmed when answered, as one
        step that Ctrl-C waits for (see :meth:`run`).

        The record made first (status ``unconfirmed``) is what keeps a re-run from paying
        again when no answer comes: a timeout or reset after sending, a gateway error, a
        SIGTERM or kill -9 while waiting. A certain refusal removes it.
        """
        options = self.options
        extra = None
        if text_upload_id is not None:
            extra = lyrics_body(text_upload_id, options.language or "")
        with self._paying():
            placeholder = None
            if self.ledger is not None and work.content is not None:
                now = self.clock()
                placeholder = self.ledger.record_unconfirmed(
                    claim,
                    JobRecord(
                        "",
                        upload_id,
                        work.content,
                        str(work.path.resolve()),
                        options.model,
                        self.job_stems,
                        self.host,
                        self.key_fp,
                        UNCONFIRMED,
                        None,
                        None,
                        now,
                        now,
                        (),
                    ),
                )
            try:
                job_id = self.client.create_job(
                    upload_id, model=options.model, stems=options.stems, extra=extra
                )
            except CreationUnconfirmed as exc:
                raise CreationUnconfirmed(
                    f"{work.path.name}: the job request got no answer ({exc.message}); the job "
                    "may exist and have cost credits",
                    "gsep does not pay again by itself: a re-run says so; check your credits "
                    "(gsep key info), then add --pay-again to pay for a new job",
                ) from None
            except GsepError:
                if placeholder is not None and self.ledger is not None:
                    self.ledger.drop_unconfirmed(placeholder)
                raise
            if placeholder is not None and self.ledger is not None:
                self._confirm(placeholder, job_id, work)
        self.client.listener.notice(f"{work.path.name}: job {job_id} created")
        return job_id

    def _confirm(self, placeholder: str, job_id: str, work: _Work) -> None:
        """Turn the unconfirmed record into the job. If the ledger cannot take it (locked
        past its wait, a full disk), the job id must not be lost: the error names it and
        how to collect the results; the record stays unconfirmed, so no re-run pays."""
        assert self.ledger is not None
        try:
            self.ledger.confirm_job(placeholder, job_id, SUBMITTED)
        except GsepError as exc:
            model = self.options.model
            raise LocalFailure(
                f"{work.path.name}: job {job_id} was created (and paid for), but the ledger "
                f"could not record it: {exc.message}",
                f"Keep the id: gsep job status {job_id} --model {model} --wait, then gsep "
                f"download {job_id} --model {model}; until the ledger works again a re-run "
                "will not pay for this input by itself (do not move the ledger away)",
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
        """After Ctrl-C (or SIGTERM, SIGHUP): start no new job, stop waiting for other
        gsep processes, and wait (bounded; Ctrl-C again quits at once) until a job
        creation already sent is answered and recorded, so a re-run cannot pay for it a
        second time."""
        deadline = time.monotonic() + self.client.timeout[1] + 5
        self._stop.set()
        with self._turn:
            self._stopping = True
            if self._in_flight:
                self.client.listener.notice(
                    "waiting for a job creation in flight to be recorded (Ctrl-C again to quit now)"
                )
            while self._in_flight and time.monotonic() < deadline:
                self._turn.wait(timeout=0.1)

    def _wait_and_download(
        self,
        job_id: str,
        work: _Work,
        result: InputResult,
        *,
        reattach: bool = False,
    ) -> None:
        options = self.options
        # a job created just now: poll around when its predecessors ended, and teach
        # the next ones (a re-attached job's age is unknown: plain backoff, nothing learnt)
        pace = None if reattach else self.job_times.pace(work.seconds)
        started = time.monotonic()
        job = self.client.wait(job_id, model=options.model, timeout=options.timeout, pace=pace)
        if not reattach:
            self.job_times.observe(work.seconds, time.monotonic() - started)
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
            )
            result.files, result.status = [streamed], "success"
            return
        written = self.client.download(
            job,
            options.out_dir,
            stems=options.stems,
            formats=options.formats,
            source=work.source,
            model=options.model,
            template=options.template,
            force=options.force,
            skip_existing=options.skip_existing,
            keep=self._already_written(job_id),
            on_file=file_recorder(self.ledger, job_id),
        )
        result.files, result.status = written, "success"
        self._remember_files(job_id, work, written)

    def _remember_files(
        self, job_id: str, work: _Work, written: Sequence[WrittenFile], *, only_new: bool = False
    ) -> None:
        if self.ledger is not None:
            for item in written:
                if item.sha256 is not None:  # checking it on a re-run reads nothing
                    with contextlib.suppress(OSError):
                        self.ledger.cache_hash(item.path, item.sha256)
        stamp = datetime.fromtimestamp(self.clock(), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = self.options.out_dir.resolve()
        lyrics = work.lyrics
        extra = {} if lyrics is None else {"lyrics": str(lyrics), "language": self.options.language}
        entries = {}
        for item in written:
            try:
                key = item.path.resolve().relative_to(out).as_posix()
            except ValueError:  # pragma: no cover - output_path keeps files inside
                key = str(item.path)
            entries[key] = {
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
        if entries:
            self.manifest.add(entries, keep_existing=only_new)

    def _reattach(self, known: JobRecord, work: _Work, result: InputResult) -> None:
        options = self.options
        name = work.path.name
        result.job_id, result.upload_id = known.job_id, known.upload_id
        if options.no_wait:
            result.status = "submitted" if known.status != SUCCESS else "success"
            self.client.listener.notice(f"{name}: already submitted as job {known.job_id}")
            return
        verified = self._verified(known)
        complete = self._complete_files(known, work, verified)
        if complete is not None:  # whatever the expiry: the files are here and intact
            result.status, result.files, result.expire_at = "success", complete, known.expire_at
            self.client.listener.notice(f"{name}: already done (job {known.job_id})")
            self._remember_files(known.job_id, work, complete, only_new=True)  # a lost manifest
            return
        expire = known.expire_epoch()
        if known.status == SUCCESS and expire is not None and expire <= self.clock():
            raise RequestRejected(
                f"{name}: the results of job {known.job_id} expired at {known.expire_at}",
                "gsep pays for each input once: add --pay-again to pay for a new job",
            )
        self.client.listener.notice(f"{name}: re-attaching to job {known.job_id}")
        try:
            self._wait_and_download(known.job_id, work, result, reattach=True)
        except RequestRejected as exc:
            if exc.result_code == 1104:
                raise RequestRejected(
                    f"{name}: job {known.job_id} is no longer known to the server",
                    "gsep pays for each input once: add --pay-again to pay for a new job",
                    result_code=1104,
                ) from None
            raise

    def _already_written(self, job_id: str) -> list[Path]:
        """Files of this job that gsep already wrote, still intact: read from the ledger
        just before downloading, since another gsep (one that took over this work, or one
        writing the same job elsewhere) may have written some meanwhile."""
        record = self.ledger.get_job(job_id) if self.ledger is not None else None
        return [Path(f.path) for f in self._verified(record)] if record is not None else []

    def _verified(self, known: JobRecord) -> list[FileRecord]:
        """The recorded files still on disk as gsep wrote them: the same size and, when
        the record has one, the same SHA-256 (hashed once per file version). No request:
        result hosts often refuse HEAD, and the record says all that is needed."""
        assert self.ledger is not None
        verified = []
        for record in known.files:
            target = Path(record.path)
            try:
                if not target.is_file() or target.stat().st_size != record.bytes:
                    continue
                if record.sha256 is not None and self.ledger.file_sha256(target) != record.sha256:
                    continue
            except (OSError, GsepError):
                continue
            verified.append(record)
        return verified

    def _complete_files(
        self, known: JobRecord, work: _Work, verified: Sequence[FileRecord]
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


@dataclass
class _Work:
    """One input on its way through the runner, and what is learnt about it."""

    path: Path
    size: int
    seconds: float | None  # the audio's duration, when it could be read
    lyrics: Path | None
    sha: str | None = None  # hex SHA-256 of the file
    version: FileIdentity | None = None  # the version that was hashed
    content: str | None = None  # what the ledger matches jobs on (job_key)

    @property
    def source(self) -> InputFields:
        """What the input gives the name template: ``{track}``, ``{trackext}``, ``{dir}``."""
        return InputFields.of(self.path)


def file_recorder(ledger: Ledger | None, job_id: str) -> Callable[[WrittenFile], None] | None:
    """The ``on_file`` of :meth:`GsepClient.download` that records each file of a job on
    record (its size and SHA-256) just before it is moved into place, so a later run
    after any crash knows it as this job's own. None without a ledger."""
    if ledger is None:
        return None

    def record(item: WrittenFile) -> None:
        path = str(item.path.resolve())
        ledger.update_job(
            job_id, files=[FileRecord(item.stem, item.format, path, item.bytes, item.sha256)]
        )

    return record


def _holder_text(holder: ClaimHolder) -> str:
    if holder.pid == os.getpid() and holder.host == socket.gethostname():
        return "another input of this batch has the same content and is being processed"
    return f"{holder.describe()} is working on the same input"


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ledger_status(exc: GsepError) -> str:
    if isinstance(exc, JobFailed):
        return JobStatus.FAILED.value
    return "error"


def batch_exit_code(results: Sequence[InputResult]) -> int:
    """0 if all succeeded; the failure's own code if all failed the same way; else 9."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return int(ExitCode.OK)
    codes = {int(r.error.exit_code) for r in failed if r.error is not None}
    if len(failed) == len(results) and len(codes) == 1:
        return codes.pop()
    return int(ExitCode.PARTIAL)
