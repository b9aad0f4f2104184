"""The records a sandbox keeps: uploads and their parts, jobs and their schedule, result
files, the settings that shape them, and the business error (a result code other than
1000) that refuses a request.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..models import UPLOAD_LIFE


class BusinessError(Exception):
    """A result code other than 1000, answered in the JSON envelope."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def iso_utc(epoch: float) -> str:
    """Format an epoch time as ISO-8601 UTC with a ``Z`` (the emulator's choice)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Part:
    """One stored part of an upload."""

    path: Path
    size: int
    md5: str


@dataclass
class Upload:
    """A multipart upload and what is known about its content."""

    upload_id: str
    file_name: str
    file_size: int
    chunk_size: int
    created_at: float
    parts: dict[int, Part] = field(default_factory=dict)
    completed: tuple[tuple[int, str], ...] | None = None

    @property
    def part_count(self) -> int:
        """How many parts the plan has (at least one, even for an empty file)."""
        return max(1, math.ceil(self.file_size / self.chunk_size))

    def expected_size(self, number: int) -> int:
        """The exact byte count part ``number`` (1-based) must have."""
        start = (number - 1) * self.chunk_size
        return max(0, min(self.chunk_size, self.file_size - start))


@dataclass
class Result:
    """One rendered output file of a job."""

    path: Path
    size: int
    etag: str


@dataclass
class SandboxJob:
    """A job and its schedule."""

    job_id: str
    model: str
    upload_id: str
    outputs: tuple[str, ...]
    created_at: float
    duration: float  # seconds the job takes in the sandbox
    kind: str  # input kind (wav, mp3, ...)
    audio_seconds: float
    fail_message: str | None = None
    url_as_string: bool = False
    born_expired: bool = False  # fault job-expired: results expired when it finishes
    text_upload_id: str | None = None
    language: str | None = None
    results: dict[tuple[str, str], Result] | None = None
    render_lock: threading.Lock = field(default_factory=threading.Lock)

    def status_at(self, now: float) -> str:
        """waiting → running → success|failed on the configured schedule."""
        elapsed = now - self.created_at
        if elapsed >= self.duration:
            return "failed" if self.fail_message else "success"
        return "waiting" if elapsed < self.duration * 0.2 else "running"

    @property
    def finished_at(self) -> float:
        """When the job reaches its terminal status."""
        return self.created_at + self.duration

    def expires_at(self, result_ttl: float) -> float:
        """When its results stop being downloadable: ``result_ttl`` after it finished, or
        (``job-expired``) one second *before*, so it is already past when anyone looks."""
        if self.born_expired:
            return self.finished_at - 1
        return self.finished_at + result_ttl


@dataclass(frozen=True)
class JobFaults:
    """What the ``job-*`` faults decided for a new job (spent once the job is valid)."""

    fail_message: str | None = None
    url_as_string: bool = False
    expired: bool = False


class UploadReader(io.RawIOBase):
    """A read-only, seekable view over an upload's parts as one file."""

    def __init__(self, parts: list[Part]) -> None:
        super().__init__()
        self._parts = parts
        self._size = sum(p.size for p in parts)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = len(view)
        written = 0
        offset = 0
        for part in self._parts:
            if written >= want:
                break
            end = offset + part.size
            if self._pos < end:
                with open(part.path, "rb") as fh:
                    fh.seek(self._pos - offset)
                    data = fh.read(min(want - written, end - self._pos))
                view[written : written + len(data)] = data
                written += len(data)
                self._pos += len(data)
            offset = end
        return written


@dataclass
class SandboxSettings:
    """Every knob of the emulator (see ``gsep sandbox serve --help``)."""

    job_seconds: float = 3.0
    chunk_size: int = 1024**3
    api_keys: frozenset[str] | None = None
    permitted_models: frozenset[str] | None = None
    credits: int | None = None
    business_status: int = 200
    rate_limit: int = 100
    rate_window: float = 60.0
    rate_block: float = 60.0
    rate_retry_after: bool = False
    url_ttl: float = 24 * 3600.0
    upload_ttl: float = UPLOAD_LIFE
    result_ttl: float = 48 * 3600.0
    # Test knobs: override every model's size/duration limit (None: GSEP_API.md section 4),
    # so 1109/1110 can be provoked with tiny files.
    max_bytes: int | None = None
    max_seconds: float | None = None
