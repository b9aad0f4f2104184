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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_action import key_env, run_action
from test_github_summary import ci  # noqa: F401  (the fixture: a step's environment)

from gsep_cli import Session, UsageError
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


#: A value of each kind the command line's parsers never let through.
NOT_BOOL = st.one_of(st.text(max_size=4), st.integers(), st.floats(allow_nan=False))
FLAGS = ["force", "skip_existing", "pay_again", "no_wait", "mix_only", "no_tags"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(FLAGS), value=NOT_BOOL)
def test_a_flag_that_is_not_a_bool_is_refused_before_any_request(
    box: Sandbox, name: str, value: object
) -> None:
    # force="no" was truthy: it overwrote; pay_again="false" would pay again
    box.clear_requests()
    with Session() as session, pytest.raises(TypeError, match=name):
        session.separate("song.wav", stems="vocal", out_dir="out", **{name: value})
    assert box.requests == []


@pytest.mark.parametrize(
    ("choices", "raised", "words"),
    [
        ({"timeout": "x"}, TypeError, "timeout must be a number, not str"),
        ({"jobs": "3"}, TypeError, "jobs must be an int"),
        ({"max_jobs": "1"}, TypeError, "max_jobs must be an int"),
        ({"max_jobs": True}, TypeError, "max_jobs must be an int"),
        ({"max_jobs": 1.5}, TypeError, "max_jobs must be an int"),
        ({"sample_rate": "44100"}, TypeError, "sample_rate must be an int"),
        ({"model": 5}, TypeError, "model must be a str"),
        ({"out_dir": 5}, TypeError, "out_dir must be a path"),
        ({"parallel": "4"}, TypeError, "parallel must be an int"),
        ({"recursive": "yes"}, TypeError, "recursive must be True or False"),
        ({"jobs": 0}, UsageError, "jobs=0 is not between 1 and 16"),
        ({"jobs": 100}, UsageError, "jobs=100 is not between 1 and 16"),
        ({"parallel": 0}, UsageError, "parallel=0 is not between 1 and 16"),
        ({"max_jobs": -1}, UsageError, "max_jobs=-1 is not 0 or more"),
        ({"timeout": -5}, UsageError, "timeout=-5 is not 0 or more"),
        ({"timeout": float("nan")}, UsageError, "timeout=nan is not 0 or more"),
        ({"timeout": float("inf")}, UsageError, "timeout=inf is not 0 or more"),
    ],
)
def test_a_value_the_cli_could_not_give_is_refused_before_any_request(
    box: Sandbox, choices: dict[str, Any], raised: type[Exception], words: str
) -> None:
    # timeout="x" uploaded the file, then failed as an internal error; jobs=0, jobs=100,
    # timeout=-5 ran; max_jobs=-1 said "would create 0 new jobs, more than --max-jobs -1"
    box.clear_requests()
    with Session() as session, pytest.raises(raised) as caught:
        session.separate("song.wav", **{"stems": "vocal", "out_dir": "out", **choices})
    assert words in str(caught.value)
    assert box.requests == []
    assert not Path("out").exists()


def test_a_lone_include_glob_is_one_glob_not_its_letters(box: Sandbox) -> None:
    # include="a*.wav" was taken as the globs "a", "*", ".", ...: "*" matched every file,
    # and the one the caller left out was paid for
    Path("album").mkdir()
    make_wav(Path("album/a1.wav"), seconds=0.21)
    make_wav(Path("album/b1.wav"), seconds=0.22)
    make_wav(Path("album/a2.wav"), seconds=0.23)
    with Session() as session:
        kept = session.separate("album", include="a*.wav", stems="vocal", no_wait=True)
        dropped = session.separate("album", exclude="a*.wav", stems="vocal", no_wait=True)
    assert [r.input.name for r in kept] == ["a1.wav", "a2.wav"]
    assert [r.input.name for r in dropped] == ["b1.wav"]
    assert box.store.job_count() == 3


@pytest.mark.parametrize("sandboxed", [False, True], ids=["api", "sandbox"])
def test_a_closed_session_used_again_works_and_never_pays_twice(
    box: Sandbox, sandboxed: bool
) -> None:
    # after close() the session handed out its closed ledger ("ValueError: the ledger is
    # closed") or its stopped sandbox ("RuntimeError: the sandbox is not started")
    session = Session(sandbox=sandboxed)
    with session:
        first = session.separate("song.wav", stems="vocal", out_dir="out")
    again = session.separate("song.wav", stems="vocal", out_dir="out")
    session.close()
    assert first[0].ok and again[0].ok, (first[0].error, again[0].error)
    assert again[0].job_id == first[0].job_id and again[0].reused == "job"
    assert box.store.job_count() == (0 if sandboxed else 1)


def test_the_actions_own_ledger_folder_is_private_so_gsep_never_warns_about_it(
    sandbox: Any, tmp_path: Path
) -> None:
    # run.sh made RUNNER_TEMP/gsep-state with the umask's mode 755, and every run of the
    # action warned "the job ledger's folder ... can be read by other users"
    box: Sandbox = sandbox(rate_limit=0)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    make_wav(workspace / "a.wav", seconds=0.2)
    run = run_action(tmp_path, workspace, {"files": "a.wav", "stems": "vocal"}, **key_env(box))
    assert run.code == 0 and run.paths() == ["a/vocal.wav"], run.stderr
    assert "can be read by other users" not in run.stderr, run.stderr
    assert (tmp_path / "runner-temp" / "gsep-state").stat().st_mode & 0o077 == 0
