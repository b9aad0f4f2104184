"""Issue 18's additions, attacked from outside (round 1): the library's Session, the
GitHub step summary, the values a library caller can pass. Each test shows a problem
found by trying to break them, fixed where it lives."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from clitools import SECRET, make_wav, run_gsep, set_env
from test_github_summary import ci  # noqa: F401  (the fixture: a step's environment)

from gsep_cli import Session
from gsep_cli.sandbox import Sandbox


@pytest.fixture
def box(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A sandbox (jobs done at once) that ``Session()`` reaches through the environment
    (key: clitools.SECRET), the current folder a temp one holding ``song.wav``."""
    started: Sandbox = sandbox(rate_limit=0)
    set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=started.base_url)
    monkeypatch.chdir(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    return started


def test_a_session_that_used_the_key_never_shows_it(box: Sandbox) -> None:
    # a dataclass repr listed every field, _key included: print(session), a debugger,
    # a logged exception's locals or pytest's assertion rewriting showed the key
    with Session() as session:
        results = session.separate("song.wav", stems="vocal", out_dir="out")
        assert results[0].ok, results[0].error
        client = session.client()
        for shown in (repr(session), str(session), repr(client), repr(session.ledger())):
            assert SECRET not in shown, shown
        assert "sandbox=False" in repr(session)  # the parameters are still shown


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("reader", [False, True], ids=["nobody-reads", "read"])
def test_a_step_summary_fifo_is_written_or_a_warning_never_a_hang(
    request: pytest.FixtureRequest, tmp_path: Path, reader: bool
) -> None:
    # open(fifo, "a") waited for a reader forever: the paid run never ended
    env: dict[str, str] = {**request.getfixturevalue("ci")}  # a step's environment
    fifo = tmp_path / "summary"
    os.mkfifo(fifo)
    env["GITHUB_STEP_SUMMARY"] = str(fifo)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    read: list[str] = []
    thread = threading.Thread(target=lambda: read.append(fifo.read_text(encoding="utf-8")))
    if reader:
        thread.start()
    args = ["separate", "song.wav", "-s", "vocal", "-o", "out"]
    run = run_gsep(args, env, cwd=tmp_path, timeout=30)
    if thread.is_alive():  # a reader that never saw a writer: release it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
    assert run.code == 0 and run.lines == ["out/song/vocal.wav"], run
    warning = [line for line in run.err_lines if "GITHUB_STEP_SUMMARY" in line]
    if reader:
        assert not warning, run
        assert "| song.wav |" in read[0] and "out/song/vocal.wav" in read[0], read
    else:
        assert len(warning) == 1 and "a pipe that nobody reads" in warning[0], run
