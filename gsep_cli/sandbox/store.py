"""The sandbox's in-memory state: uploads (parts on disk), jobs, results, credits, limits.
The records themselves are in :mod:`.state`, the checks a job request passes in
:mod:`.checks`, the writing of result files in :mod:`.results`.

Everything here is guarded by one lock; part bodies and rendered results live in a
private temporary directory, never in memory. Time comes from an injectable clock so tests
can move it (expiry of URLs, uploads and results).
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..models import LYRICS_LANGUAGES, MAX_PARTS, MODELS
from .checks import check_media, job_outputs
from .guards import SandboxRateLimiter, Signer
from .results import render_results
from .state import (
    BusinessError,
    JobFaults,
    Part,
    Result,
    SandboxJob,
    SandboxSettings,
    Upload,
    UploadReader,
)

MAX_FILE_SIZE = 5 * 1024**4  # S3's largest object


class Store:
    """Uploads, jobs and results of one sandbox, safe for many threads at once."""

    def __init__(self, settings: SandboxSettings, root: Path, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.root = root
        self.clock = clock
        self.signer = Signer()
        self.rate = SandboxRateLimiter(settings)
        self._lock = threading.Lock()
        self._uploads: dict[str, Upload] = {}
        self._jobs: dict[str, SandboxJob] = {}
        self.credits_left = settings.credits
        self.credits_used = 0

    # ---- uploads -------------------------------------------------------------------
    def create_upload(self, file_name: str, file_size: int) -> Upload:
        """Register a multipart upload (never fails on format/size: that is job time)."""
        chunk = self.settings.chunk_size
        if math.ceil(file_size / chunk) > MAX_PARTS:
            raise BusinessError(1100, f"fileSize {file_size} needs more than {MAX_PARTS} parts")
        upload = Upload(uuid.uuid4().hex, file_name, file_size, chunk, self.clock())
        (self.root / "uploads" / upload.upload_id).mkdir(parents=True)
        with self._lock:
            self._uploads[upload.upload_id] = upload
        return upload

    def get_upload(self, upload_id: str) -> Upload | None:
        """The upload with this id, or None."""
        with self._lock:
            return self._uploads.get(upload_id)

    def part_path(self, upload_id: str, number: int) -> Path:
        """Where part ``number`` of an upload is stored."""
        return self.root / "uploads" / upload_id / f"part-{number:05d}"

    def store_part(self, upload: Upload, number: int, tmp: Path, size: int, md5: str) -> None:
        """Atomically replace part ``number`` with the received body."""
        final = self.part_path(upload.upload_id, number)
        os.replace(tmp, final)
        with self._lock:
            upload.parts[number] = Part(final, size, md5)

    def complete_upload(self, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Check the part list against what was stored; idempotent when repeated."""
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is None:
                raise BusinessError(1105, f"upload id {upload_id!r} not found")
            wanted = tuple((n, etag.strip('"').lower()) for n, etag in parts)
            if upload.completed is not None:
                if wanted == upload.completed:
                    return
                raise BusinessError(1100, "upload already completed with a different part list")
            expected = list(range(1, upload.part_count + 1))
            numbers = [n for n, _ in wanted]
            if numbers != expected:
                raise BusinessError(
                    1100,
                    f"parts must be numbered 1..{upload.part_count} in ascending order, "
                    f"got {numbers[:20]}",
                )
            for number, etag in wanted:
                stored = upload.parts.get(number)
                if stored is None:
                    raise BusinessError(1100, f"part {number} was never uploaded")
                if stored.md5 != etag:
                    raise BusinessError(1100, f"part {number}: awsETag does not match")
                if stored.size != upload.expected_size(number):
                    raise BusinessError(
                        1100,
                        f"part {number} has {stored.size} bytes, "
                        f"expected {upload.expected_size(number)}",
                    )
            upload.completed = wanted

    def open_upload(self, upload: Upload) -> UploadReader:
        """A seekable reader over a completed upload's bytes."""
        with self._lock:
            parts = [upload.parts[n] for n in range(1, upload.part_count + 1)]
        return UploadReader(parts)

    # ---- jobs ----------------------------------------------------------------------
    def _usable_upload(self, upload_id: Any, now: float) -> Upload:
        if not isinstance(upload_id, str) or not upload_id:
            raise BusinessError(1105, "upload id is missing")
        upload = self.get_upload(upload_id)
        if upload is None or upload.completed is None:
            raise BusinessError(1105, f"upload id {upload_id!r} not found or not completed")
        if now - upload.created_at > self.settings.upload_ttl:
            raise BusinessError(1106, f"upload id {upload_id!r} has expired")
        return upload

    def _check_lyrics(self, body: dict[str, Any], now: float) -> tuple[str, str]:
        text_upload = self._usable_upload(body.get("textUploadId"), now)
        if not text_upload.file_name.lower().endswith(".txt"):
            raise BusinessError(1112, "the text upload must be a .txt file")
        language = body.get("language")
        if language not in LYRICS_LANGUAGES:
            raise BusinessError(1111, f"unsupported language {language!r}")
        with self.open_upload(text_upload) as reader:
            raw = reader.read(1024 * 1024)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BusinessError(1112, "the text file is not UTF-8") from exc
        if len([line for line in text.splitlines() if line.strip()]) < 2:
            raise BusinessError(1008, "the text has fewer than 2 lines")
        return text_upload.upload_id, str(language)

    def create_job(
        self, model: str, body: dict[str, Any], job_faults: Callable[[], JobFaults]
    ) -> SandboxJob:
        """Validate a job request like the real service, charge a credit, start the job.

        ``job_faults`` is called once the request is valid and says whether the job is to
        fail (with which message), whether its ``downloadUrl`` goes out as a string and
        whether its results are expired from the start.
        """
        spec = MODELS[model]
        now = self.clock()
        upload = self._usable_upload(body.get("audioUploadId"), now)
        outputs = job_outputs(spec, body)
        text_id, language = (None, None)
        if spec.category == "text_sync":
            text_id, language = self._check_lyrics(body, now)
        kind, seconds = check_media(spec, upload, self.settings, self.open_upload)
        if self.credits_left is not None and self.credits_left < 1:
            raise BusinessError(1102, "not enough credits")
        faults = job_faults()
        job = SandboxJob(
            str(uuid.uuid1()),
            model,
            upload.upload_id,
            outputs,
            now,
            self.settings.job_seconds,
            kind,
            seconds,
            fail_message=faults.fail_message,
            url_as_string=faults.url_as_string,
            born_expired=faults.expired,
            text_upload_id=text_id,
            language=language,
        )
        with self._lock:
            if self.credits_left is not None:
                if self.credits_left < 1:
                    raise BusinessError(1102, "not enough credits")
                self.credits_left -= 1
            self.credits_used += 1
            self._jobs[job.job_id] = job
        return job

    def get_job(self, model: str, job_id: str) -> SandboxJob:
        """The job, or 1104 when unknown or created under another model."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.model != model:
            raise BusinessError(1104, f"job {job_id!r} not found for model {model}")
        return job

    def find_job(self, job_id: str) -> SandboxJob | None:
        """The job with this id under any model, or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def job_count(self) -> int:
        """How many jobs were created (for tests proving no duplicate was made)."""
        with self._lock:
            return len(self._jobs)

    def upload_count(self) -> int:
        """How many uploads were created."""
        with self._lock:
            return len(self._uploads)

    # ---- results -------------------------------------------------------------------
    def result_formats(self, job: SandboxJob, name: str) -> tuple[str, ...]:
        """Formats offered for one output name."""
        if job.model == "gts_lyrics_line_v1":
            return ("file",)
        return ("mp3", "wav")

    def results(self, job: SandboxJob) -> dict[tuple[str, str], Result]:
        """Render (once, lazily) and return every result file of a finished job."""
        with job.render_lock:
            if job.results is None:
                folder = self.root / "results" / job.job_id
                job.results = render_results(job, folder, self._open_upload_id)
            return job.results

    def _open_upload_id(self, upload_id: str) -> UploadReader:
        """A reader over the upload with this id (one a job refers to: it exists)."""
        upload = self.get_upload(upload_id)
        assert upload is not None
        return self.open_upload(upload)

    def close(self) -> None:
        """Remove every stored byte."""
        shutil.rmtree(self.root, ignore_errors=True)
