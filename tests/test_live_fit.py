"""What the live display draws holds at any terminal size and for any name, without a
terminal: Rows.lines never raises and never overflows, widths are measured on the widest
reading of characters terminals disagree on, columns have the width their formatter needs
at most, the speed forgets old pauses, a drawing bug is no failure of the work."""

from __future__ import annotations

import io
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from test_live_rows import NAMES, Clock, TtyBuffer

from gsep_cli.cli import _live
from gsep_cli.cli._cells import cells, shorten
from gsep_cli.cli._columns import LARGEST, WIDTHS, size_text, speed_text, time_text
from gsep_cli.cli._console import Console, summary_table
from gsep_cli.cli._live import ASCII, UNICODE, Row, Rows, fit_row
from gsep_cli.cli._region import Frame

#: The breaker's name: thumbs-up emoji with a skin-tone modifier (0 cells for rich, 2 on
#: tmux, xterm, VTE and pyte).
THUMBS = "👍🏽" * 10 + " thumbs.wav"
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def make_rows(subjects: list[str], jobs: list[bool], clock: Clock) -> Rows:
    rows = Rows(UNICODE, clock)
    for n, (subject, job) in enumerate(zip(subjects, jobs, strict=False)):
        if job:
            rows.job(f"j{n}", "job 28bdbc94…", subject, "running", 3.0)
        else:
            rows.start_transfer(f"t{n}", "vocal.wav", subject, 10**6 if n % 2 else None)
            rows.advance(f"t{n}", 1000 * n)
    return rows


@settings(max_examples=300, deadline=None)
@given(
    subjects=st.lists(NAMES | st.just(THUMBS), min_size=0, max_size=12),
    jobs=st.lists(st.booleans(), min_size=12, max_size=12),
    width=st.integers(0, 300),
    height=st.integers(-2, 300),
)
def test_lines_fit_any_terminal_and_never_raise(
    subjects: list[str], jobs: list[bool], width: int, height: int
) -> None:
    clock = Clock()
    lines = make_rows(subjects, jobs, clock).lines(width, height)
    assert len(lines) <= max(height, 0)
    for line in lines:
        assert "\n" not in line.plain
        assert cells(line.plain) <= max(width, 0), (width, line.plain)
    if subjects and height >= 1 and width >= 20:
        assert lines  # something is said whenever a line fits


@pytest.mark.parametrize("height", [0, 1, 2, 3])
def test_a_terminal_three_rows_tall_or_less(height: int) -> None:
    """The crash the breaker found: `max()` of no rows at a height of 1 (a 3-row terminal
    less the empty line and the spare)."""
    rows = make_rows(["a.wav", "b.wav", "c.wav"], [False, True, False], Clock())
    shown = [line.plain for line in rows.lines(80, height)]
    assert len(shown) == min(height, 3)
    if height == 1:
        assert shown == ["  3 running"]
    if height == 2:
        assert shown[0].startswith("⠋ a.wav") and shown[1] == "  and 2 more"


