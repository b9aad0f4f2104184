"""Many inputs, bounded concurrency, and re-runs that never pay twice.

For each input the runner (in a worker thread, at most ``jobs`` at once):

1. checks the file locally and hashes it (the ledger caches hashes per file version);
2. unless ``force``: re-attaches to a job the ledger knows for the same content, model and
   stems on the same API host and key — downloads it again (or skips files already
   complete), or polls it if it is still running; an expired or forgotten job is reported
   and only redone with ``force``. Otherwise it reuses an upload younger than its 72 h
   life (minus a safety margin) for a new job;
3. uploads, creates the job, waits and downloads, recording each step in the ledger and
   each written file in ``<out>/manifest.json``.

One input failing never stops the others. Every request of every worker goes through the
client's one shared rate limiter, so the whole process stays under the API's budget.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from . import media
from .client import (
    GsepClient,
    WrittenFile,
    check_input_file,
    check_lyrics_file,
    check_output_paths,
    check_planned_outputs,
    get_model,
    lyrics_body,
    output_ext,
    planned_outputs,
    select_outputs,
)
from .errors import (
    ExitCode,
    GsepError,
    Interrupted,
    JobFailed,
    RequestRejected,
    UsageError,
)
from .jobtimes import JobTimes
from .ledger import FileRecord, JobRecord, Ledger, UploadRecord, api_host
from .models import Job, JobStatus
from .naming import InputFields, output_path, output_paths, template_values
from .preflight import check_duration

UPLOAD_LIFE = 72 * 3600.0
UPLOAD_MARGIN = 2 * 3600.0  # never reuse an upload this close to its deletion


@dataclass(frozen=True)
class BatchOptions:
    """What to do with every input (one ``gsep separate`` command)."""

    model: str
    stems: Sequence[str]
    formats: Sequence[str]
    out_dir: Path
    template: str
    force: bool = False
    skip_existing: bool = False
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

    def to_json(self, model: str, stems: Sequence[str]) -> dict[str, Any]:
        """The stable ``--json`` object (see README)."""
        document: dict[str, Any] = {
            "input": str(self.input),
            "bytes": self.bytes,
            "uploadId": self.upload_id,
            "jobId": self.job_id,
            "model": model,
            "stems": list(stems),
            "status": self.status,
            "expireAt": self.expire_at,
            "reused": self.reused,
        }
        if self.status == "success":
            document["files"] = [
                {
                    "stem": f.stem,
                    "format": f.format,
                    "path": str(f.path),
                    "bytes": f.bytes,
                    "skipped": f.skipped,
                }
                for f in self.files
            ]
        if self.error is not None:
            document["error"] = {
                "message": self.error.message,
                "hint": self.error.hint,
                "exitCode": int(self.error.exit_code),
            }
        return document


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


def job_key(audio_sha: str, lyrics_sha: str | None, language: str | None) -> str:
    """What the ledger matches jobs on: the audio's SHA-256, or for the lyrics model a
    SHA-256 over audio, lyrics text and language (new lyrics or language: a new job)."""
    if lyrics_sha is None:
        return audio_sha
    return hashlib.sha256(f"lyrics:{audio_sha}:{lyrics_sha}:{language}".encode()).hexdigest()


# ---- manifest ---------------------------------------------------------------------------
class Manifest:
    """``<out>/manifest.json``: which input, model, stems and job produced each file.

    Updated under a lock (threads) and an ``flock`` on ``.manifest.lock`` (processes), and
    written atomically.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / "manifest.json"
        self._lock = threading.Lock()

    def add(self, entries: dict[str, dict[str, Any]]) -> None:
        """Record (or replace) entries keyed by path relative to the output folder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, _file_lock(_lock_path(self.path)):
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
                data = {"version": 1, "files": {}}
            data["files"].update(entries)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifest-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=True)
                    fh.write("\n")
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


def _lock_path(manifest: Path) -> Path:
    """A lock file for one manifest, outside the output folder (which holds results only)."""
    digest = hashlib.sha256(str(manifest.resolve()).encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"gsep-manifest-{digest}.lock"


@contextlib.contextmanager
def _file_lock(path: Path) -> Any:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the thread lock still applies
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---- the runner -------------------------------------------------------------------------
class BatchRunner:
    """Runs ``gsep separate`` over many inputs; reports each result as it finishes."""

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
        """One input, start to finish; every expected failure ends up in the result."""
        result = InputResult(path)
        try:
            self._process(path, result)
        except GsepError as exc:
            result.status, result.error = "failed", exc
            if self.ledger is not None and result.job_id is not None:
                with contextlib.suppress(GsepError):
                    self.ledger.update_job(
                        result.job_id, status=_ledger_status(exc), error=exc.message
                    )
        return result

    # ---- steps ---------------------------------------------------------------------------
    def _process(self, path: Path, result: InputResult) -> None:
        options = self.options
        result.bytes = size = check_input_file(path, self.spec, measure=False)
        seconds = check_duration(path, self.spec)  # also refuses audio over the limit
        lyrics = options.lyrics_for(path)
        if lyrics is not None:
            check_lyrics_file(lyrics)
        source = InputFields.of(path)
        planned = [] if options.stdout is not None else planned_paths(options, source)
        if not options.no_wait:  # files already there may be ours: judged after the ledger
            check_output_paths(planned, options.out_dir)
        sha = key = None
        if self.ledger is not None:
            sha = self.ledger.file_sha256(path)
            lyrics_sha = self.ledger.file_sha256(lyrics) if lyrics is not None else None
            key = job_key(sha, lyrics_sha, options.language)
        if self.ledger is not None and key is not None and not options.force:
            known = self.ledger.find_job(key, options.model, options.stems, self.host, self.key_fp)
            if known is not None:
                result.reused = "job"
                self._reattach(known, path, source, sha, result)
                return
        if not options.no_wait:  # refuse before paying for a job whose files cannot land
            check_planned_outputs(
                planned,
                options.out_dir,
                refuse_existing=not (options.force or options.skip_existing)
                and "{job}" not in options.template,
            )
        upload_id = self._upload(path, size, sha, result)
        job_id = self._create_job(upload_id, path, size, sha, key, lyrics, result)
        result.job_id = job_id
        if options.no_wait:
            result.status = "submitted"
            return
        self._wait_and_download(job_id, path, source, sha, result, audio_seconds=seconds)

    def _upload(self, path: Path, size: int, sha: str | None, result: InputResult) -> str:
        upload_id, reused = self._upload_or_reuse(path, size, sha, fresh=False)
        result.upload_id, result.reused = upload_id, "upload" if reused else None
        return upload_id

    def _upload_or_reuse(
        self, path: Path, size: int, sha: str | None, *, fresh: bool
    ) -> tuple[str, bool]:
        """An upload id for the file: one on record young enough (unless ``fresh`` or
        ``force``), else a new upload, recorded. Also says whether it was reused."""
        if self.ledger is not None and sha is not None and not (fresh or self.options.force):
            known = self.ledger.find_upload(
                sha, size, self.host, self.key_fp, max_age=UPLOAD_LIFE - UPLOAD_MARGIN
            )
            if known is not None:
                self.client.listener.notice(f"{path.name}: reusing upload {known.upload_id}")
                return known.upload_id, True
        upload_id = self.client.upload_file(path)
        if self.ledger is not None and sha is not None:
            self.ledger.record_upload(
                UploadRecord(upload_id, sha, size, path.name, self.host, self.key_fp, self.clock())
            )
        return upload_id, False

    def _upload_lyrics(self, lyrics: Path, *, fresh: bool) -> tuple[str, bool]:
        sha = self.ledger.file_sha256(lyrics) if self.ledger is not None else None
        return self._upload_or_reuse(lyrics, lyrics.stat().st_size, sha, fresh=fresh)

    def _create_job(
        self,
        upload_id: str,
        path: Path,
        size: int,
        sha: str | None,
        key: str | None,
        lyrics: Path | None,
        result: InputResult,
    ) -> str:
        text = self._upload_lyrics(lyrics, fresh=False) if lyrics is not None else None
        try:
            return self._create_and_record(upload_id, path, key, text and text[0])
        except RequestRejected as exc:
            reused = result.reused == "upload" or (text is not None and text[1])
            if not reused or exc.result_code not in (1105, 1106):
                raise
        # the server no longer has an upload we remembered: upload afresh, once
        self.client.listener.notice(f"{path.name}: remembered upload is gone; uploading")
        if result.reused == "upload":
            upload_id, _ = self._upload_or_reuse(path, size, sha, fresh=True)
            result.upload_id, result.reused = upload_id, None
        if lyrics is not None and text is not None and text[1]:
            text = self._upload_lyrics(lyrics, fresh=True)
        return self._create_and_record(upload_id, path, key, text and text[0])

    def _create_and_record(
        self, upload_id: str, path: Path, sha: str | None, text_upload_id: str | None
    ) -> str:
        """Create the job and record it, as one step that Ctrl-C waits for (see run).

        ``sha`` is the ledger's job key (:func:`job_key`)."""
        options = self.options
        extra = None
        if text_upload_id is not None:
            extra = lyrics_body(text_upload_id, options.language or "")
        with self._paying():
            job_id = self.client.create_job(
                upload_id, model=options.model, stems=options.stems, extra=extra
            )
            if self.ledger is not None and sha is not None:
                now = self.clock()
                self.ledger.record_job(
                    JobRecord(
                        job_id,
                        upload_id,
                        sha,
                        str(path.resolve()),
                        options.model,
                        tuple(options.stems),
                        self.host,
                        self.key_fp,
                        "submitted",
                        None,
                        None,
                        now,
                        now,
                        (),
                    )
                )
        self.client.listener.notice(f"{path.name}: job {job_id} created")
        return job_id

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
        """After Ctrl-C: start no new job, and wait (bounded; Ctrl-C again quits at once)
        until a job creation already sent is answered and recorded, so a re-run cannot
        pay for it a second time."""
        deadline = time.monotonic() + self.client.timeout[1] + 5
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
        path: Path,
        source: InputFields,
        sha: str | None,
        result: InputResult,
        *,
        reattach: bool = False,
        recorded: Sequence[FileRecord] = (),
        audio_seconds: float | None = None,
    ) -> None:
        options = self.options
        # a job created just now: poll around when its predecessors ended, and teach
        # the next ones (a re-attached job's age is unknown: plain backoff, nothing learnt)
        pace = None if reattach else self.job_times.pace(audio_seconds)
        started = time.monotonic()
        try:
            job = self.client.wait(job_id, model=options.model, timeout=options.timeout, pace=pace)
        except JobFailed:
            if self.ledger is not None:
                self.ledger.update_job(job_id, status="failed")
            raise
        if not reattach:
            self.job_times.observe(audio_seconds, time.monotonic() - started)
        result.expire_at = job.expire_at
        if self.ledger is not None:
            self.ledger.update_job(job_id, status="success", expire_at=job.expire_at)
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
        keep = self._keepable(job, source, recorded) if reattach else set()
        written = self.client.download(
            job,
            options.out_dir,
            stems=options.stems,
            formats=options.formats,
            model=options.model,
            template=options.template,
            force=options.force,
            skip_existing=options.skip_existing or bool(keep),
            source=source,
        )
        result.files, result.status = written, "success"
        self._remember_files(job_id, path, sha, written)

    def _keepable(self, job: Job, source: InputFields, recorded: Sequence[FileRecord]) -> set[Path]:
        """Files of this job already in place: recorded intact, or (when a run was cut off
        between the atomic rename and the ledger) the same size as the server's file.

        gsep only ever renames complete files into place, so a file of the right size at
        the planned path is this job's output. Any other file there is refused as usual.
        """
        options = self.options
        intact = {Path(r.path).resolve() for r in recorded}
        keep: set[Path] = set()
        for output in select_outputs(job.outputs, options.stems, options.formats):
            ext = output_ext(self.spec, output)
            fields = template_values(
                source, stem=output.name, ext=ext, model=options.model, job=job.job_id
            )
            target = output_path(options.out_dir, options.template, fields)
            if not target.is_file():
                continue
            if target.resolve() in intact or (
                self.client.downloader.remote_size(output.url) == target.stat().st_size
            ):
                keep.add(target.resolve())
            elif not options.skip_existing:
                raise UsageError(
                    f"{target} already exists", "Use --force to overwrite, or --skip-existing"
                )
        return keep

    def _remember_files(
        self, job_id: str, path: Path, sha: str | None, written: Sequence[WrittenFile]
    ) -> None:
        records = [FileRecord(w.stem, w.format, str(w.path.resolve()), w.bytes) for w in written]
        if self.ledger is not None:
            self.ledger.update_job(job_id, files=records)
        stamp = datetime.fromtimestamp(self.clock(), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = self.options.out_dir.resolve()
        lyrics = self.options.lyrics_for(path)
        extra = {} if lyrics is None else {"lyrics": str(lyrics), "language": self.options.language}
        entries = {}
        for item in written:
            try:
                key = item.path.resolve().relative_to(out).as_posix()
            except ValueError:  # pragma: no cover - output_path keeps files inside
                key = str(item.path)
            entries[key] = {
                "input": str(path),
                "inputSha256": sha,
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
            self.manifest.add(entries)

    def _reattach(
        self,
        known: JobRecord,
        path: Path,
        source: InputFields,
        sha: str | None,
        result: InputResult,
    ) -> None:
        options = self.options
        result.job_id, result.upload_id = known.job_id, known.upload_id
        expire = known.expire_epoch()
        if known.status == "success" and expire is not None and expire <= self.clock():
            raise RequestRejected(
                f"{path.name}: the results of job {known.job_id} expired at {known.expire_at}",
                "Run again with --force to pay for a new job",
            )
        if options.no_wait:
            result.status = "submitted" if known.status != "success" else "success"
            self.client.listener.notice(f"{path.name}: already submitted as job {known.job_id}")
            return
        complete = self._complete_files(known, source)
        if complete is not None:
            result.status, result.files, result.expire_at = "success", complete, known.expire_at
            self.client.listener.notice(f"{path.name}: already done (job {known.job_id})")
            return
        self.client.listener.notice(f"{path.name}: re-attaching to job {known.job_id}")
        try:
            self._wait_and_download(
                known.job_id,
                path,
                source,
                sha,
                result,
                reattach=True,
                recorded=self._intact(known),
            )
        except RequestRejected as exc:
            if exc.result_code == 1104:
                raise RequestRejected(
                    f"{path.name}: job {known.job_id} is no longer known to the server",
                    "Run again with --force to pay for a new job",
                    result_code=1104,
                ) from None
            raise

    def _intact(self, known: JobRecord) -> list[FileRecord]:
        """Recorded files still on disk with their recorded size."""
        intact = []
        for record in known.files:
            target = Path(record.path)
            with contextlib.suppress(OSError):
                if target.is_file() and target.stat().st_size == record.bytes:
                    intact.append(record)
        return intact

    def _complete_files(self, known: JobRecord, source: InputFields) -> list[WrittenFile] | None:
        """Every wanted output already written and intact: nothing to download."""
        if known.status != "success" or self.options.stdout is not None:
            return None
        intact = {Path(r.path): r for r in self._intact(known)}
        files = []
        for planned in planned_paths(self.options, source, known.job_id):
            record = intact.get(planned.resolve())
            if record is None:
                return None
            files.append(
                WrittenFile(record.stem, record.format, planned, record.bytes, skipped=True)
            )
        return files


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
