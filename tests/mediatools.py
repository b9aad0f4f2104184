"""Hand-made media headers for the tests (``import mediatools``), written from the format
specifications rather than with ``gsep_cli.media``, so the readers are checked against an
independent encoding.

* :func:`id3v2_tag`: an ID3v2 tag (ID3v2.4 section 3.1), with or without a footer.
* :func:`flac_bytes`: ``fLaC`` and a STREAMINFO block (RFC 9639 section 8.2), no frames
  unless given; :func:`flac_frames`: frames of constant subframes with their CRCs.
* :func:`id3v1_tag`, :func:`ape_tag`: the tags an MP3 may end with.
* :func:`mpeg_frame` / :func:`vbr_mp3`: MPEG audio frames (ISO/IEC 11172-3 2.4.2.3) of
  the exact byte length their header implies, holding zeros; :func:`vbr_mp3` has no
  Xing/Info/VBRI header, so only its first frames' bit rate can be seen without reading it
  all.
* :func:`mp3_stream`: Layer III frames of any MPEG version, sample rate and bit rates,
  padded as an encoder pads them, optionally after a Xing/Info or VBRI header frame.
"""

from __future__ import annotations

import struct

_VERSION_BITS = {"1": 0b11, "2": 0b10, "2.5": 0b00}
_RATES = {"1": (44100, 48000, 32000), "2": (22050, 24000, 16000), "2.5": (11025, 12000, 8000)}
_KBPS = {
    "1": (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "lsf": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def syncsafe(value: int) -> bytes:
    """Four bytes of 7 bits each, most significant first."""
    return bytes((value >> shift) & 0x7F for shift in (21, 14, 7, 0))


def id3v2_tag(
    body: bytes = b"", *, footer: bool = False, version: int = 4, revision: int = 0
) -> bytes:
    """A complete ID3v2 tag around ``body`` (frames and padding, not interpreted)."""
    flags = 0x10 if footer else 0
    size = syncsafe(len(body))
    header = b"ID3" + bytes((version, revision, flags)) + size
    return header + body + (b"3DI" + bytes((version, revision, flags)) + size if footer else b"")


def flac_bytes(
    rate: int = 44100,
    channels: int = 2,
    bits: int = 16,
    total_samples: int = 44100,
    *,
    block_size: int = 4096,
    audio: bytes = bytes(8),
) -> bytes:
    """``fLaC`` plus a last-block STREAMINFO (min and max block size ``block_size``), then
    ``audio``: by default 8 zero bytes, no frames (see :func:`flac_frames`)."""
    packed = (rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | total_samples
    sizes = struct.pack(">HH", block_size, block_size)
    body = sizes + bytes(6) + packed.to_bytes(8, "big") + bytes(16)
    assert len(body) == 34
    return b"fLaC" + bytes((0x80,)) + len(body).to_bytes(3, "big") + body + audio


_FLAC_RATE_CODES = {88200: 1, 176400: 2, 192000: 3, 8000: 4, 16000: 5, 22050: 6, 24000: 7}
_FLAC_RATE_CODES |= {32000: 8, 44100: 9, 48000: 10, 96000: 11}
_FLAC_BITS_CODES = {8: 1, 12: 2, 16: 4, 20: 5, 24: 6, 32: 7}


def _crc(data: bytes, poly: int, width: int) -> int:
    """A CRC of ``width`` bits, MSB first, initial value 0, computed bit by bit."""
    top, mask, crc = 1 << (width - 1), (1 << width) - 1, 0
    for byte in data:
        crc ^= byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
    return crc


def _flac_number(value: int) -> bytes:
    """A frame or sample number in FLAC's UTF-8-like coding (up to 36 bits)."""
    if value < 0x80:
        return bytes((value,))
    extra = next(k for k in range(1, 7) if value < 1 << (6 + 5 * k))
    lead = ((0xFF << (7 - extra)) & 0xFF) | (value >> (6 * extra))
    tail = bytes(0x80 | ((value >> (6 * i)) & 0x3F) for i in range(extra - 1, -1, -1))
    return bytes((lead,)) + tail


def flac_frames(
    blocks: list[int], rate: int, channels: int = 2, bits: int = 16, *, variable: bool = False
) -> bytes:
    """FLAC frames (RFC 9639 section 9), one per entry of ``blocks`` (samples per channel),
    each a constant subframe per channel (the sample value is the frame's index), with
    their CRC-8 and CRC-16. Fixed block size (``variable`` False) numbers the frames, and
    every block but the last must then be the same size; variable numbers the samples.
    ``bits`` is 8, 16, 24 or 32 (whole bytes keep each subframe byte-aligned)."""
    out, sample = [], 0
    for index, block in enumerate(blocks):
        head = bytes((0xFF, 0xF9 if variable else 0xF8))
        head += bytes(
            (
                0x70 | _FLAC_RATE_CODES.get(rate, 0),
                (channels - 1) << 4 | _FLAC_BITS_CODES[bits] << 1,
            )
        )
        head += _flac_number(sample if variable else index) + (block - 1).to_bytes(2, "big")
        head += bytes((_crc(head, 0x07, 8),))
        value = (index % 100).to_bytes(bits // 8, "big")
        frame = head + (b"\x00" + value) * channels
        out.append(frame + _crc(frame, 0x8005, 16).to_bytes(2, "big"))
        sample += block
    return b"".join(out)


def id3v1_tag(
    title: bytes = b"title",
    artist: bytes = b"",
    album: bytes = b"",
    year: bytes = b"",
    *,
    track: int = 0,
    genre: int = 0,
) -> bytes:
    """An ID3v1 tag: ``TAG`` and 125 bytes of fields, the last 128 bytes of a file (ID3v1.1
    when ``track`` is not 0: a 28-byte comment, a zero byte and the track number)."""
    fields = title.ljust(30, b"\x00") + artist.ljust(30, b"\x00") + album.ljust(30, b"\x00")
    return b"TAG" + fields + year.ljust(4, b"\x00") + bytes(29) + bytes((track, genre))


def ape_tag(items: int = 1, *, header: bool = True) -> bytes:
    """An APEv2 tag (header optional, items, footer), as found before an ID3v1 tag."""
    body = b"".join(
        (5).to_bytes(4, "little") + bytes(4) + b"Title\x00" + b"hello" for _ in range(items)
    )

    def frame(is_header: bool) -> bytes:
        flags = (1 << 31 if header else 0) | (1 << 29 if is_header else 0)
        size = (len(body) + 32).to_bytes(4, "little")
        counts = items.to_bytes(4, "little") + flags.to_bytes(4, "little")
        return b"APETAGEX" + (2000).to_bytes(4, "little") + size + counts + bytes(8)

    return (frame(True) if header else b"") + body + frame(False)


def mpeg_frame(
    kbps: int, rate: int = 48000, *, version: str = "1", channels: int = 2, padding: bool = False
) -> bytes:
    """One Layer III frame (no CRC) of ``kbps`` at ``rate``, zeros after the header."""
    rate_index = _RATES[version].index(rate)
    bitrate_index = _KBPS["1" if version == "1" else "lsf"].index(kbps)
    b1 = 0xE0 | (_VERSION_BITS[version] << 3) | (0b01 << 1) | 1
    b2 = (bitrate_index << 4) | (rate_index << 2) | (int(padding) << 1)
    b3 = (0b11 if channels == 1 else 0b00) << 6
    per_frame = 1152 if version == "1" else 576
    length = per_frame // 8 * kbps * 1000 // rate + int(padding)
    return bytes((0xFF, b1, b2, b3)) + bytes(length - 4)


def vbr_mp3(seconds: float, *, first_kbps: int = 32, first_frames: int = 4) -> bytes:
    """MPEG-1 Layer III at 48 kHz lasting ``seconds`` (whole 24 ms frames): the first
    ``first_frames`` at ``first_kbps``, the rest at 320 kbps, and no Xing/Info header --
    a reader that trusts the first frames' bit rate overestimates it up to tenfold."""
    frames = round(seconds * 48000 / 1152)
    head = mpeg_frame(first_kbps) * first_frames
    return head + mpeg_frame(320) * (frames - first_frames)


#: Bit rate of the frame carrying a Xing/Info/VBRI header: large enough for the header at
#: every sample rate (an encoder picks such a rate for that frame too).
HEADER_FRAME_KBPS = 64


def mp3_stream(
    kbps: list[int],
    rate: int,
    *,
    version: str = "1",
    channels: int = 2,
    vbr_header: str | None = None,
) -> bytes:
    """Layer III audio frames, one per entry of ``kbps`` (kbit/s), at ``rate`` Hz.

    Each frame is padded as an encoder pads a constant-rate stream: the padding bit is set
    whenever the bytes so far fall one slot behind ``bit rate x time``, so the stream's size
    matches its bit rate to within a byte. ``vbr_header`` ("Xing", "Info" or "VBRI") puts
    a frame of that header first, stating the count of the audio frames after it (the
    header frame itself is silent and not counted, as LAME writes it). The stream lasts
    ``len(kbps) * samples_per_frame / rate`` seconds.
    """
    per_frame = 1152 if version == "1" else 576
    frames = []
    behind = {}  # by bit rate: the remainder each frame leaves, summed
    for value in kbps:
        step = per_frame // 8 * value * 1000
        rest = behind.get(value, 0) + step % rate
        padding = rest >= rate
        behind[value] = rest - rate if padding else rest
        frames.append(mpeg_frame(value, rate, version=version, channels=channels, padding=padding))
    if vbr_header is None:
        return b"".join(frames)
    head = bytearray(mpeg_frame(HEADER_FRAME_KBPS, rate, version=version, channels=channels))
    count = len(frames).to_bytes(4, "big")
    if vbr_header == "VBRI":  # 32 bytes after the header: version, delay, quality, bytes
        size = sum(map(len, frames)).to_bytes(4, "big")
        tag = b"VBRI" + bytes((0, 1, 0, 0, 0, 75)) + size + count
        head[36 : 36 + len(tag)] = tag
    else:  # after the side information: flags (1: frame count follows), then the count
        side = (17 if channels == 1 else 32) if version == "1" else (9 if channels == 1 else 17)
        tag = vbr_header.encode("ascii") + (1).to_bytes(4, "big") + count
        head[4 + side : 4 + side + len(tag)] = tag
    return bytes(head) + b"".join(frames)