def test_a_drawing_bug_is_no_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendering raises: the rows vanish, the console goes on in plain lines and says so
    once with -v; nothing raises into the command."""
    monkeypatch.setenv("TERM", "xterm-256color")

    def broken(*args: object) -> None:
        raise ValueError("max() arg is an empty sequence")

    monkeypatch.setattr(_live, "fit_row", broken)
    err = TtyBuffer()
    console = Console(err=err, out=io.StringIO(), verbose=True)
    console.job_status("1a2b3c4d-0000", "running", 1.0, subject="song.wav")
    time.sleep(0.4)  # a few refreshes: each would raise
    console.job_status("1a2b3c4d-0000", "success", 2.0, subject="song.wav")
    console.info("after")
    console.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue())
    assert text.count("the live display stopped (ValueError") == 1, text
    assert "gsep: job 1a2b3c4d-0000: success" in text  # plain lines from there on
    assert "after" in text and "Traceback" not in text


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT)
def test_cells_never_counts_less_than_rich(text: str) -> None:
    assert cells(text) >= cell_len(text)


def test_skin_tone_modifiers_count_as_terminals_draw_them() -> None:
    assert cells("👍🏽") == 4 >= cell_len("👍🏽")  # tmux, xterm, VTE, pyte draw 4 (rich: 2 or 4)
    assert cells("🇯🇵") == 4 and cells("❤️") == 2
    short = shorten(THUMBS, 20)
    assert cells(short) <= 20 and short.startswith("👍")


@pytest.mark.parametrize("width", [40, 60, 79, 119])
def test_a_row_with_skin_tones_fits_on_the_widest_reading(width: int) -> None:
    row = Row("vocal.wav", THUMBS, -2.0, 10**6)
    row.advance(1000, -1.0)
    for glyphs in (UNICODE, ASCII):
        text = fit_row(row, 0.0, width, cells(row.name(glyphs)), glyphs).plain
        assert cells(text) <= width, text
        assert text[2:].startswith("👍")


@settings(max_examples=500, deadline=None)
@given(
    done=st.integers(0, LARGEST),
    total=st.none() | st.integers(0, LARGEST),
    rate=st.floats(0, LARGEST),
    seconds=st.floats(0, 10**9),
)
def test_no_column_is_ever_wider_than_its_width(
    done: int, total: int | None, rate: float, seconds: float
) -> None:
    assert len(size_text(min(done, total) if total is not None else done, total)) <= WIDTHS["size"]
    assert len(speed_text(rate)) <= WIDTHS["speed"]
    for eta in (True, False):
        assert len(time_text(seconds, eta=eta)) <= WIDTHS["time"]


def test_the_widths_are_reached() -> None:
    """The widths are the formatters' widest, not a guess larger than needed."""
    assert len(size_text(1_048_523_571, 1_048_523_571)) == WIDTHS["size"]  # 999.9/999.9 MiB
    assert len(speed_text(1_048_523_571)) == WIDTHS["speed"]
    assert len(time_text(9 * 3600 + 59 * 60 + 59, eta=True)) == WIDTHS["time"]


def test_rows_of_different_sizes_line_up() -> None:
    """The bars and sizes start in the same column whatever the numbers (the breaker
    saw them move with `122.1/235.3 KiB`)."""
    rows = Rows(UNICODE, Clock())
    for key, total, done in (("a", 235_300, 122_100), ("b", 1_000, 5), ("c", 1015 * 1024, 1015)):
        rows.start_transfer(key, "vocal.wav", "in.wav", total)
        rows.advance(key, done)
    lines = [line.plain for line in rows.lines(100, 10)]
    assert len({line.index(" ━") if " ━" in line else line.index(" ─") for line in lines}) == 1
    assert len({len(line) for line in lines}) == 1, lines


def test_speed_forgets_a_pause_older_than_the_window() -> None:
    """After a 60 s rate-limit wait the speed is that of the last seconds, not the average
    since the start (which would count the wait)."""
    row = Row("upload", "song.wav", 0.0, 10**7)
    row.advance(1000, 1.0)
    for step in range(1, 11):  # after the wait: 10 kB/s for 5 s
        row.advance(5000, 61.0 + step / 2)
    assert row.speed(66.0) == pytest.approx(10_000, rel=0.01)
    assert row.columns(66.0)["time"].startswith("eta 16:")  # 9.95 MB to go at 10 kB/s


def test_frame_height_after_the_terminal_got_narrower() -> None:
    frame = Frame(80, [79, 40, 0])
    assert frame.height_at(80) == frame.height_at(100) == 3
    assert frame.height_at(79) == 3
    assert frame.height_at(60) == 4  # 79 cells fold into 2 lines of 60
    assert frame.height_at(30) == 3 + 2 + 1


def test_summary_error_does_not_repeat_the_job_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from gsep_cli.batch import InputResult
    from gsep_cli.cli._output import summary_row
    from gsep_cli.errors import GsepError

    job = "28bdbc94-ece8-11f1-9613-02fc00000001"
    failed = InputResult(Path("song.wav"))
    failed.status, failed.job_id = "failed", job
    failed.error = GsepError(f"job {job} failed: the audio could not be decoded")
    row = summary_row(failed)
    assert row[1] == job and row[3] == "the job failed: the audio could not be decoded"
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm-256color")
    err = TtyBuffer()
    summary_table([row], err)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", err.getvalue()).splitlines()
    assert sum(job in line for line in lines) == 1 and len(lines) <= 6, lines


@pytest.mark.parametrize("width", [60, 80])
def test_summary_fits_on_the_widest_reading(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("TERM", "xterm-256color")
    rows = [(f"../in/{THUMBS}", "619f175c-ecec-11f1-8fa6-02fc00000001", "success", "1 file")]
    err = TtyBuffer()
    summary_table(rows, err)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", err.getvalue()).splitlines()
    assert all(cells(line) <= width for line in lines), lines
    assert any("1 file" in line for line in lines)
