"""The live display on pseudo-terminals of awkward sizes, read back through pyte: a
terminal 3 rows tall or less, one made narrower mid-run (reflowing as tmux and VTE do),
names with emoji skin-tone modifiers, and a batch whose first input fails before any row
is drawn."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from clitools import SECRET, clean_env, make_wav
from termtools import ROW_START, Terminal, run_in_terminal

from gsep_cli.cli._cells import cells
from gsep_cli.sandbox import Sandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="needs a pty"),
]

THUMBS = "👍🏽" * 10 + " thumbs.wav"
LONG = "a rather long name of a song that goes on and on, remix final v2.wav"
#: What only the live display draws (a row's fragment, folded or not, shows one of them).
DISPLAY_ONLY = re.compile("[━·…⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓✗]|KiB|MiB|B/s|eta |running|waiting")


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, object]:
    return {"job_seconds": 2.0, "chunk_size": 4096, "rate_limit": 0}


def inputs(folder: Path, *names: str) -> list[str]:
    for seed, name in enumerate(names):
        make_wav(folder / name, seconds=0.25, seed=seed + 1)  # distinct contents: one job each
    return list(names)


def env_for(tmp_path: Path, sb: Sandbox) -> dict[str, str]:
    return clean_env(
        tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url, TERM="xterm-256color"
    )


def assert_clean_end(term: Terminal, code: int) -> None:
    seen = term.seen()
    assert code == 0, "\n".join(seen)
    stale = [line for line in seen if DISPLAY_ONLY.search(line)]
    assert not stale, "\n".join(seen)
    assert "internal error" not in "\n".join(seen) and "Traceback" not in "\n".join(seen)


@pytest.mark.parametrize(("cols", "narrower"), [(80, 79), (120, 60)])
def test_no_stale_rows_after_the_terminal_got_narrower(
    tmp_path: Path, sb: Sandbox, cols: int, narrower: int
) -> None:
    sb.add_fault("download-drip:2:60000")
    names = inputs(tmp_path, "song-a.wav", LONG)
    at: list[int] = []
    code, raw = run_in_terminal(
        ["separate", *names, "-o", "out"],
        env_for(tmp_path, sb),
        tmp_path,
        cols=cols,
        rows=30,
        resize_when=lambda out: out.count(" · job ".encode()) >= 4,  # rows drawn, redrawn
        resize_to=narrower,
        resized_at=at,
    )
    assert at, raw.decode(errors="replace")[-2000:]
    term = Terminal(cols, 30)
    term.feed(raw[: at[0]])
    widest = max(cells(line) for line in term.seen() if line.startswith(ROW_START))
    assert widest > narrower or cols - narrower == 1  # the rows did fold (or sat in col 80)
    term.resize(narrower)
    term.feed(raw[at[0] :])
    assert_clean_end(term, code)
    assert sum(line.endswith("vocal.wav") for line in term.unwrapped()) >= 2  # the results


@pytest.mark.parametrize("rows", [2, 3, 4])
def test_a_terminal_three_rows_tall_or_less(tmp_path: Path, sb: Sandbox, rows: int) -> None:
    names = inputs(tmp_path, "b04.wav", "b05.wav", "b06.wav")
    code, raw = run_in_terminal(
        ["separate", *names, "-o", "out"], env_for(tmp_path, sb), tmp_path, cols=80, rows=rows
    )
    term = Terminal(80, 200)  # tall: everything gsep wrote stays readable
    term.feed(raw)
    text = "\n".join(term.unwrapped())
    assert code == 0, text
    assert "internal error" not in text and "Traceback" not in text
    assert text.count("vocal.wav") >= 3  # every result


def test_names_with_skin_tone_modifiers_never_wrap(tmp_path: Path, sb: Sandbox) -> None:
    sb.add_fault("download-drip:2:60000")
    names = inputs(tmp_path, THUMBS, "b18.wav")
    code, raw = run_in_terminal(
        ["separate", *names, "-o", "out"], env_for(tmp_path, sb), tmp_path, cols=80, rows=24
    )
    term = Terminal(80, 24)
    drawn = 0
    for start in range(0, len(raw), 97):
        term.feed(raw[start : start + 97])
        rows = [line for line in term.unwrapped() if line.startswith(ROW_START)]
        drawn += any("👍" in line for line in rows)
        for line in rows:  # pyte draws 👍🏽 as two two-cell characters, as tmux does
            assert len(line) + sum(map(line.count, "👍🏽")) <= 79, line
            assert cells(line) <= 79, line  # the widest reading fits too
        assert len(rows) <= 4, rows  # no flood of rows copied by wrapping
    assert drawn, raw.decode(errors="replace")[-2000:]
    assert_clean_end(term, code)


def test_an_input_failing_first_leaves_the_display_to_the_others(
    tmp_path: Path, sb: Sandbox
) -> None:
    names = inputs(tmp_path, "a.wav", "b.wav")
    code, raw = run_in_terminal(
        ["separate", "missing.wav", *names, "-o", "out"],
        env_for(tmp_path, sb),
        tmp_path,
        cols=80,
        rows=24,
    )
    error = raw.find(b"gsep: error: missing.wav")
    assert error >= 0, raw.decode(errors="replace")
    after = raw[error:].decode(errors="replace")
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] a\.wav · ", after), after[-2000:]
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] b\.wav · ", after), after[-2000:]
    term = Terminal(80, 24)
    term.feed(raw)
    seen = term.seen()
    assert code != 0 and not any(DISPLAY_ONLY.search(line) for line in seen), seen
