"""The live display's rows (gsep_cli.cli._live) and the batch summary, without a terminal:
every row fits the width and names its input, columns go in a defined order, the speed
is shown once known, finished rows go, nothing is drawn after the display is closed."""

from __future__ import annotations

import io
import re
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from gsep_cli.cli._cells import cells
from gsep_cli.cli._console import Console, summary_table
from gsep_cli.cli._live import (
    ASCII,
    LINGER,
    UNICODE,
    Glyphs,
    Row,
    Rows,
    fit_row,
    shorten,
)

NAMES = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Mn", "Me", "Cf", "Zl", "Zp"), max_codepoint=0x2FFFF
    ),
    min_size=1,
    max_size=80,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def transfer(label: str, subject: str, total: int | None, done: int, now: float = 0.0) -> Row:
    row = Row(label, subject, now - 2.0, total)
    row.advance(done, now - 1.0)
    return row


@settings(max_examples=300, deadline=None)
@given(text=NAMES, width=st.integers(0, 120), ascii_=st.booleans())
@example(text="00⺀.00000000", width=12, ascii_=True)  # "00⺀....0000": a kept "." after it
def test_shorten_fits_and_keeps_both_ends(text: str, width: int, ascii_: bool) -> None:
    ellipsis = "..." if ascii_ else "…"
    short = shorten(text, width, ellipsis)
    # fitted by the widest reading (_cells.cells), so also within rich's narrower one
    assert cells(short) <= width and cell_len(short) <= width
    if cells(text) <= width:
        assert short == text
    elif width > cells(ellipsis) + 1:
        # the ellipsis may touch a kept "." ("a.....wav"): any reading of it as head +
        # ellipsis + tail that keeps both ends will do
        splits = [
            (short[:at], short[at + len(ellipsis) :])
            for at in range(len(short))
            if short.startswith(ellipsis, at)
        ]
        assert any(
            head and text.startswith(head) and text.endswith(tail) for head, tail in splits
        ), (text, short)  # the start of the name is always there


def test_shorten_measures_wide_characters_in_cells() -> None:
    name = "東京の夜明けのうた-リマスター版.wav"  # two cells a character
    short = shorten(name, 16)
    assert cell_len(short) <= 16 and short.startswith("東京") and short.endswith(".wav")


@settings(max_examples=300, deadline=None)
@given(
    subject=NAMES | st.just(""),
    label=st.sampled_from(["upload", "vocal.wav", "job 28bdbc94…", "drum.mp3"]),
    total=st.none() | st.integers(0, 10**13),
    done=st.integers(0, 10**13),
    width=st.integers(0, 300),
    name_width=st.integers(0, 200),
    job=st.booleans(),
    ended=st.booleans(),
    glyphs=st.sampled_from([UNICODE, ASCII]),
)
def test_every_row_fits_the_width_on_one_line(
    subject: str,
    label: str,
    total: int | None,
    done: int,
    width: int,
    name_width: int,
    job: bool,
    ended: bool,
    glyphs: Glyphs,
) -> None:
    row = transfer(label, subject, total, done)
    row.job, row.status = job, "running"
    if ended:
        row.ended = -0.5
    text = fit_row(row, 0.0, width, max(name_width, cell_len(row.name(glyphs))), glyphs)
    assert "\n" not in text.plain
    assert cell_len(text.plain) <= width
    if width >= 40 and subject:  # the row names its input: at least its start
        assert text.plain[2:].startswith(subject[0])


COLUMN_PATTERNS = {
    "bar": re.compile("━|─"),
    "size": re.compile(r"\d/\d+\.\d MiB"),
    "speed": re.compile(r"B/s"),
    "time": re.compile(r"eta \d+:\d\d"),
}


@pytest.mark.parametrize(
    ("width", "shown"),
    [
        (120, {"bar", "size", "speed", "time"}),
        (80, {"bar", "size", "speed", "time"}),
        (66, {"bar", "size", "time"}),  # the speed goes first
        (60, {"bar", "size"}),  # then the time
        (52, {"bar", "size"}),
        (40, {"size"}),  # then the bar
        (20, set()),  # then the size: the name stays
    ],
)
def test_columns_go_in_a_defined_order(width: int, shown: set[str]) -> None:
    row = transfer("vocal.wav", "song-a.wav", 8 * 1024**2, 3 * 1024**2, now=0.0)
    name = row.name(UNICODE)
    text = fit_row(row, 0.0, width, cell_len(name), UNICODE).plain
    assert {key for key, pattern in COLUMN_PATTERNS.items() if pattern.search(text)} == shown
    assert cell_len(text) <= width
    assert text[2:].startswith("song-a")  # the input is named at every width


