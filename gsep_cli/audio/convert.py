"""Making a file in another format, bit depth or sample rate from WAV stems, or the sum of
several stems (a mix), in fixed blocks: memory stays flat in the stems' length.

Needs the ``audio`` extra (soundfile, soxr, numpy); :func:`gsep_cli.audio.require`
checks it before any request, and this module is imported only when a conversion runs.

Exactness. A plain change of container or a wider bit depth (16 → 24, WAV → FLAC/AIFF)
copies the integer samples, so decoding the result gives the stem's samples exactly.
Anything else (a mix, a narrower depth, another rate, a lossy format) is computed in
64-bit float (every 16-, 24- and 32-bit integer sample is exact there), then rounded to
the nearest step of the target depth, without dither. Overs: a sum or a resampled peak
beyond full scale is clipped in integer and lossy formats and counted
(:attr:`Converted.clipped`, said to the user); 32-bit float (``--bit-depth 32f``) keeps it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..errors import Interrupted, UsageError
from .formats import (
    BIT_DEPTHS,
    DEPTHS_OF,
    MP3_RATES,
    Rendering,
    compression_level,
    mp3_bitrates,
    opus_rate,
)

BLOCK_FRAMES = 1 << 16
"""Frames per block (64 Ki: about 1.5 s at 44.1 kHz); memory per source is
``BLOCK_FRAMES * channels * 8`` bytes, whatever the stem's length."""

CONTAINER = {
    "wav": "WAV",
    "aiff": "AIFF",
    "flac": "FLAC",
    "ogg": "OGG",
    "opus": "OGG",
    "mp3": "MP3",
}
LOSSY_SUBTYPE = {"ogg": "VORBIS", "opus": "OPUS", "mp3": "MPEG_LAYER_III"}
EMPTY_UNWRITABLE = ("flac", "mp3", "opus")
"""Formats libsndfile 1.2 cannot write without a sample (it leaves an unreadable file)."""
_WIDTH = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
"""Bits per sample of libsndfile's integer subtypes."""


@dataclass(frozen=True)
class Converted:
    """What :func:`convert` wrote: ``frames`` at ``sample_rate`` Hz, the libsndfile
    ``subtype``, and how many samples were ``clipped`` (0: none) with the ``peak`` of
    the computed signal before clipping (1.0 = full scale; None when the samples were
    copied unchanged); ``nonfinite``: samples that were not numbers (NaN, written as
    silence) or infinite (written as full scale); ``notes``: what differs
    from what was asked (an MP3 bit rate its sample rate does not have)."""

    frames: int
    sample_rate: int
    subtype: str
    clipped: int
    peak: float | None
    nonfinite: int = 0
    notes: tuple[str, ...] = ()


class ConversionError(UsageError):
    """A stem could not be read or the result not written (exit 2, like other local
    file problems): the job and its results stay; the message says which file."""


