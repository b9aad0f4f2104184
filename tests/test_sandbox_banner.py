"""``--sandbox`` announces the emulator only when the first request is about to go to it:
a local failure found anywhere (the command's checks, or the batch's own checks of each
input: the audio, an existing output, the lyrics, a stdin list of missing files) never
shows the banner. Through the installed entry point."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from clitools import assert_clean_error, clean_env, make_wav, run_gsep
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BANNER = "using the built-in sandbox"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    make_wav(tmp_path / "song.wav", seconds=0.2)
    return clean_env(tmp_path)


def _no_banner(err: str) -> None:
    assert BANNER not in err, err


def test_an_existing_output_refused_in_the_batch(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "out" / "song").mkdir(parents=True)
    (tmp_path / "out" / "song" / "vocal.wav").write_bytes(b"mine")
    run = run_gsep(["--sandbox", "separate", "song.wav", "-o", "out"], env, cwd=tmp_path)
    assert_clean_error(run, 2, "already exists")
    _no_banner(run.err)
    assert (tmp_path / "out" / "song" / "vocal.wav").read_bytes() == b"mine"


def test_a_lyrics_file_refused_in_the_batch(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("only one line\n", encoding="utf-8")
    argv = ["separate", "song.wav", "-m", "gts_lyrics_line_v1", "--lyrics", "one.txt"]
    run = run_gsep([*argv, "--language", "en", "--sandbox"], env, cwd=tmp_path)
    assert_clean_error(run, 2, "fewer than 2 lines of lyrics")
    _no_banner(run.err)


def test_an_input_that_is_not_audio(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_text("not audio\n")
    run = run_gsep(["--sandbox", "separate", "bad.wav"], env, cwd=tmp_path)
    assert_clean_error(run, 2, "bad.wav")
    _no_banner(run.err)


def test_a_stdin_list_of_missing_files(env: dict[str, str], tmp_path: Path) -> None:
    run = run_gsep(["--sandbox", "separate", "-"], env, cwd=tmp_path, stdin="a.wav\nb.wav\n")
    assert run.code == 2, run
    assert "file not found: a.wav" in run.err and "file not found: b.wav" in run.err, run
    _no_banner(run.err)


@pytest.mark.slow
def test_the_banner_comes_once_when_a_request_is_sent(env: dict[str, str], tmp_path: Path) -> None:
    """The counterpart: a run that talks to the emulator says so, once, on stderr."""
    run = run_gsep(["--sandbox", "separate", "song.wav", "-o", "out"], env, cwd=tmp_path)
    assert run.code == 0, run
    assert run.err.count(BANNER) == 1, run
    assert BANNER not in run.out


#: Inputs that fail a local check, each written into the run's folder by its maker.
def _missing(folder: Path, name: str) -> str:
    return f"{name}.wav"


def _not_audio(folder: Path, name: str) -> str:
    (folder / f"{name}.wav").write_bytes(b"RIFF?not a wave")
    return f"{name}.wav"


def _empty(folder: Path, name: str) -> str:
    (folder / f"{name}.mp3").write_bytes(b"")
    return f"{name}.mp3"


def _output_exists(folder: Path, name: str) -> str:
    make_wav(folder / f"{name}.wav", seconds=0.1)
    (folder / "out" / name).mkdir(parents=True, exist_ok=True)
    (folder / "out" / name / "vocal.wav").write_bytes(b"mine")
    return f"{name}.wav"


FAILURES = [_missing, _not_audio, _empty, _output_exists]


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(FAILURES), min_size=1, max_size=4),
    before=st.booleans(),
)
def test_no_local_failure_ever_shows_the_banner(kinds: list, before: bool) -> None:
    """Any set of inputs that all fail locally: exit 2, every input named, no banner."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = [make(folder, f"in{i}") for i, make in enumerate(kinds)]
        argv = ["separate", "-", "-o", "out"]
        argv = ["--sandbox", *argv] if before else [*argv, "--sandbox"]
        run = run_gsep(argv, clean_env(folder), cwd=folder, stdin="\n".join(names) + "\n")
        assert run.code == 2, run
        for i in range(len(names)):
            assert f"in{i}" in run.err, run
        _no_banner(run.err)
