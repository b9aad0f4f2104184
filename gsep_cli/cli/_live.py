"""The live display on a terminal (stderr): one row per transfer or job, each naming its
input and fitted to the terminal's width at every refresh; erased, never left frozen,
when it stops.

A transfer reads ``⠋ song.wav · vocal.wav  ━━━━━━────  1.2/3.4 MiB  2.1 MiB/s  eta 0:02``
(one time column: the time left while it runs, the time it took once done; the speed once
there is one), a job ``⠋ song.wav · job 28bdbc94…  running  0:12``. When the width runs
short, whole columns go in the order of :data:`DROP_ORDER` and then the name is shortened
in the middle (measured in terminal cells: wide characters count twice); no row is ever
wider than the terminal, so none wraps. Finished rows stay :data:`LINGER` seconds with a
tick (or a cross), then go.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text

#: Seconds a finished row stays on screen (ticked or crossed) before it goes.
LINGER = 1.0
#: The optional columns, in the order they go when the width runs short.
DROP_ORDER = ("speed", "time", "bar", "size", "status")
#: Cells a name keeps before the optional columns go (shorter names keep what they need).
NAME_MIN = 16
BAR_MIN, BAR_MAX = 10, 40
#: Fixed widths of the columns (cells), so that nothing jumps as the numbers change.
WIDTHS = {"size": 13, "speed": 11, "time": 9, "status": 9}
#: Seconds of recent progress the running speed is measured over.
SPEED_WINDOW = 5.0


@dataclass(frozen=True)
class Glyphs:
    """The characters rows are drawn with: Unicode, or ASCII for other encodings."""

    spinner: str
    done: str
    failed: str
    bar_done: str
    bar_left: str
    ellipsis: str
    sep: str


UNICODE = Glyphs("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏", "✓", "✗", "━", "─", "…", " · ")
ASCII = Glyphs("|/-\\", "+", "x", "#", "-", "...", " - ")


def glyphs_for(encoding: str | None) -> Glyphs:
    """Unicode glyphs for a UTF encoding, ASCII ones otherwise."""
    return UNICODE if (encoding or "").lower().replace("-", "").startswith("utf") else ASCII


def shorten(text: str, width: int, ellipsis: str = "…") -> str:
    """``text`` if it fits in ``width`` terminal cells, else its start and its end around
    ``ellipsis`` (the start gets the odd cell); never wider than ``width`` cells."""
    if cell_len(text) <= width:
        return text
    room = width - cell_len(ellipsis)
    if room < 1:
        return ellipsis[: max(0, width)] if cell_len(ellipsis) == len(ellipsis) else ""
    # the start gets half the room, but at least its first character (two cells if wide)
    head = _take(text, max((room + 1) // 2, get_character_cell_size(text[0])))
    if cell_len(head) > room:
        head = ""
    tail = _take(text[::-1], room - cell_len(head))[::-1]
    return head + ellipsis + tail


def _take(text: str, cells: int) -> str:
    """The longest start of ``text`` that fits in ``cells`` cells."""
    used = 0
    for index, char in enumerate(text):
        used += get_character_cell_size(char)
        if used > cells:
            return text[:index]
    return text


def clock_text(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _unit(size: float) -> tuple[float, str]:
    for scale, name in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if size >= scale:
            return scale, name
    return 1, "B"


def size_text(done: int, total: int | None) -> str:
    """``1.2/3.4 MiB`` (one unit, the total's), or ``1.2 MiB`` when the total is unknown."""
    scale, name = _unit(max(done, total or 0))
    if scale == 1:
        return f"{done}/{total} B" if total is not None else f"{done} B"
    if total is None:
        return f"{done / scale:.1f} {name}"
    return f"{done / scale:.1f}/{total / scale:.1f} {name}"


def speed_text(rate: float) -> str:
    """``2.1 MiB/s``."""
    scale, name = _unit(rate)
    return f"{rate:.0f} B/s" if scale == 1 else f"{rate / scale:.1f} {name}/s"


@dataclass
class Row:
    """One transfer (bytes, maybe a total) or one job (a status), from ``started`` on
    (seconds of the display's clock)."""

    label: str
    subject: str
    started: float
    total: int | None = None
    completed: int = 0
    job: bool = False
    status: str = ""
    ended: float | None = None
    failed: bool = False
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def name(self, glyphs: Glyphs) -> str:
        """``subject · label``, or the label alone."""
        return f"{self.subject}{glyphs.sep}{self.label}" if self.subject else self.label

    def advance(self, delta: int, now: float) -> None:
        """``delta`` more bytes (negative: taken back for a retry) at ``now``."""
        self.completed = max(0, self.completed + delta)
        self.samples.append((now, self.completed))
        while len(self.samples) > 2 and self.samples[1][0] < now - SPEED_WINDOW:
            self.samples.popleft()  # the oldest one left is the window's anchor

    def speed(self, now: float) -> float | None:
        """Bytes per second: over the whole transfer once it ended, else over the last
        :data:`SPEED_WINDOW` seconds; None before the first byte (not yet known)."""
        if self.completed <= 0:
            return None
        if self.ended is not None:
            span = self.ended - self.started
            return self.completed / span if span > 0 else None
        since, base = self.started, 0
        if self.samples and self.samples[0][0] < now - SPEED_WINDOW:
            since, base = self.samples[0]
        span = now - since
        return max(0, self.completed - base) / span if span > 0.05 else None

    def columns(self, now: float) -> dict[str, str]:
        """The texts of the optional columns (a slot is there even while it is blank)."""
        end = self.ended if self.ended is not None else now
        if self.job:
            return {"status": self.status, "time": clock_text(end - self.started)}
        rate = self.speed(now)
        if self.ended is not None:
            when = clock_text(end - self.started)
        elif rate and self.total is not None:
            when = "eta " + clock_text((self.total - self.completed) / rate)
        else:
            when = ""
        return {
            "bar": "",
            "size": size_text(self.completed, self.total),
            "speed": speed_text(rate) if rate is not None else "",
            "time": when,
        }


def fit_row(row: Row, now: float, width: int, name_width: int, glyphs: Glyphs) -> Text:
    """``row`` as one line of at most ``width`` cells, its name in a column of
    ``name_width`` cells when there is room (the names of the rows above and below line
    up). Columns go in the order of :data:`DROP_ORDER` as the width runs short."""
    if width < 3:
        return Text("")
    columns = row.columns(now)
    name = row.name(glyphs)
    room = width - 2  # the spinner (or tick) and a space

    def need(keys: list[str]) -> int:
        total = 0
        for key in keys:
            total += 1 + (BAR_MIN if key == "bar" else max(WIDTHS[key], cell_len(columns[key])))
        return total

    keys = list(columns)
    for key in DROP_ORDER:
        if min(cell_len(name), NAME_MIN, room) + need(keys) <= room:
            break
        if key in keys:
            keys.remove(key)
    name_cells = max(0, min(name_width, room - need(keys)))
    shown = _short_name(row, name_cells, glyphs)
    text = Text(_icon(row, now, glyphs) + " ", style=_icon_style(row))
    text.append(shown + " " * (name_cells - cell_len(shown)))
    bar_cells = min(BAR_MAX, room - name_cells - need(keys) + BAR_MIN)
    for key in keys:
        text.append(" ")
        if key == "bar":
            _bar(text, row, now, bar_cells, glyphs)
        else:
            value = columns[key]
            pad = " " * (max(WIDTHS[key], cell_len(value)) - cell_len(value))
            text.append(value + pad if key == "status" else pad + value)
    text.rstrip()
    text.no_wrap, text.overflow = True, "crop"
    return text


def _short_name(row: Row, cells: int, glyphs: Glyphs) -> str:
    """The row's name in ``cells`` cells: the input's name shortened first (in the middle,
    keeping its extension), the label kept whole while that leaves the input 8 cells."""
    name = row.name(glyphs)
    if cell_len(name) <= cells or not row.subject:
        return shorten(name, cells, glyphs.ellipsis)
    tail = glyphs.sep + row.label
    if cells - cell_len(tail) >= 8:
        return shorten(row.subject, cells - cell_len(tail), glyphs.ellipsis) + tail
    return shorten(name, cells, glyphs.ellipsis)


def _icon(row: Row, now: float, glyphs: Glyphs) -> str:
    if row.failed:
        return glyphs.failed
    if row.ended is not None:
        return glyphs.done
    return glyphs.spinner[int(now * 10) % len(glyphs.spinner)]


def _icon_style(row: Row) -> str:
    return "red" if row.failed else "green" if row.ended is not None else "cyan"


def _bar(text: Text, row: Row, now: float, cells: int, glyphs: Glyphs) -> None:
    """A bar of ``cells`` cells: the part done, then the rest dimmed (a moving pulse when
    the total is not known yet)."""
    if row.total:
        done = min(cells, round(cells * row.completed / row.total))
        text.append(glyphs.bar_done * done, style="magenta")
        text.append(glyphs.bar_left * (cells - done), style="grey37")
        return
    if row.ended is not None:
        text.append(glyphs.bar_done * cells, style="magenta")
        return
    at = int(now * 8) % max(1, cells)
    pulse = min(3, cells - at)
    text.append(glyphs.bar_left * at, style="grey37")
    text.append(glyphs.bar_done * pulse, style="magenta")
    text.append(glyphs.bar_left * (cells - at - pulse), style="grey37")


class Rows:
    """The rows of the live display by key, safe to change from any thread."""

    def __init__(self, glyphs: Glyphs, clock: Callable[[], float] = time.monotonic) -> None:
        self.glyphs = glyphs
        self.clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, Row] = {}

    def start_transfer(self, key: str, label: str, subject: str, total: int | None) -> None:
        """A transfer begins (again: its total is now known)."""
        with self._lock:
            row = self._rows.get(key)
            if row is None or row.ended is not None:
                self._rows[key] = Row(label, subject, self.clock(), total)
            else:
                row.total = total if total is not None else row.total

    def advance(self, key: str, delta: int) -> None:
        """``delta`` more bytes for ``key``."""
        with self._lock:
            row = self._rows.get(key)
            if row is not None and row.ended is None:
                row.advance(delta, self.clock())

    def end(self, key: str, ok: bool) -> None:
        """The transfer ended: ticked, or crossed when it failed; gone after LINGER s."""
        with self._lock:
            row = self._rows.get(key)
            if row is not None and row.ended is None:
                row.ended, row.failed = self.clock(), not ok

    def job(self, key: str, label: str, subject: str, status: str, elapsed: float) -> None:
        """A job's status after ``elapsed`` seconds; a job that ended goes after LINGER s."""
        with self._lock:
            now = self.clock()
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = Row(label, subject, now - elapsed, job=True)
            row.status = status
            if status in ("success", "failed") and row.ended is None:
                row.ended, row.failed = now, status == "failed"

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def lines(self, width: int, height: int) -> list[Text]:
        """What to draw: every row still shown, in at most ``height`` lines (the last one
        saying how many more there are when they do not all fit)."""
        now = self.clock()
        with self._lock:
            for key in [k for k, r in self._rows.items() if _gone(r, now)]:
                del self._rows[key]
            rows = list(self._rows.values())
        if not rows:
            return []
        limit = max(1, height)
        more = len(rows) - limit + 1 if len(rows) > limit else 0
        shown = rows[: len(rows) - more] if more else rows
        name_width = max(cell_len(r.name(self.glyphs)) for r in shown)
        lines = [fit_row(r, now, width, name_width, self.glyphs) for r in shown]
        if more:
            lines.append(Text(shorten(f"  and {more} more", width, self.glyphs.ellipsis)))
        return lines

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Text]:
        # rows, the empty line below and one spare: the region never scrolls the screen
        lines = self.lines(options.max_width, (options.height or console.height) - 2)
        if lines:
            # and an empty line, where the cursor waits: what the terminal echoes there
            # (^C, keys typed) is erased with the rows instead of wrapping the last one
            yield Text("\n").join([*lines, Text("")])


