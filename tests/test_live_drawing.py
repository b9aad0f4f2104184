"""What the live display (gsep_cli.cli._live.LiveDisplay) writes when messages, row
updates and its own redraws come from several threads at once, read back through a
terminal emulator (pyte): every write that moves up to the rows' top is serialised with
the redraws, so no row is ever left behind above a message."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from termtools import ROW_START, Terminal

from gsep_cli.cli import _live
from gsep_cli.cli._live import LiveDisplay, Rows
from gsep_cli.cli._region import Region

COLS, LINES = 80, 24


class Tty(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch) -> Tty:
    monkeypatch.setenv("COLUMNS", str(COLS))
    monkeypatch.setenv("LINES", str(LINES))
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    return Tty()


def screen(tty: Tty) -> list[str]:
    """The lines a user sees at the end (blank ones left out); each line feed is fed as
    a pty passes it on to the terminal (ONLCR: carriage return, line feed)."""
    term = Terminal(COLS, LINES)
    term.feed(tty.getvalue().replace("\n", "\r\n").encode())
    return [line for line in term.seen() if line]


def wait_for(predicate: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "the display drew nothing"
        time.sleep(0.01)


def test_a_row_added_while_a_message_is_printed_is_not_left_above_it(
    tty: Tty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure seen in test_terminal under load, made certain: a message above the
    rows ("job ... created") found where the rows begin; before it drew them, a row was
    added and a redraw from the display's thread found where they begin too (the same
    place) and drew after it: one of the two erased one line too few and a row stayed on
    the screen for good. Here the message's drawing waits for such a redraw (up to half
    a second: 4 of them) at the point where the race was lost."""
    display = LiveDisplay(tty, colour=False)
    display.rows.start_transfer("a", "upload", "song-a.wav", 100)
    display.start()
    wait_for(lambda: "song-a.wav" in tty.getvalue())
    render, position = Rows.__rich_console__, Region.position_cursor
    redraw_began = threading.Event()
    armed = [True]

    def placing(self: Region) -> Any:
        if threading.current_thread() is not threading.main_thread():
            redraw_began.set()
        return position(self)

    def racing(self: Rows, console: Any, options: Any) -> Iterator[Any]:
        if armed[0] and threading.current_thread() is threading.main_thread():
            armed[0] = False  # once: the rows below the message
            self.start_transfer("b", "upload", "song-b.wav", 100)
            redraw_began.clear()
            redraw_began.wait(0.5)  # a redraw, if one can begin now (8 a second)
        yield from render(self, console, options)

    monkeypatch.setattr(Region, "position_cursor", placing)
    monkeypatch.setattr(Rows, "__rich_console__", racing)
    display.print("gsep: song-a.wav: job 1a2b3c4d created")
    assert not armed[0]
    monkeypatch.setattr(Rows, "__rich_console__", render)
    display.stop()
    assert screen(tty) == ["gsep: song-a.wav: job 1a2b3c4d created"]
    assert not any(line.startswith(ROW_START) for line in screen(tty))


MESSAGE = st.tuples(st.just("print"), st.integers(0, 5))
RESULT = st.tuples(st.just("result"), st.integers(0, 5))  # on stdout, the same terminal
ROW = st.tuples(st.sampled_from(["start", "advance", "end", "job"]), st.integers(0, 5))


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    said=st.lists(st.one_of(MESSAGE, RESULT), min_size=1, max_size=8),
    changes=st.lists(ROW, min_size=1, max_size=40),
)
def test_whatever_the_interleaving_only_the_messages_stay(
    said: list[tuple[str, int]], changes: list[tuple[str, int]]
) -> None:
    """Messages and results from the main thread, row changes from a worker, redraws from
    the display's thread at 250 a second, and the main thread slowed down (2 ms) where it
    draws the rows below a message: after the display stops, the screen holds the
    messages and results in the order they were written, and no row."""
    render = Rows.__rich_console__

    def slowed(self: Rows, console: Any, options: Any) -> Iterator[Any]:
        if threading.current_thread() is threading.main_thread():
            time.sleep(0.002)
        yield from render(self, console, options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", str(COLS))
        patch.setenv("LINES", str(LINES))
        patch.setenv("TERM", "xterm-256color")
        patch.setattr(_live, "REFRESH_PER_SECOND", 250)
        patch.setattr(Rows, "__rich_console__", slowed)
        tty = Tty()
        display = LiveDisplay(tty, colour=False)
        display.start()

        def worker() -> None:
            for what, n in changes:
                key, name = f"k{n}", f"song-{n}.wav"
                if what == "start":
                    display.rows.start_transfer(key, "upload", name, 1000)
                elif what == "advance":
                    display.rows.advance(key, 100)
                elif what == "end":
                    display.rows.end(key, ok=True)
                else:
                    display.rows.job(f"j{n}", f"job {n}", name, "running", 0.0)
                time.sleep(0.001)

        thread = threading.Thread(target=worker)
        thread.start()
        expected = []
        for at, (what, n) in enumerate(said):
            if what == "print":
                expected.append(f"gsep: song-{n}.wav: job {at} created")
                display.print(expected[-1])
            else:
                expected.append(f"out/song-{n}/vocal-{at}.wav")
                with display.paused():
                    tty.write(expected[-1] + "\n")
            time.sleep(0.004)
        thread.join()
        display.stop()
    assert screen(tty) == expected
