"""The lyrics model's ``lyrics.csv`` as synchronised lyrics (``.lrc``) and subtitles (``.srt``).

Standard library only. :func:`read_lyrics_csv` reads the CSV into :class:`LyricLine`
values; :func:`to_lrc` and :func:`to_srt` write them out. Every time is in seconds.

The formats, as their own descriptions give them (neither has a formal standard):

* **LRC**, "simple" format: `LRC (file format)
  <https://en.wikipedia.org/wiki/LRC_(file_format)>`_ (Wikipedia) and its copy in the
  Cross-Unix Documentation, `lrc(5x)
  <https://hacktivis.me/git/cross-unix-documentation/file/man5x/lrc.5x.html>`_. One line
  per lyric, ``[mm:ss.xx]text``: ``mm`` minutes, ``ss`` seconds, ``xx`` hundredths of a
  second. Optional ID tags ``[type:value]`` come first (``ar`` artist, ``al`` album,
  ``ti`` title, ``au`` author, ``length`` as ``m:ss``, ``by`` the file's creator).
* **SubRip**: the "SRT Subtitles" section of the Matroska subtitle notes,
  `matroska.org/technical/subtitles.html
  <https://www.matroska.org/technical/subtitles.html>`_ (the description Wikipedia's
  `SubRip <https://en.wikipedia.org/wiki/SubRip>`_ article cites): a sequence number, the
  times ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, the text on one or more lines, a blank line.

Choices where those descriptions are silent:

* **Rounding.** Times are rounded to the format's resolution (LRC 1/100 s, SRT 1 ms),
  halves up, from the time's shortest decimal form (``1.005`` s → ``[00:01.01]``). The
  rounding is monotone, so lines sorted by start stay in order: no line is made earlier
  than the one before it.
* **Order.** Lines are written sorted by start time; lines with equal starts keep their
  order in the input.
* **LRC minutes** are not capped at 59 (the format has no hours field): 1 h 15 min 30 s is
  ``[75:30.00]``. End times are not written (the simple format has none).
* **LRC text** is one line: a text's line breaks (and blank lines) become single spaces.
* **SRT end times**: a line's own end when it has one after its start, else the next
  cue's start, else the start plus ``default_duration`` (5 s). An end is then cut to the
  next cue's start, so cues never overlap and never have zero length.
* **SRT equal starts**: lines whose starts round to the same millisecond are one cue, their
  texts on separate lines in input order; the cue ends at the latest own end among them.
* **SRT blank texts**: a line with no text writes no cue, but its start still ends the cue
  before it (an instrumental break clears the screen). Blank lines inside a text are
  dropped (a blank line ends a cue in SubRip).
* **Line endings**: both formats are written with LF (``\\n``); players and editors accept
  LF and CRLF alike. Write the result with ``newline=""`` (or as UTF-8 bytes) to keep it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from gsep_cli.errors import UsageError

#: Header names (compared case-insensitively, spaces and dashes as ``_``) of each column.
START_COLUMNS = ("timestamp", "start", "start_time", "time")
END_COLUMNS = ("end", "end_time")
TEXT_COLUMNS = ("lyric_text", "text", "lyric", "lyrics")

#: How long the last SRT cue shows when its line has no end of its own (seconds).
DEFAULT_SRT_DURATION = 5.0

_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+", re.ASCII)
_CLOCK = re.compile(r"(?:([0-9]+):)?([0-9]+):([0-9]+(?:[.,][0-9]*)?)", re.ASCII)
_CSV_HINT = (
    "--format csv keeps lyrics.csv as sent; .lrc and .srt need UTF-8 with a header naming a "
    f"start column ({'/'.join(START_COLUMNS)}) and a text column ({'/'.join(TEXT_COLUMNS)})"
)


@dataclass(frozen=True)
class LyricLine:
    """One timed lyric line.

    ``start`` and ``end`` are seconds from the start of the audio (finite, ≥ 0); ``end``
    is ``None`` when the source gives only start times (an end not after the start is
    taken as none by :func:`to_srt`). ``text`` may hold line breaks. Raises
    :class:`ValueError` for a negative or non-finite time.
    """

    start: float
    end: float | None
    text: str

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0: {value!r}")


def read_lyrics_csv(text: str | bytes) -> list[LyricLine]:
    """Read a ``lyrics.csv``: its bytes (UTF-8) or its text, a leading BOM allowed.

    Accepted: a header row naming the start column (``timestamp``, ``start``,
    ``start_time`` or ``time``), an optional end column (``end``, ``end_time``) and the
    text column (``lyric_text``, ``text``, ``lyric`` or ``lyrics``), in any order and
    case, other columns ignored; then one row per line, rows with no values skipped.
    Times are seconds (``12.5``) or a clock ``[hh:]mm:ss[.fff]`` (a decimal comma is
    taken too). An empty end means none. Returns the lines in file order.

    Raises :class:`~gsep_cli.errors.UsageError` (one line naming the CSV line) when the
    bytes are not UTF-8, the text is not CSV, a column is missing, a time cannot be read,
    or an end is before its start.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"the lyrics CSV is not UTF-8 (byte {exc.start} is {text[exc.start]:#04x})",
                _CSV_HINT,
            ) from None
    rows = _csv_rows(text.removeprefix("\ufeff"))
    header = next((row for row in rows if any(cell.strip() for cell in row[1])), None)
    if header is None:
        raise UsageError("the lyrics CSV is empty", _CSV_HINT)
    names = [re.sub(r"[\s-]+", "_", cell.strip().lower()) for cell in header[1]]
    start_at = _column(names, START_COLUMNS)
    text_at = _column(names, TEXT_COLUMNS)
    if start_at is None or text_at is None:
        found = _one_line(", ".join(header[1])) or "nothing"
        found = found if len(found) <= 60 else found[:59] + "…"
        what = "start time" if start_at is None else "text"
        raise UsageError(f"the lyrics CSV has no {what} column (its header: {found})", _CSV_HINT)
    end_at = _column(names, END_COLUMNS)
    wanted = max(i for i in (start_at, text_at, end_at) if i is not None)
    lines = []
    for number, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= wanted:
            raise UsageError(
                f"line {number} of the lyrics CSV has {len(row)} fields, not {wanted + 1}",
                _CSV_HINT,
            )
        start = _seconds(row[start_at], number)
        if start is None:
            raise UsageError(f"line {number} of the lyrics CSV has no start time", _CSV_HINT)
        end = _seconds(row[end_at], number) if end_at is not None else None
        if end is not None and end < start:
            raise UsageError(
                f"line {number} of the lyrics CSV ends ({end:g} s) before it starts ({start:g} s)",
                _CSV_HINT,
            )
        lines.append(LyricLine(start, end, _printable(row[text_at]).strip()))
    return lines


