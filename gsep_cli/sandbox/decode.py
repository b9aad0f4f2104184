"""Decoding a compressed input to PCM, so the sandbox's stand-in stems of FLAC and MP3
inputs are audible (with the optional ``audio`` extra; silence without it).

:func:`decode_pcm` reads the input with libsndfile (``soundfile``, with ``numpy``), in
blocks of :data:`BLOCK_FRAMES` frames, and writes it as raw little-endian PCM with the
input's own sample rate and channels: a FLAC at its own depth (8-bit FLAC as 16-bit, which
holds it exactly), an MP3 as 16-bit (libsndfile clips its overs). Memory stays bounded by
one block whatever the input's length. soundfile and numpy are imported only when a
decode runs, never when the sandbox is imported (gsep's start-up does not pay for them).

Which inputs stay silent (the caller's choice: :func:`decode_pcm` says None or raises):
M4A/MP4 and MOV (AAC has no libsndfile decoder), every compressed input when the extra is
not installed, an input whose format the installed libsndfile cannot read (MP3 needs
libsndfile 1.1 or newer), and one that libsndfile fails on or decodes to another length
than the sandbox's checks measured (headers or counted frames): the service took it, so
the sandbox gives stems of its length rather than an error.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from ..media import FORMAT_PCM, MediaError, WavInfo

__all__ = ["BLOCK_FRAMES", "LENGTH_SLACK_FRAMES", "LIBSNDFILE_FORMATS", "decode_pcm"]

BLOCK_FRAMES = 65536
"""Frames decoded per block (about 0.5 MiB for 32-bit stereo)."""

LENGTH_SLACK_FRAMES = 3 * 1152
"""How far (frames) a decoded length may be from the measured one: an MP3 decodes to its
frame count less the encoder's delay and padding (under two 1152-sample frames)."""

LIBSNDFILE_FORMATS = {"flac": "FLAC", "mp3": "MP3"}
"""Input kind -> the libsndfile major format that decodes it (the API's other compressed
inputs, ``mp4`` and ``mov``, have none)."""

_SUBTYPE_BITS = {"PCM_S8": 16, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
"""libsndfile subtype -> bits per sample of the PCM written; any other (MP3) is 16."""


def _codecs() -> tuple[Any, Any] | None:
    """(numpy, soundfile), or None when the audio extra does not import."""
    try:
        import numpy
        import soundfile
    except (ImportError, OSError):  # OSError: soundfile without its libsndfile
        return None
    return numpy, soundfile


def decode_pcm(
    src: BinaryIO,
    kind: str,
    dst: BinaryIO,
    *,
    seconds: float | None = None,
    block_frames: int = BLOCK_FRAMES,
) -> WavInfo | None:
    """Decode the ``kind`` input ``src`` (seekable, read from its start) into ``dst`` as
    raw interleaved little-endian signed PCM, written from ``dst``'s position.

    Returns the :class:`~gsep_cli.media.WavInfo` that describes what was written, with
    ``data_offset`` 0 (so :func:`gsep_cli.sandbox.render.render_wav_stems` reads it as it
    reads a WAV), or None, with nothing written, when there is no decoder for it (see the
    module's docstring). Raises MediaError when libsndfile cannot open or read an input it
    has a decoder for, or when ``seconds`` (the input's measured length) is given and the
    decoded length is more than :data:`LENGTH_SLACK_FRAMES` frames away from it.
    """
    codecs = _codecs()
    major = LIBSNDFILE_FORMATS.get(kind)
    if codecs is None or major is None:
        return None
    numpy, soundfile = codecs
    if major not in soundfile.available_formats():
        return None
    if block_frames < 1:
        raise ValueError("block_frames must be positive")
    src.seek(0)
    try:
        with soundfile.SoundFile(src) as audio:
            bits = _SUBTYPE_BITS.get(audio.subtype, 16)
            channels, rate = audio.channels, audio.samplerate
            frames = 0
            while True:
                block = audio.read(block_frames, dtype="int16" if bits == 16 else "int32")
                if not len(block):
                    break
                dst.write(_pcm_bytes(numpy, block, bits))
                frames += len(block)
    except RuntimeError as exc:  # soundfile.LibsndfileError is one
        raise MediaError(f"the sandbox could not decode this {kind} input: {exc}") from exc
    if seconds is not None and abs(frames - seconds * rate) > LENGTH_SLACK_FRAMES:
        got = frames / rate
        raise MediaError(f"this {kind} input decoded to {got:.3f} s, not its {seconds:.3f} s")
    align = channels * bits // 8
    return WavInfo(FORMAT_PCM, channels, rate, bits, align, 0, frames * align)


def _pcm_bytes(numpy: Any, block: Any, bits: int) -> bytes:
    """A block of samples (frames x channels, int16 or int32) -> little-endian PCM bytes.
    24-bit samples come from libsndfile in the top three bytes of an int32."""
    if bits != 24:
        return bytes(block.astype("<i2" if bits == 16 else "<i4", copy=False).tobytes())
    wide = numpy.ascontiguousarray(block, dtype="<i4").view(numpy.uint8).reshape(-1, 4)
    return bytes(wide[:, 1:].tobytes())
