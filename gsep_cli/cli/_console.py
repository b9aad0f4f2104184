"""Everything gsep shows a human goes through here, on stderr; results go to stdout.

* On a TTY (and without ``--no-progress``/``-q``): rich progress bars for transfers and a
  live status line while a job runs.
* Otherwise: no animation and no escape codes, only a few plain lines.
* ``NO_COLOR`` (any value) and ``TERM=dumb`` turn colour off.
"""

from __future__ import annotations

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
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._task_labels: dict[str, str] = {}
        self._job_tasks: dict[str, Any] = {}
        self._last_status: dict[str, str] = {}
        self._plain_labels: dict[str, str] = {}
        #: True once the reader of stdout went away: results are then dropped.
        self.stdout_closed = False

    # ---- results (stdout) -------------------------------------------------------------
    def result(self, line: str) -> None:
        """One result line on stdout (a path, an id, a status), control characters
        escaped (``--json`` carries exact values)."""
        self._pause_if_shared()
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
        self._pause_if_shared()
        document = redact_values(document)  # a key the server echoed is not printed
        text = json_safe(json.dumps(document, ensure_ascii=False, default=str))
        try:  # exact text when the stream can carry it, else \u escapes: still exact JSON
            text.encode(getattr(self.out, "encoding", None) or "utf-8")
        except (UnicodeEncodeError, LookupError):
            text = json.dumps(document, ensure_ascii=True, default=str)
        self._write_result(text)

    # ---- messages (stderr) ------------------------------------------------------------
    def _line(self, text: str) -> None:
        text = printable(redact(text))
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            with self._lock:
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
        ``batch``: one input of several failed; the progress bars of the others stay."""
        line = f"gsep: error: {prefix}{exc.message}"
        if exc.hint:
            line += f" — {exc.hint}"
        if (prefix or batch) and self._progress is not None:
            self._line(line)
            return
        self._pause()
        with self._lock:
            print(printable(redact(line)), file=self.err, flush=True)

    # ---- the Listener protocol ----------------------------------------------------------
    def _ensure_progress(self) -> Any:
        if self._progress is None:
            from rich.console import Console as RichConsole
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                ProgressColumn,
                SpinnerColumn,
                Task,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.text import Text

            console = RichConsole(
                file=self.err, no_color=not colour_allowed(self.err), highlight=False
            )

            class TransferOnly(ProgressColumn):
                """Shows the wrapped column for transfers, nothing for the job line."""

                def __init__(self, inner: ProgressColumn) -> None:
                    super().__init__()
                    self.inner = inner

                def render(self, task: Task) -> Any:
                    return Text("") if task.fields.get("job") else self.inner.render(task)

            self._progress = Progress(
                SpinnerColumn(finished_text=" "),
                TextColumn("{task.description}"),
                TransferOnly(BarColumn()),
                TransferOnly(DownloadColumn(binary_units=True)),
                TransferOnly(TransferSpeedColumn()),
                TransferOnly(TimeRemainingColumn()),
                TimeElapsedColumn(),
                console=console,
                transient=False,
                redirect_stdout=False,  # results never go through the stderr display
                redirect_stderr=False,
                refresh_per_second=8,
            )
            self._progress.start()
        return self._progress

    def _pause_if_shared(self) -> None:
        """Stop live rendering only when stdout is the same terminal (it would garble)."""
        if _isatty(self.out):
            self._pause()

    def _pause(self) -> None:
        """Stop live rendering before printing results or errors (keeps output clean)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()
            self._job_tasks.clear()

    def close(self) -> None:
        """Finish any live display."""
        self._pause()

    def transfer_start(self, key: str, label: str, total: int | None) -> None:
        if self.quiet:
            return
        if self.animate:
            progress = self._ensure_progress()
            with self._lock:
                if key in self._tasks:
                    progress.update(self._tasks[key], total=total)
                else:
                    label = printable(label)
                    self._tasks[key] = progress.add_task(label, total=total)
                    self._task_labels[key] = label
            return
        if not key.startswith("upload:"):
            return  # plain mode: downloaded files are listed on stdout, no line per file
        with self._lock:
            first = key not in self._plain_labels
            if label:
                self._plain_labels[key] = label
        if first:
            size = f" ({format_size(total)})" if total is not None else ""
            self._line(f"gsep: {label}{size}...")

    def transfer_advance(self, key: str, delta: int) -> None:
        if self.animate and key in self._tasks and self._progress is not None:
            self._progress.advance(self._tasks[key], delta)

    def transfer_end(self, key: str, ok: bool) -> None:
        if self.quiet:
            return
        if self.animate:
            with self._lock:
                task = self._tasks.get(key)
                label = self._task_labels.get(key, "")
            if task is not None and self._progress is not None and not ok:
                self._progress.update(task, description=f"{label} (failed)")
            return
        with self._lock:
            label = self._plain_labels.pop(key, "")
        if label:
            self._line(f"gsep: {label}: {'done' if ok else 'failed'}")

    def job_status(self, job_id: str, status: str, elapsed: float) -> None:
        if self.quiet:
            return
        text = f"job {job_id}: {status} ({elapsed:.0f} s)"
        if self.animate:  # the elapsed-time column ticks live; the text shows the status
            progress = self._ensure_progress()
            live_text = printable(f"job {job_id}: {status}")
            with self._lock:
                task = self._job_tasks.get(job_id)
                if task is None:
                    task = self._job_tasks[job_id] = progress.add_task(
                        live_text, total=None, job=True
                    )
            progress.update(task, description=live_text)
            if status in ("success", "failed"):
                progress.update(task, total=1, completed=1)
            return
        if self._last_status.get(job_id) != status:  # plain mode: one line per change
            self._last_status[job_id] = status
            self._line(f"gsep: {text}")

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


def summary_table(rows: list[tuple[str, str, str, str]], err: TextIO) -> None:
    """The end-of-batch table on stderr: input, job, status, files or the error."""
    headers = ("input", "job", "status", "files / error")
    if _isatty(err) and os.environ.get("TERM") != "dumb":
        from rich.console import Console as RichConsole
        from rich.table import Table

        table = Table(*headers, title="gsep separate: summary", title_justify="left")
        for row in rows:
            table.add_row(*(printable(redact(cell)) for cell in row))
        RichConsole(file=err, no_color=not colour_allowed(err), highlight=False).print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:3])]
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:3])]
        print(printable(redact("  ".join([*cells, row[3]]).rstrip())), file=err)
