"""The sandbox's stand-in stems (standard library only). The sandbox does not separate
sources: :func:`render_wav_stems` streams a WAV once, in bounded blocks, and writes one
copy per stem (plus the residual) passed through a fixed band filter, so each "stem"
sounds like the input but is not a separation. Silent files (MP3 results, failed
renders) are :mod:`gsep_cli.sandbox.silence`'s job.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import rshift, sub
from typing import Any, BinaryIO

from ..media import (
    FORMAT_FLOAT,
    MediaError,
    WavInfo,
    read_exact,
)
from ..models import RESIDUAL
from .silence import wav_header

__all__ = ["BLOCK_FRAMES", "DEFAULT_BAND", "STEM_BANDS", "render_wav_stems"]

BLOCK_FRAMES = 65536
"""Frames per block in :func:`render_wav_stems` (memory stays bounded by this)."""

STEM_BANDS: dict[str, tuple[float | None, float | None]] = {
    "vocal": (300.0, 3400.0),
    "speech": (300.0, 3400.0),
    "dialogue": (300.0, 3400.0),
    "drum": (2500.0, None),
    "bass": (None, 250.0),
    "electric_guitar": (800.0, 2500.0),
    "acoustic_piano": (250.0, 2000.0),
    "music": (None, 1200.0),
    "effect": (3400.0, None),
    "me": (None, 300.0),
}
"""Stem name -> (low cut Hz, high cut Hz) of the band filter that renders it; None = open."""

DEFAULT_BAND: tuple[float | None, float | None] = (200.0, 5000.0)
"""Band for stem names missing from :data:`STEM_BANDS`."""


_LITTLE_ENDIAN_HOST = sys.byteorder == "little"
_I32 = "i" if array("i").itemsize == 4 else "l"
_FLIP_SIGN = bytes(b ^ 0x80 for b in range(256))  # unsigned 8-bit <-> signed 8-bit


# ---- WAV writing ------------------------------------------------------------------------


# ---- stem rendering ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Codec:
    """How to turn one WAV sample format into numbers per channel and back."""

    bits: int
    is_float: bool
    low: float
    high: float

    @property
    def typecode(self) -> str:
        """``array`` typecode of the in-memory samples (24-bit is held in 32-bit)."""
        if self.is_float:
            return "f" if self.bits == 32 else "d"
        return {8: "b", 16: "h", 24: _I32, 32: _I32}[self.bits]


def _codec_for(info: WavInfo) -> _Codec:
    """The codec for a parsed WAV."""
    if info.format_tag == FORMAT_FLOAT:
        return _Codec(info.bits_per_sample, True, -math.inf, math.inf)
    half = 1 << (info.bits_per_sample - 1)
    return _Codec(info.bits_per_sample, False, float(-half), float(half - 1))


def _decode(raw: bytes, codec: _Codec, channels: int) -> list[array[Any]]:
    """Interleaved little-endian sample bytes -> one array of numbers per channel."""
    if codec.bits == 8:
        raw = raw.translate(_FLIP_SIGN)
    elif codec.bits == 24:
        wide = bytearray(len(raw) // 3 * 4)
        wide[1::4] = raw[0::3]
        wide[2::4] = raw[1::3]
        wide[3::4] = raw[2::3]
        raw = bytes(wide)
    samples = array(codec.typecode)
    samples.frombytes(raw)
    if not _LITTLE_ENDIAN_HOST and codec.bits > 8:
        samples.byteswap()
    if codec.bits == 24:
        samples = array(_I32, map(rshift, samples, repeat(8)))
    if channels == 1:
        return [samples]
    return [samples[c::channels] for c in range(channels)]


def _encode(chans: Sequence[array[Any]], codec: _Codec) -> bytes:
    """One array per channel -> interleaved little-endian sample bytes."""
    count = len(chans)
    if count == 1:
        samples = chans[0]
    else:
        samples = array(codec.typecode, bytes(len(chans[0]) * count * chans[0].itemsize))
        for c, chan in enumerate(chans):
            samples[c::count] = chan
    if not _LITTLE_ENDIAN_HOST and codec.bits > 8:
        samples = array(samples.typecode, samples)
        samples.byteswap()
    raw = samples.tobytes()
    if codec.bits == 8:
        return raw.translate(_FLIP_SIGN)
    if codec.bits == 24:
        packed = bytearray(len(raw) // 4 * 3)
        packed[0::3] = raw[0::4]
        packed[1::3] = raw[1::4]
        packed[2::3] = raw[2::4]
        return bytes(packed)
    return raw


def _coefficients(band: tuple[float | None, float | None], rate: int) -> tuple[float, float]:
    """(high-pass pole, low-pass gain) of the one-pole filters; 1.0 means "no filter"."""
    low_cut, high_cut = band
    hp = math.exp(-2.0 * math.pi * low_cut / rate) if low_cut else 1.0
    lp = 1.0 - math.exp(-2.0 * math.pi * high_cut / rate) if high_cut else 1.0
    return hp, lp


class _StemFilter:
    """A one-pole high-pass followed by a one-pole low-pass, per channel, state kept."""

    def __init__(self, band: tuple[float | None, float | None], rate: int, channels: int):
        self.hp, self.lp = _coefficients(band, rate)
        # per channel: previous input, high-pass output, low-pass output
        self.state = [[0.0, 0.0, 0.0] for _ in range(channels)]

    def process(self, chans: Sequence[Iterable[float]], codec: _Codec) -> list[array[Any]]:
        """Filter one block of every channel; clipped and rounded to the sample format."""
        out = []
        for chan, state in zip(chans, self.state, strict=True):
            values = self._run(chan, state, codec.low, codec.high)
            if codec.is_float:
                out.append(array(codec.typecode, values))
            else:
                out.append(array(codec.typecode, map(round, values)))
        return out

    def _run(self, xs: Iterable[float], state: list[float], lo: float, hi: float) -> list[float]:
        """Run the filters over one channel's block, updating ``state`` in place."""
        hp, lp = self.hp, self.lp
        if hp == 1.0:
            return _low_pass(xs, state, lp, lo, hi)
        if lp == 1.0:
            return _high_pass(xs, state, hp, lo, hi)
        return _band_pass(xs, state, hp, lp, lo, hi)