def convert(
    sources: Sequence[Path],
    dest: Path,
    fmt: str,
    rendering: Rendering | None = None,
    *,
    cancelled: threading.Event | None = None,
    block_frames: int = BLOCK_FRAMES,
    name: str | None = None,
) -> Converted:
    """Write ``fmt`` (``wav``, ``aiff``, ``flac``, ``ogg``, ``opus`` or ``mp3``) to
    ``dest`` from one WAV stem, or from the sum of several (a mix; they must share the
    sample rate and channels; a shorter one counts as silence past its end).

    ``dest`` is written in place (callers pass a temporary name and move it; ``name``,
    the final file's, is what messages say). Raises
    :class:`ConversionError` when a stem cannot be read or they do not fit together,
    :class:`~gsep_cli.errors.Interrupted` when ``cancelled`` is set between blocks, and
    OSError when ``dest`` cannot be written.
    """
    rendering = rendering or Rendering()
    shown = name or dest.name
    with ExitStack() as stack:
        readers = [stack.enter_context(_open(path)) for path in sources]
        first = readers[0]
        rate, channels = first.samplerate, first.channels
        for reader, path in zip(readers[1:], sources[1:], strict=True):
            if (reader.samplerate, reader.channels) != (rate, channels):
                raise ConversionError(
                    f"cannot mix {path.name} ({reader.samplerate} Hz, {reader.channels} ch) "
                    f"with {sources[0].name} ({rate} Hz, {channels} ch)",
                    "Mix stems of one job only",
                )
        if fmt in EMPTY_UNWRITABLE and not any(r.frames for r in readers):
            raise ConversionError(
                f"{sources[0].name} has no samples, and libsndfile writes no empty {fmt} file",
                "Use --format wav or aiff for this result",
            )
        floating = any(r.subtype in ("FLOAT", "DOUBLE") for r in readers)
        out_rate = _out_rate(fmt, rendering.sample_rate or rate)
        subtype = _subtype(fmt, rendering.bit_depth, readers[0].subtype, floating)
        notes = _bitrate_notes(fmt, rendering.bitrate, out_rate)
        if fmt == "mp3" and out_rate != (rendering.sample_rate or rate):
            notes.insert(0, f"MP3 has no {rate} Hz rate: written at {out_rate} Hz")
        level = compression_level(fmt, rendering.bitrate, channels, out_rate)
        extra: dict[str, Any] = {}
        if level is not None:
            extra["compression_level"] = level
        if fmt == "mp3":
            extra["bitrate_mode"] = "CONSTANT"
        try:
            writer = stack.enter_context(
                sf.SoundFile(
                    str(dest),
                    "w",
                    samplerate=out_rate,
                    channels=channels,
                    subtype=subtype,
                    format=CONTAINER[fmt],
                    **extra,
                )
            )
            plain = len(readers) == 1 and out_rate == rate and _copies_exactly(first, subtype)
            pump = _Copy(first, writer) if plain else _Compute(readers, writer, rate, out_rate)
            stack.callback(pump.close)  # on any way out: a resampler left to the traceback
            while pump.step(block_frames):  # is reported "leaked" by nanobind at exit
                if cancelled is not None and cancelled.is_set():
                    raise Interrupted(f"conversion to {shown} stopped")
            frames = writer.frames
            if frames == 0 and fmt in EMPTY_UNWRITABLE:
                raise ConversionError(
                    f"{shown} would hold no samples at {out_rate} Hz, and libsndfile "
                    f"writes no empty {fmt} file",
                    "Use --format wav or aiff for this result",
                )
        except sf.LibsndfileError as exc:  # a write failed: the disk, most likely
            raise _write_error(dest, exc) from None
    return Converted(
        frames, out_rate, subtype, pump.clipped, pump.peak, pump.nonfinite, tuple(notes)
    )


def _write_error(dest: Path, exc: Exception) -> OSError:
    """What a failed libsndfile write means: a full disk (its "System error" hides the
    errno) when the file system has no room left, else the library's own words."""
    with contextlib.suppress(OSError):
        stats = os.statvfs(dest.parent)
        if stats.f_bavail * stats.f_frsize < 1 << 20:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return OSError(errno.EIO, f"libsndfile: {exc}")


def _bitrate_notes(fmt: str, kbps: int | None, rate: int) -> list[str]:
    """An MP3 bit rate the written rate does not have (the stem's own rate was unknown
    when the options were checked): libsndfile takes the nearest it has."""
    if fmt != "mp3" or kbps is None or kbps in mp3_bitrates(rate):
        return []
    near = min(mp3_bitrates(rate), key=lambda b: abs(b - kbps))
    return [f"MP3 has no {kbps} kbps rate at {rate} Hz: written at {near} kbps"]


def _open(path: Path) -> Any:
    try:
        return sf.SoundFile(str(path), "r")
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise ConversionError(
            f"cannot read the stem {path.name}: {exc}",
            "Download it again (gsep download JOB_ID); results are kept 48 h",
        ) from None


def _out_rate(fmt: str, rate: int) -> int:
    """The rate written: as asked, except where the format cannot code at it (Opus:
    48 kHz; MP3: 48 kHz above its top rate). Asked-for rates were checked already
    (:func:`~gsep_cli.audio.formats.check_rendering`)."""
    if fmt == "opus":
        return opus_rate(rate)
    if fmt == "mp3" and rate not in MP3_RATES:
        return 48000
    return rate


def _subtype(fmt: str, depth: str | None, source: str, floating: bool) -> str:
    """The libsndfile subtype written: the lossy codec, else the asked depth, else the
    stem's own where the format holds it (FLAC: 24 bits for a float or 32-bit stem)."""
    if fmt in LOSSY_SUBTYPE:
        return LOSSY_SUBTYPE[fmt]
    if depth is None:
        width = _WIDTH.get(source, 32)  # 8-bit stems are written as 16
        depth = "32f" if floating else "16" if width <= 16 else "24" if width <= 24 else "32"
    if depth == "32":
        return "PCM_24" if fmt == "flac" else "PCM_32"
    if depth not in DEPTHS_OF[fmt]:
        depth = "24"
    return BIT_DEPTHS[depth]


