"""WAV headers (RIFF, RF64, WAVE_FORMAT_EXTENSIBLE), read by walking the chunks."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import SEEK_END

from .stream import ByteStream, MediaError, read_at

FORMAT_PCM = 1


FORMAT_FLOAT = 3


_FORMAT_EXTENSIBLE = 0xFFFE


# KSDATAFORMAT_SUBTYPE_* GUIDs: the format tag in the first two bytes, then this fixed tail.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


SUPPORTED_BITS = {FORMAT_PCM: (8, 16, 24, 32), FORMAT_FLOAT: (32, 64)}
"""WAV format tag -> the bits per sample read (and written, by the sandbox) for it."""


UNKNOWN_SIZE = 0xFFFFFFFF
"""A RIFF size field meaning "see the ds64 chunk" (RF64) or "unknown"."""


_MAX_CHUNKS = 4096


@dataclass(frozen=True)
class WavInfo:
    """What :func:`parse_wav` found: the sample format and where the samples are.

    ``format_tag`` is :data:`FORMAT_PCM` (1) or :data:`FORMAT_FLOAT` (3), with
    WAVE_FORMAT_EXTENSIBLE already resolved to its sub-format. ``data_offset`` is an
    absolute position in the file object; ``data_size`` is clamped to the bytes present.
    """

    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    block_align: int
    data_offset: int
    data_size: int

    @property
    def frames(self) -> int:
        """Whole frames in the data chunk (a trailing partial frame is not counted)."""
        return self.data_size // self.block_align

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def parse_wav(fp: ByteStream) -> WavInfo:
    """Parse the WAV (RIFF, RF64 or BW64) starting at ``fp``'s current position.

    ``fp`` must be seekable. Only chunk headers and the ``fmt `` chunk are read. A data size
    of 0xFFFFFFFF or one larger than the file is clamped to the bytes actually present.
    Raises :class:`MediaError` for anything malformed or unsupported.
    """
    start = fp.tell()
    end = fp.seek(0, SEEK_END)
    head = read_at(fp, start, 12)
    if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64", b"BW64"):
        raise MediaError("not a WAV file (no RIFF/WAVE header)")
    is_64 = head[:4] != b"RIFF"
    fmt: bytes | None = None
    data: tuple[int, int] | None = None
    ds64_size: int | None = None
    pos = start + 12
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > end or (fmt is not None and data is not None):
            break
        chunk_id, size = struct.unpack("<4sI", read_at(fp, pos, 8))
        body = pos + 8
        if chunk_id == b"ds64" and is_64:
            ds64_size = _parse_ds64(read_at(fp, body, min(size, 28)))
        elif chunk_id == b"fmt ":
            fmt = read_at(fp, body, min(size, 256))
        elif chunk_id == b"data":
            if size == UNKNOWN_SIZE and ds64_size is not None:
                size = ds64_size
            size = min(size, end - body)
            data = (body, size)
        pos = _next_chunk(fp, body, size, end)
    else:
        raise MediaError(f"more than {_MAX_CHUNKS} chunks before the audio data")
    if fmt is None:
        raise MediaError("no 'fmt ' chunk")
    if data is None:
        raise MediaError("no 'data' chunk")
    return _wav_info(fmt, *data)


def _parse_ds64(body: bytes) -> int:
    """The 64-bit data size from an RF64 ``ds64`` chunk."""
    if len(body) < 16:
        raise MediaError("truncated 'ds64' chunk")
    _riff_size, data_size = struct.unpack_from("<QQ", body)
    return int(data_size)


def _next_chunk(fp: ByteStream, body: int, size: int, end: int) -> int:
    """Position of the chunk after one at ``body`` of ``size`` bytes.

    Odd sizes are followed by a pad byte; writers that forget it are tolerated when the
    padded position does not hold a chunk id but the unpadded one does.
    """
    following = body + size
    if not size & 1 or following + 1 + 4 > end:
        return following + (size & 1)
    if _looks_like_id(read_at(fp, following + 1, 4)):
        return following + 1
    if _looks_like_id(read_at(fp, following, 4)):
        return following
    return following + 1


def _looks_like_id(chunk_id: bytes) -> bool:
    """True for four printable ASCII bytes (what RIFF chunk ids are)."""
    return len(chunk_id) == 4 and all(0x20 <= b <= 0x7E for b in chunk_id)


def _wav_info(fmt: bytes, data_offset: int, data_size: int) -> WavInfo:
    """Validate a ``fmt `` chunk body and build the :class:`WavInfo`."""
    if len(fmt) < 16:
        raise MediaError(f"'fmt ' chunk too short ({len(fmt)} bytes)")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _FORMAT_EXTENSIBLE:
        tag = _extensible_subformat(fmt)
    if channels == 0:
        raise MediaError("WAV declares 0 channels")
    if rate == 0:
        raise MediaError("WAV declares a sample rate of 0")
    if bits not in SUPPORTED_BITS.get(tag, ()):
        raise MediaError(f"unsupported WAV encoding: format tag {tag:#06x} with {bits}-bit samples")
    if block_align != channels * bits // 8:
        raise MediaError(f"inconsistent block align {block_align} for {channels} x {bits}-bit")
    return WavInfo(tag, channels, rate, bits, block_align, data_offset, data_size)


def _extensible_subformat(fmt: bytes) -> int:
    """The format tag inside a WAVE_FORMAT_EXTENSIBLE sub-format GUID."""
    if len(fmt) < 40:
        raise MediaError("WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short")
    guid = fmt[24:40]
    if guid[2:] != _GUID_TAIL:
        raise MediaError("unsupported WAVE_FORMAT_EXTENSIBLE sub-format")
    return int.from_bytes(guid[:2], "little")
