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

from rich.text import Text

from ._cells import cells, shorten
from ._columns import WIDTHS, clock_text, size_text, speed_text, time_text
from ._region import Frame, install

__all__ = ["WIDTHS", "LiveDisplay", "Row", "Rows", "clock_text", "fit_row", "shorten"]
__all__ += ["size_text", "speed_text"]

#: Seconds a finished row stays on screen (ticked or crossed) before it goes.
LINGER = 1.0
#: The optional columns, in the order they go when the width runs short.
DROP_ORDER = ("speed", "time", "bar", "size", "status")
#: Cells a name keeps before the optional columns go (shorter names keep what they need).
NAME_MIN = 20
BAR_MIN, BAR_MAX = 10, 40
#: Seconds of recent progress the running speed is measured over.
SPEED_WINDOW = 5.0
#: Redraws a second (the spinners turn, the times tick).
REFRESH_PER_SECOND = 8


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
        """Bytes per second over the last :data:`SPEED_WINDOW` seconds (up to its end once
        it ended), so that a pause long ago (a rate-limit wait, a retry) no longer weighs
        in; None before the first byte (not yet known)."""
        if self.completed <= 0:
            return None
        until = self.ended if self.ended is not None else now
        base = 0  # what was done when the window began
        for at, done in self.samples:
            if at > until - SPEED_WINDOW:
                break
            base = done
        span = min(until - self.started, SPEED_WINDOW)
        return max(0, self.completed - base) / span if span > 0.05 else None

    def columns(self, now: float) -> dict[str, str]:
        """The texts of the optional columns (a slot is there even while it is blank)."""
        end = self.ended if self.ended is not None else now
        if self.job:
            return {"status": self.status, "time": time_text(end - self.started, eta=False)}
        rate = self.speed(now)
        if self.ended is not None:
            when = time_text(end - self.started, eta=False)
        elif rate and self.total is not None:
            when = time_text((self.total - self.completed) / rate, eta=True)
        else:
            when = ""
        return {
            "bar": "",
            "size": size_text(self.completed, self.total),
            "speed": speed_text(rate) if rate is not None else "",
            "time": when,
        }


def fit_row(row: Row, now: float, width: int, name_width: int, glyphs: Glyphs) -> Text:
    """``row`` as one line of at most ``width`` cells (as :func:`cells` counts them, on
    the widest reading), its name in a column of ``name_width`` cells when there is room
    (the names of the rows above and below line up). Columns go in the order of
    :data:`DROP_ORDER` as the width runs short."""
    if width < 3:
        return Text("")
    columns = row.columns(now)
    name = row.name(glyphs)
    room = width - 2  # the spinner (or tick) and a space

    def need(keys: list[str]) -> int:
        total = 0
        for key in keys:
            total += 1 + (BAR_MIN if key == "bar" else max(WIDTHS[key], cells(columns[key])))
        return total

    keys = list(columns)
    for key in DROP_ORDER:
        if min(cells(name), NAME_MIN, room) + need(keys) <= room:
            break
        if key in keys:
            keys.remove(key)
    name_cells = max(0, min(name_width, room - need(keys)))
    shown = _short_name(row, name_cells, glyphs)
    text = Text(_icon(row, now, glyphs) + " ", style=_icon_style(row))
    text.append(shown + " " * (name_cells - cells(shown)))
    bar_cells = min(BAR_MAX, room - name_cells - need(keys) + BAR_MIN)
    for key in keys:
        text.append(" ")
        if key == "bar":
            _bar(text, row, now, bar_cells, glyphs)
        else:
            value = columns[key]
            pad = " " * (max(WIDTHS[key], cells(value)) - cells(value))
            text.append(value + pad if key == "status" else pad + value)
    text.rstrip()
    text.no_wrap, text.overflow = True, "crop"
    return text