def _gone(row: Row, now: float) -> bool:
    return row.ended is not None and now - row.ended >= LINGER


class LiveDisplay:
    """The rows drawn live on ``stream`` (a terminal) until :meth:`stop` erases them.

    :meth:`print` puts a message above the rows; :meth:`paused` takes them off the screen
    while something else writes to the same terminal (a result on stdout)."""

    def __init__(self, stream: TextIO, *, colour: bool) -> None:
        from rich.console import Console as RichConsole

        self.console = RichConsole(file=stream, no_color=not colour, highlight=False)
        self.rows = Rows(glyphs_for(self.console.encoding))
        self._live: Any = None
        self._lock = threading.RLock()

    def start(self) -> None:
        """Start drawing (a new live region below what the terminal shows)."""
        from rich.live import Live

        with self._lock:
            if self._live is None:  # a fresh Live: a stopped one still knows the old height
                self._live = Live(
                    self.rows,
                    console=self.console,
                    transient=True,
                    auto_refresh=True,
                    refresh_per_second=8,
                    redirect_stdout=False,  # results never go through the stderr display
                    redirect_stderr=False,
                )
                self._live.start()

    def stop(self) -> None:
        """Erase the rows and stop drawing (the rows are kept for :meth:`start`)."""
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None

    def print(self, text: str) -> None:
        """One message above the rows (long ones wrap as the terminal wraps them)."""
        with self._lock:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """A context in which the rows are off the screen (back after it)."""
        with self._lock:
            was_live = self._live is not None
            self.stop()
            try:
                yield
            finally:
                if was_live:
                    self.start()
