"""Never hang, never crash, never leak: servers and networks that misbehave (issue 13).

Each test runs the installed ``gsep`` against a sandbox fault over real HTTP with small
timeouts, and checks the outcome, the exit code, the wall time and the files on disk.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from clitools import assert_clean_error, clean_env, make_wav, run_gsep

from gsep_cli.sandbox import Sandbox

KEY = "hostile-key-4711"
ESC = "\x1b"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        tmp_path,
        GSEP_API_KEY=KEY,
        GSEP_POLL_INTERVAL="0.05",
        GSEP_POLL_CAP="0.1",
        GSEP_RETRY_CAP="0.05",
        GSEP_READ_TIMEOUT="1",
        GSEP_CONNECT_TIMEOUT="1",
        GSEP_STALL_TIME="1",
        GSEP_STALL_RATE="2000",
    )


def timed(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> tuple:
    started = time.monotonic()
    run = run_gsep(args, env, cwd=cwd, timeout=timeout)
    return run, time.monotonic() - started


def job_on(sb: Sandbox, song: Path) -> str:
    """A finished job made through the sandbox's own API (no gsep involved)."""
    from conftest import Api

    api = Api(sb, key=KEY)
    upload = api.upload(song.read_bytes(), name=song.name)
    job = api.job_id(audioUploadId=upload, type="vocal")
    api.wait(job)
    return job


# ---- A1: the read timeout holds for every request --------------------------------------
@pytest.mark.parametrize("fault", ["part-delay:1:30", "download-delay:1:30"])
def test_the_read_timeout_holds_for_parts_and_results(
    tmp_path: Path, env: dict[str, str], fault: str
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=[fault]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run, took = timed(["separate", "song.wav"], env, tmp_path)
    assert run.code == 0, str(run)
    assert took < 15  # one 1 s read timeout, one retry; not the fixed 120 or 300 s
    assert "timed out" in run.err
    assert (tmp_path / "song" / "vocal.wav").is_file()


# ---- B5: a retry says why in words ---------------------------------------------------------
def test_download_retries_give_a_readable_reason(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=1 << 20, faults=["download-truncate:2"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
    assert run.code == 0, str(run)
    notices = [line for line in run.err_lines if "download interrupted" in line]
    assert len(notices) == 2
    readable = ("the connection closed before the end", "connection lost", "got ")
    for line in notices:
        assert any(f"({reason}" in line for reason in readable), line
        assert "IncompleteRead" not in line and "('" not in line and "Error" not in line


# ---- B6: the storage server decides whether a URL expired, not this machine's clock --------
def test_a_clock_a_day_ahead_still_uploads(tmp_path: Path, env: dict[str, str]) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    behind = 25 * 3600.0  # the sandbox's clock (and the URLs it signs) a day behind ours
    with Sandbox(job_seconds=0, chunk_size=8192, clock=lambda: time.time() - behind) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        run = run_gsep(["upload", "song.wav"], env, cwd=tmp_path)
        assert run.code == 0, str(run)
        assert [e for e in sb.requests if e["kind"] == "s3"]  # the parts were sent
    assert "clock is 1500 min ahead" in run.err


# ---- C1: server text never drives the terminal ----------------------------------------------
HOSTILE = f"{ESC}]0;PWNED\x07{ESC}[2Jbad\u202eevil\x9b31m"


def test_control_characters_from_the_server_are_escaped(
    tmp_path: Path, env: dict[str, str]
) -> None:
    make_wav(tmp_path / "song.wav", seconds=0.3)
    with Sandbox(job_seconds=0, chunk_size=8192, faults=[f"job-fail:1:{HOSTILE}"]) as sb:
        env["GSEP_BASE_URL"] = sb.base_url
        plain = run_gsep(["separate", "song.wav"], env, cwd=tmp_path)
        listed = json.loads(run_gsep(["--json", "jobs", "list"], env, cwd=tmp_path).out)
        job = listed["jobs"][0]["jobId"]
        shown = run_gsep(["job", "status", job], env, cwd=tmp_path)
        as_json = run_gsep(["--json", "job", "status", job], env, cwd=tmp_path)
    line = assert_clean_error(plain, 7, "failed")
    for run in (plain, shown, as_json):
        for raw in (ESC, "\x07", "\u202e", "\x9b"):
            assert raw not in run.err and raw not in run.out, str(run)
    assert "\\x1b]0;PWNED\\x07\\x1b[2Jbad\\u202eevil\\x9b31m" in line
    assert shown.out == "failed\n"
    assert json.loads(as_json.out)["errorMessage"] == HOSTILE  # JSON keeps the exact text
