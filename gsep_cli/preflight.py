"""Local checks before any request, and what ``--dry-run`` reports.

:func:`check_duration` is part of every upload's preflight (through
:func:`gsep_cli.client.check_input_file`): an input whose duration can be read and is over
the model's limit is refused before anything is sent. :func:`preflight` adds the content
check (the file's first bytes must match its extension) and returns what a dry run prints.

Durations come from the WAV header (:func:`gsep_cli.media.parse_wav`) or, for MP3, FLAC,
M4A/MP4 (and MOV), from ``mutagen``, imported only when such a file is checked. A file
whose duration cannot be read has an unknown duration: that is never an error here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import media
from .errors import UsageError
from .inputfile import open_input
from .models import ModelSpec

SNIFF_BYTES = 64


@dataclass(frozen=True)
class Preflight:
    """An input that passed every local check: what would be uploaded."""

    input: Path
    bytes: int
    format: str  # the kind media.sniff_format names: wav, flac, mp3, mp4, mov
    duration: float | None  # seconds; None when it cannot be read

    def describe(self) -> str:
        """``song.wav (352844 bytes, wav, 4.00 s)``; ``duration unknown`` when unreadable."""
        length = "duration unknown" if self.duration is None else f"{self.duration:.2f} s"
        return f"{self.input} ({self.bytes} bytes, {self.format}, {length})"


def _head(path: Path) -> bytes:
    try:
        with open_input(path) as fh:  # never blocks: a FIFO or device is refused unopened
            return fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror}", "Check the file's permissions"
        ) from None


def read_duration(path: Path, kind: str) -> float | None:
    """The duration in seconds of a file of this kind, or None when it cannot be read."""
    if kind == "wav":
        try:
            with open_input(path) as fh:
                info = media.parse_wav(fh)
            return info.duration if info.sample_rate > 0 else None
        except (UsageError, OSError, media.MediaError, ValueError, ZeroDivisionError):
            return None
    return _mutagen_duration(path, kind)


_MUTAGEN_READERS = {
    "mp3": ("mutagen.mp3", "MP3"),
    "flac": ("mutagen.flac", "FLAC"),
    "mp4": ("mutagen.mp4", "MP4"),
    "mov": ("mutagen.mp4", "MP4"),
}


def _mutagen_duration(path: Path, kind: str) -> float | None:
    if kind not in _MUTAGEN_READERS:
        return None
    module_name, class_name = _MUTAGEN_READERS[kind]
    try:  # imported here only: --help, --version and completion never load it
        reader: Any = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None
    try:
        with open_input(path) as fh:  # a file object: mutagen would open() a FIFO and block
            audio: Any = reader(fh)
        length = float(audio.info.length)
    except Exception:  # mutagen raises many kinds for files it cannot parse: unknown
        return None
    return length if length > 0 and length == length and length != float("inf") else None


def _sniffed_kind(path: Path) -> tuple[str | None, str | None]:
    """(kind from the extension, kind from the content)."""
    return media.EXTENSION_KINDS.get(path.suffix.lower()), media.sniff_format(_head(path))


def check_duration(path: Path, spec: ModelSpec) -> float | None:
    """Refuse an input longer than the model allows; return its duration (None: unknown).

    Only a file whose content matches its extension is measured (a mismatch is left to
    :func:`preflight` or the API): a misnamed file is never measured with the wrong reader.
    """
    kind, sniffed = _sniffed_kind(path)
    if kind is None or sniffed != kind:
        return None
    duration = read_duration(path, kind)
    if duration is not None and duration > spec.max_seconds:
        raise UsageError(
            f"{path} lasts {duration:.2f} s, over {spec.name}'s limit of "
            f"{spec.max_seconds} s ({spec.max_seconds / 60:g} min)",
            "Split or trim the audio below the limit",
        )
    return duration


def preflight(path: Path, spec: ModelSpec) -> Preflight:
    """Every local check of an input for ``spec``, without any request.

    Exists, regular, readable, non-empty, extension supported by the model, content
    matching the extension (m4a and mp4 are both ``mp4``), size and duration within the
    model's limits. Raises :class:`~gsep_cli.errors.UsageError` naming what is wrong.
    """
    from .client import check_input_file

    size = check_input_file(path, spec, measure=False)  # measured once, below
    kind, sniffed = _sniffed_kind(path)
    assert kind is not None  # check_input_file refused unknown extensions
    if sniffed != kind:
        found = f"{sniffed} data" if sniffed else "no supported audio format"
        raise UsageError(
            f"the content of {path} is {found}, but its extension {path.suffix.lower()} "
            f"means {kind}",
            "Rename the file to match its content, or convert it",
        )
    return Preflight(path, size, kind, check_duration(path, spec))


def dry_run_json(
    checked: Preflight,
    model: str,
    type_: str | None,
    would_write: Sequence[Path],
    lyrics: tuple[Path, int] | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """The stable ``--dry-run --json`` object for one input (see README).

    For the lyrics model it also has ``lyrics`` (``{"path", "bytes"}``) and ``language``.
    """
    document: dict[str, Any] = {
        "input": str(checked.input),
        "bytes": checked.bytes,
        "format": checked.format,
        "duration": checked.duration,
        "model": model,
        "type": type_,
        "wouldWrite": [str(p) for p in would_write],
        "ok": True,
    }
    if lyrics is not None:
        document["lyrics"] = {"path": str(lyrics[0]), "bytes": lyrics[1]}
        document["language"] = language
    return document


def dry_run_line(
    checked: Preflight,
    model: str | None,
    type_: str | None,
    would_write: Sequence[Path],
    lyrics: tuple[Path, int] | None = None,
    language: str | None = None,
) -> str:
    """The human line for one input.

    ``would upload IN (N bytes, KIND, D s)`` — for ``separate`` followed by
    `` then create MODEL job type=A,B`` (``(no type)`` for models without one;
    ``language=L`` for the lyrics model, whose text is uploaded too) and, unless
    ``--no-wait``, ``; would write P1, P2``.
    """
    line = f"would upload {checked.describe()}"
    if lyrics is not None:
        line += f" and {lyrics[0]} ({lyrics[1]} bytes, lyrics text)"
    if model is not None:
        line += f" then create {model} job "
        if lyrics is not None:
            line += f"language={language}"
        else:
            line += f"type={type_}" if type_ else "(no type)"
    if would_write:
        line += "; would write " + ", ".join(str(p) for p in would_write)
    return line