def _short_name(row: Row, width: int, glyphs: Glyphs) -> str:
    """The row's name in ``width`` cells: the input's name shortened first (in the middle,
    keeping its extension), the label kept whole while that leaves the input 8 cells."""
    name = row.name(glyphs)
    if cells(name) <= width or not row.subject:
        return shorten(name, width, glyphs.ellipsis)
    tail = glyphs.sep + row.label
    if width - cells(tail) >= 8:
        return shorten(row.subject, width - cells(tail), glyphs.ellipsis) + tail
    return shorten(name, width, glyphs.ellipsis)


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
        #: What was drawn last (for erasing it after the terminal got narrower).
        self.frame = Frame()
        #: The error drawing the rows raised, if it did: nothing is drawn after it.
        self.failure: Exception | None = None

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
        """What to draw: every row still shown, in at most ``height`` lines of at most
        ``width`` cells each (the last line saying how many more there are when they do
        not all fit; a single line saying how many there are when only one fits; nothing
        when no line does)."""
        now = self.clock()
        with self._lock:
            for key in [k for k, r in self._rows.items() if _gone(r, now)]:
                del self._rows[key]
            rows = list(self._rows.values())
        if not rows or height <= 0:
            return []
        if len(rows) > height:
            if height == 1:
                return [Text(shorten(f"  {len(rows)} running", width, self.glyphs.ellipsis))]
            more, rows = len(rows) - height + 1, rows[: height - 1]
        else:
            more = 0
        name_width = max(cells(r.name(self.glyphs)) for r in rows)
        lines = [fit_row(r, now, width, name_width, self.glyphs) for r in rows]
        if more:
            lines.append(Text(shorten(f"  and {more} more", width, self.glyphs.ellipsis)))
        return lines

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Text]:
        lines: list[Text] = []
        if self.failure is None:
            try:
                # never into the last column: a terminal would wrap there, or fold the
                # row when it gets narrower; rows, the empty line below and one spare:
                # the region never scrolls the screen
                lines = self.lines(options.max_width - 1, (options.height or console.height) - 2)
            except Exception as exc:
                self.failure = exc
        self.frame.width, self.frame.lines = options.max_width, [cells(x.plain) for x in lines]
        if lines:
            # and an empty line, where the cursor waits: what the terminal echoes there
            # (^C, keys typed) is erased with the rows instead of wrapping the last one
            yield Text("\n").join([*lines, Text("")])


def _gone(row: Row, now: float) -> bool:
    return row.ended is not None and now - row.ended >= LINGER


class LiveDisplay:
    """The rows drawn live on ``stream`` (a terminal) until :meth:`stop` erases them.

    :meth:`print` puts a message above the rows; :meth:`paused` takes them off the screen
    while something else writes to the same terminal (a result on stdout).

    Everything that writes to the terminal (a redraw, a message, the erasing) holds one
    lock from finding where the rows begin to the last byte drawn: a redraw between the
    two would draw rows the other then erases too few of (one left on the screen for
    good). rich's own refresh thread does not take that lock, so the redraws
    (:data:`REFRESH_PER_SECOND`) come from a thread of ours that does."""

    def __init__(self, stream: TextIO, *, colour: bool) -> None:
        from rich.console import Console as RichConsole

        self.console = RichConsole(file=stream, no_color=not colour, highlight=False)
        self.rows = Rows(glyphs_for(self.console.encoding))
        self._live: Any = None
        self._lock = threading.RLock()
        self._stopped = threading.Event()

    def start(self) -> None:
        """Start drawing (a new live region below what the terminal shows)."""
        from rich.live import Live

        with self._lock:
            if self._live is None:  # a fresh Live: a stopped one still knows the old height
                live = self._live = Live(
                    self.rows,
                    console=self.console,
                    transient=True,
                    auto_refresh=False,  # redrawn by _redraw, under self._lock
                    redirect_stdout=False,  # results never go through the stderr display
                    redirect_stderr=False,
                )
                install(live, self.rows.frame)
                live.start()
                self._stopped = stopped = threading.Event()
                threading.Thread(
                    target=self._redraw, args=(live, stopped), name="gsep-live", daemon=True
                ).start()

    def _redraw(self, live: Any, stopped: threading.Event) -> None:
        """Redraw ``live`` :data:`REFRESH_PER_SECOND` times a second until it stops."""
        while not stopped.wait(1 / REFRESH_PER_SECOND):
            with self._lock:
                if stopped.is_set():
                    return
                live.refresh()

    def stop(self) -> None:
        """Erase the rows and stop drawing (the rows are kept for :meth:`start`)."""
        with self._lock:
            if self._live is not None:
                self._stopped.set()
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