def _band_pass(
    xs: Iterable[float], state: list[float], a: float, b: float, lo: float, hi: float
) -> list[float]:
    """High-pass (pole ``a``) then low-pass (gain ``b``); outputs clipped to [lo, hi]."""
    px, h, y = state
    out: list[float] = []
    append = out.append
    for x in xs:
        h = a * (h + x - px)
        px = x
        y += b * (h - y)
        if y > hi:
            append(hi)
        elif y < lo:
            append(lo)
        else:
            append(y)
    state[0], state[1], state[2] = px, h, y
    return out


def _high_pass(
    xs: Iterable[float], state: list[float], a: float, lo: float, hi: float
) -> list[float]:
    """One-pole high-pass with pole ``a``; outputs clipped to [lo, hi]."""
    px, h, _ = state
    out: list[float] = []
    append = out.append
    for x in xs:
        h = a * (h + x - px)
        px = x
        if h > hi:
            append(hi)
        elif h < lo:
            append(lo)
        else:
            append(h)
    state[0], state[1] = px, h
    return out


def _low_pass(
    xs: Iterable[float], state: list[float], b: float, lo: float, hi: float
) -> list[float]:
    """One-pole low-pass with gain ``b`` (never leaves the input's range)."""
    y = state[2]
    out: list[float] = []
    append = out.append
    for x in xs:
        y += b * (x - y)
        append(y)
    state[2] = y
    return out


def _residual(
    chans: Sequence[array[Any]],
    stems: Sequence[Sequence[array[Any]]],
    codec: _Codec,
) -> list[array[Any]]:
    """Per channel: input minus every stem. Integer formats: where that leaves the sample
    range, the residual is clipped and what was cut goes into the stems (each kept in
    range, :func:`_spill`), so stems plus residual equal the input exactly; the stems'
    arrays are changed in place. Float is neither clipped nor exact."""
    out = []
    for c, chan in enumerate(chans):
        rest: Iterable[float] = chan
        for stem in stems:
            rest = map(sub, rest, stem[c])
        if codec.is_float:
            out.append(array(codec.typecode, rest))
            continue
        values = list(rest)
        lo, hi = int(codec.low), int(codec.high)
        if values and (min(values) < lo or max(values) > hi):
            _spill(values, [stem[c] for stem in stems], lo, hi)
        out.append(array(codec.typecode, values))
    return out


