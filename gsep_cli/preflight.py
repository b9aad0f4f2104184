"""Every local check of an input before any request: :func:`preflight`.

Whatever can be known without the API is checked here, for ``--dry-run`` and for the real
``upload`` and ``separate`` alike, so a file the API would refuse is never uploaded:

* the path is a regular file (a FIFO, socket, device or directory is refused without being
  opened: :mod:`gsep_cli.inputfile`), readable, non-empty, with an extension the model
  accepts, within the model's size limit (GSEP_API.md section 4);
* its content matches its extension (:func:`gsep_cli.media.sniff_stream`, which skips
  leading ID3v2 tags);
* where a header states them: the sample rate is 16-192 kHz and there are 1 or 2
  channels (GSEP_API.md section 3, codes 1014 and 1015);
* the duration is within the model's limit (section 4; code 1109) -- refused only when the
  header states it exactly; an estimate over the limit is a warning, since only the API
  can decode the whole file.

Headers are read by :func:`gsep_cli.media.read_facts` (the sandbox reads them the same
way): WAV from its RIFF/WAVE ``fmt `` and ``data`` chunks, FLAC from STREAMINFO, MP3 from
its first frame header; M4A/MP4 (and MOV) from mutagen. An MP3's frames and a FLAC's
frames when STREAMINFO says 0 samples are counted (exact) in files of at most
:data:`COUNT_BYTES`; past that an MP3 without a Xing/Info/VBRI frame count gets
mutagen's estimate from the first frames' bit rate (the sandbox, which holds the whole
upload, always counts). A value that cannot be read is unknown, and unknown is never an
error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import media
from .errors import UsageError
from .inputfile import input_stat, open_input
from .media import UNKNOWN, AudioFacts, read_facts
from .models import ModelSpec

SAMPLE_RATES = (16_000, 192_000)
"""Lowest and highest sample rate the API accepts, in Hz, both included (code 1014)."""
CHANNELS = (1, 2)
"""Channel counts the API accepts: mono and stereo (code 1015)."""
ESTIMATE_BASIS = "estimated from its first frames"
"""How an estimated duration was made (only MP3 without a frame count is estimated)."""
COUNT_BYTES = 256 * 1024 * 1024
"""Largest input whose frames preflight counts when no header states its length (an MP3
without a Xing/Info/VBRI frame count, a FLAC whose STREAMINFO says 0 samples): about a
second of reading at most. A larger MP3 gets mutagen's estimate (labelled as one; at
320 kbit/s 256 MiB is nearly two hours, over most models' limits anyway) and a larger
FLAC an unknown length, so a huge file is never read whole before its upload."""


@dataclass(frozen=True)
class Preflight:
    """An input that passed every local check: what would be uploaded.

    ``warnings`` are for the user (printed by the caller, never fatal): an estimated
    duration over the model's limit, or for ``gsep upload`` an exact one.
    """

    input: Path
    bytes: int
    format: str  # the kind media.sniff_stream names: wav, flac, mp3, mp4, mov
    duration: float | None  # seconds; None when it cannot be read
    duration_exact: bool = False  # False for an estimate (and when unknown)
    sample_rate: int | None = None  # Hz; None when unknown
    channels: int | None = None
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        """``song.wav (352844 bytes, wav, 4.00 s)``; ``about 1499 s`` for an estimate,
        ``duration unknown`` when unreadable."""
        if self.duration is None:
            length = "duration unknown"
        elif self.duration_exact:
            length = f"{self.duration:.2f} s"
        else:
            length = f"about {self.duration:.0f} s"
        return f"{self.input} ({self.bytes} bytes, {self.format}, {length})"


# ---- the file itself --------------------------------------------------------------------
def check_file(path: Path, spec: ModelSpec) -> int:
    """Check what the file system tells about an input; return its size in bytes.

    Exists, is a regular file (anything else is refused without being opened), readable,
    has an extension ``spec`` accepts, is non-empty and within ``spec.max_bytes``. Raises
    :class:`~gsep_cli.errors.UsageError` naming what is wrong.
    """
    size = input_stat(path).st_size
    with open_input(path):  # readable (permissions), and still a regular file once open
        pass
    kind = media.EXTENSION_KINDS.get(path.suffix.lower())
    if kind is None or kind not in spec.input_kinds:
        allowed = ", ".join(
            sorted({e for e, k in media.EXTENSION_KINDS.items() if k in spec.input_kinds})
        )
        raise UsageError(
            f"unsupported file type {path.suffix or '(none)'!r}: {path.name}",
            f"{spec.name} accepts: {allowed}",
        )
    if size == 0:
        raise UsageError(f"{path} is empty", "Choose a file that holds audio")
    if size > spec.max_bytes:
        raise UsageError(
            f"{path} is {size} bytes, over {spec.name}'s limit of {spec.max_bytes} bytes",
            "Split the audio, or compress it (FLAC or MP3) below the limit",
        )
    return size


# ---- what the headers say ---------------------------------------------------------------
def _inspect(path: Path) -> tuple[str | None, str | None, AudioFacts]:
    """(kind from the extension, kind from the content, facts): one safe open.

    Facts are read only when the content matches the extension: a misnamed file is never
    measured with the wrong reader.
    """
    kind = media.EXTENSION_KINDS.get(path.suffix.lower())
    try:
        with open_input(path) as fp:
            sniffed = media.sniff_stream(fp)
            facts = (
                read_facts(fp, kind, count_up_to=COUNT_BYTES)
                if kind is not None and sniffed == kind
                else UNKNOWN
            )
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror}", "Check the file's permissions"
        ) from None
    return kind, sniffed, facts


def read_duration(path: Path, kind: str) -> float | None:
    """The duration in seconds of a file of this kind (exact or estimated), or None when
    it cannot be read (a missing or non-regular path included)."""
    try:
        with open_input(path) as fp:
            return read_facts(fp, kind, count_up_to=COUNT_BYTES).duration
    except (UsageError, OSError):
        return None


# ---- the rules --------------------------------------------------------------------------
def check_format_limits(path: Path, facts: AudioFacts) -> None:
    """Refuse a sample rate or channel count the API refuses (GSEP_API.md section 3, codes
    1014 and 1015); unknown values pass."""
    low, high = SAMPLE_RATES
    rate = facts.sample_rate
    if rate is not None and not low <= rate <= high:
        raise UsageError(
            f"{path} has a sample rate of {rate} Hz; the API accepts {low} to {high} Hz",
            "Resample it, e.g. to 44100 or 48000 Hz",
        )
    if facts.channels is not None and facts.channels not in CHANNELS:
        raise UsageError(
            f"{path} has {facts.channels} channels; the API accepts mono or stereo (1 or 2)",
            "Mix it down to stereo",
        )


def duration_verdict(
    path: Path, spec: ModelSpec, facts: AudioFacts, *, for_upload: bool = False
) -> tuple[str, ...]:
    """Judge the duration against ``spec.max_seconds`` (GSEP_API.md section 4, code 1109).

    Within the limit, or unknown: no warning. Over it: an exact duration is refused
    (:class:`~gsep_cli.errors.UsageError`), except ``for_upload`` (creating an upload never
    fails on duration, section 2.1; another model may allow it), which gets a warning; an
    estimate only ever gets a warning. Returns the warnings.
    """
    seconds, limit = facts.duration, spec.max_seconds
    if seconds is None or seconds <= limit:
        return ()
    if not facts.duration_exact:
        return (
            f"{path} seems to last about {seconds:.0f} s ({ESTIMATE_BASIS}), over "
            f"{spec.name}'s limit of {limit} s; the API will decide",
        )
    if for_upload:
        return (
            f"{path} lasts {seconds:.2f} s, over {spec.name}'s limit of {limit} s: "
            "jobs of that model will refuse it",
        )
    raise UsageError(
        f"{path} lasts {seconds:.2f} s, over {spec.name}'s limit of {limit} s ({limit / 60:g} min)",
        "Split or trim the audio below the limit",
    )


def check_duration(path: Path, spec: ModelSpec) -> float | None:
    """Refuse an input whose exact duration is over the model's limit; return its duration
    in seconds (None: unknown). An estimate is never refused.

    Only a file whose content matches its extension is measured (a mismatch is left to
    :func:`preflight` or the API). Prefer :func:`preflight`, which also returns warnings.
    """
    _, _, facts = _inspect(path)
    duration_verdict(path, spec, facts)
    return facts.duration


def _content_mismatch(path: Path, spec: ModelSpec, kind: str, sniffed: str | None) -> UsageError:
    """The error for content that does not match the extension, with the fitting fix."""
    found = f"{sniffed} data" if sniffed else "no supported audio format"
    message = (
        f"the content of {path} is {found}, but its extension {path.suffix.lower()} means {kind}"
    )
    if sniffed is None:
        return UsageError(message, "Convert it to a format the model accepts")
    if sniffed not in spec.input_kinds:
        return UsageError(message, f"{spec.name} does not accept {sniffed}: convert it")
    ext = next(e for e, k in media.EXTENSION_KINDS.items() if k == sniffed)
    return UsageError(message, f"Rename it to {path.with_suffix(ext).name} to match its content")


def preflight(path: Path, spec: ModelSpec, *, for_upload: bool = False) -> Preflight:
    """Every local check of an input for ``spec``, without any request.

    :func:`check_file`; content matching the extension (m4a and mp4 are both ``mp4``;
    leading ID3v2 tags skipped); :func:`check_format_limits`; :func:`duration_verdict`
    (``for_upload``: ``gsep upload``, where no duration is refused). Raises
    :class:`~gsep_cli.errors.UsageError` naming what is wrong; returns what would be
    uploaded, with any warnings for the caller to print.
    """
    size = check_file(path, spec)
    kind, sniffed, facts = _inspect(path)
    assert kind is not None  # check_file refused unknown extensions
    if sniffed != kind:
        raise _content_mismatch(path, spec, kind, sniffed)
    if facts.broken is not None:
        raise UsageError(
            f"{path} {facts.broken}; the API would refuse it",
            "Check the file (does it play?), or convert it again",
        )
    check_format_limits(path, facts)
    warnings = duration_verdict(path, spec, facts, for_upload=for_upload)
    return Preflight(
        input=path,
        bytes=size,
        format=kind,
        duration=facts.duration,
        duration_exact=facts.duration_exact,
        sample_rate=facts.sample_rate,
        channels=facts.channels,
        warnings=warnings,
    )


def check_input_file(path: Path, spec: ModelSpec, *, measure: bool = True) -> int:
    """Check a local input before any request and return its size in bytes.

    It exists, is a regular file (anything else -- a FIFO, a device, a directory -- is
    refused without being opened, so this never blocks), is readable and non-empty, has an
    extension ``spec`` accepts and is within its size limit; with ``measure``, an exact
    duration over its limit is refused too (:func:`gsep_cli.preflight.check_duration`).
    Raises :class:`~gsep_cli.errors.UsageError`. :func:`gsep_cli.preflight.preflight`
    checks all this and the content, sample rate and channels: prefer it before uploading.
    """
    size = check_file(path, spec)
    if measure:
        check_duration(path, spec)
    return size
