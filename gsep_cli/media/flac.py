"""FLAC: the STREAMINFO block."""

from __future__ import annotations

from dataclasses import dataclass

from .stream import ByteStream, MediaError, read_exact

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