def _copies_exactly(reader: Any, subtype: str) -> bool:
    """True when the stem's samples fit the target unchanged: integer into an integer
    depth at least as wide, or float into float."""
    src = reader.subtype
    if src in ("FLOAT", "DOUBLE"):
        return subtype == "FLOAT" and src == "FLOAT"
    return subtype in _WIDTH and src in _WIDTH and _WIDTH[subtype] >= _WIDTH[src]


class _Copy:
    """Integer samples from one stem into the target, block by block (libsndfile keeps
    them left-justified in int32, so a wider target gets them exactly)."""

    clipped = 0
    nonfinite = 0
    peak: float | None = None

    def __init__(self, reader: Any, writer: Any) -> None:
        self._reader, self._writer = reader, writer
        self._float = reader.subtype == "FLOAT"

    def close(self) -> None:
        """Nothing to release."""

    def step(self, frames: int) -> bool:
        block = self._reader.read(frames, dtype="float32" if self._float else "int32")
        if len(block) == 0:
            return False
        self._writer.write(block)
        return True


class _Compute:
    """The float path: sum the stems' blocks (64-bit float), resample (soxr, very high
    quality, streamed), round to the target depth, clip and count overs."""

    def __init__(self, readers: Sequence[Any], writer: Any, rate: int, out_rate: int) -> None:
        self._readers = readers
        self._writer = writer
        self._channels = writer.channels
        self._stream = None
        if out_rate != rate:
            import soxr

            self._stream = soxr.ResampleStream(
                rate, out_rate, self._channels, dtype="float64", quality="VHQ"
            )
        width = _WIDTH.get(writer.subtype)
        self._scale = None if width is None else float(1 << (width - 1))
        self._shift = 0 if width is None else 32 - width
        self.clipped = 0
        self.nonfinite = 0
        self.peak: float | None = 0.0
        self._done = False

    def close(self) -> None:
        """Let the resampler go now, not with a traceback that may outlive it."""
        self._stream = None

    def step(self, frames: int) -> bool:
        if self._done:
            return False
        total = None
        for reader in self._readers:
            block = _as_float(reader, frames)
            if total is None:
                total = block
            elif len(block) > len(total):
                block[: len(total)] += total
                total = block
            else:
                total[: len(block)] += block
        assert total is not None
        finite = np.isfinite(total)
        if not finite.all():  # a float stem holding NaN or inf: encoders abort on them, and
            self.nonfinite += int(np.count_nonzero(~finite))  # a resampler spreads them
            total = np.nan_to_num(total, nan=0.0, posinf=1.0, neginf=-1.0)
        last = len(total) == 0
        if self._stream is not None:
            total = self._stream.resample_chunk(total, last=last)
        if len(total):
            self._write(total)
        self._done = last
        return not last

    def _write(self, block: Any) -> None:
        peak = float(np.max(np.abs(block)))
        self.peak = max(self.peak or 0.0, peak)
        if self._scale is None:  # float or lossy target
            if self._writer.subtype != "FLOAT" and peak > 1.0:
                self.clipped += int(np.count_nonzero(np.abs(block) > 1.0))
                block = np.clip(block, -1.0, 1.0)
            self._writer.write(block.astype(np.float32))
            return
        if peak > 1.0:  # beyond full scale: an over (a rounding up to the top step is not)
            self.clipped += int(np.count_nonzero(np.abs(block) > 1.0))
        steps = np.clip(np.rint(block * self._scale), -self._scale, self._scale - 1)
        self._writer.write(steps.astype(np.int32) << self._shift)


def _as_float(reader: Any, frames: int) -> Any:
    """The next block of a stem as 64-bit float, full scale 1.0 (integer stems read as
    left-justified int32 and divided by 2**31: exact)."""
    if reader.subtype in ("FLOAT", "DOUBLE"):
        return reader.read(frames, dtype="float64", always_2d=True)
    block = reader.read(frames, dtype="int32", always_2d=True)
    return block.astype(np.float64) / 2147483648.0
