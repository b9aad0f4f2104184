"""What an audio file's headers say: duration, sample rate, channels (:func:`read_facts`).

One reader for every side that measures an input: the client's preflight checks
(:mod:`gsep_cli.preflight`) and the sandbox's job validation and stand-in stems
(:mod:`gsep_cli.sandbox.checks`), so both find the same length for the same bytes.

WAV from its ``fmt ``/``data`` chunks, FLAC from STREAMINFO (exact) or, when it says 0
samples, from its counted frames (exact); MP3 from its first frame header (found past
stray bytes after the tags) and its counted frames (exact, whatever the bit rates). The
caller may bound the counting to files of a size (``count_up_to``: the client's preflight
does, the sandbox does not); past it an MP3 gets its Xing/Info/VBRI frame count (exact)
or, without one, mutagen's estimate, which divides the audio's size by the first frames'
bit rate (right for constant bit rate, off by any factor for variable), and a FLAC
without a sample count an unknown length. M4A/MP4/MOV from mutagen (the track duration:
exact). mutagen is imported only when such a file is read. A value that cannot be read
is unknown (None).
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .flac import count_samples, parse_flac
from .mpeg import Mp3Info, audio_end, count_audio_frames, find_first_frame, parse_mp3
from .sniff import skip_id3v2
from .stream import ByteStream, MediaError
from .wav import parse_wav

__all__ = ["UNKNOWN", "AudioFacts", "read_facts"]


@dataclass(frozen=True)
class AudioFacts:
    """What an input's headers say; None where they say nothing readable."""

    duration: float | None = None  # seconds
    duration_exact: bool = False  # stated by a header, not estimated
    sample_rate: int | None = None  # Hz
    channels: int | None = None
    #: Why the API would refuse the file whatever else holds (a WAV or FLAC whose header
    #: cannot be read: 1107; one without audio: 1108), or None.
    broken: str | None = None


UNKNOWN = AudioFacts()


def read_facts(fp: ByteStream, kind: str, *, count_up_to: int | None = None) -> AudioFacts:
    """Duration, sample rate and channels of a file of this ``kind`` open in ``fp``.

    Where no header states the length (an MP3 without a Xing/Info/VBRI frame count, a
    FLAC whose STREAMINFO says 0 samples), the frames are counted, reading the whole file
    in blocks (:func:`~gsep_cli.media.mpeg.count_audio_frames`,
    :func:`~gsep_cli.media.flac.count_samples`): exact. ``count_up_to`` bounds that to
    files of at most so many bytes (None: any size); past it an MP3's length is mutagen's
    estimate and a FLAC's unknown. ``fp`` must be seekable and positioned at the start of
    the file; it is left anywhere. Never raises for unreadable content (that is
    :data:`UNKNOWN`, in part or whole); an ``OSError`` from reading ``fp`` propagates.
    """
    reader = _FACT_READERS.get(kind)
    if reader is None:
        return UNKNOWN
    count = count_up_to is None or fp.seek(0, 2) <= count_up_to
    fp.seek(0)
    return reader(fp, count)


def _wav_facts(fp: ByteStream, count: bool) -> AudioFacts:
    # The API reads WAV headers as parse_wav does (the sandbox does exactly that):
    # one it cannot read is refused (1107), one without frames too (1108).
    skip_id3v2(fp)
    try:
        info = parse_wav(fp)
    except MediaError as exc:
        return AudioFacts(broken=f"is not a readable WAV file ({exc})")
    if info.frames == 0:
        return AudioFacts(0.0, True, info.sample_rate, info.channels, "holds no audio (0 frames)")
    return AudioFacts(info.duration, True, info.sample_rate, info.channels)


def _flac_facts(fp: ByteStream, count: bool) -> AudioFacts:
    skip_id3v2(fp)  # mutagen skips one tag without footer; this skips them all
    start = fp.tell()
    try:
        info = parse_flac(fp)
    except MediaError as exc:  # no or a broken STREAMINFO: the API cannot read it
        return AudioFacts(broken=f"is not a readable FLAC file ({exc})")
    duration = info.duration  # None when STREAMINFO's sample count is 0 (unknown)
    if duration is None and count:  # written from a pipe: the frames tell
        samples = count_samples(fp, start, info)
        duration = samples / info.sample_rate if samples else None
    return AudioFacts(duration, duration is not None, info.sample_rate, info.channels)


def _mp3_facts(fp: ByteStream, count: bool) -> AudioFacts:
    skip_id3v2(fp)
    first: Mp3Info | None = None
    at = find_first_frame(fp, fp.tell())  # past any stray bytes (padding) after the tags
    if at is not None:
        fp.seek(at)
        with contextlib.suppress(MediaError):
            first = parse_mp3(fp)
    frames = count_audio_frames(fp, at, audio_end(fp)) if first and at is not None and count else 0
    if first is not None and frames:  # every frame counted, whatever the headers say
        seconds = frames * first.samples_per_frame / first.sample_rate
        return AudioFacts(seconds, True, first.sample_rate, first.channels)
    # Not one whole frame counted (a cut-short file): what the headers say, as without
    # counting; a length of 0 is never concluded from a count.
    if first is not None and first.duration is not None:
        return AudioFacts(first.duration, True, first.sample_rate, first.channels)
    # No frame count: mutagen divides the size by the first frames' bit rate. Right for
    # constant bit rate, off by any factor for variable: an estimate, never a refusal.
    info = _mutagen_info(fp, "mp3")
    if first is not None:
        return AudioFacts(_length(info), False, first.sample_rate, first.channels)
    return AudioFacts(
        _length(info), False, _positive(info, "sample_rate"), _positive(info, "channels")
    )


def _mp4_facts(fp: ByteStream, count: bool) -> AudioFacts:
    info = _mutagen_info(fp, "mp4")  # the length comes from mdhd/mvhd: exact
    duration = _length(info)
    return AudioFacts(
        duration, duration is not None, _positive(info, "sample_rate"), _positive(info, "channels")
    )


_FACT_READERS: dict[str, Callable[[ByteStream, bool], AudioFacts]] = {
    "wav": _wav_facts,
    "flac": _flac_facts,
    "mp3": _mp3_facts,
    "mp4": _mp4_facts,
    "mov": _mp4_facts,
}

_MUTAGEN_READERS = {"mp3": ("mutagen.mp3", "MP3"), "mp4": ("mutagen.mp4", "MP4")}


def _mutagen_info(fp: ByteStream, kind: str) -> Any:
    """mutagen's stream info for the whole file in ``fp``, or None when it cannot read it."""
    module_name, class_name = _MUTAGEN_READERS[kind]
    try:  # imported here only: --help, --version and completion never load it
        reader: Any = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None
    fp.seek(0)
    try:
        return reader(fp).info  # a file object, never the path: it was checked, not reopened
    except Exception:  # mutagen raises many kinds for files it cannot parse: unknown
        return None


def _length(info: Any) -> float | None:
    """mutagen's ``info.length`` when it is a positive finite number of seconds."""
    try:
        length = float(info.length)
    except (AttributeError, TypeError, ValueError):
        return None
    return length if length > 0 and math.isfinite(length) else None


def _positive(info: Any, name: str) -> int | None:
    """An integer attribute of mutagen's info; its 0 means "not found"."""
    value = getattr(info, name, None)
    return value if isinstance(value, int) and value > 0 else None
