"""Hand-made media headers for the tests (``import mediatools``), written from the format
specifications rather than with ``gsep_cli.media``, so the readers are checked against an
independent encoding.

* :func:`id3v2_tag`: an ID3v2 tag (ID3v2.4 section 3.1), with or without a footer.
* :func:`flac_bytes`: ``fLaC`` and a STREAMINFO block (RFC 9639 section 8.2); no frames.
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
    rate: int = 44100, channels: int = 2, bits: int = 16, total_samples: int = 44100
) -> bytes:
    """``fLaC`` plus a last-block STREAMINFO; the audio frames are left out (8 zero bytes)."""
    packed = (rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | total_samples
    body = struct.pack(">HH", 4096, 4096) + bytes(6) + packed.to_bytes(8, "big") + bytes(16)
    assert len(body) == 34
    return b"fLaC" + bytes((0x80,)) + len(body).to_bytes(3, "big") + body + bytes(8)


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
