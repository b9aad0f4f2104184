"""The sandbox's in-memory state: uploads (parts on disk), jobs, results, credits, limits.

Everything here is guarded by one lock; part bodies and rendered results live in a
private temporary directory, never in memory. Time comes from an injectable clock so tests
can move it (expiry of URLs, uploads and results).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import os
import re
import secrets
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from .. import media
from ..models import LYRICS_LANGUAGES, MODELS, RESIDUAL, ModelSpec
from . import render

MAX_PARTS = 10_000
MAX_FILE_SIZE = 5 * 1024**4  # S3's largest object


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


class Signer:
    """HMAC signatures for the presigned part URLs and the CDN result URLs."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def sign(self, method: str, path: str, params: dict[str, str]) -> str:
        """Signature over the method, path and every query parameter but the signature."""
        canonical = "&".join(f"{k}={params[k]}" for k in sorted(params))
        message = f"{method}\n{path}\n{canonical}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def check(self, method: str, path: str, params: dict[str, str], signature: str) -> bool:
        """Constant-time check of a signature made by :meth:`sign`."""
        expected = self.sign(method, path, params).encode()
        return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


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
    upload_ttl: float = 72 * 3600.0
    result_ttl: float = 48 * 3600.0
    # Test knobs: override every model's size/duration limit (None: GSEP_API.md section 4),
    # so 1109/1110 can be provoked with tiny files.
    max_bytes: int | None = None
    max_seconds: float | None = None


