"""``gsep separate`` with several inputs in a real pseudo-terminal of 60, 80 and 120
columns, read back through a terminal emulator (pyte): no line wider than the terminal,
every row names its input, nothing stale on the final screen (after completion and after
Ctrl-C), job ids whole in the summary, ``1 file``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from clitools import SECRET, clean_env, make_wav
from termtools import ROW_START, Terminal, run_in_terminal

from gsep_cli.sandbox import Sandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="needs a pty"),
]

JOB_ID = re.compile(rb"job ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) created")
INPUTS = ("song-a.wav", "song-b.wav", "a-rather-long-name-for-the-third-input-of-this-batch.wav")
#: What only the live display draws: its bars and the separator in its rows' names.
DISPLAY_ONLY = ("━", " · ")


@pytest.fixture(scope="module")
def sandbox_options() -> dict[str, object]:
    return {"job_seconds": 0.8, "chunk_size": 4096, "rate_limit": 0}


def batch_inputs(folder: Path) -> list[str]:
    for seed, name in enumerate(INPUTS):
        make_wav(folder / name, seconds=0.25, seed=seed + 1)  # three contents: three jobs
    return list(INPUTS)


def check_every_moment(raw: bytes, cols: int, rows: int) -> Terminal:
    """Feed ``raw`` piece by piece; at every moment no line is wider than the terminal
    (bar a message or a result path, which the terminal wraps as any program's) and every
    row of the live display names its input. Returns the terminal as it ends."""
    term = Terminal(cols, rows)
    for at in range(0, len(raw), 97):
        term.feed(raw[at : at + 97])
        for line in term.unwrapped():
            assert len(line) <= cols or line.startswith(("gsep: ", "out/")), (cols, line)
            if line.startswith(ROW_START):
                head = re.split("…| ·", line[2:])[0]  # up to where it is shortened
                assert any(name.startswith(head) for name in INPUTS), (cols, line)
                assert len(head) >= 3 or len(line) < 6, (cols, line)
    return term


def assert_nothing_stale(term: Terminal) -> None:
    for line in term.seen():
        assert not line.startswith(ROW_START), line
        assert not any(mark in line for mark in DISPLAY_ONLY), line


@pytest.mark.parametrize("cols", [60, 80, 120])
def test_batch_on_a_terminal(tmp_path: Path, sb: Sandbox, cols: int) -> None:
    sb.add_fault("download-drip:3:60000")  # downloads slow enough to be drawn mid-way
    names = batch_inputs(tmp_path)
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url, TERM="xterm-256color")
    code, raw = run_in_terminal(
        ["separate", *names, "--jobs", "3", "-o", "out"], env, tmp_path, cols=cols, rows=40
    )
    term = check_every_moment(raw, cols, 40)
    seen = term.seen()
    assert code == 0, "\n".join(seen)
    assert "song-a.wav · upload".encode() in raw  # rows were drawn, naming their input
    assert "song-b.wav · vocal.wav".encode() in raw or b"song-b.wav \xc2\xb7 vocal" in raw
    assert_nothing_stale(term)
    jobs = {m.decode() for m in JOB_ID.findall(raw)}
    assert len(jobs) == 3
    summary = seen[next(i for i, line in enumerate(seen) if "summary" in line) :]
    for job in jobs:  # the ids a user needs to resume, each whole on one line
        assert any(job in line for line in summary), (job, summary)
    assert sum("1 file" in line for line in summary) == 3
    assert not any("1 files" in line for line in seen)
    for name in names:  # the results, between which nothing of the display is left
        assert f"out/{Path(name).stem}/vocal.wav" in "".join(term.unwrapped())
    assert SECRET.encode() not in raw


def test_ctrl_c_leaves_one_message_and_no_display(tmp_path: Path) -> None:
    names = batch_inputs(tmp_path)
    env = clean_env(
        tmp_path,
        TERM="xterm-256color",
        GSEP_SANDBOX_JOB_SECONDS="30",  # the jobs are still running at Ctrl-C
        GSEP_SANDBOX_CHUNK_SIZE="4KiB",
    )

    def jobs_drawn(out: bytes) -> bool:
        return out.count(" · job ".encode()) >= 3

    code, raw = run_in_terminal(
        ["--sandbox", "separate", *names, "-o", "out"],
        env,
        tmp_path,
        cols=80,
        rows=24,
        on_output=jobs_drawn,
    )
    term = check_every_moment(raw, 80, 24)
    seen = term.seen()
    assert jobs_drawn(raw), "\n".join(seen)
    assert code == 130, "\n".join(seen)
    assert_nothing_stale(term)
    errors = [line for line in term.unwrapped() if line.startswith("gsep: error:")]
    assert len(errors) == 1 and "interrupted" in errors[0], seen
    assert "interrupted" in [line for line in term.unwrapped() if line][-1]  # the last word
