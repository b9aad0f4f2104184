"""FLAC: the STREAMINFO block."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .stream import ByteStream, MediaError, read_at, read_exact

_FLAC_STREAMINFO_BYTES = 34


@dataclass(frozen=True)
class FlacInfo:
    """What :func:`parse_flac` found in STREAMINFO."""

    sample_rate: int  # Hz, never 0
    channels: int  # 1 to 8
    bits_per_sample: int  # 4 to 32
    total_samples: int  # per channel; 0 when unknown
    max_block_size: int = 4096  # samples per channel in every frame but the last

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
        max_block_size=int.from_bytes(head[10:12], "big"),
    )


# ---- counting the samples of a FLAC whose STREAMINFO does not say (RFC 9639 section 9) ---
_SYNC = re.compile(rb"\xff[\xf8\xf9]")
_SCAN_BLOCK = 256 * 1024
_HEADER_MOST = 16  # sync 2, codes 2, coded number up to 7, block size 2, rate 2, CRC-8 1
_RATES = (0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
_BITS = (0, 8, 12, 0, 16, 20, 24, 32)
_MAX_METADATA_BLOCKS = 1024


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


def _crc8(data: bytes) -> int:
    """CRC-8 of a frame header: polynomial x^8 + x^2 + x + 1, initial value 0."""
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _coded_number(head: bytes, at: int) -> tuple[int, int] | None:
    """(value, end) of the UTF-8-like coded frame or sample number at ``head[at]``: one
    lead byte (its leading ones count the bytes) and continuation bytes ``10xxxxxx``."""
    if at >= len(head):
        return None
    lead = head[at]
    if lead < 0x80:
        return lead, at + 1
    ones = 8 - (~lead & 0xFF).bit_length()
    if not 2 <= ones <= 7 or at + ones > len(head):
        return None
    value = lead & ((1 << (7 - ones)) - 1)
    for byte in head[at + 1 : at + ones]:
        if byte & 0xC0 != 0x80:
            return None
        value = (value << 6) | (byte & 0x3F)
    return value, at + ones


def frame_header(head: bytes, info: FlacInfo) -> tuple[int, int] | None:
    """(first sample, block size) of the FLAC frame whose header opens ``head`` (at least
    16 bytes where the stream has them), or None when it is not one of ``info``'s stream.

    The header must be well formed (no reserved codes), agree with STREAMINFO's sample
    rate, channels and bits per sample where it codes them, and end in its CRC-8; a
    fixed-block-size frame's number is turned into its first sample with STREAMINFO's
    largest block size (the size of every frame but the last).
    """
    if len(head) < 6 or head[0] != 0xFF or head[1] not in (0xF8, 0xF9):
        return None
    size_code, rate_code = head[2] >> 4, head[2] & 0x0F
    channel_code, bits_code = head[3] >> 4, (head[3] >> 1) & 7
    if size_code == 0 or rate_code == 15 or channel_code > 10 or bits_code == 3 or head[3] & 1:
        return None
    if (channel_code + 1 if channel_code < 8 else 2) != info.channels:
        return None
    if bits_code and _BITS[bits_code] != info.bits_per_sample:
        return None
    coded = _coded_number(head, 4)
    if coded is None:
        return None
    number, at = coded
    extra = {6: 1, 7: 2}.get(size_code, 0)
    block = int.from_bytes(head[at : at + extra], "big") + 1 if extra else _block_size(size_code)
    at += extra
    rate_bytes = {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    rate = int.from_bytes(head[at : at + rate_bytes], "big") * {12: 1000, 14: 10}.get(rate_code, 1)
    rate = _RATES[rate_code] if rate_code < 12 else rate
    at += rate_bytes
    if (rate and rate != info.sample_rate) or at >= len(head) or _crc8(head[:at]) != head[at]:
        return None
    variable = head[1] & 1
    return (number if variable else number * info.max_block_size), block


def _block_size(code: int) -> int:
    """Samples per channel that a block-size code 1-5 or 8-15 stands for."""
    if code == 1:
        return 192
    return 576 << (code - 2) if code <= 5 else 256 << (code - 8)


def count_samples(fp: ByteStream, start: int, info: FlacInfo) -> int:
    """Samples per channel in the FLAC stream whose ``fLaC`` marker is at ``start``: the
    end sample of its last frame, for a stream whose STREAMINFO says 0 (unknown).

    Frames are found by their sync code past the metadata blocks and accepted one after
    another only when :func:`frame_header` reads them and each starts where the one before
    ended (its coded number), so a sync pattern inside audio data is not taken for a
    frame. Reads the stream in blocks of 256 KiB (bounded memory); 0 when no frame is
    found. ``fp`` is left anywhere.
    """
    pos = start + 4
    for _ in range(_MAX_METADATA_BLOCKS):
        block_head = read_at(fp, pos, 4)
        if len(block_head) < 4:
            return 0
        pos += 4 + int.from_bytes(block_head[1:4], "big")
        if block_head[0] & 0x80:
            break
    end = 0  # the end sample of the last frame accepted
    while True:
        data = read_at(fp, pos, _SCAN_BLOCK + _HEADER_MOST)
        for match in _SYNC.finditer(data, 0, min(len(data), _SCAN_BLOCK + 1)):
            at = match.start()
            frame = frame_header(data[at : at + _HEADER_MOST], info) if at < _SCAN_BLOCK else None
            if frame is not None and frame[0] == end:
                end = frame[0] + frame[1]
        if len(data) <= _SCAN_BLOCK:
            return end
        pos += _SCAN_BLOCK
