"""Everything gsep shows a human goes through here, on stderr; results go to stdout.

* On a TTY (and without ``--no-progress``/``-q``): rich progress bars for transfers and a
  live status line while a job runs.
* Otherwise: no animation and no escape codes, only a few plain lines.
* ``NO_COLOR`` (any value) and ``TERM=dumb`` turn colour off.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from typing import Any, TextIO

from ..errors import GsepError
from ..redact import json_safe, printable, redact, redact_values
from ..units import format_size


def colour_allowed(stream: TextIO) -> bool:
    """Colour only on a TTY, never with NO_COLOR set or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("GSEP_NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Console:
    """Renders progress, status, notices and errors on stderr; results on stdout."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        verbose: bool = False,
        progress: bool = True,
        err: TextIO | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.err = err or sys.stderr
        self.out = out or sys.stdout
        self.quiet = quiet
        self.verbose = verbose
        self.animate = (
            progress and not quiet and _isatty(self.err) and os.environ.get("TERM") != "dumb"
        )
        self._lock = threading.Lock()
        self._live: Any = None  # the LiveDisplay, once something is drawn
        self._closed = False
        self._last_status: dict[str, str] = {}
        self._plain_labels: dict[str, str] = {}
        #: True once the reader of stdout went away: results are then dropped.
        self.stdout_closed = False

    # ---- results (stdout) -------------------------------------------------------------
    def result(self, line: str) -> None:
        """One result line on stdout (a path, an id, a status), control characters
        escaped (``--json`` carries exact values)."""
        with self._pause_if_shared():
            self._write_result(printable(redact(line)))

    def _write_result(self, text: str) -> None:
        """Write a result; a reader that went away (``| head -n1``) is no failure: the
        work goes on and is recorded, later results are dropped."""
        if self.stdout_closed:
            return
        try:
            print(text, file=self.out, flush=True)
        except (BrokenPipeError, ValueError):  # ValueError: writing to a closed file
            self.stdout_closed = True
            silence_stdout()

    def result_json(self, document: Any) -> None:
        """One JSON document on stdout (stable keys, see README)."""
        document = redact_values(document)  # a key the server echoed is not printed
        text = json_safe(json.dumps(document, ensure_ascii=False, default=str))
        try:  # exact text when the stream can carry it, else \u escapes: still exact JSON
            text.encode(getattr(self.out, "encoding", None) or "utf-8")
        except (UnicodeEncodeError, LookupError):
            text = json.dumps(document, ensure_ascii=True, default=str)
        with self._pause_if_shared():
            self._write_result(text)

    # ---- messages (stderr) ------------------------------------------------------------
    def _line(self, text: str) -> None:
        text = printable(redact(text))
        with self._lock:  # the display cannot start (or stop) half-way through the line
            live = self._live
            if live is not None:
                live.print(text)  # above the rows
            else:
                print(text, file=self.err, flush=True)

    def info(self, text: str) -> None:
        """A message for humans (hidden by -q)."""
        if not self.quiet:
            self._line(text)

    def debug(self, text: str) -> None:
        """A message shown only with -v (HTTP log lines, redacted)."""
        if self.verbose:
            self._line(f"gsep: {text}")

    def warn(self, text: str) -> None:
        """A warning (shown even with -q)."""
        self._line(f"gsep: warning: {text}")

    def error(self, exc: GsepError, prefix: str = "", *, batch: bool = False) -> None:
        """The one line a user sees for an expected failure: what went wrong, what to do.
        ``prefix`` or ``batch``: one input of several failed; the line goes above the rows
        (or before they are drawn) and the display carries on for the others. Otherwise
        the live display is erased first, for good."""
        line = f"gsep: error: {prefix}{exc.message} — {exc.what_to_do}"
        if prefix or batch:
            self._line(line)
            return
        self.close()
        with self._lock:
            print(printable(redact(line)), file=self.err, flush=True)

    # ---- the Listener protocol ----------------------------------------------------------
    def _display(self) -> Any:
        """The live display, started on first use; None once closed (nothing is drawn
        after :meth:`close`: a worker still reporting after Ctrl-C draws nothing)."""
        with self._lock:
            live = self._live
            if self._closed:
                return None
            if live is None:
                from ._live import LiveDisplay

                live = self._live = LiveDisplay(self.err, colour=colour_allowed(self.err))
                live.start()
        return self._working(live)

    def _working(self, live: Any) -> Any:
        """``live``, or None once drawing it failed: a bug in the display is no failure
        of the work. It is then erased and progress goes on as plain lines (said once,
        with -v)."""
        failure = live.rows.failure
        if failure is None:
            return live
        with self._lock:
            if self._live is not live:
                return None  # another thread took it down already
            self._live, self.animate = None, False
        live.stop()
        self.debug(f"the live display stopped ({type(failure).__name__}: {failure}); plain lines")
        return None

    def _pause_if_shared(self) -> contextlib.AbstractContextManager[None]:
        """Take the live rows off the screen while a result is written, when stdout is the
        same terminal (the rows would be torn by the line); they come back after it."""
        if self._live is not None and _isatty(self.out):
            paused: contextlib.AbstractContextManager[None] = self._live.paused()
            return paused
        return contextlib.nullcontext()

    def close(self) -> None:
        """Erase the live display for good (before results, summaries and errors print)."""
        with self._lock:
            self._closed = True
            live, self._live = self._live, None
        if live is not None:
            live.stop()

    def transfer_start(self, key: str, label: str, total: int | None, *, subject: str = "") -> None:
        if self.quiet:
            return
        if self.animate:
            display = self._display()
            if display is not None:
                display.rows.start_transfer(key, printable(label), printable(subject), total)
                return
            if self.animate:  # closed for good: nothing more is drawn
                return
        if not key.startswith("upload:"):
            return  # plain mode: downloaded files are listed on stdout, no line per file
        with self._lock:
            first = key not in self._plain_labels
            if label:
                self._plain_labels[key] = " ".join(filter(None, (label, subject)))
        if first:
            size = f" ({format_size(total)})" if total is not None else ""
            self._line(f"gsep: {self._plain_labels.get(key, label)}{size}...")

    def transfer_advance(self, key: str, delta: int) -> None:
        live = self._live
        if live is not None and self._working(live) is not None:
            live.rows.advance(key, delta)

    def transfer_end(self, key: str, ok: bool) -> None:
        if self.quiet:
            return
        if self.animate:
            live = self._live
            if live is not None and self._working(live) is not None:
                live.rows.end(key, ok)
                return
            if self.animate:  # closed for good: nothing more is drawn
                return
        with self._lock:
            label = self._plain_labels.pop(key, "")
        if label:
            self._line(f"gsep: {label}: {'done' if ok else 'failed'}")

    def job_status(self, job_id: str, status: str, elapsed: float, *, subject: str = "") -> None:
        if self.quiet:
            return
        if self.animate:  # a row per input's job; the elapsed time ticks live
            display = self._display()
            if display is not None:
                # with the input named, the id's first block tells the jobs apart (the
                # whole id is in the "created" line and the summary)
                shown = f"{job_id[:8]}…" if subject and len(job_id) > 9 else job_id
                display.rows.job(
                    f"{subject}\0{job_id}",
                    printable(f"job {shown}"),
                    printable(subject),
                    printable(status),
                    elapsed,
                )
                return
            if self.animate:  # closed for good: nothing more is drawn
                return
        if self._last_status.get(job_id) != status:  # plain mode: one line per change
            self._last_status[job_id] = status
            self._line(f"gsep: job {job_id}: {status} ({elapsed:.0f} s)")

    def notice(self, message: str) -> None:
        self.info(f"gsep: {message}")


def silence_stdout() -> None:
    """Point file descriptor 1 at the null device, so nothing more (not even the final
    flush at exit) fails on a pipe whose reader went away."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


SUMMARY_HEADERS = ("input", "job", "status", "files / error")


def summary_table(rows: list[tuple[str, str, str, str]], err: TextIO) -> None:
    """The end-of-batch table on stderr: input, job, status, files or the error.

    On a terminal a table as wide as the terminal whose job ids are never cut (inputs and
    errors wrap instead), or, where the terminal is too narrow for that, one block per
    input; elsewhere plain aligned columns."""
    rows = [tuple(printable(redact(cell)) for cell in row) for row in rows]  # type: ignore[misc]
    if not (_isatty(err) and os.environ.get("TERM") != "dumb"):
        widths = [
            max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(SUMMARY_HEADERS[:3])
        ]
        for row in [SUMMARY_HEADERS, *rows]:
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:3])]
            print("  ".join([*cells, row[3]]).rstrip(), file=err)
        return
    from rich import box
    from rich.console import Console as RichConsole
    from rich.table import Table
    from rich.text import Text

    console = RichConsole(file=err, no_color=not colour_allowed(err), highlight=False)
    job_width = max(len(SUMMARY_HEADERS[1]), *(len(r[1]) for r in rows))
    status_width = max(len(SUMMARY_HEADERS[2]), *(len(r[2]) for r in rows))
    if console.width < job_width + status_width + 2 * 12 + 6:  # one block per input
        console.print("gsep separate: summary", soft_wrap=True)
        for name, job, status, detail in rows:
            _print_fitted(console, Text(name, overflow="fold"))
            _print_fitted(console, Text(f"  job {job}", overflow="fold"))
            _print_fitted(console, Text(f"  {status}: {detail}", overflow="fold"))
        return
    table = Table(
        title="gsep separate: summary",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    table.add_column(SUMMARY_HEADERS[0], overflow="fold")
    table.add_column(SUMMARY_HEADERS[1], no_wrap=True, min_width=job_width)
    table.add_column(SUMMARY_HEADERS[2], no_wrap=True, min_width=status_width)
    table.add_column(SUMMARY_HEADERS[3], overflow="fold")
    for row in rows:
        table.add_row(*row)
    _print_fitted(console, table)


def _print_fitted(console: Any, renderable: Any) -> None:
    """Print ``renderable`` as wide as the terminal, measured as the live rows are (see
    _cells: characters terminals draw wider than rich counts them, such as emoji
    skin-tone modifiers, would otherwise make a line wrap)."""
    from ._cells import cells

    width = limit = console.width
    for _ in range(8):  # each try narrows by what the widest line was over
        lines = console.render_lines(renderable, console.options.update_width(width), pad=False)
        over = max((cells("".join(seg.text for seg in line)) for line in lines), default=0)
        if over <= limit or width <= 1:
            break
        width = max(1, width - (over - limit))
    console.print(renderable, width=width)
