"""Silent audio files of a given length, written in blocks: WAV headers and silence (the
stems of a failed render, and of dme models), and MP3 frames of silence (the API's MP3
format: 48 kHz, 320 kbps), so the sandbox's results have the sizes real ones would."""

from __future__ import annotations

import math
import struct
from typing import BinaryIO

from ..media import FORMAT_FLOAT, FORMAT_PCM, SUPPORTED_BITS, UNKNOWN_SIZE

__all__ = [
    "MP3_BITRATE",
    "MP3_FRAME_BYTES",
    "MP3_FRAME_SAMPLES",
    "MP3_SAMPLE_RATE",
    "mp3_frame_count",
    "mp3_size",
    "wav_header",
    "wav_size",
    "write_mp3",
    "write_silent_wav",
]

MP3_SAMPLE_RATE = 48000


MP3_BITRATE = 320_000


MP3_FRAME_SAMPLES = 1152


MP3_FRAME_BYTES = 144 * MP3_BITRATE // MP3_SAMPLE_RATE  # 960, never padded at 48 kHz


_MP3_BATCH = 256


def wav_header(
    format_tag: int, channels: int, sample_rate: int, bits_per_sample: int, frames: int
) -> bytes:
    """The header of a WAV holding ``frames`` frames, up to the start of the samples.

    PCM gets the classic 16-byte ``fmt ``; float gets an 18-byte ``fmt `` and a ``fact``
    chunk. Files over 4 GiB get an RF64 header. The data chunk is followed by one pad byte
    when its size is odd (the writer's job).
    """
    if bits_per_sample not in SUPPORTED_BITS.get(format_tag, ()):
        raise ValueError(f"unsupported WAV format {format_tag} with {bits_per_sample}-bit")
    if channels < 1 or sample_rate < 1 or frames < 0:
        raise ValueError("channels and sample rate must be positive, frames not negative")
    block_align = channels * bits_per_sample // 8
    data_size = frames * block_align
    fmt = struct.pack(
        "<HHIIHH",
        format_tag,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        bits_per_sample,
    )
    chunks = b""
    if format_tag == FORMAT_FLOAT:
        fmt += b"\x00\x00"
        chunks = b"fact" + struct.pack("<II", 4, min(frames, UNKNOWN_SIZE))
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + chunks
    riff_size = 4 + len(chunks) + 8 + data_size + (data_size & 1)
    if riff_size <= UNKNOWN_SIZE:
        return b"RIFF%sWAVE%sdata%s" % (
            struct.pack("<I", riff_size),
            chunks,
            struct.pack("<I", data_size),
        )
    ds64 = b"ds64" + struct.pack("<IQQQI", 28, riff_size + 36, data_size, frames, 0)
    unknown = struct.pack("<I", UNKNOWN_SIZE)
    return b"RF64" + unknown + b"WAVE" + ds64 + chunks + b"data" + unknown


def wav_size(format_tag: int, channels: int, bits_per_sample: int, frames: int) -> int:
    """Exact size of the WAV file :func:`wav_header` plus ``frames`` frames make."""
    data_size = frames * channels * bits_per_sample // 8
    header = wav_header(format_tag, channels, 8000, bits_per_sample, frames)
    return len(header) + data_size + (data_size & 1)


def write_silent_wav(
    dst: BinaryIO,
    duration: float,
    sample_rate: int = 48000,
    channels: int = 2,
    bits: int = 16,
) -> int:
    """Write a silent PCM WAV of ``round(duration * sample_rate)`` frames; return its size."""
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"invalid duration {duration!r}")
    frames = round(duration * sample_rate)
    header = wav_header(FORMAT_PCM, channels, sample_rate, bits, frames)
    dst.write(header)
    remaining = frames * channels * bits // 8
    fill = b"\x80" if bits == 8 else b"\x00"
    block = fill * (1 << 20)
    written = len(header)
    while remaining > 0:
        piece = block if remaining >= len(block) else fill * remaining
        dst.write(piece)
        written += len(piece)
        remaining -= len(piece)
    if written & 1:
        dst.write(b"\x00")
        written += 1
    return written


def mp3_frame_count(duration: float) -> int:
    """Audio frames (Info frame excluded) :func:`write_mp3` writes for ``duration`` seconds.

    ``ceil(duration * 48000 / 1152)``, at least 1: the stream is never shorter than asked
    and at most one frame (24 ms) longer.
    """
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"invalid duration {duration!r}")
    exact = duration * MP3_SAMPLE_RATE / MP3_FRAME_SAMPLES
    return max(1, math.ceil(exact - 1e-9))


def mp3_size(duration: float, channels: int = 2) -> int:
    """Exact byte size of what :func:`write_mp3` writes for these arguments."""
    _mp3_frame_header(channels)
    return (mp3_frame_count(duration) + 1) * MP3_FRAME_BYTES


def _mp3_frame_header(channels: int) -> bytes:
    """MPEG-1 Layer III, no CRC, 320 kbps, 48 kHz, no padding; stereo or mono."""
    if channels not in (1, 2):
        raise ValueError(f"MP3 output has 1 or 2 channels, not {channels}")
    mode = 0b11 if channels == 1 else 0b00
    return bytes((0xFF, 0xFB, (14 << 4) | (1 << 2), mode << 6))


def write_mp3(dst: BinaryIO, duration: float, channels: int = 2) -> int:
    """Write a valid MP3 (MPEG-1 Layer III, 48 kHz, 320 kbps CBR) lasting ``duration`` s.

    The sandbox has no encoder: every audio frame has all-zero side information and main
    data, so the stream decodes to digital silence. It is a standard CBR stream of
    :func:`mp3_frame_count` 960-byte audio frames preceded by a LAME-style "Info" frame
    (frame and byte counts), so duration readers report exactly
    ``frames * 1152 / 48000`` seconds: at least ``duration`` and less than one frame more
    (a duration of 0 gives one 24 ms frame). There is no LAME gapless tag, so decoders do
    not trim anything. Returns the bytes written, always :func:`mp3_size`.
    """
    header = _mp3_frame_header(channels)
    frames = mp3_frame_count(duration)
    total = (frames + 1) * MP3_FRAME_BYTES
    side_info = bytes(17 if channels == 1 else 32)
    info = header + side_info + b"Info" + struct.pack(">III", 0x3, frames, total)
    dst.write(info + bytes(MP3_FRAME_BYTES - len(info)))
    audio = header + bytes(MP3_FRAME_BYTES - len(header))
    batch = audio * _MP3_BATCH
    remaining = frames
    while remaining > 0:
        count = min(remaining, _MP3_BATCH)
        dst.write(batch if count == _MP3_BATCH else audio * count)
        remaining -= count
    return total
