"""The main flows through the *installed* ``gsep`` entry point, in subprocesses, against a
sandbox over real loopback HTTP (issue #3's acceptance scenario first)."""

from __future__ import annotations

import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import clitools
import pytest
from clitools import (
    ESC,
    SECRET,
    assert_clean_error,
    assert_no_secret,
    clean_env,
    files_under,
    make_wav,
    run_gsep,
)

from gsep_cli import __version__
from gsep_cli.client import GsepClient
from gsep_cli.errors import ExitCode
from gsep_cli.polling import PollPolicy
from gsep_cli.retry import RetryPolicy
from gsep_cli.sandbox import Sandbox


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return make_wav(tmp_path / "song.wav", seconds=0.3)


@pytest.fixture
def env(tmp_path: Path, sb: Sandbox) -> dict[str, str]:
    return clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=sb.base_url)


@pytest.mark.slow
def test_issue_example_separate_vocal_drum_wav(
    tmp_path: Path, sb: Sandbox, song: Path, env: dict[str, str]
) -> None:
    run = run_gsep(
        ["separate", "song.wav", "--stems", "vocal,drum", "--format", "wav"], env, cwd=tmp_path
    )
    assert run.code == 0, run
    # stdout: the written paths, one per line, default layout <DIR>/<track>/<stem>.<ext>
    assert run.lines == [os.path.join("song", "vocal.wav"), os.path.join("song", "drum.wav")]
    for line in run.lines:
        data = (tmp_path / line).read_bytes()
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert files_under(tmp_path / "song") == ["drum.wav", "vocal.wav"]
    # stderr: upload progress and live job status, as plain lines (not a terminal)
    assert "upload song.wav" in run.err
    assert re.search(r"job \S+: (waiting|running)", run.err)
    assert re.search(r"job \S+: success", run.err)
    assert ESC not in run.err
    assert_no_secret(run)
    # over the wire: one upload in many parts, one job, the key only on API calls
    assert sb.store.upload_count() >= 1
    log = sb.requests
    parts = [e for e in log if e["kind"] == "s3"]
    assert len(parts) == math.ceil(song.stat().st_size / 4096) > 5
    assert [e["kind"] for e in log if e["kind"] == "cdn"] == ["cdn", "cdn"]
    assert all(e["hasApiKey"] for e in log if e["kind"] == "api")
    assert not any(e["hasApiKey"] for e in log if e["kind"] != "api")
    posts = [e["path"] for e in log if e["kind"] == "api" and e["method"] == "POST"]
    assert posts == [
        "/developers/api/v1/files/upload-multipart/create",
        "/developers/api/v1/files/upload-multipart/complete",
        "/developers/api/v1/gsep_music_hq_v1/jobs",
    ]


@pytest.mark.slow
def test_step_by_step_commands(
    tmp_path: Path, sb: Sandbox, song: Path, env: dict[str, str]
) -> None:
    flag = ["--base-url", sb.base_url]
    env.pop("GSEP_BASE_URL")
    up = run_gsep([*flag, "upload", str(song)], env)
    assert up.code == 0, up
    (upload_id,) = up.lines
    assert "upload song.wav" in up.err

    job = run_gsep([*flag, "job", "create", upload_id, "--stems", "vocal", "--stems", "drum"], env)
    assert job.code == 0, job
    (job_id,) = job.lines

    now = run_gsep([*flag, "job", "status", job_id], env)
    assert now.code == 0 and now.out in ("waiting\n", "running\n", "success\n"), now

    wait = run_gsep([*flag, "job", "status", job_id, "--wait"], env)
    assert wait.code == 0, wait
    assert wait.out == "success\n"
    assert f"job {job_id}: success" in wait.err  # the live status went to stderr

    out = tmp_path / "out"
    dl = run_gsep([*flag, "download", job_id, "-o", str(out)], env)
    assert dl.code == 0, dl
    # on record since job create: the folder is named after the input, as for separate
    assert dl.lines == [str(out / "song" / "vocal.wav"), str(out / "song" / "drum.wav")]

    again = run_gsep([*flag, "download", job_id, "-o", str(out)], env)
    assert_clean_error(again, ExitCode.USAGE, "already exists", "--force")
    forced = run_gsep([*flag, "download", job_id, "-o", str(out), "--force"], env)
    assert forced.code == 0 and forced.lines == dl.lines

    extra = run_gsep(
        [*flag, "download", job_id, "-o", str(out), "-s", "others", "-f", "mp3", "--track", "t"],
        env,
    )
    assert extra.code == 0, extra
    assert extra.lines == [str(out / "t" / "others.mp3")]
    assert (out / "t" / "others.mp3").stat().st_size > 0
    for run in (up, job, now, wait, dl, again, forced, extra):
        assert_no_secret(run)


