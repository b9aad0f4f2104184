"""Reading audio containers, for the client's preflight checks and the sandbox's own
(the standard library, and mutagen where a whole file must be read).

* :func:`sniff_stream` names a container from the start of a seekable stream, after any
  leading ID3v2 tags (:func:`skip_id3v2`); :func:`sniff_format` does the same on bytes.
* :func:`parse_wav` reads a WAV header by walking its chunks with ``seek``; it never reads
  the sample data. :func:`parse_flac` reads a FLAC STREAMINFO block and
  :func:`parse_mp3` the first MPEG audio frame header (with its Xing/Info/VBRI header):
  the sample rate, channels and, where the header states it, the exact length.
  :func:`count_audio_frames` (MP3) and :func:`count_samples` (FLAC) count the frames
  where no header gives the length, reading the stream in blocks.

:func:`read_facts` puts them together (with mutagen for MP3 estimates and M4A/MP4): the
one reading of an input's duration, sample rate and channels, for the client's preflight
and the sandbox alike.

Writing audio (the sandbox's band-filtered stems, silent MP3 and WAV files) is
:mod:`gsep_cli.sandbox.render`'s job.
"""

from __future__ import annotations

from .facts import UNKNOWN, AudioFacts, read_facts
from .flac import FlacInfo, count_samples, parse_flac
from .mpeg import Mp3Info, audio_end, count_audio_frames, find_first_frame, parse_mp3
from .sniff import (
    EXTENSION_KINDS,
    ID3V2_HEADER_BYTES,
    SNIFF_BYTES,
    id3v2_tag_length,
    skip_id3v2,
    sniff_format,
    sniff_stream,
)
from .stream import ByteStream, MediaError, read_exact
from .wav import FORMAT_FLOAT, FORMAT_PCM, SUPPORTED_BITS, UNKNOWN_SIZE, WavInfo, parse_wav

__all__ = [
    "EXTENSION_KINDS",
    "FORMAT_FLOAT",
    "FORMAT_PCM",
    "ID3V2_HEADER_BYTES",
    "SNIFF_BYTES",
    "SUPPORTED_BITS",
    "UNKNOWN",
    "UNKNOWN_SIZE",
    "AudioFacts",
    "ByteStream",
    "FlacInfo",
    "MediaError",
    "Mp3Info",
    "WavInfo",
    "audio_end",
    "count_audio_frames",
    "count_samples",
    "find_first_frame",
    "id3v2_tag_length",
    "parse_flac",
    "parse_mp3",
    "parse_wav",
    "read_exact",
    "read_facts",
    "skip_id3v2",
    "sniff_format",
    "sniff_stream",
]
