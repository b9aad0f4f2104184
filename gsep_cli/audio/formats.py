"""The formats gsep writes and what each takes, checked before any request (standard
library only: no codec is loaded to say what is allowed).

* The API's own formats (``wav``, ``mp3``: GSEP_API.md section 4) are downloaded as they
  are, unless a sample rate, a bit depth (WAV), a bit rate (MP3) or a mix asks for audio
  the API does not give: then they are made on the client from the WAV stem, like
  ``flac``, ``ogg`` (Vorbis), ``opus`` and ``aiff``.
* The lyrics model's ``lyrics.csv`` can also be written as ``lrc`` and ``srt``
  (:mod:`gsep_cli.lyricsfmt`).

``m4a`` (AAC) is not offered: libsndfile, the codec library of the ``audio`` extra, has
no AAC encoder, and bringing FFmpeg in for one format would grow the extra from 1.6 MB to
36 MB (README, "Formats, tags and mixes").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError

API_FORMATS = ("wav", "mp3")
"""What the API returns for every audio output (GSEP_API.md section 4)."""

LOSSLESS = ("wav", "flac", "aiff")
LOSSY = ("mp3", "ogg", "opus")
AUDIO_FORMATS = (*LOSSLESS, *LOSSY)
LYRICS_FORMATS = ("csv", "lrc", "srt")
"""The lyrics model's document (``csv``, as the API gives it) and what gsep makes of it."""

BIT_DEPTHS = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
"""``--bit-depth`` → libsndfile subtype."""

DEPTHS_OF = {"wav": ("16", "24", "32f"), "aiff": ("16", "24", "32f"), "flac": ("16", "24")}
"""Which bit depths each lossless format can hold (FLAC has no floating point)."""

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
"""The only rates an Opus stream codes at (RFC 6716 section 2); others are resampled to
48 kHz, as every Opus encoder does."""

MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
"""MPEG-1, 2 and 2.5 Layer III sample rates (ISO/IEC 11172-3, 13818-3)."""

MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
"""MPEG-1 Layer III bit rates in kbps (ISO/IEC 11172-3, 2.4.2.3): what ``--bitrate``
takes for MP3 at 32 kHz and above."""

MP3_LOW_BITRATES = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
"""MPEG-2 and 2.5 Layer III bit rates in kbps (ISO/IEC 13818-3), below 32 kHz; libsndfile
stops at 64 below 16 kHz."""


def mp3_bitrates(rate: int) -> tuple[int, ...]:
    """The bit rates (kbps) an MP3 at ``rate`` Hz can have."""
    if rate >= 32000:
        return MP3_BITRATES
    return MP3_LOW_BITRATES if rate >= 16000 else MP3_LOW_BITRATES[:8]


BITRATE_RANGE = {"mp3": (8, 320), "ogg": (64, 500), "opus": (6, 512)}
"""kbps that ``--bitrate`` takes per lossy format (Vorbis: the nominal rates of
libvorbis' quality 0-10 for stereo; Opus: RFC 6716's 6-510 kbps)."""

API_MP3 = (48000, 320)
"""The API's own MP3: 48 kHz, 320 kbps (GSEP_API.md section 4)."""

SAMPLE_RATE_RANGE = (8000, 384000)


@dataclass(frozen=True)
class Rendering:
    """How client-made audio is written: ``bit_depth`` (``16``, ``24`` or ``32f``; None:
    the stem's own), ``sample_rate`` in Hz (None: the stem's own), ``bitrate`` in kbps
    for lossy formats (None: MP3 320 CBR like the API's, Vorbis quality 4 (about 128
    kbps), Opus the encoder's own choice), ``tags``: copy the input's tags."""

    bit_depth: str | None = None
    sample_rate: int | None = None
    bitrate: int | None = None
    tags: bool = True

    def changes(self, fmt: str) -> bool:
        """Whether an API format (``wav``/``mp3``) must be made on the client instead of
        downloaded as it is (any other format always is)."""
        return fmt not in API_FORMATS or bool(self.changed_by(fmt))

    def changed_by(self, fmt: str) -> list[str]:
        """The options given that make the API's ``fmt`` (``wav``/``mp3``) be made on the
        client: ``--sample-rate``, and ``--bit-depth`` for WAV or ``--bitrate`` for MP3."""
        named = [
            ("--bit-depth", self.bit_depth is not None and fmt == "wav"),
            ("--sample-rate", self.sample_rate is not None),
            ("--bitrate", self.bitrate is not None and fmt == "mp3"),
        ]
        return [name for name, given in named if given]