@pytest.mark.slow
def test_json_separate_through_the_entry_point(
    tmp_path: Path, song: Path, env: dict[str, str]
) -> None:
    run = run_gsep(["--json", "separate", str(song), "-o", str(tmp_path / "j")], env)
    assert run.code == 0, run
    doc = json.loads(run.out)  # exactly one JSON document
    assert doc["status"] == "success"
    assert [f["path"] for f in doc["files"]] == [str(tmp_path / "j" / "song" / "vocal.wav")]
    assert run.err and not run.err.lstrip().startswith("{")


@pytest.mark.slow
def test_sandbox_flag_needs_no_key(tmp_path: Path, song: Path) -> None:
    env = clean_env(tmp_path)  # no key, no base URL
    run = run_gsep(
        ["--sandbox", "separate", "song.wav", "-s", "vocal,drum", "-f", "both", "-o", "out"],
        env,
        cwd=tmp_path,
    )
    assert run.code == 0, run
    assert files_under(tmp_path / "out") == [
        "song/drum.mp3",
        "song/drum.wav",
        "song/vocal.mp3",
        "song/vocal.wav",
    ]
    assert "sandbox" in run.err
    example = run_gsep(["sandbox", "example"], env)
    quiet = run_gsep(["--sandbox", "-q", "--json", "upload", example.out.strip()], env)
    assert quiet.code == 0 and quiet.err == ""
    assert json.loads(quiet.out)["bytes"] == Path(example.out.strip()).stat().st_size


def test_version_and_help(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    version = run_gsep(["--version"], env)
    assert (version.code, version.out) == (0, f"gsep {__version__}\n")
    helped = run_gsep(["--help"], env)
    assert helped.code == 0 and "Example" in helped.out and "Exit codes" in helped.out
    module = subprocess.run(
        [sys.executable, "-m", "gsep_cli", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (module.returncode, module.stdout) == (0, f"gsep {__version__}\n")


def test_config_set_key_from_a_pipe_then_use_it(tmp_path: Path, sb: Sandbox, song: Path) -> None:
    env = clean_env(tmp_path, GSEP_BASE_URL=sb.base_url)
    saved = run_gsep(["config", "set-key"], env, stdin=SECRET + "\n")
    assert saved.code == 0, saved
    assert_no_secret(saved)
    show = run_gsep(["config", "show"], env)
    assert show.code == 0
    assert_no_secret(show)
    assert re.search(r"api_key\s+\*{8}1234\s+config profile 'default'\n", show.out)
    up = run_gsep(["-q", "upload", str(song)], env)
    assert up.code == 0, up
    assert all(e["hasApiKey"] for e in sb.requests if e["kind"] == "api")


# ---- error flows through the entry point --------------------------------------------------
def test_missing_key(tmp_path: Path, sb: Sandbox, song: Path) -> None:
    env = clean_env(tmp_path, GSEP_BASE_URL=sb.base_url)
    run = run_gsep(["separate", str(song)], env)
    assert_clean_error(run, ExitCode.AUTH, "no API key", "gsep config set-key")
    assert sb.requests == []


@pytest.mark.slow
def test_bad_local_input_sends_nothing(
    tmp_path: Path, sb: Sandbox, song: Path, env: dict[str, str]
) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    for args in (
        ["separate", "missing.wav"],
        ["separate", "empty.wav"],
        ["separate", "song.wav", "--stems", "vocal,lute"],
        ["job", "status", "../../etc/passwd"],
    ):
        run = run_gsep(args, env, cwd=tmp_path)
        assert_clean_error(run, ExitCode.USAGE)
    assert sb.requests == []


def test_unknown_key(tmp_path: Path, song: Path) -> None:
    with Sandbox(job_seconds=0.2, api_keys=["good"]) as strict:
        env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=strict.base_url)
        run = run_gsep(["separate", str(song)], env)
    assert_clean_error(run, ExitCode.AUTH, "401")
    assert_no_secret(run)


def test_credits_exhausted(tmp_path: Path, song: Path) -> None:
    with Sandbox(job_seconds=0.2, chunk_size=4096, credits=0) as poor:
        env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=poor.base_url)
        run = run_gsep(["separate", str(song)], env)
    assert_clean_error(run, ExitCode.ACCOUNT, "1102")


@pytest.mark.slow
def test_job_failure(sb: Sandbox, song: Path, env: dict[str, str], tmp_path: Path) -> None:
    sb.add_fault("job-fail:1:boom")
    run = run_gsep(["separate", str(song), "-o", str(tmp_path / "out")], env)
    assert_clean_error(run, ExitCode.JOB_FAILED, "boom")
    assert files_under(tmp_path / "out") == []


@pytest.mark.slow
def test_timeout_names_job_status(tmp_path: Path, song: Path) -> None:
    with Sandbox(job_seconds=120, chunk_size=4096) as slow:
        env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=slow.base_url)
        run = run_gsep(["separate", str(song), "--timeout", "0.5"], env)
    line = assert_clean_error(run, ExitCode.TIMEOUT)
    assert "gsep job status" in line and "--wait" in line


