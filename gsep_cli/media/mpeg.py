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


def find_first_frame(
    fp: ByteStream, start: int, limit: int = SYNC_SEARCH_BYTES, *, strict: bool = False
) -> int | None:
    """Position of the first MPEG audio frame at or after ``start``, within ``limit``
    bytes: a valid frame header followed, at the length it implies, by another valid one
    of the same version, layer and sample rate (or by the end of the data), so stray
    bytes that happen to look like a header are not taken for one. None when there is
    none; ``fp`` is left anywhere. ``strict``: the next frame must be there, not the end
    of the data (for naming a file without tags, where a lone header proves nothing).

    Encoders and taggers may leave padding or junk between an ID3v2 tag and the audio;
    decoders (and mutagen) search for the frame sync the same way.
    """
    window = read_at(fp, start, limit + 4)
    cut_short: int | None = None  # a header whose frame runs past the end of the data
    at = window.find(0xFF)
    while 0 <= at < len(window) - 3:
        header = mpeg_frame_header(window[at : at + 4])
        if header is not None:
            after = at + header.length
            follow = window[after : after + 4]
            if len(follow) < 4:
                follow = read_at(fp, start + after, 4)
            if _same_stream(header, mpeg_frame_header(follow)):
                return start + at
            if not follow and read_at(fp, start + after - 1, 1):  # ends where the data ends
                if not strict:
                    return start + at
            elif len(follow) < 4 and cut_short is None and not strict:
                cut_short = start + at
        at = window.find(0xFF, at + 1)
    # a frame cut short by the end of the data only when no header further on is followed
    # by another: stray bytes before a short stream can look like a long frame's header
    return cut_short


def _same_stream(first: FrameHeader, other: FrameHeader | None) -> bool:
    """True when ``other`` is a frame header that can follow ``first`` in one stream:
    decoders keep the version, layer and sample rate of the first frame."""
    return other is not None and (other.version, other.layer, other.sample_rate) == (
        first.version,
        first.layer,
        first.sample_rate,
    )


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
    """The frame count of a Xing/Info or VBRI header in the frame at ``offset``, if any."""
    return _vbr_tag(fp, offset, header)[1]


def _vbr_tag(fp: ByteStream, offset: int, header: FrameHeader) -> tuple[bool, int | None]:
    """(whether the frame at ``offset`` holds a Xing/Info or VBRI header, its frame count).

    Xing/Info: the tag, 4 flag bytes, then (flag 1) the frame count, right after the side
    information. VBRI: tag, version, delay, quality, byte count, then the frame count.
    """
    if header.layer != 3:
        return False, None
    xing_at = offset + 4 + (2 if header.protected else 0) + header.side_info_bytes
    xing = read_at(fp, xing_at, 12)
    if len(xing) == 12 and xing[:4] in (b"Xing", b"Info"):
        has_frames = int.from_bytes(xing[4:8], "big") & 1
        return True, int.from_bytes(xing[8:12], "big") if has_frames else None
    vbri = read_at(fp, offset + _VBRI_OFFSET, 18)
    if len(vbri) == 18 and vbri[:4] == b"VBRI":
        return True, int.from_bytes(vbri[14:18], "big")
    return False, None


# ---- counting the frames: the exact length of any MP3 -------------------------------------
_ID3V1_BYTES = 128
_APE_FOOTER_BYTES = 32
_APE_HAS_HEADER = 1 << 31
_WALK_BLOCK = 256 * 1024
#: How far past a break in the frames (junk, a tag in the middle) the walk first looks for
#: the next frame; past that it looks as far as :data:`SYNC_SEARCH_BYTES`.
_RESYNC_NEAR = 8 * 1024


def audio_end(fp: ByteStream) -> int:
    """Where an MP3's audio ends: its size less the tags at its end (ID3v1, whose 128
    bytes open with ``TAG``, and an APEv2 tag before or instead of it). ``fp`` is left
    anywhere."""
    end = fp.seek(0, 2)
    if end >= _ID3V1_BYTES and read_at(fp, end - _ID3V1_BYTES, 3) == b"TAG":
        end -= _ID3V1_BYTES
    footer = read_at(fp, end - _APE_FOOTER_BYTES, _APE_FOOTER_BYTES) if end >= 32 else b""
    if footer[:8] == b"APETAGEX":
        size = int.from_bytes(footer[12:16], "little")  # items and footer
        flags = int.from_bytes(footer[20:24], "little")
        size += _APE_FOOTER_BYTES if flags & _APE_HAS_HEADER else 0
        end = max(0, end - size)
    return end


def count_audio_frames(fp: ByteStream, start: int, end: int) -> int:
    """The audio frames of the MPEG stream whose first frame is at ``start``, up to byte
    ``end`` (:func:`audio_end`): every complete frame of the first frame's version, layer
    and sample rate, one after another, less a first frame that holds a Xing/Info or VBRI
    header (an encoder's silent header frame, which decoders skip).

    Frames times :attr:`FrameHeader.samples` is the decoded length in samples per channel
    (encoder delay and padding included), whatever the bit rates. A break in the frames
    (junk, an ID3v2 tag in the middle of concatenated files) is skipped by looking for
    the next frame as :func:`find_first_frame` does; the count stops where none is found.
    Reads the stream in blocks of 256 KiB, so memory stays bounded whatever its size.
    Raises :class:`MediaError` when there is no valid frame at ``start``; ``fp`` is left
    anywhere.
    """
    first = mpeg_frame_header(read_at(fp, start, 4))
    if first is None:
        raise MediaError("no MPEG audio frame header")
    fixed = (first.version, first.layer, first.sample_rate)
    lengths: dict[bytes, int | None] = {}  # header bytes 1-3 -> frame length (None: not ours)
    frames = -1 if _vbr_tag(fp, start, first)[0] else 0
    pos, block, block_at = start, b"", start
    while pos < end:
        at = pos - block_at
        if at + 4 > len(block):
            block, block_at, at = read_at(fp, pos, _WALK_BLOCK), pos, 0
        key = block[at + 1 : at + 4] if block[at : at + 1] == b"\xff" else b""
        if key not in lengths:
            header = mpeg_frame_header(b"\xff" + key)
            same = header is not None and (header.version, header.layer, header.sample_rate)
            lengths[key] = header.length if header is not None and same == fixed else None
        length = lengths[key]
        if length is not None and pos + length <= end:
            frames += 1
            pos += length
            continue
        if length is not None:  # a last frame cut short: decoders drop it
            break
        found = _resync(fp, pos, end, first)
        if found is None:
            break
        pos = found
    return max(frames, 0)


def _resync(fp: ByteStream, pos: int, end: int, first: FrameHeader) -> int | None:
    """The next frame of ``first``'s stream after a break at ``pos`` (an ID3v2 tag there
    skipped), before ``end``; None when there is none within :data:`SYNC_SEARCH_BYTES`."""
    from .sniff import id3v2_tag_length  # sniff imports this module

    pos += id3v2_tag_length(read_at(fp, pos, 10)) or 1
    for limit in (_RESYNC_NEAR, SYNC_SEARCH_BYTES):
        search_from = pos
        while search_from < min(end, pos + limit):
            found = find_first_frame(fp, search_from, min(limit, end - search_from))
            if found is None or found >= end:
                break
            if _same_stream(first, mpeg_frame_header(read_at(fp, found, 4))):
                return found
            search_from = found + 1
    return None