@dataclass(frozen=True)
class Mix:
    """``--mix NAME=STEM+STEM``: the named sum of several stems, written like a stem."""

    name: str
    stems: tuple[str, ...]


def parse_mix(value: str) -> Mix:
    """``backing=drum+bass+others`` → Mix. UsageError when it is not NAME=STEM+STEM[...]
    with a name fit for a file name and no stem twice (the stems are checked against the
    model by :func:`check_mixes`)."""
    hint = "Write it NAME=STEM+STEM, e.g. --mix backing=drum+bass+others"
    name, sep, rest = value.partition("=")
    name = name.strip()
    stems = tuple(s.strip() for s in rest.split("+"))
    if not sep or not name or any(not s for s in stems):
        raise UsageError(f"malformed --mix {value!r}", hint)
    plain = all(ch.isalnum() or ch in "-_" for ch in name) and not name.startswith("-")
    if not plain or len(name) > 64:
        raise UsageError(
            f"mix name {name!r} is not a plain name",
            "Use letters, digits, '-' and '_' (at most 64, not starting with '-'), "
            "e.g. --mix backing=drum+bass",
        )
    if len(stems) < 2:
        raise UsageError(f"--mix {value!r} names one stem; a mix sums two or more", hint)
    if len(set(stems)) != len(stems):
        raise UsageError(f"--mix {value!r} names a stem twice", hint)
    return Mix(name, stems)


def check_mixes(mixes: Sequence[Mix], outputs: Sequence[str], stems: Sequence[str]) -> None:
    """Every mix sums outputs the model has, and no two written names collide: a mix's
    name is none of the model's outputs (``others`` included, kept or not: a later run
    would take the one for the other) nor another mix's, compared without case (the file
    systems of macOS and Windows do not tell ``Vocal`` from ``vocal``). UsageError
    otherwise. ``stems``: the stems kept (checked by the model's outputs already)."""
    taken = {name.casefold() for name in (*outputs, *stems)}
    for mix in mixes:
        for stem in mix.stems:
            if stem not in outputs:
                raise UsageError(
                    f"--mix {mix.name}: unknown stem {stem!r} for this model",
                    f"Choose from: {', '.join(outputs)}",
                )
        if mix.name.casefold() in taken:
            raise UsageError(
                f"--mix name {mix.name!r} is a stem's or another mix's name",
                "Give each mix a name of its own, e.g. --mix backing=drum+bass",
            )
        taken.add(mix.name.casefold())


def resolve_formats(value: str) -> list[str]:
    """``--format`` → the formats in the order given, without duplicates: the audio
    formats, ``both`` (or ``all``: the API's two), and the lyrics model's ``csv``,
    ``lrc`` and ``srt`` (whether they fit the model is
    :meth:`~gsep_cli.audio.plan.Delivery.check`'s). UsageError for anything else."""
    from ..suggest import with_suggestion

    hint = "Use wav, mp3, flac, ogg, opus, aiff or both (several: --format flac,mp3)"
    value = value.strip().lower()
    named = [v.strip() for v in value.split(",") if v.strip()]
    expanded = [f for v in named for f in (API_FORMATS if v in ("both", "all") else (v,))]
    formats = list(dict.fromkeys(expanded))
    if not formats:
        raise UsageError("no format given", hint)
    known = (*AUDIO_FORMATS, *LYRICS_FORMATS)
    for fmt in formats:
        if fmt in ("m4a", "aac"):
            raise UsageError(
                "m4a (AAC) is not offered: the audio extra's codecs have no AAC encoder",
                "Use opus or mp3 for a small lossy file, or flac for a lossless one",
            )
        if fmt not in known:
            raise UsageError(
                f"unknown format {fmt!r}", with_suggestion(fmt, [*known, "both"], hint)
            )
    return formats


