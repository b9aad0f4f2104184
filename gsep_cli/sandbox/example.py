"""The bundled example clip: a 4-second synthetic "song" the project generates itself.

It is license-free by construction: a sung-like melody (a harmonic tone with vibrato,
panned slightly right), a bass line and a drum kit (pitch-swept kick, noise snare and
hi-hats), mixed to 22050 Hz 16-bit stereo. Generation is deterministic: noise comes from a
fixed-seed LCG and sines from a polynomial, using only IEEE arithmetic (no ``libm``), so
every platform produces the same bytes.

``python -m gsep_cli.sandbox.example`` rewrites :data:`EXAMPLE_CLIP`.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable
from pathlib import Path

from ..media import FORMAT_PCM
from .render import wav_header

__all__ = ["EXAMPLE_CLIP", "SAMPLE_RATE", "build_example_clip", "main"]

EXAMPLE_CLIP = Path(__file__).resolve().parent.parent / "data" / "example.wav"
"""Where the committed copy of the clip lives (package data)."""

SAMPLE_RATE = 22050
BEAT = SAMPLE_RATE // 2  # 120 bpm
BEATS = 8
FRAMES = BEAT * BEATS  # 4 seconds
PEAK = 0.85  # of full scale

# (start beat, length in beats, frequency in Hz): A minor, around A4-G5.
MELODY: tuple[tuple[float, float, float], ...] = (
    (0.0, 1.0, 659.26),
    (1.0, 0.5, 587.33),
    (1.5, 0.5, 523.25),
    (2.0, 1.0, 440.00),
    (3.0, 1.0, 523.25),
    (4.0, 0.5, 587.33),
    (4.5, 0.5, 659.26),
    (5.0, 1.0, 783.99),
    (6.0, 1.5, 659.26),
    (7.5, 0.5, 587.33),
)
BASS_ROOTS = (110.00, 87.31, 130.81, 98.00)  # A2 F2 C3 G2, two beats each
HARMONICS = ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.15), (5, 0.08))

Mix = tuple[list[float], list[float]]


def _sin(phase: float) -> float:
    """sin(2π·phase) for phase in [0, 1), by a Taylor polynomial (error < 1e-7)."""
    t = phase if phase < 0.5 else phase - 1.0
    x = 2.0 * math.pi * t
    if x > math.pi / 2:
        x = math.pi - x
    elif x < -math.pi / 2:
        x = -math.pi - x
    x2 = x * x
    series = 1.0
    for divisor in (110.0, 72.0, 42.0, 20.0, 6.0):  # Horner form of the series to x^11
        series = 1.0 - x2 / divisor * series
    return x * series


class _Lcg:
    """A fixed-seed linear congruential generator (the C standard's constants)."""

    def __init__(self, seed: int) -> None:
        self.state = seed

    def next(self) -> float:
        """A pseudo-random float in [-1, 1)."""
        self.state = (self.state * 1103515245 + 12345) & 0x7FFFFFFF
        return self.state / 0x40000000 - 1.0


def _add(mix: Mix, start: int, samples: list[float], pan: float) -> None:
    """Mix ``samples`` in from frame ``start``; ``pan`` 0 = left, 0.5 = centre, 1 = right."""
    left, right = mix
    gain_l, gain_r = 1.0 - pan, pan
    for i, value in enumerate(samples[: FRAMES - start]):
        left[start + i] += gain_l * value
        right[start + i] += gain_r * value


def _sung_note(length: int, freq: float) -> list[float]:
    """A harmonic tone with delayed vibrato and soft attack/release: a synthetic voice."""
    out: list[float] = []
    phase = lfo = 0.0
    for i in range(length):
        depth = 0.006 * min(1.0, i / (SAMPLE_RATE * 0.25))
        phase = (phase + freq * (1.0 + depth * _sin(lfo)) / SAMPLE_RATE) % 1.0
        lfo = (lfo + 5.5 / SAMPLE_RATE) % 1.0
        tone = sum(w * _sin((k * phase) % 1.0) for k, w in HARMONICS)
        envelope = min(1.0, i / 660.0, (length - i) / 1320.0)
        out.append(0.3 * envelope * tone)
    return out


def _bass_note(length: int, freq: float) -> list[float]:
    """A plucked triangle-plus-sine bass note."""
    out: list[float] = []
    phase, envelope = 0.0, 1.0
    for i in range(length):
        phase = (phase + freq / SAMPLE_RATE) % 1.0
        triangle = 4.0 * abs(phase - 0.5) - 1.0
        envelope *= 0.99992
        fade = min(1.0, i / 110.0, (length - i) / 440.0)
        out.append(0.45 * fade * envelope * (0.6 * _sin(phase) + 0.4 * triangle))
    return out


def _kick() -> list[float]:
    """A decaying sine swept from 150 Hz down to 45 Hz."""
    out: list[float] = []
    phase, envelope, sweep = 0.0, 1.0, 1.0
    for _ in range(SAMPLE_RATE * 3 // 10):
        phase = (phase + (45.0 + 105.0 * sweep) / SAMPLE_RATE) % 1.0
        sweep *= 0.9985
        envelope *= 0.99975
        out.append(0.9 * envelope * _sin(phase))
    return out


def _snare(noise: _Lcg) -> list[float]:
    """A burst of decaying noise over a short 190 Hz body."""
    out: list[float] = []
    phase, body, rattle = 0.0, 1.0, 1.0
    for _ in range(SAMPLE_RATE // 5):
        phase = (phase + 190.0 / SAMPLE_RATE) % 1.0
        body *= 0.9990
        rattle *= 0.99955
        out.append(0.3 * body * _sin(phase) + 0.35 * rattle * noise.next())
    return out


def _hat(noise: _Lcg) -> list[float]:
    """A very short burst of high-passed (differenced) noise."""
    out: list[float] = []
    previous, envelope = 0.0, 1.0
    for _ in range(SAMPLE_RATE // 20):
        current = noise.next()
        envelope *= 0.9965
        out.append(0.12 * envelope * (current - previous))
        previous = current
    return out


def _add_melody(mix: Mix) -> None:
    """The sung line, panned slightly right."""
    for start, length, freq in MELODY:
        _add(mix, int(start * BEAT), _sung_note(int(length * BEAT), freq), 0.58)


def _add_bass(mix: Mix) -> None:
    """One bass note per beat, the root changing every two beats."""
    for beat in range(BEATS):
        _add(mix, beat * BEAT, _bass_note(BEAT, BASS_ROOTS[beat // 2]), 0.5)


def _add_drums(mix: Mix) -> None:
    """Kick on the beat, snare on the off-beats 2 and 4, hi-hat every eighth note."""
    noise = _Lcg(seed=20240601)
    for beat in range(BEATS):
        voice: Callable[[], list[float]] = _kick if beat % 2 == 0 else lambda: _snare(noise)
        _add(mix, beat * BEAT, voice(), 0.5)
    for eighth in range(BEATS * 2):
        _add(mix, eighth * BEAT // 2, _hat(noise), 0.4)


def _to_wav(mix: Mix) -> bytes:
    """Normalise the mix to :data:`PEAK` and encode it as a 16-bit stereo WAV."""
    left, right = mix
    peak = max(max(map(abs, left)), max(map(abs, right)))
    scale = PEAK * 32767.0 / peak
    samples = array("h", bytes(FRAMES * 4))
    samples[0::2] = array("h", [round(v * scale) for v in left])
    samples[1::2] = array("h", [round(v * scale) for v in right])
    if sys.byteorder != "little":
        samples.byteswap()
    return wav_header(FORMAT_PCM, 2, SAMPLE_RATE, 16, FRAMES) + samples.tobytes()


def build_example_clip() -> bytes:
    """The example clip as WAV bytes (deterministic: same bytes on every run)."""
    mix: Mix = ([0.0] * FRAMES, [0.0] * FRAMES)
    _add_melody(mix)
    _add_bass(mix)
    _add_drums(mix)
    return _to_wav(mix)


def main() -> None:
    """Rewrite :data:`EXAMPLE_CLIP` from :func:`build_example_clip`."""
    data = build_example_clip()
    EXAMPLE_CLIP.parent.mkdir(parents=True, exist_ok=True)
    EXAMPLE_CLIP.write_bytes(data)
    print(f"wrote {EXAMPLE_CLIP} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