def test_the_input_name_is_shortened_before_the_label() -> None:
    row = transfer("vocal.wav", "a-very-long-input-name-for-the-second-song.wav", 10**6, 10)
    for width in (60, 80):
        text = fit_row(row, 0.0, width, 80, UNICODE).plain
        subject, sep, label = text[2:].partition(" · ")
        assert sep and label.startswith("vocal.wav ")  # the label is whole
        assert subject.startswith("a-ve") and "…" in subject and subject.endswith("wav")


def test_speed_is_known_after_a_single_step_and_once_done() -> None:
    """The cause of the upload speed that stayed '?': a part of up to 1 MiB is read (and
    reported) in one step; a speed that needs two samples never comes."""
    row = Row("upload", "song.wav", 10.0, 352_844)
    assert row.speed(10.5) is None  # nothing moved yet: not known, not zero
    row.advance(352_844, 10.01)
    assert row.speed(10.5) == pytest.approx(352_844 / 0.5)
    row.ended = 11.0
    assert row.speed(99.0) == pytest.approx(352_844 / 1.0)  # over the whole transfer
    columns = row.columns(99.0)
    assert columns["speed"] == "344.6 KiB/s" and columns["time"] == "0:01"


def test_one_time_column_eta_while_running_elapsed_when_done() -> None:
    row = Row("vocal.wav", "song.wav", 0.0, 1000)
    row.advance(250, 1.0)
    assert row.columns(1.0)["time"] == "eta 0:03"  # 250 B/s, 750 B to go
    row.ended = 4.0
    assert row.columns(9.0)["time"] == "0:04"  # the time it took


def test_finished_rows_linger_then_go_and_the_display_is_bounded() -> None:
    clock = Clock()
    rows = Rows(UNICODE, clock)
    for n in range(30):
        rows.start_transfer(f"k{n}", "vocal.wav", f"in{n}.wav", 100)
    lines = rows.lines(80, 10)
    assert len(lines) == 10 and lines[-1].plain.strip() == "and 21 more"
    rows.end("k0", ok=True)
    rows.job("j", "job 1a2b3c4d…", "in0.wav", "success", 3.0)
    clock.now += LINGER / 2
    shown = [line.plain for line in rows.lines(200, 100)]
    assert any(line.startswith("✓ in0.wav · vocal.wav") for line in shown)
    assert any(line.startswith("✓ in0.wav · job 1a2b3c4d…") for line in shown)
    clock.now += LINGER
    shown = [line.plain for line in rows.lines(200, 100)]
    assert len(shown) == 29 and not any("in0.wav" in line for line in shown)


class TtyBuffer(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_after_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """After Ctrl-C the display is closed while workers may still report: none of that
    may start a new display (a frozen spinner) or draw a row again."""
    monkeypatch.setenv("TERM", "xterm-256color")
    err = TtyBuffer()
    console = Console(err=err, out=io.StringIO())
    console.job_status("1a2b3c4d-0000", "running", 1.0, subject="song.wav")
    time.sleep(0.3)
    assert "song.wav · job 1a2b3c4d…" in err.getvalue()
    console.close()
    drawn = len(err.getvalue())
    console.job_status("1a2b3c4d-0000", "running", 2.0, subject="song.wav")
    console.transfer_start("download:x", "vocal.wav", None, subject="song.wav")
    console.transfer_advance("download:x", 10)
    time.sleep(0.3)
    assert len(err.getvalue()) == drawn


@pytest.mark.parametrize("width", [60, 80, 120])
def test_summary_never_cuts_job_ids(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("TERM", "xterm-256color")
    jobs = ["28bdbc94-ece8-11f1-9613-02fc00000001", "30e1f2aa-ece8-11f1-a668-02fc00000002"]
    rows = [
        ("song-a.wav", jobs[0], "success", "1 file"),
        ("a-very-long-input-name-for-the-second-song-of-the-album.wav", jobs[1], "failed", "x"),
    ]
    err = TtyBuffer()
    summary_table(rows, err)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", err.getvalue()).splitlines()
    assert all(cell_len(line) <= width for line in lines)
    for job in jobs:
        assert any(job in line for line in lines), (job, lines)


def test_summary_counts_files_in_the_singular_and_plural(tmp_path: object) -> None:
    from pathlib import Path

    from gsep_cli.batch import InputResult
    from gsep_cli.cli._output import summary_row
    from gsep_cli.client import WrittenFile

    def result(count: int) -> InputResult:
        done = InputResult(Path("song.wav"))
        done.status, done.job_id = "success", "j"
        done.files = [WrittenFile("vocal", "wav", Path(f"{n}.wav"), 1) for n in range(count)]
        return done

    assert [summary_row(result(n))[3] for n in (1, 2, 0)] == ["1 file", "2 files", "0 files"]