_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """The server's text without control characters (NUL, ESC, C1...; line breaks and
    tabs stay): an LRC or SRT file is shown by players, often on a terminal too."""
    return _CONTROLS.sub("", text)


def to_lrc(
    lines: Iterable[LyricLine],
    *,
    artist: str | None = None,
    album: str | None = None,
    title: str | None = None,
    author: str | None = None,
    length: float | None = None,
    by: str | None = None,
) -> str:
    """The lines as simple LRC: ``[mm:ss.xx]text`` per line, sorted by start, LF-ended.

    The ID tags given and not blank (``ar``, ``al``, ``ti``, ``au``, ``length`` in seconds
    written ``m:ss``, ``by``) come first, in that order, then a blank line. Times are rounded to
    the nearest 1/100 s (halves up); minutes go past 59 (``[75:30.00]``). Line breaks in
    a text or a tag become spaces. Raises :class:`ValueError` for a negative ``length``.
    """
    if length is not None and not (math.isfinite(length) and length >= 0):
        raise ValueError(f"length must be a finite number of seconds >= 0: {length!r}")
    clock = None if length is None else "{}:{:02d}".format(*divmod(_ticks(length, 1), 60))
    tags = [("ar", artist), ("al", album), ("ti", title), ("au", author), ("length", clock)]
    values = [(name, _one_line(value or "")) for name, value in [*tags, ("by", by)]]
    head = [f"[{name}:{value}]" for name, value in values if value]
    body = [f"[{_lrc_time(line.start)}]{_lrc_text(line.text)}" for line in _by_start(lines)]
    return "".join(f"{row}\n" for row in [*head, *([""] if head else []), *body])


