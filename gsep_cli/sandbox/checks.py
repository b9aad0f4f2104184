"""Checking a job request as the service does: the outputs it asks for and its input file
(name, format, size, sample rate, channels, duration), read from headers only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import media
from ..models import RESIDUAL, ModelSpec
from .state import BusinessError, SandboxSettings, Upload, UploadReader


def job_outputs(spec: ModelSpec, body: dict[str, Any]) -> tuple[str, ...]:
    """The outputs a job request asks for: the model's own, or its ``type`` stems (and
    the residual); refuses a missing, malformed or unknown ``type``."""
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


def check_media(
    spec: ModelSpec,
    upload: Upload,
    settings: SandboxSettings,
    open_upload: Callable[[Upload], UploadReader],
) -> tuple[str, float]:
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
    max_bytes = spec.max_bytes if settings.max_bytes is None else settings.max_bytes
    if upload.file_size > max_bytes:
        raise BusinessError(1110, f"file is larger than {max_bytes} bytes")
    with open_upload(upload) as reader:
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
    max_seconds = spec.max_seconds if settings.max_seconds is None else settings.max_seconds
    if heard.exact and heard.seconds > max_seconds:
        raise BusinessError(1109, f"audio is longer than {max_seconds:g} s")
    return kind, heard.seconds


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