def test_server_unavailable(tmp_path: Path, song: Path) -> None:
    env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL="http://127.0.0.1:9/api")
    run = run_gsep(["upload", str(song)], env)
    assert_clean_error(run, ExitCode.UNAVAILABLE, "cannot reach the API")


def _read_until(stream: object, pattern: bytes, deadline: float) -> bytes:
    """Read a pipe until ``pattern`` shows up or the deadline passes (bounded)."""
    seen = b""
    fd = stream.fileno()  # type: ignore[attr-defined]
    while pattern not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            data = os.read(fd, 65536)
            if not data:
                break
            seen += data
    return seen


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_ctrl_c_while_waiting_exits_130(tmp_path: Path, song: Path) -> None:
    with Sandbox(job_seconds=120, chunk_size=4096) as slow:
        client = GsepClient(
            slow.base_url, SECRET, policy=RetryPolicy(attempts=2), poll=PollPolicy(0.05)
        )
        job_id = client.create_job(client.upload_file(song), stems=["vocal"])
        client.close()
        env = clean_env(tmp_path, GSEP_API_KEY=SECRET, GSEP_BASE_URL=slow.base_url)
        proc = subprocess.Popen(
            [clitools.gsep_exe(), "job", "status", job_id, "--wait"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            seen = _read_until(proc.stderr, b"waiting", time.monotonic() + 30)
            assert b"waiting" in seen
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == ExitCode.INTERRUPTED
    assert out == b""
    text = (seen + err).decode()
    assert "interrupted" in text and "Traceback" not in text


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_sandbox_serve_then_several_commands(tmp_path: Path, song: Path) -> None:
    env = clean_env(tmp_path)
    server = subprocess.Popen(
        [clitools.gsep_exe(), "sandbox", "serve", "--job-seconds", "0.2", "--chunk-size", "4KiB"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = _read_until(server.stdout, b"\n", time.monotonic() + 30)
        base_url = first.decode().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/developers/api", base_url), first
        env.update(GSEP_BASE_URL=base_url, GSEP_API_KEY="anything-goes-9999")
        upload_id = run_gsep(["upload", str(song)], env).out.strip()
        job_id = run_gsep(["job", "create", upload_id, "--stems", "bass"], env).out.strip()
        assert run_gsep(["job", "status", job_id, "--wait"], env).out == "success\n"
        dl = run_gsep(["download", job_id, "-o", str(tmp_path / "o")], env)
        assert dl.lines == [str(tmp_path / "o" / "song" / "bass.wav")]  # on record
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0
