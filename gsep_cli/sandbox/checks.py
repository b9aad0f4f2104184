"""Checking a job request as the service does: the outputs it asks for and its input file
(name, format, size, sample rate, channels, duration), read from headers only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .. import media
from ..models import RESIDUAL, ModelSpec
from .state import BusinessError, SandboxSettings, Upload, UploadReader

#: The length guessed for an input whose headers tell none (bytes per second of 48 kHz
#: 16-bit stereo PCM): only the stand-in stems' length depends on it.
GUESS_BYTES_PER_SECOND = 48000 * 4


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
    :func:`gsep_cli.media.sniff_stream` does for the client). Duration, sample rate and
    channels come from :func:`gsep_cli.media.read_facts`, the client's own reading, with
    no bound on counting: the sandbox holds the whole upload, so an MP3's frames and the
    frames of a FLAC whose STREAMINFO says 0 samples are counted, whatever the size. The
    sample rate and channels are checked wherever they are known, the duration limit only
    where the length is exact. The seconds returned are the input's length (exact; for an
    MP3 with not one whole frame, mutagen's estimate); only when nothing tells it, a guess
    from the size.
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
        reader.seek(0)
        facts = media.read_facts(reader, kind)
    if facts.broken is not None and facts.duration != 0:
        raise BusinessError(1107, f"unreadable file: it {facts.broken}")
    if facts.sample_rate is not None and not 16000 <= facts.sample_rate <= 192000:
        raise BusinessError(1014, f"unsupported sample rate {facts.sample_rate} Hz")
    if facts.channels is not None and facts.channels not in (1, 2):
        raise BusinessError(1015, f"unsupported channel count {facts.channels}")
    if facts.duration_exact and facts.duration == 0:
        raise BusinessError(1108, "audio length is zero")
    max_seconds = spec.max_seconds if settings.max_seconds is None else settings.max_seconds
    if facts.duration_exact and facts.duration is not None and facts.duration > max_seconds:
        raise BusinessError(1109, f"audio is longer than {max_seconds:g} s")
    if facts.duration is None:  # nothing readable says how long: the stand-ins need a length
        return kind, upload.file_size / GUESS_BYTES_PER_SECOND
    return kind, facts.duration
