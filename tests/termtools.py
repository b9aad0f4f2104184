"""Running the installed ``gsep`` in a pseudo-terminal of a fixed size and reading what a
user would see (``import termtools``).

* :func:`run_in_terminal` runs gsep with stdin, stdout and stderr on one pty of
  ``cols`` x ``rows`` (``TIOCSWINSZ``), in a session of its own so that a SIGINT can go to
  its process group as Ctrl-C does; it returns everything gsep wrote, as bytes.
  It can also make the terminal narrower part-way (``resize_when``), as a user
  dragging the window does.
* :class:`Terminal` feeds those bytes to two pyte screens: one as wide as the terminal
  (what the user sees) and one far wider, on which a line that would have wrapped on
  the real terminal shows up longer than the terminal's width. :meth:`Terminal.resize`
  reflows the user's screen as tmux, VTE, kitty or iTerm2 do (pyte alone cuts lines).
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyte
from clitools import gsep_exe

#: Width of the screen that shows what would have wrapped.
WIDE = 1000
#: What the live display's rows begin with: a spinner frame, a tick or a cross.
ROW_START = tuple("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓✗")


@dataclass
class Terminal:
    """Two screens fed the same bytes: ``cols`` wide (the user's), and :data:`WIDE`."""

    cols: int
    rows: int
    screen: pyte.Screen = field(init=False)
    wide: pyte.Screen = field(init=False)

    def __post_init__(self) -> None:
        self.screen = pyte.Screen(self.cols, self.rows)
        self.wide = pyte.Screen(WIDE, self.rows)
        self._streams = [pyte.ByteStream(self.screen), pyte.ByteStream(self.wide)]

    def feed(self, data: bytes) -> None:
        for stream in self._streams:
            stream.feed(data)

    @staticmethod
    def lines(screen: pyte.Screen) -> list[str]:
        """The screen's lines without trailing blanks (wide characters counted once)."""
        out = []
        for y in range(screen.lines):
            row = screen.buffer[y]
            chars = [row[x].data for x in range(screen.columns)]
            out.append("".join(chars).rstrip())
        return out

    def resize(self, cols: int) -> None:
        """The user's screen becomes ``cols`` wide, each line that no longer fits folded
        into several (the cursor with it); lines pushed past the top scroll away."""
        old = self.screen
        folded: list[list[str]] = []
        cursor = (0, 0)
        shown = self.lines(old)
        last = max([old.cursor.y, *(y for y, line in enumerate(shown) if line)])
        for y in range(last + 1):
            cells = [old.buffer[y][x].data for x in range(old.columns)]
            while cells and cells[-1] in (" ", ""):
                cells.pop()
            pieces = [cells[at : at + cols] for at in range(0, len(cells), cols)] or [[]]
            if y == old.cursor.y:
                row = min(old.cursor.x // cols, len(pieces) - 1)
                cursor = (len(folded) + row, min(old.cursor.x - row * cols, cols - 1))
            folded.extend(pieces)
        gone = max(0, len(folded) - self.rows)
        self.cols, self.screen = cols, pyte.Screen(cols, self.rows)
        self._streams[0] = pyte.ByteStream(self.screen)
        for y, cells in enumerate(folded[gone:]):
            self._streams[0].feed(f"\x1b[{y + 1};1H{''.join(cells)}".encode())
        self._streams[0].feed(f"\x1b[{cursor[0] - gone + 1};{cursor[1] + 1}H".encode())

    def seen(self) -> list[str]:
        """What the user sees now."""
        return self.lines(self.screen)

    def unwrapped(self) -> list[str]:
        """The same, with no line wrapped by the terminal."""
        return self.lines(self.wide)


def run_in_terminal(
    args: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    *,
    cols: int,
    rows: int,
    on_output: Callable[[bytes], bool] | None = None,
    timeout: float = 90,
    resize_when: Callable[[bytes], bool] | None = None,
    resize_to: int = 0,
    resized_at: list[int] | None = None,
) -> tuple[int, bytes]:
    """Run ``gsep ARGS`` on a ``cols`` x ``rows`` pty; return (exit code, all output).

    ``on_output(everything_so_far)`` is called as output arrives; when it returns True,
    SIGINT goes to gsep's process group (Ctrl-C), once. When ``resize_when(everything)``
    first returns True the pty becomes ``resize_to`` columns wide (and gsep gets a
    SIGWINCH); how many bytes had come by then is appended to ``resized_at``."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [gsep_exe(), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    os.close(slave)
    interrupted = False

    def seen(everything: bytes) -> None:
        nonlocal interrupted, resize_when
        if on_output is not None and not interrupted and on_output(everything):
            os.killpg(proc.pid, signal.SIGINT)
            interrupted = True
        if resize_when is not None and resize_when(everything):
            resize_when = None
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, resize_to, 0, 0))
            os.killpg(proc.pid, signal.SIGWINCH)
            if resized_at is not None:
                resized_at.append(len(everything))

    try:
        output = read_pty(master, proc, timeout, seen)
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return code, output


def read_pty(
    master: int,
    proc: subprocess.Popen[bytes],
    timeout: float,
    on_chunk: Callable[[bytes], None] | None = None,
) -> bytes:
    """Everything written to the pty whose ``master`` side is given, until every writer
    closed its side or ``proc`` ended and nothing more came, or ``timeout`` seconds;
    ``on_chunk(everything_so_far)`` after each read."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed its side
                break
            if not data:
                break
            chunks.append(data)
            if on_chunk is not None:
                on_chunk(b"".join(chunks))
        elif proc.poll() is not None:
            break
    return b"".join(chunks)
