"""The one WAV writer of the tests and benchmarks (``import audio``; stdlib only).

* :func:`wav_bytes` returns a small PCM WAV written with the stdlib ``wave`` module: tones at
  100 Hz, 1 kHz and 5 kHz plus seeded noise, so the content reaches every band the sandbox
  renders and no stem comes out silent; or, with ``silent=True``, silence built without a
  per-sample loop (for long inputs whose samples do not matter).
* :func:`make_wav` writes the same to a file, sized in seconds (or frames), and returns
  its path.

The same arguments always give the same bytes; a different ``seed`` or length gives
different bytes (what the ledger's content hashes tell apart).

Tests that need a header ``wave`` cannot write (IEEE float, WAVE_FORMAT_EXTENSIBLE, lying
sizes, missing chunks) build it by hand where they use it, on purpose: see
``tests/test_media.py``.
"""

from __future__ import annotations

import array
import io
import math
import random
import sys
import wave
from pathlib import Path

_ARRAY_CODES = {2: "h", 4: "i"}


def _samples(frames: int, rate: int, channels: int, width: int, seed: int) -> bytes:
    rng = random.Random(seed)
    peak = 2 ** (8 * width - 1) - 1
    high = min(5000, rate / 3)
    values: list[int] = []
    append = values.append
    for i in range(frames):
        t = i / rate
        mix = (
            0.25 * math.sin(2 * math.pi * 100 * t)
            + 0.2 * math.sin(2 * math.pi * 1000 * t)
            + 0.15 * math.sin(2 * math.pi * high * t)
        )
        for _ in range(channels):
            append(int(peak * (mix + 0.1 * (rng.random() - 0.5))))
    if width == 1:
        return bytes(v + 128 for v in values)
    if width == 3:
        return b"".join(v.to_bytes(3, "little", signed=True) for v in values)
    packed = array.array(_ARRAY_CODES[width], values)
    assert packed.itemsize == width
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def wav_bytes(
    frames: int = 4000,
    rate: int = 16000,
    channels: int = 2,
    width: int = 2,
    seed: int = 0,
    *,
    silent: bool = False,
) -> bytes:
    """A PCM WAV of ``frames`` frames; ``width`` is bytes per sample (1 to 4)."""
    if silent:
        data = (b"\x80" if width == 1 else b"\x00") * (frames * channels * width)
    else:
        data = _samples(frames, rate, channels, width, seed)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return buf.getvalue()


def make_wav(
    path: Path,
    seconds: float = 0.25,
    rate: int = 44100,
    channels: int = 2,
    width: int = 2,
    *,
    frames: int | None = None,
    seed: int = 0,
    silent: bool = False,
) -> Path:
    """Write :func:`wav_bytes` to ``path`` (parents created): ``frames`` if given, else
    ``int(seconds * rate)`` frames. Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = int(seconds * rate) if frames is None else frames
    path.write_bytes(wav_bytes(count, rate, channels, width, seed, silent=silent))
    return path