class SandboxRateLimiter:
    """Fixed one-window counting per client IP, with a block after going over."""

    def __init__(self, settings: SandboxSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self._blocked_until: dict[str, float] = {}

    def check(self, ip: str, now: float) -> float | None:
        """Count one request; return None if allowed, else the seconds left in the block."""
        s = self._settings
        if s.rate_limit <= 0:
            return None
        with self._lock:
            until = self._blocked_until.get(ip, 0.0)
            if now < until:
                return until - now
            window = math.floor(now / s.rate_window) * s.rate_window
            start, count = self._windows.get(ip, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self._windows[ip] = (start, count)
            if count > s.rate_limit:
                # the count starts afresh once the block is over (with the real 60 s/60 s
                # the block always outlasts the window; a shorter block must not re-block)
                self._blocked_until[ip] = now + s.rate_block
                del self._windows[ip]
                return s.rate_block
        return None


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

    def _outputs_for(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[str, ...]:
        if not spec.needs_type:
            return spec.outputs
        value = body.get("type")
        if value is None or (isinstance(value, str) and not value.strip()):
            raise BusinessError(1122, "required parameter 'type' is missing")
        if not isinstance(value, str):
            raise BusinessError(1100, "'type' must be a comma-separated string")
        stems = [s.strip() for s in value.split(",")]
        for stem in stems:
            if stem not in spec.stems:
                allowed = ", ".join(spec.stems)
                raise BusinessError(1100, f"unknown type value {stem!r} (allowed: {allowed})")
        if len(set(stems)) != len(stems):
            raise BusinessError(1100, f"type lists a value twice: {value!r}")
        return tuple(stems) + ((RESIDUAL,) if spec.residual else ())

    def _check_media(self, spec: ModelSpec, upload: Upload) -> tuple[str, float]:
        """Validate name, format, size, sample rate, channels and duration like the service
        (GSEP_API.md sections 3 and 4); return (kind, seconds).

        The content must match the extension (leading ID3v2 tags skipped, as
        :func:`gsep_cli.media.sniff_stream` does for the client). The sample rate and
        channels are checked wherever a header states them (WAV, FLAC, MP3); the duration
        limit only where the length is exact (the sandbox has no decoder to measure the rest).
        """
        name = upload.file_name
        if not name.strip() or re.search(r"[\x00-\x1f/\\]", name) or "." not in name.strip("."):
            raise BusinessError(1113, f"unsupported file-name format: {name!r}")
        ext = "." + name.rsplit(".", 1)[1].lower()
        ext_kind = media.EXTENSION_KINDS.get(ext)
        if ext_kind is None or ext_kind not in spec.input_kinds:
            raise BusinessError(1107, f"unsupported file format {ext!r} for {spec.name}")
        if upload.file_size == 0:
            raise BusinessError(1108, "audio length is zero")
        max_bytes = spec.max_bytes if self.settings.max_bytes is None else self.settings.max_bytes
        if upload.file_size > max_bytes:
            raise BusinessError(1110, f"file is larger than {max_bytes} bytes")
        with self.open_upload(upload) as reader:
            kind = media.sniff_stream(reader)
            if kind != ext_kind:
                raise BusinessError(1107, f"file content is not {ext_kind} ({name!r})")
            heard = _read_headers(kind, reader, upload.file_size)
        if heard.sample_rate is not None and not 16000 <= heard.sample_rate <= 192000:
            raise BusinessError(1014, f"unsupported sample rate {heard.sample_rate} Hz")
        if heard.channels is not None and heard.channels not in (1, 2):
            raise BusinessError(1015, f"unsupported channel count {heard.channels}")
        if heard.exact and heard.seconds == 0:
            raise BusinessError(1108, "audio length is zero")
        max_seconds = (
            spec.max_seconds if self.settings.max_seconds is None else self.settings.max_seconds
        )
        if heard.exact and heard.seconds > max_seconds:
            raise BusinessError(1109, f"audio is longer than {max_seconds:g} s")
        return kind, heard.seconds

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
        outputs = self._outputs_for(spec, body)
        text_id, language = (None, None)
        if spec.category == "text_sync":
            text_id, language = self._check_lyrics(body, now)
        kind, seconds = self._check_media(spec, upload)
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
                job.results = self._render(job)
            return job.results

    def _render(self, job: SandboxJob) -> dict[tuple[str, str], Result]:
        folder = self.root / "results" / job.job_id
        folder.mkdir(parents=True, exist_ok=True)
        upload = self.get_upload(job.upload_id)
        assert upload is not None
        paths: dict[tuple[str, str], Path] = {}
        if job.model == "gts_lyrics_line_v1":
            paths.update(self._render_lyrics(job, folder))
        else:
            wav_paths = {name: folder / f"{name}.wav" for name in job.outputs}
            handles = {name: open(path, "wb") for name, path in wav_paths.items()}  # noqa: SIM115
            try:
                with self.open_upload(upload) as reader:
                    self._render_wavs(job, reader, handles)
            finally:
                for handle in handles.values():
                    handle.close()
            for name, path in wav_paths.items():
                paths[(name, "wav")] = path
                mp3 = folder / f"{name}.mp3"
                with open(mp3, "wb") as fh:
                    render.write_mp3(fh, job.audio_seconds, channels=2)
                paths[(name, "mp3")] = mp3
        results = {}
        for key, path in paths.items():
            results[key] = Result(path, path.stat().st_size, _md5_of(path))
        return results

    def _render_wavs(
        self, job: SandboxJob, reader: UploadReader, handles: Mapping[str, BinaryIO]
    ) -> None:
        if job.kind == "wav":
            media.skip_id3v2(reader)  # as _check_media read it
            info = media.parse_wav(reader)
            stems = [n for n in job.outputs if n != RESIDUAL]
            render.render_wav_stems(reader, info, stems, handles)  # type: ignore[arg-type]
            return
        for handle in handles.values():  # no decoder for compressed input: silence
            render.write_silent_wav(handle, job.audio_seconds)

    def _render_lyrics(
        self, job: SandboxJob, folder: Path
    ) -> Iterator[tuple[tuple[str, str], Path]]:
        text_upload = self.get_upload(job.text_upload_id or "")
        assert text_upload is not None
        with self.open_upload(text_upload) as reader:
            lines = [ln.strip() for ln in reader.read().decode("utf-8-sig").splitlines()]
        lines = [ln for ln in lines if ln]
        step = job.audio_seconds / max(1, len(lines))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["timestamp", "lyric_text", "confidence_score"])
        for i, line in enumerate(lines):
            writer.writerow([f"{i * step:.3f}", line, "0.99"])
        csv_path = folder / "lyrics.csv"
        csv_path.write_text(out.getvalue(), encoding="utf-8")
        report = {
            "language": job.language,
            "lines": len(lines),
            "sandbox": True,
            "note": "timestamps are evenly spaced; the sandbox does not align lyrics",
        }
        json_path = folder / "reports.json"
        json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
        yield ("lyrics", "file"), csv_path
        yield ("reports", "file"), json_path

    def close(self) -> None:
        """Remove every stored byte."""
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class _Headers:
    """What the sandbox reads from an upload's headers (it decodes nothing)."""

    seconds: float
    exact: bool  # seconds stated by a header; else a guess from the size
    sample_rate: int | None = None
    channels: int | None = None


def _read_headers(kind: str, reader: UploadReader, size: int) -> _Headers:
    """Length, sample rate and channels from the headers of an upload of this ``kind``.

    WAV: ``fmt ``/``data``; FLAC: STREAMINFO; MP3: the first frame and its Xing/Info/VBRI
    frame count, else the size over the first frame's bit rate (constant bit rate assumed);
    MP4/MOV: a guess from the size, as if 48 kHz 16-bit stereo. Refuses (1107) a WAV or
    FLAC whose header cannot be read.
    """
    media.skip_id3v2(reader)
    if kind == "wav":
        try:
            wav = media.parse_wav(reader)
        except media.MediaError as exc:
            raise BusinessError(1107, f"unreadable WAV file: {exc}") from exc
        return _Headers(wav.duration, True, wav.sample_rate, wav.channels)
    if kind == "flac":
        try:
            flac = media.parse_flac(reader)
        except media.MediaError as exc:
            raise BusinessError(1107, f"unreadable FLAC file: {exc}") from exc
        exact = flac.duration
        seconds = exact if exact is not None else size / (flac.sample_rate * 4)
        return _Headers(seconds, exact is not None, flac.sample_rate, flac.channels)
    if kind == "mp3":
        try:
            mp3 = media.parse_mp3(reader)
        except media.MediaError:  # junk after the tags: no header to go by
            return _Headers(size * 8 / 128_000, False)
        if mp3.duration is not None:
            return _Headers(mp3.duration, True, mp3.sample_rate, mp3.channels)
        return _Headers(size * 8 / mp3.bitrate, False, mp3.sample_rate, mp3.channels)
    return _Headers(size / (48000 * 4), False)


def _md5_of(path: Path) -> str:
    """MD5 of a result file, read in blocks (a long input's WAV stems exceed 1 GiB)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
