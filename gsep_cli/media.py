"""Reading audio containers, for the client's preflight checks and the sandbox's own
(standard library only).

* :func:`sniff_stream` names a container from the start of a seekable stream, after any
  leading ID3v2 tags (:func:`skip_id3v2`); :func:`sniff_format` does the same on bytes.
* :func:`parse_wav` reads a WAV header by walking its chunks with ``seek``; it never reads
  the sample data. :func:`parse_flac` reads a FLAC STREAMINFO block and
  :func:`parse_mp3` the first MPEG audio frame header (with its Xing/Info/VBRI header):
  the sample rate, channels and, where the header states it, the exact length.

Writing audio (the sandbox's band-filtered stems, silent MP3 and WAV files) is
:mod:`gsep_cli.sandbox.render`'s job.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import SEEK_END, BytesIO
from typing import Protocol

__all__ = [
    "EXTENSION_KINDS",
    "FORMAT_FLOAT",
    "FORMAT_PCM",
    "ID3V2_HEADER_BYTES",
    "SNIFF_BYTES",
    "SUPPORTED_BITS",
    "UNKNOWN_SIZE",
    "ByteStream",
    "FlacInfo",
    "MediaError",
    "Mp3Info",
    "WavInfo",
    "id3v2_tag_length",
    "parse_flac",
    "parse_mp3",
    "parse_wav",
    "read_exact",
    "skip_id3v2",
    "sniff_format",
    "sniff_stream",
]

EXTENSION_KINDS: dict[str, str] = {
    ".wav": "wav",
    ".flac": "flac",
    ".mp3": "mp3",
    ".m4a": "mp4",
    ".mp4": "mp4",
    ".mov": "mov",
    ".txt": "txt",
}
"""File-name extension (lower case, with the dot) -> the kind :func:`sniff_format` returns."""

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


class MediaError(ValueError):
    """A media file is malformed, truncated or uses an unsupported encoding."""


# ---- sniffing ---------------------------------------------------------------------------

SNIFF_BYTES = 64
"""Bytes after the leading ID3v2 tags that :func:`sniff_stream` looks at."""


class ByteStream(Protocol):
    """What the readers here need: a seekable binary stream (a file, ``BytesIO``, the
    sandbox's ``UploadReader``)."""

    def read(self, size: int = ..., /) -> bytes: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def tell(self) -> int: ...


def sniff_stream(fp: ByteStream) -> str | None:
    """Name the container of the stream that starts at ``fp``'s position.

    Leading ID3v2 tags (:func:`skip_id3v2`) are skipped and what follows them is sniffed,
    so a FLAC or an M4A with an ID3 tag in front keeps its kind. Tags followed by MPEG
    audio, or by nothing recognisable, are MP3 (ID3v2 is MP3's own tag format). Returns
    ``"wav"``, ``"flac"``, ``"mp3"``, ``"mp4"`` (MP4 and M4A) or ``"mov"``, or None when
    nothing matches (text is never sniffed). Reads at most the tag headers and
    :data:`SNIFF_BYTES`; ``fp`` is left where it was.
    """
    start = fp.tell()
    try:
        tags = skip_id3v2(fp)
        kind = _sniff_container(read_exact(fp, SNIFF_BYTES))
    finally:
        fp.seek(start)
    return "mp3" if kind is None and tags else kind


def sniff_format(head: bytes) -> str | None:
    """:func:`sniff_stream` over the first bytes of a file (pass at least 64 when
    available). ID3v2 tags that end within ``head`` are skipped; one that runs past its
    end leaves nothing recognisable after it, so the answer is ``"mp3"``."""
    return sniff_stream(BytesIO(head))


def _sniff_container(head: bytes) -> str | None:
    """The container whose signature opens ``head`` (ID3v2 tags already skipped)."""
    if len(head) < 4:
        return None
    if head[8:12] == b"WAVE" and head[:4] in (b"RIFF", b"RF64", b"BW64"):
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    iso = _iso_bmff_kind(head)
    if iso is not None:
        return iso
    if _is_truncated_id3(head) or _mpeg_frame_header(head) is not None:
        return "mp3"
    return None


def _iso_bmff_kind(head: bytes) -> str | None:
    """``"mp4"``/``"mov"`` for an ISO-BMFF/QuickTime file, else None."""
    if len(head) < 8:
        return None
    size = int.from_bytes(head[:4], "big")
    box = head[4:8]
    if box == b"ftyp":
        if len(head) < 12 or size < 16 or size % 4:
            return None
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if box in (b"moov", b"mdat", b"wide", b"free") and (size in (0, 1) or size >= 8):
        return "mov"
    return None


# ---- ID3v2 tags -------------------------------------------------------------------------
# ID3v2.4 (id3.org, "ID3 tag version 2.4.0 - Main Structure") section 3.1: a tag opens
# with "ID3", a version byte and a revision byte (both below 0xFF), a flags byte and four
# sync-safe size bytes (each below 0x80: 28 bits). The size counts neither this 10-byte
# header nor the 10-byte footer that follows the tag when flag 0x10 is set (3.4).
# Several tags may follow one another (some writers stack them), so they are skipped in
# a loop, bounded so that a file made of tiny tags cannot keep the reader busy.

ID3V2_HEADER_BYTES = 10
_ID3V2_FOOTER_FLAG = 0x10
_MAX_ID3V2_TAGS = 64


def id3v2_tag_length(header: bytes) -> int | None:
    """Bytes taken by the ID3v2 tag opening with this 10-byte ``header``: header, body and
    footer; None when the bytes are not a valid ID3v2 header (ID3v2.4 section 3.1)."""
    if len(header) < ID3V2_HEADER_BYTES or not _is_id3_header(header):
        return None
    size = 0
    for byte in header[6:10]:  # sync-safe: 7 bits per byte, most significant first
        size = (size << 7) | byte
    footer = ID3V2_HEADER_BYTES if header[5] & _ID3V2_FOOTER_FLAG else 0
    return ID3V2_HEADER_BYTES + size + footer


def skip_id3v2(fp: ByteStream) -> int:
    """Move ``fp`` past the ID3v2 tags that start at its position; return how many.

    ``fp`` ends right after the last tag (possibly past the end of a truncated file), or
    where it was when no tag is there.
    """
    for count in range(_MAX_ID3V2_TAGS):
        start = fp.tell()
        length = id3v2_tag_length(read_exact(fp, ID3V2_HEADER_BYTES))
        if length is None:
            fp.seek(start)
            return count
        fp.seek(start + length)
    return _MAX_ID3V2_TAGS


def _is_id3_header(head: bytes) -> bool:
    """True when ``head`` opens with a full, valid ID3v2 header."""
    return (
        head[:3] == b"ID3"
        and head[3] < 0xFF
        and head[4] < 0xFF
        and all(b < 0x80 for b in head[6:10])
    )


def _is_truncated_id3(head: bytes) -> bool:
    """True for a file that ends inside an ID3v2 header: still an MP3's tag."""
    return head[:3] == b"ID3" and len(head) < ID3V2_HEADER_BYTES


# ---- MPEG audio frame headers -----------------------------------------------------------
# ISO/IEC 11172-3 section 2.4.2.3 (MPEG-1), ISO/IEC 13818-3 (MPEG-2 half rates) and the
# common MPEG-2.5 extension (quarter rates, down to 8 kHz): 11 sync bits, version (2 bits,
# 1 reserved), layer (2 bits, 0 reserved), protection, bit-rate index (0 is free format,
# 15 invalid), sample-rate index (3 reserved), padding, private, channel mode (3 = mono),
# mode extension, copyright, original, emphasis (2 reserved).

_MPEG_VERSIONS = {0: "2.5", 2: "2", 3: "1"}
_MPEG_SAMPLE_RATES = {
    "1": (44100, 48000, 32000),
    "2": (22050, 24000, 16000),
    "2.5": (11025, 12000, 8000),
}
_LSF_KBPS_L1 = (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256)
_LSF_KBPS_L23 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_MPEG_KBPS: dict[tuple[str, int], tuple[int, ...]] = {
    ("1", 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    ("1", 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    ("1", 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    **{(v, 1): _LSF_KBPS_L1 for v in ("2", "2.5")},
    **{(v, layer): _LSF_KBPS_L23 for v in ("2", "2.5") for layer in (2, 3)},
}


@dataclass(frozen=True)
class _FrameHeader:
    """One decoded MPEG audio frame header."""

    version: str  # "1", "2" or "2.5"
    layer: int  # 1, 2 or 3
    protected: bool  # a 16-bit CRC follows the header
    bitrate: int  # bit/s
    sample_rate: int  # Hz
    padding: bool
    channels: int  # 1 (mono) or 2 (stereo, joint stereo, dual channel)

    @property
    def samples(self) -> int:
        """Samples per channel in one frame."""
        if self.layer == 1:
            return 384
        return 576 if self.layer == 3 and self.version != "1" else 1152

    @property
    def length(self) -> int:
        """Bytes in the frame, header included."""
        if self.layer == 1:  # 4-byte slots
            return (12 * self.bitrate // self.sample_rate + self.padding) * 4
        return self.samples // 8 * self.bitrate // self.sample_rate + self.padding

    @property
    def side_info_bytes(self) -> int:
        """Layer III side information after the header (and CRC): where a Xing tag starts."""
        if self.version == "1":
            return 17 if self.channels == 1 else 32
        return 9 if self.channels == 1 else 17


def _mpeg_frame_header(head: bytes) -> _FrameHeader | None:
    """The MPEG audio frame header opening ``head``, or None when it is not one."""
    if len(head) < 4:
        return None
    b0, b1, b2, b3 = head[:4]
    if b0 != 0xFF or b1 & 0xE0 != 0xE0:
        return None
    version = _MPEG_VERSIONS.get((b1 >> 3) & 3)
    layer = 4 - ((b1 >> 1) & 3)  # 4 is the reserved layer bits 00 (and ADTS AAC)
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 3
    if version is None or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    if b3 & 3 == 2:  # reserved emphasis
        return None
    return _FrameHeader(
        version=version,
        layer=layer,
        protected=not b1 & 1,
        bitrate=_MPEG_KBPS[(version, layer)][bitrate_index] * 1000,
        sample_rate=_MPEG_SAMPLE_RATES[version][rate_index],
        padding=bool(b2 & 2),
        channels=1 if b3 >> 6 == 3 else 2,
    )


# ---- WAV parsing ------------------------------------------------------------------------


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
    head = _read_at(fp, start, 12)
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
        chunk_id, size = struct.unpack("<4sI", _read_at(fp, pos, 8))
        body = pos + 8
        if chunk_id == b"ds64" and is_64:
            ds64_size = _parse_ds64(_read_at(fp, body, min(size, 28)))
        elif chunk_id == b"fmt ":
            fmt = _read_at(fp, body, min(size, 256))
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


def _read_at(fp: ByteStream, pos: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``pos``."""
    fp.seek(pos)
    return read_exact(fp, size)


def read_exact(fp: ByteStream, size: int) -> bytes:
    """Read ``size`` bytes, looping over short reads; fewer only at end of file."""
    parts: list[bytes] = []
    while size > 0:
        chunk = fp.read(size)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


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
    if _looks_like_id(_read_at(fp, following + 1, 4)):
        return following + 1
    if _looks_like_id(_read_at(fp, following, 4)):
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


# ---- FLAC STREAMINFO -------------------------------------------------------------------
# FLAC format (RFC 9639) section 8: "fLaC", then metadata blocks, each with a 4-byte header
# (last-block flag and 7-bit type, 24-bit length). The first block is always STREAMINFO
# (type 0, 34 bytes), whose bytes 10-17 pack the sample rate (20 bits), channels - 1
# (3 bits), bits per sample - 1 (5 bits) and the total samples per channel (36 bits, 0
# when the encoder did not know it).

_FLAC_STREAMINFO_BYTES = 34


@dataclass(frozen=True)
class FlacInfo:
    """What :func:`parse_flac` found in STREAMINFO."""

    sample_rate: int  # Hz, never 0
    channels: int  # 1 to 8
    bits_per_sample: int  # 4 to 32
    total_samples: int  # per channel; 0 when unknown

    @property
    def duration(self) -> float | None:
        """Length in seconds, exact; None when STREAMINFO does not give the sample count."""
        return self.total_samples / self.sample_rate if self.total_samples else None


def parse_flac(fp: ByteStream) -> FlacInfo:
    """Parse the STREAMINFO block of the FLAC stream starting at ``fp``'s position.

    Reads 42 bytes. Raises :class:`MediaError` when there is no ``fLaC`` marker, the first
    block is not a complete STREAMINFO, or it declares a sample rate of 0.
    """
    head = read_exact(fp, 8 + _FLAC_STREAMINFO_BYTES)
    if head[:4] != b"fLaC":
        raise MediaError("not a FLAC file (no fLaC marker)")
    if len(head) < 8 + _FLAC_STREAMINFO_BYTES:
        raise MediaError("the file ends inside its FLAC STREAMINFO block")
    block_type, length = head[4] & 0x7F, int.from_bytes(head[5:8], "big")
    if block_type != 0 or length < _FLAC_STREAMINFO_BYTES:
        raise MediaError("the first FLAC metadata block is not STREAMINFO")
    packed = int.from_bytes(head[18:26], "big")
    sample_rate = packed >> 44
    if sample_rate == 0:
        raise MediaError("FLAC STREAMINFO declares a sample rate of 0")
    return FlacInfo(
        sample_rate=sample_rate,
        channels=((packed >> 41) & 0x7) + 1,
        bits_per_sample=((packed >> 36) & 0x1F) + 1,
        total_samples=packed & ((1 << 36) - 1),
    )


# ---- MP3 first frame --------------------------------------------------------------------
# A Layer III stream's first frame may be a Xing/"Info" frame (LAME, most encoders) or carry
# a VBRI header (Fraunhofer): their frame count gives the exact length. Without one, a
# reader can only guess from the first frame's bit rate and the file size, and a VBR
# stream makes that guess wrong by any factor.

_VBRI_OFFSET = 4 + 32  # after the header and 32 bytes, whatever the version and mode


@dataclass(frozen=True)
class Mp3Info:
    """What :func:`parse_mp3` found in the first MPEG audio frame."""

    version: str  # "1", "2" or "2.5" (MPEG-2.5: 8 to 12 kHz)
    layer: int  # 1, 2 or 3
    sample_rate: int  # Hz
    channels: int  # 1 or 2: the channel modes have no other count
    bitrate: int  # bit/s of the first frame
    samples_per_frame: int  # per channel
    offset: int  # position of the first frame in the stream
    frame_count: int | None  # audio frames per its Xing/Info or VBRI header; None: no header

    @property
    def duration(self) -> float | None:
        """Exact length in seconds (encoder delay and padding included) when a Xing/Info
        or VBRI header gives the frame count, else None."""
        if not self.frame_count:
            return None
        return self.frame_count * self.samples_per_frame / self.sample_rate


def parse_mp3(fp: ByteStream) -> Mp3Info:
    """Parse the MPEG audio frame at ``fp``'s position (skip ID3v2 tags first).

    Raises :class:`MediaError` when no valid frame header is there.
    """
    offset = fp.tell()
    header = _mpeg_frame_header(read_exact(fp, 4))
    if header is None:
        raise MediaError("no MPEG audio frame header")
    return Mp3Info(
        version=header.version,
        layer=header.layer,
        sample_rate=header.sample_rate,
        channels=header.channels,
        bitrate=header.bitrate,
        samples_per_frame=header.samples,
        offset=offset,
        frame_count=_vbr_frame_count(fp, offset, header),
    )


def _vbr_frame_count(fp: ByteStream, offset: int, header: _FrameHeader) -> int | None:
    """The frame count of a Xing/Info or VBRI header in the frame at ``offset``, if any.

    Xing/Info: the tag, 4 flag bytes, then (flag 1) the frame count, right after the side
    information. VBRI: tag, version, delay, quality, byte count, then the frame count.
    """
    if header.layer != 3:
        return None
    xing_at = offset + 4 + (2 if header.protected else 0) + header.side_info_bytes
    xing = _read_at(fp, xing_at, 12)
    if len(xing) == 12 and xing[:4] in (b"Xing", b"Info"):
        has_frames = int.from_bytes(xing[4:8], "big") & 1
        return int.from_bytes(xing[8:12], "big") if has_frames else None
    vbri = _read_at(fp, offset + _VBRI_OFFSET, 18)
    if len(vbri) == 18 and vbri[:4] == b"VBRI":
        return int.from_bytes(vbri[14:18], "big")
    return None