def _spill(values: list[float], stems: Sequence[array[Any]], lo: int, hi: int) -> None:
    """Clip ``values`` (one channel's residual) to [lo, hi], moving each cut amount into
    the stems' samples at the same index, stem by stem, each only as far as [lo, hi]
    allows. The input was in range, so the stems always have room: the sum of residual
    and stems at every index is unchanged."""
    for i, value in enumerate(values):
        if lo <= value <= hi:
            continue
        bound = hi if value > hi else lo
        excess = value - bound
        values[i] = bound
        for stem in stems:
            sample = stem[i]
            moved = min(excess, hi - sample) if excess > 0 else max(excess, lo - sample)
            stem[i] = sample + moved
            excess -= moved
            if not excess:
                break


def _check_render_args(
    stems: Sequence[str], outputs: Mapping[str, BinaryIO], block_frames: int
) -> None:
    """Reject calls that would write an inconsistent set of outputs."""
    if len(set(stems)) != len(stems):
        raise ValueError(f"a stem is listed twice: {list(stems)}")
    if RESIDUAL in stems:
        raise ValueError(f"{RESIDUAL!r} is the residual, not a stem")
    missing = [name for name in stems if name not in outputs]
    if missing:
        raise ValueError(f"no output given for stems {missing}")
    if block_frames < 1:
        raise ValueError("block_frames must be positive")


def render_wav_stems(
    src: BinaryIO,
    info: WavInfo,
    stems: Sequence[str],
    outputs: Mapping[str, BinaryIO],
    *,
    block_frames: int = BLOCK_FRAMES,
) -> None:
    """Write one band-filtered copy of the WAV per stem, and the residual, in one pass.

    Every ``outputs[name]`` for ``name`` in ``stems`` receives a WAV with the input's format
    tag, sample rate, channels, bit depth and frame count, holding the input passed through
    the stem's band (:data:`STEM_BANDS`, else :data:`DEFAULT_BAND`). If ``outputs`` also
    has :data:`RESIDUAL`, that receives input minus the sum of the stems; in integer formats
    the stems and the residual then add up to the input sample for sample (where the
    residual would leave the sample range, what is cut from it goes into the stems, within
    their range); float is not clipped, and its sum is exact only to rounding. Outputs are
    only written to, in order, so they need not be seekable. ``src`` is read from
    ``info.data_offset`` in blocks of ``block_frames`` frames; a trailing partial frame is
    ignored. Raises MediaError when the samples end before ``info`` says.
    """
    _check_render_args(stems, outputs, block_frames)
    codec = _codec_for(info)
    frames = info.frames
    header = wav_header(
        info.format_tag, info.channels, info.sample_rate, info.bits_per_sample, frames
    )
    targets = [outputs[name] for name in stems]
    residual = outputs.get(RESIDUAL)
    for target in [*targets, *([residual] if residual is not None else [])]:
        target.write(header)
    filters = [
        _StemFilter(STEM_BANDS.get(name, DEFAULT_BAND), info.sample_rate, info.channels)
        for name in stems
    ]
    src.seek(info.data_offset)
    remaining = frames
    while remaining > 0:
        count = min(remaining, block_frames)
        raw = read_exact(src, count * info.block_align)
        if len(raw) != count * info.block_align:
            raise MediaError("the WAV data ended before its declared size")
        chans = _decode(raw, codec, info.channels)
        rendered = [f.process(chans, codec) for f in filters]
        rest = _residual(chans, rendered, codec) if residual is not None else None
        for target, stem in zip(targets, rendered, strict=True):
            target.write(_encode(stem, codec))
        if residual is not None and rest is not None:
            residual.write(_encode(rest, codec))
        remaining -= count
    if frames * info.block_align & 1:
        for target in [*targets, *([residual] if residual is not None else [])]:
            target.write(b"\x00")


# ---- MP3 --------------------------------------------------------------------------------
