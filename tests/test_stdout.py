"""``-o -``: one stem to standard output for pipes (issue 6).

The installed ``gsep`` runs in a subprocess with stdout as a pipe; the bytes it writes
must equal the file a normal download writes, also when the download is cut off and the
server ignores ``Range`` (the bytes already sent are skipped, never sent twice).
"""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path
from typing import Any

import pytest
from clitools import (
    SECRET,
    api_requests,
    assert_clean_error,
    clean_env,
    gsep_exe,
    key_info_requests,
    make_wav,
    run_cli,
    run_gsep,
)
from clitools import set_env as _set_env

from gsep_cli.sandbox import Sandbox


@pytest.fixture
def sb(sandbox: Any) -> Sandbox:
    # a fresh sandbox per test (not the module's shared one), jobs that end at once
    box: Sandbox = sandbox(rate_limit=0)
    return box


@pytest.fixture
def env(tmp_path: Path, sb: Sandbox) -> dict[str, str]:
    make_wav(tmp_path / "song.wav", seconds=1.0)
    return clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)


def _binary_run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bytes, str]:
    proc = subprocess.run(
        [gsep_exe(), *args], env=env, cwd=cwd, capture_output=True, timeout=90, check=False
    )
    return proc.returncode, proc.stdout, proc.stderr.decode()


def _job_id(stderr: str) -> str:
    match = re.search(r"job (\S+) created", stderr)
    assert match, stderr
    return match[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults", [[], ["download-truncate:2"], ["download-truncate:1", "download-no-range:1"]]
)
def test_separate_streams_the_same_bytes_as_a_file_download(
    tmp_path: Path, env: dict[str, str], sb: Sandbox, faults: list[str]
) -> None:
    for fault in faults:
        sb.add_fault(fault)
    code, out, err = _binary_run(
        ["separate", "song.wav", "--stems", "vocal", "--format", "wav", "-o", "-"], env, tmp_path
    )
    assert code == 0, err
    assert "Traceback" not in err
    job_id = _job_id(err)
    fetched = run_gsep(["download", job_id, "--stems", "vocal", "-o", "files"], env, cwd=tmp_path)
    assert fetched.code == 0, str(fetched)
    assert out == (tmp_path / fetched.out.strip()).read_bytes()
    assert not (tmp_path / "song").exists()  # nothing written to disk by the stream
    assert not (tmp_path / "manifest.json").exists()
    if "download-no-range:1" in faults:  # the resumed request really got the whole file
        assert any(e["kind"] == "cdn" and "range" in e["headers"] for e in sb.requests), (
            "no Range request was made"
        )


@pytest.mark.slow
def test_download_streams_mp3_and_lyrics_csv(tmp_path: Path, env: dict[str, str]) -> None:
    submitted = run_gsep(
        ["separate", "song.wav", "-s", "vocal,drum", "-f", "both", "-o", "out"], env, cwd=tmp_path
    )
    assert submitted.code == 0, str(submitted)
    job_id = _job_id(submitted.err)
    code, out, err = _binary_run(
        ["download", job_id, "--stems", "drum", "--format", "mp3", "-o", "-"], env, tmp_path
    )
    assert code == 0, err
    assert out == (tmp_path / "out/song/drum.mp3").read_bytes()

    (tmp_path / "song.txt").write_text("la la la\nna na na\n", encoding="utf-8")
    made = run_gsep(
        ["separate", "song.wav", "-m", "gts_lyrics_line_v1", "--language", "en", "-o", "ly"],
        env,
        cwd=tmp_path,
    )
    assert made.code == 0, str(made)
    code, out, err = _binary_run(
        ["download", _job_id(made.err), "-m", "gts_lyrics_line_v1", "-s", "lyrics", "-o", "-"],
        env,
        tmp_path,
    )
    assert code == 0, err
    assert out == (tmp_path / "ly/song/lyrics.csv").read_bytes()
    assert out.startswith(b"timestamp,lyric_text")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-s", "vocal,drum"], "but 2 are asked for (vocal.wav, drum.wav)"),
        (["-s", "vocal", "-f", "both"], "but 2 are asked for (vocal.wav, vocal.mp3)"),
        (["-s", "vocal", "song.wav", "other.wav"], "but there are 2"),
        (["--json_first", "-s", "vocal"], "--json and -o - both want standard output"),
    ],
)
def test_stdout_mistakes_are_refused_before_any_request(
    tmp_path: Path, env: dict[str, str], sb: Sandbox, args: list[str], fragment: str
) -> None:
    make_wav(tmp_path / "other.wav", seconds=0.2)
    front = ["--json"] if "--json_first" in args else []
    args = [a for a in args if a != "--json_first"]
    run = run_gsep([*front, "separate", "song.wav", *args, "-o", "-"], env, cwd=tmp_path)
    assert_clean_error(run, 2, fragment)
    assert api_requests(sb) == []


@pytest.mark.slow
def test_download_of_several_stems_to_stdout_is_refused_before_any_file(
    tmp_path: Path, env: dict[str, str], sb: Sandbox
) -> None:
    made = run_gsep(["separate", "song.wav", "-s", "vocal,drum", "-o", "out"], env, cwd=tmp_path)
    assert made.code == 0, str(made)
    sb.clear_requests()
    run = run_gsep(["download", _job_id(made.err), "-o", "-"], env, cwd=tmp_path)
    assert_clean_error(run, 2, "but 2 are asked for", "--stems vocal")
    assert [e for e in sb.requests if e["kind"] == "cdn"] == []  # only the job was read


def test_a_terminal_is_refused(
    capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: Sandbox
) -> None:
    _set_env(monkeypatch, tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)
    monkeypatch.chdir(tmp_path)
    make_wav(tmp_path / "song.wav", seconds=0.2)
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    run = run_cli(capsys, ["separate", "song.wav", "-s", "vocal", "-o", "-"])
    assert_clean_error(run, 2, "refusing to write audio to a terminal", "pipe it")
    assert api_requests(sb) == []


@pytest.mark.slow
def test_dry_run_says_stdout(tmp_path: Path, env: dict[str, str], sb: Sandbox) -> None:
    run = run_gsep(
        ["separate", "song.wav", "-s", "vocal", "-o", "-", "--dry-run"], env, cwd=tmp_path
    )
    assert run.code == 0, str(run)
    assert run.out.rstrip().endswith("; would write -")
    assert key_info_requests(sb) == 1  # the credits left


@pytest.mark.slow
def test_reader_quitting_early_gives_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "long.wav", seconds=6.0)  # ~1 MiB: more than a pipe buffer holds
    proc = subprocess.Popen(
        [gsep_exe(), "separate", "long.wav", "-s", "vocal", "-o", "-"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(44)  # a program that only wanted the WAV header
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert head.startswith(b"RIFF")
    assert code == 2, err
    assert "Traceback" not in err and "Exception ignored" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("gsep: error:")]
    assert line.startswith(
        "gsep: error: the program reading vocal.wav stopped before the end — "
        "Check the command after the pipe; job "
    )
    assert "run the same command again to resume it" in line  # the paid job is not lost
    with wave.open(str(tmp_path / "long.wav")) as w:
        assert w.getnframes() == 6 * 44100