def check_rendering(formats: Sequence[str], rendering: Rendering) -> None:
    """Refuse (UsageError) what no chosen format can take: a bit depth for lossy formats
    only, ``32f`` for FLAC alone, a bit rate without a lossy format or outside its range,
    a sample rate MP3 or Opus cannot code at."""
    depth, rate, kbps = rendering.bit_depth, rendering.sample_rate, rendering.bitrate
    if depth is not None:
        if depth not in BIT_DEPTHS:
            raise UsageError(f"unknown bit depth {depth!r}", "Use 16, 24 or 32f")
        takers = [f for f in formats if f in DEPTHS_OF]
        if not takers:
            raise UsageError(
                "--bit-depth applies to wav, flac and aiff, and none was chosen",
                "Add one, e.g. --format flac --bit-depth 24",
            )
        if not any(depth in DEPTHS_OF[f] for f in takers):
            raise UsageError(
                f"--bit-depth {depth} does not fit {', '.join(takers)}",
                "FLAC holds 16 or 24 bits; 32-bit float needs wav or aiff",
            )
    if rate is not None:
        low, high = SAMPLE_RATE_RANGE
        if not low <= rate <= high:
            raise UsageError(
                f"--sample-rate {rate} is outside {low}-{high} Hz", "e.g. --sample-rate 44100"
            )
        if "mp3" in formats and rate not in MP3_RATES:
            raise UsageError(
                f"MP3 cannot code at {rate} Hz",
                "MP3 rates: " + ", ".join(str(r) for r in MP3_RATES),
            )
        if "opus" in formats and rate not in OPUS_RATES:
            raise UsageError(
                f"Opus cannot code at {rate} Hz",
                "Opus rates: 8000, 12000, 16000, 24000, 48000 (without --sample-rate: 48000)",
            )
    if kbps is not None:
        lossy = [f for f in formats if f in LOSSY]
        if not lossy:
            raise UsageError(
                "--bitrate applies to mp3, ogg and opus, and none was chosen",
                "Add one, e.g. --format opus --bitrate 128",
            )
        for fmt in lossy:
            low, high = BITRATE_RANGE[fmt]
            if not low <= kbps <= high:
                raise UsageError(f"--bitrate {kbps} is outside {fmt}'s {low}-{high} kbps")
        allowed = mp3_bitrates(rate or 48000)  # a stem's own rate: checked when written
        if "mp3" in formats and kbps not in allowed:
            at = f" at {rate} Hz" if rate is not None and rate < 32000 else ""
            raise UsageError(
                f"MP3 has no {kbps} kbps rate{at}",
                f"MP3 bit rates{at}: " + ", ".join(str(b) for b in allowed),
            )


def compression_level(fmt: str, kbps: int | None, channels: int, rate: int) -> float | None:
    """The libsndfile compression level (0 best .. 1 smallest) that gives ``kbps`` in
    ``fmt``, or None to leave the encoder's default. Inverts libsndfile 1.2's mappings:
    MP3 CBR ``bitrate = int(320 - level * 288)`` (MPEG-1 rates), Opus ``bitrate =
    int((1 - level) * 250000 + 6000) * channels`` bps, Vorbis ``quality = 1 - level``
    (libvorbis quality 0-1, read off its nominal stereo rates)."""
    if fmt == "mp3":
        top, bottom = (320, 32) if rate >= 32000 else (160, 8) if rate >= 16000 else (64, 8)
        target = top if kbps is None else min(max(kbps, bottom), top)
        return min(max((top - target - 0.5) / (top - bottom), 0.0), 1.0)
    if kbps is None:
        return None
    if fmt == "opus":
        per_channel = kbps * 1000 / max(channels, 1)
        return min(max(1 - (per_channel + 0.5 - 6000) / 250000, 0.0), 1.0)
    if fmt == "ogg":
        return 1.0 - _vorbis_quality(kbps)
    return None


# libvorbis' nominal stereo 44.1 kHz rates at quality 0, 0.1, ... 1.0 (its documentation)
_VORBIS_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)


def _vorbis_quality(kbps: int) -> float:
    """The libvorbis quality (0-1) whose nominal rate is ``kbps``, interpolated."""
    table = _VORBIS_KBPS
    if kbps <= table[0]:
        return 0.0
    for i in range(1, len(table)):
        if kbps <= table[i]:
            step = (kbps - table[i - 1]) / (table[i] - table[i - 1])
            return (i - 1 + step) / 10
    return 1.0


def opus_rate(rate: int) -> int:
    """The rate an Opus file of a ``rate`` Hz stem is written at: the stem's own when
    Opus codes at it, else 48 kHz."""
    return rate if rate in OPUS_RATES else 48000
