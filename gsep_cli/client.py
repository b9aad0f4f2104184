"""``GsepClient``: the library's front door. Never prints; reports through a listener.

>>> from gsep_cli.client import GsepClient
>>> with GsepClient(base_url, api_key) as client:          # doctest: +SKIP
...     upload_id = client.upload_file(Path("song.wav"))
...     job_id = client.create_job(upload_id, stems=["vocal"])
...     job = client.wait(job_id, timeout=600)
...     files = client.download(job, Path("out"), track="song")
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .choices import (
    FORMATS,
    get_model,
    job_path_segment,
    output_ext,
    type_value,
)
from .download import Downloader
from .errors import (
    CreationUnconfirmed,
    DeadlineReached,
    ExpiredUrl,
    InputChanged,
    JobFailed,
    RequestRejected,
    ServiceUnavailable,
    UsageError,
    WaitTimeout,
)
from .fileid import FileIdentity
from .http import ApiTransport
from .models import (
    DEFAULT_MODEL,
    LYRICS_LANGUAGES,
    Job,
    JobStatus,
    ModelSpec,
    Output,
    UploadPlan,
    parse_download_urls,
    parse_status,
)
from .naming import DEFAULT_TEMPLATE, InputFields, output_paths, refuse_collisions
from .polling import DEFAULT_MAX_WAIT, Pace, PacedPlan, Plan, PollPolicy
from .preflight import check_duration, check_file
from .progress import Listener, NullListener
from .ratelimit import RateLimiter
from .retry import RetryPolicy
from .sentcheck import sent_differs
from .storage import DEFAULT_STALL
from .upload_parts import upload_parts
from .watchdog import Stall


@dataclass(frozen=True)
class WrittenFile:
    """One downloaded result file."""

    stem: str
    format: str
    path: Path
    bytes: int
    skipped: bool = False
    sha256: str | None = None  # hex SHA-256 of what was downloaded (None when skipped)


def check_output_paths(paths: Sequence[Path], out_dir: Path) -> None:
    """Refuse output paths that cannot be written because a file or folder is in the way.

    Checked before anything is downloaded (and, for ``separate``, before paying for a job).
    """
    # os.path's checks, not pathlib's: they answer False where the OS refuses to look
    # (a folder without permission, a name too long) instead of raising
    for path in paths:
        if os.path.isdir(path):
            raise UsageError(
                f"{path} is a folder, not a file", "Move it away, or choose another -o DIR"
            )
        for parent in path.parents:
            if parent == out_dir:
                break
            if os.path.lexists(parent) and not os.path.isdir(parent):
                raise UsageError(
                    f"cannot create the folder {parent}: a file has that name",
                    "Move the file away, or choose another -o DIR or --name-template",
                )


def check_input_file(path: Path, spec: ModelSpec, *, measure: bool = True) -> int:
    """Check a local input before any request and return its size in bytes.

    It exists, is a regular file (anything else -- a FIFO, a device, a directory -- is
    refused without being opened, so this never blocks), is readable and non-empty, has an
    extension ``spec`` accepts and is within its size limit; with ``measure``, an exact
    duration over its limit is refused too (:func:`gsep_cli.preflight.check_duration`).
    Raises :class:`~gsep_cli.errors.UsageError`. :func:`gsep_cli.preflight.preflight`
    checks all this and the content, sample rate and channels: prefer it before uploading.
    """
    size = check_file(path, spec)
    if measure:
        check_duration(path, spec)
    return size


def check_planned_outputs(paths: Sequence[Path], out_dir: Path, *, refuse_existing: bool) -> None:
    """Refuse a set of output paths that cannot be written as asked: two outputs on one
    path, something in the way, or (``refuse_existing``) a file already there."""
    refuse_collisions(paths)
    check_output_paths(paths, out_dir)
    if refuse_existing:
        for path in paths:
            if os.path.lexists(path):
                raise UsageError(
                    f"{path} already exists", "Use --force to overwrite, or --skip-existing"
                )


class GsepClient:
    """A client for the GSEP API: upload, create jobs, poll, download, or all at once."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        listener: Listener | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        policy: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        limiter: RateLimiter | None = None,
        parallel: int = 4,
        log: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stall: Stall | None = DEFAULT_STALL,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> None:
        self.listener: Listener = listener or NullListener()
        self.policy = policy or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.parallel = parallel
        self.timeout = timeout
        self.sleep = sleep
        self.api = ApiTransport(
            base_url,
            api_key,
            timeout=timeout,
            policy=self.policy,
            limiter=limiter,
            log=log,
            sleep=sleep,
            notify=self._notify_wait,
        )
        self.stall = stall
        self.max_wait = max_wait
        self._clock_told = False
        # the configured read timeout and stall limit hold for every request: API,
        # parts and results alike
        self.downloader = Downloader(self.listener, self.policy, timeout, log=log, stall=stall)

    def __enter__(self) -> GsepClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release network connections: the API transport's and the downloader's."""
        self.api.close()
        self.downloader.close()

    def _notify_wait(self, reason: str, seconds: float) -> None:
        self.listener.notice(f"{reason} ({seconds:.0f} s)")

    def notice(self, text: str) -> None:
        """Tell the listener something worth a line (``Listener.notice``)."""
        self.listener.notice(text)

    def cancel_downloads(self) -> None:
        """Stop every download in flight and remove its partial files (Ctrl-C)."""
        self.downloader.cancel()

    @property
    def read_timeout(self) -> float:
        """Seconds the client waits for an answer to start (the read timeout)."""
        return self.timeout[1]

    # ---- uploads -------------------------------------------------------------------
    def create_upload(self, file_name: str, file_size: int) -> UploadPlan:
        """Ask for an upload plan (upload id, chunk size, presigned URLs)."""
        data = self.api.call(
            "POST",
            "/v1/files/upload-multipart/create",
            {"fileName": file_name, "fileSize": file_size},
            creates=True,
        )
        upload_id = data.get("uploadId")
        urls = data.get("preSignedUrl")
        chunk = data.get("chunkSize")
        if not isinstance(upload_id, str) or not upload_id or not isinstance(urls, list):
            raise ServiceUnavailable("the API's upload plan lacks uploadId or preSignedUrl")
        return UploadPlan(upload_id, chunk if isinstance(chunk, int) else -1, tuple(urls))

    def complete_upload(self, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Tell the API every part arrived (ascending part numbers, ETags as received)."""
        body = {
            "uploadId": upload_id,
            "parts": [{"awsETag": etag, "partNumber": n} for n, etag in sorted(parts)],
        }
        self.api.call("POST", "/v1/files/upload-multipart/complete", body)

    def upload_file(
        self,
        path: Path,
        *,
        name: str | None = None,
        identity: FileIdentity | None = None,
        sha256: str | None = None,
    ) -> str:
        """Upload a file (streamed, parallel parts) and return its upload id.

        ``identity`` is the version of the file the caller checked (and hashed); by
        default the version found now. If the file is not that version any more once
        every part is sent, the upload is not completed and
        :class:`~gsep_cli.errors.InputChanged` is raised: what was sent may mix two
        versions, and no job may be paid for it. With ``sha256`` (hex, the content the
        caller hashed) the file is read once more before completing, and the upload is
        refused the same way when its content or a sent part differs
        (:func:`gsep_cli.sentcheck.sent_differs`): edits that leave the metadata alone
        are caught too. An expired part URL restarts the upload once with a fresh plan.
        """
        version = identity or FileIdentity.of(path)
        size = version.size
        file_name = upload_name(name or path.name)
        key = f"upload:{path}"
        self.listener.transfer_start(key, f"upload {path.name}", size)
        ok = False
        try:
            for round_ in (1, 2):
                plan = self.create_upload(file_name, size)
                self._warn_about_clock()
                try:
                    parts = upload_parts(
                        path,
                        size,
                        plan,
                        listener=self.listener,
                        key=key,
                        parallel=self.parallel,
                        policy=self.policy,
                        timeout=self.timeout,
                        log=self.api.log,
                        stall=self.stall,
                    )
                except ExpiredUrl:
                    if round_ == 2:
                        raise
                    self.listener.notice("upload URLs expired; starting again with fresh ones")
                    continue
                changed = version.changed(path)
                if changed is None and sha256 is not None:
                    changed = sent_differs(path, sha256, plan.chunk_size, parts)
                if changed is not None:
                    raise InputChanged(
                        f"{path} changed while it was being uploaded ({changed}); the upload "
                        "was not completed and nothing was paid for",
                        "Wait until nothing writes to the file, then run the command again",
                    )
                self.complete_upload(plan.upload_id, parts)
                ok = True
                return plan.upload_id
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self.listener.transfer_end(key, ok)

    def _warn_about_clock(self) -> None:
        """Say once when this machine's clock is minutes off the API's: presigned URLs
        carry their signing time, and a wrong clock makes them look expired or not."""
        skew = self.api.clock_skew
        if skew is None or abs(skew) < 300 or self._clock_told:
            return
        self._clock_told = True
        way = "ahead of" if skew > 0 else "behind"
        self.listener.notice(
            f"this machine's clock is {abs(skew) / 60:.0f} min {way} the API's; gsep leaves it "
            "to the storage server to say whether an upload URL expired"
        )

    # ---- jobs ------------------------------------------------------------------------
    def create_job(
        self,
        upload_id: str,
        *,
        model: str = DEFAULT_MODEL,
        stems: Sequence[str] = ("vocal",),
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Create a job on an upload and return its id (never retried blindly)."""
        spec = get_model(model)
        body: dict[str, Any] = {"audioUploadId": upload_id}
        if spec.needs_type:
            body["type"] = type_value(stems)
            if not body["type"]:
                raise UsageError(
                    "choose at least one stem besides 'others'",
                    f"Choose from: {', '.join(spec.stems)}",
                )
        body.update(extra or {})
        if spec.needs_lyrics and not (body.get("textUploadId") and body.get("language")):
            raise UsageError(
                f"{model} needs a lyrics text and its language",
                "Give --lyrics FILE.txt and --language " + "|".join(LYRICS_LANGUAGES),
            )
        data = self.api.call("POST", f"/v1/{model}/jobs", body, creates=True)
        job_id = data.get("jobId")
        if not isinstance(job_id, str) or not job_id:  # accepted (and paid?) but unnamed
            raise CreationUnconfirmed(
                "the API accepted the job but sent no jobId",
                "The job may exist and have cost credits: check before repeating it",
            )
        return job_id

    def get_job(
        self, job_id: str, *, model: str = DEFAULT_MODEL, deadline: float | None = None
    ) -> Job:
        """Fetch a job's status, error message, expiry and download URLs.

        ``deadline`` (``time.monotonic()``) bounds the request, retries included. A
        missing, empty or non-string ``status`` is a broken answer
        (:class:`~gsep_cli.errors.ServiceUnavailable`, GSEP_API.md 2.5's client rule); an
        unknown string is kept as it is (the caller decides how long to wait on it).
        """
        get_model(model)
        path = f"/v1/{model}/jobs/{job_path_segment(job_id)}"
        data = self.api.call("GET", path, deadline=deadline)
        raw_status = data.get("status")
        if not isinstance(raw_status, str) or not raw_status.strip():
            shown = "no status" if "status" not in data else f"status {_shown_json(raw_status)}"
            raise ServiceUnavailable(
                f"the API answered job {job_id} with {shown}, which is not a job status",
                f"This is a server problem; the job may still run: gsep job status {job_id} "
                f"--model {model} --wait, later",
            )
        error = data.get("errorMessage")
        expire = data.get("expireAt")
        return Job(
            job_id=str(data.get("jobId") or job_id),
            status=parse_status(raw_status),
            error_message=error if isinstance(error, str) else None,
            expire_at=expire if isinstance(expire, str) else None,
            outputs=parse_download_urls(data.get("downloadUrl")),
            raw=data,
        )

    def wait(
        self,
        job_id: str,
        *,
        model: str = DEFAULT_MODEL,
        timeout: float | None = None,
        pace: Pace | None = None,
    ) -> Job:
        """Poll until the job ends; raise JobFailed or WaitTimeout. Backs off to a cap.

        ``timeout`` (seconds, default :attr:`max_wait`) is a wall-clock bound on the whole
        wait: it also interrupts a request in flight, however slowly its answer drips. A
        status gsep does not know is reported once and waited on, within that bound.
        ``pace`` (a job of a batch, :class:`gsep_cli.polling.JobTimes`): polls cluster
        around when the batch's finished jobs ended, and a sleep ends early when another
        one finishes.
        """
        started = time.monotonic()
        bound = timeout if timeout is not None else self.max_wait
        limit = started + bound
        plan = (
            Plan(self.poll, self.sleep)
            if pace is None
            else PacedPlan(self.poll, pace, started, limit)
        )
        status: str | None = None  # none seen yet
        unknown: set[str] = set()
        while True:
            try:
                # --timeout 0 still asks once (bounded by the request's own limit)
                job = self.get_job(job_id, model=model, deadline=limit if bound > 0 else None)
            except DeadlineReached:
                raise self._gave_up(job_id, model, status, timeout, started) from None
            elapsed = time.monotonic() - started
            status = job.status.value if isinstance(job.status, JobStatus) else str(job.status)
            self.listener.job_status(job_id, status, elapsed)
            if job.status == JobStatus.SUCCESS:
                return job
            if job.status == JobStatus.FAILED:
                raise JobFailed(
                    f"job {job_id} failed: {job.error_message or 'no reason given'}",
                    "Check the input file; run the job again if it looks fine",
                )
            if not isinstance(job.status, JobStatus) and status not in unknown:
                unknown.add(status)
                self.listener.notice(
                    f"job {job_id}: the API says {status!r}, a status gsep does not know; "
                    f"waiting on (at most {bound:g} s in all)"
                )
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise self._gave_up(job_id, model, status, timeout, started)
            plan.sleep(min(plan.next_delay(), remaining))

    def _gave_up(
        self, job_id: str, model: str, status: str | None, timeout: float | None, started: float
    ) -> WaitTimeout:
        elapsed = time.monotonic() - started
        limit = (
            "--timeout"
            if timeout is not None
            else f"the longest gsep waits by default, GSEP_MAX_WAIT={self.max_wait:g} s"
        )
        what = (
            f"job {job_id} is still {status}"
            if status is not None
            else f"no answer about job {job_id} came"
        )
        return WaitTimeout(
            f"{what} after {elapsed:.0f} s ({limit})",
            f"It may still finish: gsep job status {job_id} --model {model} --wait,"
            f" then gsep download {job_id} --model {model}",
        )

    def key_info(self) -> dict[str, Any]:
        """The key's project, status, permitted models and credits (as the API sends them)."""
        return self.api.call("GET", "/v1/key/info")

    # ---- downloads -----------------------------------------------------------------
    def download(
        self,
        job: Job,
        out_dir: Path,
        *,
        stems: Sequence[str] | None = None,
        formats: Sequence[str] = ("wav",),
        track: str | None = None,
        model: str = DEFAULT_MODEL,
        template: str = DEFAULT_TEMPLATE,
        force: bool = False,
        skip_existing: bool = False,
        keep: Collection[Path] = (),
        on_file: Callable[[WrittenFile], None] | None = None,
        source: InputFields | None = None,
    ) -> list[WrittenFile]:
        """Download the chosen outputs of a finished job; return what was written.

        Output names come from the stem and format, never from the URL. ``source`` gives
        the input's ``{track}``, ``{trackext}`` and ``{dir}``; without it ``{track}`` is
        ``track`` (default: the job id) and the other two are empty. ``keep``: paths
        already known to hold this job's output (the caller checked them): reported as
        skipped, not fetched. ``on_file`` is called with each file (its size and SHA-256
        included) once it is complete and checked, just before it is moved into place.
        Raises :class:`~gsep_cli.errors.UsageError` when an output exists and neither
        ``force`` (overwrite) nor ``skip_existing`` (keep it) is given.
        """
        if job.status != JobStatus.SUCCESS:
            raise RequestRejected(
                f"job {job.job_id} has no results yet (status {job.status})",
                f"Wait for it: gsep job status {job.job_id} --wait",
            )
        spec = get_model(model)
        chosen = select_outputs(job.outputs, stems, formats)
        source = source or InputFields(track or job.job_id)
        names = [(output.name, output_ext(spec, output)) for output in chosen]
        paths = output_paths(out_dir, template, source, names, model=model, job=job.job_id)
        planned = list(zip(chosen, paths, strict=True))
        kept = {Path(p).resolve() for p in keep}
        check_planned_outputs(
            [p for _, p in planned if p.resolve() not in kept],
            out_dir,
            refuse_existing=not (force or skip_existing),
        )
        written: list[WrittenFile] = []
        for output, path in planned:
            if path.resolve() in kept or (skip_existing and path.exists()):
                if path.resolve() not in kept:
                    self.listener.notice(f"skipped existing {path}")
                written.append(
                    WrittenFile(output.name, output.format, path, path.stat().st_size, skipped=True)
                )
                continue
            self.downloader.fetch(
                output.url,
                path,
                key=f"download:{path}",
                label=f"{output.name}.{path.suffix.lstrip('.')}",
                force=force,
                on_ready=_collector(output, path, written, on_file),
            )
        return written

    def stream(
        self,
        job: Job,
        out: BinaryIO,
        *,
        stem: str,
        fmt: str,
        model: str = DEFAULT_MODEL,
    ) -> WrittenFile:
        """Write one result of a finished job into ``out`` (e.g. standard output).

        The result's path in the returned record is ``-``.
        """
        if job.status != JobStatus.SUCCESS:
            raise RequestRejected(
                f"job {job.job_id} has no results yet (status {job.status})",
                f"Wait for it: gsep job status {job.job_id} --wait",
            )
        output = select_outputs(job.outputs, [stem], [fmt])[0]
        ext = output_ext(get_model(model), output)
        size = self.downloader.stream(
            output.url, out, key=f"stream:{job.job_id}", label=f"{output.name}.{ext}"
        )
        return WrittenFile(output.name, output.format, Path("-"), size)


def upload_name(name: str) -> str:
    """The ``fileName`` sent for an upload (GSEP_API.md 2.1: "name with extension").

    Only its extension matters to the API, which refuses some names (1113, unsupported
    file-name format): so it gets valid UTF-8 (bytes that are not become U+FFFD) and no
    control characters, slashes or backslashes (each becomes ``_``). The local file and
    the output names keep the real name."""
    text = os.fsencode(name).decode("utf-8", "replace")
    return re.sub(r"[\x00-\x1f\x7f/\\]", "_", text)


def _shown_json(value: Any) -> str:
    """A value from an answer, for a message: JSON, short, one line."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _collector(
    output: Output,
    path: Path,
    written: list[WrittenFile],
    on_file: Callable[[WrittenFile], None] | None,
) -> Callable[[int, str], None]:
    """The ``on_ready`` of one download: report the file, then count it as written."""

    def ready(size: int, sha256: str) -> None:
        item = WrittenFile(output.name, output.format, path, size, sha256=sha256)
        if on_file is not None:
            on_file(item)
        written.append(item)

    return ready


def select_outputs(
    outputs: Sequence[Output], stems: Sequence[str] | None, formats: Sequence[str]
) -> list[Output]:
    """The outputs matching the chosen stems (None: all) and formats, in stem order."""
    available = {o.name for o in outputs}
    if stems is not None:
        missing = [s for s in stems if s not in available]
        if missing:
            raise RequestRejected(
                f"the job has no result for {', '.join(missing)}",
                f"It has: {', '.join(sorted(available)) or 'nothing'}; a job only returns "
                "the stems it was created with (plus others)",
            )
    order = list(stems) if stems is not None else list(dict.fromkeys(o.name for o in outputs))
    chosen: list[Output] = []
    for name in order:
        mine = [o for o in outputs if o.name == name]
        for fmt in formats:  # in the order the user asked for
            chosen.extend(o for o in mine if o.format == fmt)
        chosen.extend(o for o in mine if o.format not in FORMATS)  # e.g. lyrics "file"
    if not chosen:
        raise RequestRejected(
            "the job has no result in the chosen format(s): " + ", ".join(formats)
        )
    return chosen
