"""MPEG audio: frame headers (ISO/IEC 11172-3, 13818-3) and an MP3's first frame with its
Xing/Info or VBRI header."""

from __future__ import annotations

from dataclasses import dataclass

from .stream import ByteStream, MediaError, read_at, read_exact

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
class FrameHeader:
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


def mpeg_frame_header(head: bytes) -> FrameHeader | None:
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
    return FrameHeader(
        version=version,
        layer=layer,
        protected=not b1 & 1,
        bitrate=_MPEG_KBPS[(version, layer)][bitrate_index] * 1000,
        sample_rate=_MPEG_SAMPLE_RATES[version][rate_index],
        padding=bool(b2 & 2),
        channels=1 if b3 >> 6 == 3 else 2,
    )


_VBRI_OFFSET = 4 + 32  # after the header and 32 bytes, whatever the version and mode

#: How far past its start :func:`find_first_frame` looks for the first frame, in bytes.
SYNC_SEARCH_BYTES = 64 * 1024


def find_first_frame(fp: ByteStream, start: int, limit: int = SYNC_SEARCH_BYTES) -> int | None:
    """Position of the first MPEG audio frame at or after ``start``, within ``limit``
    bytes: a valid frame header followed, at the length it implies, by another valid one
    (or by the end of the data), so stray bytes that happen to look like a header are
    not taken for one. None when there is none; ``fp`` is left anywhere.

    Encoders and taggers may leave padding or junk between an ID3v2 tag and the audio;
    decoders (and mutagen) search for the frame sync the same way.
    """
    window = read_at(fp, start, limit + 4)
    at = window.find(0xFF)
    while 0 <= at < len(window) - 3:
        header = mpeg_frame_header(window[at : at + 4])
        if header is not None:
            after = at + header.length
            follow = window[after : after + 4]
            if len(follow) < 4:
                follow = read_at(fp, start + after, 4)
            if len(follow) < 4 or mpeg_frame_header(follow) is not None:
                return start + at
        at = window.find(0xFF, at + 1)
    return None


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
    header = mpeg_frame_header(read_exact(fp, 4))
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


def _vbr_frame_count(fp: ByteStream, offset: int, header: FrameHeader) -> int | None:
    """The frame count of a Xing/Info or VBRI header in the frame at ``offset``, if any.

    Xing/Info: the tag, 4 flag bytes, then (flag 1) the frame count, right after the side
    information. VBRI: tag, version, delay, quality, byte count, then the frame count.
    """
    if header.layer != 3:
        return None
    xing_at = offset + 4 + (2 if header.protected else 0) + header.side_info_bytes
    xing = read_at(fp, xing_at, 12)
    if len(xing) == 12 and xing[:4] in (b"Xing", b"Info"):
        has_frames = int.from_bytes(xing[4:8], "big") & 1
        return int.from_bytes(xing[8:12], "big") if has_frames else None
    vbri = read_at(fp, offset + _VBRI_OFFSET, 18)
    if len(vbri) == 18 and vbri[:4] == b"VBRI":
        return int.from_bytes(vbri[14:18], "big")
    return None