def to_srt(lines: Iterable[LyricLine], *, default_duration: float = DEFAULT_SRT_DURATION) -> str:
    """The lines as SubRip cues numbered from 1, LF line endings, cues apart by a blank line.

    Times are rounded to the millisecond (halves up). A cue ends at its line's own end,
    else at the next cue's start, else ``default_duration`` seconds after it starts, and
    never after the next cue's start: cues are in order, never overlap, never last zero
    time. Lines starting in the same millisecond share one cue; lines with no text make
    no cue but end the one before. Raises :class:`ValueError` unless ``default_duration``
    is a positive number of seconds.
    """
    if not (math.isfinite(default_duration) and default_duration > 0):
        raise ValueError(f"default_duration must be > 0 seconds: {default_duration!r}")
    groups: list[tuple[int, int | None, list[str]]] = []  # start ms, own end ms, text lines
    for line in _by_start(lines):
        start = _ticks(line.start, 1000)
        end = _ticks(line.end, 1000) if line.end is not None else None
        own_end = end if end is not None and end > start else None
        # "-->" in a text line would read as a timing line: the arrow, written as one glyph
        texts = [p.strip().replace("-->", "→") for p in line.text.splitlines() if p.strip()]
        if groups and groups[-1][0] == start:
            _, before, joined = groups[-1]
            latest = max((e for e in (before, own_end) if e is not None), default=None)
            groups[-1] = (start, latest, joined + texts)
        else:
            groups.append((start, own_end, texts))
    default_ms = _ticks(default_duration, 1000)
    cues: list[str] = []
    for i, (start, own_end, texts) in enumerate(groups):
        if not texts:
            continue
        following = groups[i + 1][0] if i + 1 < len(groups) else None
        if own_end is not None:
            end = own_end if following is None else min(own_end, following)
        else:
            end = following if following is not None else start + max(default_ms, 1)
        timing = f"{_srt_time(start)} --> {_srt_time(end)}"
        cues.append(f"{len(cues) + 1}\n{timing}\n" + "".join(f"{t}\n" for t in texts))
    return "\n".join(cues)


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, fields)`` of each CSV row; a malformed CSV is a UsageError."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UsageError(
                f"line {first} of the lyrics CSV cannot be read: {exc}", _CSV_HINT
            ) from None
        yield first, row


def _column(names: Sequence[str], accepted: Sequence[str]) -> int | None:
    """Index of the first accepted name (in ``accepted``'s order of preference) present."""
    for name in accepted:
        if name in names:
            return names.index(name)
    return None


def _seconds(cell: str, number: int) -> float | None:
    """A time cell in seconds (``None`` when empty): ``12.5`` or ``[hh:]mm:ss[.fff]``."""
    value = cell.strip()
    if not value:
        return None
    if _SECONDS.fullmatch(value):
        return float(value)
    clock = _CLOCK.fullmatch(value)
    if clock is not None:
        hours, minutes = int(clock[1] or 0), int(clock[2])
        seconds = float(clock[3].replace(",", "."))
        if seconds < 60 and (clock[1] is None or minutes < 60):
            return hours * 3600 + minutes * 60 + seconds
    shown = value if len(value) <= 30 else value[:29] + "…"
    raise UsageError(
        f"line {number} of the lyrics CSV has an unreadable time {shown!r}",
        "Times must be seconds (12.5) or [hh:]mm:ss[.fff] (01:02.500); --format csv keeps "
        "lyrics.csv as sent",
    )


def _by_start(lines: Iterable[LyricLine]) -> list[LyricLine]:
    """The lines sorted by start; equal starts keep their order (a stable sort)."""
    return sorted(lines, key=lambda line: line.start)


def _ticks(seconds: float, per_second: int) -> int:
    """``seconds`` in whole ticks of ``1/per_second`` s, halves up, from its shortest
    decimal form (so ``1.005`` s is 101 hundredths, as written, not 100)."""
    exact = Decimal(repr(float(seconds))) * per_second
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _lrc_time(seconds: float) -> str:
    """``mm:ss.xx`` (minutes not capped at 59)."""
    minutes, rest = divmod(_ticks(seconds, 100), 6000)
    whole, hundredths = divmod(rest, 100)
    return f"{minutes:02d}:{whole:02d}.{hundredths:02d}"


def _srt_time(milliseconds: int) -> str:
    """``HH:MM:SS,mmm`` (hours not capped at 99)."""
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def _lrc_text(text: str) -> str:
    """A lyric on one LRC line; a text that itself starts like a time tag (``[00:05.00]``)
    gets its bracket as a parenthesis, or players would read a second time."""
    line = _one_line(text)
    return "(" + line[1:] if _TIME_TAG.match(line) else line


_TIME_TAG = re.compile(r"\[\d")


def _one_line(text: str) -> str:
    """``text``'s lines, stripped and non-blank, joined by single spaces."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def convert_lyrics(csv_path: Path, dest: Path, fmt: str) -> None:
    """Write the lyrics CSV at ``csv_path`` as ``fmt`` (``lrc`` or ``srt``) to ``dest``,
    UTF-8 with LF line ends. Raises what :func:`read_lyrics_csv` raises, ValueError for
    another ``fmt``, and OSError when a file cannot be read or written."""
    lines = read_lyrics_csv(csv_path.read_bytes())
    if fmt == "lrc":
        text = to_lrc(lines)
    elif fmt == "srt":
        text = to_srt(lines)
    else:
        raise ValueError(f"no lyrics format {fmt!r}")
    dest.write_bytes(text.encode("utf-8"))
